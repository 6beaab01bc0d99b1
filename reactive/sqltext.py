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
    return not head.startswith(_READ_PREFIXES)


def is_write_sql(sql: str) -> bool:
    """May raw SQL change rows? True when any of its statements may (unrecognised statements may)."""
    return any(_statement_may_write(statement) for statement in statements(sql))
