"""What raw SQL text says: its statements, and whether any of them may change rows.

Raw SQL is classified from its text only, so the rules lean one way: a statement is a read only
when it starts with a word that never changes rows; anything else, including what cannot be
parsed, may write (which widens: every table it names, or every table, is invalidated).
"""

from __future__ import annotations

import re

_READ_PREFIXES = (
    "select",
    "values",
    "table ",
    "pragma",
    "show",
    "explain",
    "set ",
    "reset ",
    "savepoint",
    "release",
    "rollback",
    "begin",
    "start transaction",
    "commit",
    "end",
    "declare",
    "fetch",
    "move",
    "close",
    "listen",
    "unlisten",
    "notify",
    "create",
    "alter",
    "drop",
    "comment",
    "grant",
    "revoke",
    "vacuum",
    "analyze",
    "prepare transaction",
    "deallocate",
    "discard",
    "load",
    "lock",
)
_WRITE_WORDS = re.compile(r"\b(insert|update|delete|replace|merge|truncate|upsert|copy)\b")
_LEADING_NOISE = re.compile(r"^(\s+|--[^\n]*(\n|$)|/\*.*?\*/|\()*", re.DOTALL)
# The parts of SQL text a semicolon inside does not end a statement in: quoted strings and
# identifiers, comments, and PostgreSQL dollar-quoted strings ($$...$$, $tag$...$tag$).
_OPAQUE = re.compile(
    r"'(?:[^']|'')*'?"
    r'|"(?:[^"]|"")*"?'
    r"|`[^`]*`?"
    r"|--[^\n]*"
    r"|/\*.*?(?:\*/|$)"
    r"|\$(?P<tag>[A-Za-z_]\w*)?\$.*?(?:\$(?P=tag)?\$|$)",
    re.DOTALL,
)


def statements(sql: str) -> list[str]:
    """The statements of ``sql``, split at semicolons outside quotes and comments (empty ones dropped)."""
    parts: list[str] = []
    start = position = 0
    while position < len(sql):
        char = sql[position]
        if char in "'\"`-/$":
            match = _OPAQUE.match(sql, position)
            if match and match.end() > position:
                position = match.end()
                continue
        if char == ";":
            parts.append(sql[start:position])
            start = position + 1
        position += 1
    parts.append(sql[start:])
    return [part for part in parts if _LEADING_NOISE.sub("", part, count=1).strip()]


def _statement_may_write(statement: str) -> bool:
    head = _LEADING_NOISE.sub("", statement, count=1).lower()
    if head.startswith("with"):
        return bool(_WRITE_WORDS.search(head))  # a data-modifying CTE
    if head.startswith("explain") and re.search(r"\banalyze\b", head):
        return bool(_WRITE_WORDS.search(head))  # EXPLAIN ANALYZE runs the statement it explains
    return not head.startswith(_READ_PREFIXES)


def is_write_sql(sql: str) -> bool:
    """May raw SQL change rows? True when any of its statements may (unrecognised statements may)."""
    return any(_statement_may_write(statement) for statement in statements(sql))


# Functions of SQLite and PostgreSQL (and SQL's own words written like calls) that change no rows. Any other
# function a statement calls may be the project's own, and may write (a PL/pgSQL function running an UPDATE).
_WORDS_THAT_DO_NOT_WRITE = """
    abs age all and any array array_agg as avg between bigint bool boolean btrim cast ceil ceiling char
    char_length coalesce concat concat_ws count cume_dist current_date current_time current_timestamp
    currval date date_part date_trunc datetime decimal decode dense_rank distinct double encode exists exp
    extract filter first_value float floor format from generate_series glob greatest group_concat hex ifnull
    iif in instr int integer interval into join json json_agg json_build_object json_extract json_object
    jsonb jsonb_agg jsonb_build_object julianday lag last_value lastval lead least left length like ln log
    lower lpad ltrim max md5 min mod not now nth_value ntile nullif numeric octet_length on or over
    percent_rank position power printf quote quote_ident quote_literal random rank real regexp_replace
    replace right round row row_number rpad rtrim select sign split_part sqrt starts_with strftime string_agg
    strpos substr substring sum text then time timestamp timestamptz to_char to_date to_timestamp total
    translate trim typeof unicode unnest upper using uuid values varchar when where within
    set_config setval nextval version format_type obj_description col_description gen_random_uuid
"""
_FUNCTIONS_THAT_DO_NOT_WRITE = frozenset(_WORDS_THAT_DO_NOT_WRITE.split())
# Catalog functions and families of built-in ones (Django's own introspection calls pg_catalog.*).
_FUNCTION_PREFIXES_THAT_DO_NOT_WRITE = (
    "pg_",
    "information_schema.",
    "json_",
    "jsonb_",
    "array_",
    "to_",
    "regexp_",
    "st_",
    "sqlite_",
    "current_",
    "has_",
    "txid_",
)
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)*)\s*\(")


def calls_unknown_function(sql: str) -> bool:
    """Does a query of raw SQL (SELECT, WITH, VALUES) call a function that may write rows (one not known to
    leave them alone)? Other statements (PRAGMA, SET, DDL) call only what the database defines for them."""
    for statement in statements(sql):
        head = _LEADING_NOISE.sub("", statement, count=1).lower()
        if not head.startswith(("select", "with", "values")):
            continue
        code = _OPAQUE.sub(" ", statement)  # not the words inside strings, quoted names and comments
        for match in _CALL.finditer(code):
            name = match.group(1).lower()
            if name not in _FUNCTIONS_THAT_DO_NOT_WRITE and not name.startswith(_FUNCTION_PREFIXES_THAT_DO_NOT_WRITE):
                return True
    return False


_COMMIT = re.compile(r"^(commit|end)(\s+(work|transaction))?\s*;?\s*$")
_ROLLBACK = re.compile(r"^(rollback|abort)(\s+(work|transaction))?\s*;?\s*$")


def transaction_end(sql: str) -> str | None:
    """``"commit"`` or ``"rollback"`` when raw SQL is exactly a statement ending a transaction, else None."""
    parts = statements(sql)
    if len(parts) != 1:
        return None
    head = _LEADING_NOISE.sub("", parts[0], count=1).strip().lower()
    if _COMMIT.match(head):
        return "commit"
    if _ROLLBACK.match(head):
        return "rollback"
    return None
