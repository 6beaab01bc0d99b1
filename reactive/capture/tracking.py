"""Read tracking: turn the SELECTs a query function runs into a :class:`ReadSet`.

Only active inside :func:`tracked` (a ``ContextVar``, reset in ``finally``). The ORM hook
in :mod:`reactive.capture.patches` calls :func:`analyse_select` for each compiled SELECT and
:func:`record_rows` with the rows it returned. Whatever cannot be analysed is widened:
an unanalysable predicate is dropped (a conjunction minus a term matches more rows),
a disjunction or negation is dropped whole, a table seen only in the SQL text is read
whole, and raw SQL naming no known table reads every table.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models.expressions import Col, RawSQL
from django.db.models.lookups import Lookup
from django.db.models.sql.datastructures import Join
from django.db.models.sql.query import Query
from django.db.models.sql.subqueries import AggregateQuery
from django.db.models.sql.where import AND, ExtraWhere, WhereNode

from ..conf import reactive_settings
from ..errors import LimitExceeded
from ..readsets import ALL_TABLES, EQ, GT, GTE, IN, ISNULL, LT, LTE, Pred, ReadSet, TableRead
from .images import UNKNOWN, stored_value


@dataclass
class ReadCollector:
    """Reads recorded by one tracked run, and how many rows it read (at most ``max_rows``)."""

    readset: ReadSet = field(default_factory=ReadSet)
    rows_read: int = 0
    max_rows: int = field(default_factory=lambda: int(reactive_settings.MAX_ROWS_READ))
    # A query function may not write; only a check that runs other code under tracking lifts this.
    read_only: bool = True

    def add(self, read: TableRead) -> None:
        self.readset.add(read)

    def count_rows(self, count: int) -> None:
        """Count rows the run received; stop it (fail that query only) once it passes ``max_rows``."""
        self.rows_read += count
        if self.rows_read > self.max_rows:
            raise LimitExceeded(f"The query read more than MAX_ROWS_READ={self.max_rows} rows")


_collector: contextvars.ContextVar[ReadCollector | None] = contextvars.ContextVar(
    "reactive_read_collector", default=None
)


def current_collector() -> ReadCollector | None:
    return _collector.get()


@contextlib.contextmanager
def tracked(*, read_only: bool = True) -> Iterator[ReadCollector]:
    """Record every read made by the ORM (or raw cursors) inside the block.

    ``read_only``: writes inside the block raise :class:`~reactive.errors.ReadOnlyError` (a query function
    never writes); False lets them run and be captured, for running code that is not a query under tracking.
    """
    collector = ReadCollector(read_only=read_only)
    token = _collector.set(collector)
    try:
        yield collector
    finally:
        _collector.reset(token)


@lru_cache(maxsize=1)
def known_tables() -> frozenset[str]:
    return frozenset(m._meta.db_table for m in apps.get_models(include_auto_created=True))


_IDENTIFIER = re.compile(r'"([^"]+)"|`([^`]+)`|\b([A-Za-z_][A-Za-z0-9_]*)\b')


def tables_in_sql(sql: str) -> set[str]:
    """Known model tables named anywhere in ``sql`` (quoted or bare)."""
    return set(_references(sql)[0])


_LOOKUP_OPS = {"exact": EQ, "in": IN, "lt": LT, "lte": LTE, "gt": GT, "gte": GTE, "isnull": ISNULL}


def _is_plain_value(value: Any) -> bool:
    return not (hasattr(value, "resolve_expression") or hasattr(value, "as_sql") or isinstance(value, Query))


# Django's own lookups on a plain column: a subclass elsewhere (JSONField's exact, a project's own lookup)
# may compare differently, so its predicate is dropped.
_PLAIN_LOOKUP_MODULES = frozenset({"django.db.models.lookups", "django.db.models.fields.related_lookups"})


def _ordered_in_python(value: Any) -> bool:
    """Does Python order ``value`` as the database does? Not strings or bytes: collations order text."""
    return not isinstance(value, (str, bytes, bytearray, memoryview))


def lookup_preds(lookup: Lookup) -> tuple[str, list[Pred]] | None:
    """``(alias, preds)`` for a lookup comparing a column with constants, else None."""
    lhs, rhs = lookup.lhs, lookup.rhs
    if not isinstance(lhs, Col) or lookup.lookup_name is None:
        return None
    if type(lookup).__module__ not in _PLAIN_LOOKUP_MODULES or getattr(lhs.target, "db_collation", None):
        return None  # other semantics, or a collation that may equate different strings
    column = lhs.target.column
    if column is None:
        return None
    name = lookup.lookup_name
    if name == "range":
        if not (isinstance(rhs, (list, tuple)) and len(rhs) == 2 and all(map(_is_plain_value, rhs))):
            return None
        if not all(map(_ordered_in_python, rhs)):
            return None
        return lhs.alias, [Pred(column, GTE, rhs[0]), Pred(column, LTE, rhs[1])]
    op = _LOOKUP_OPS.get(name)
    if op is None:
        return None
    if op == IN:
        if not isinstance(rhs, (list, tuple, set, frozenset)) or not all(map(_is_plain_value, rhs)):
            return None
        try:
            return lhs.alias, [Pred(column, IN, frozenset(v for v in rhs if v is not None))]
        except TypeError:
            return None
    if not _is_plain_value(rhs):
        return None
    if op == EQ and rhs is None:
        return lhs.alias, [Pred(column, ISNULL, True)]
    if op == ISNULL:
        return lhs.alias, [Pred(column, ISNULL, bool(rhs))]
    if op != EQ and not _ordered_in_python(rhs):
        return None
    try:
        hash(rhs)
    except TypeError:
        return None
    return lhs.alias, [Pred(column, op, rhs)]


def where_preds(where: WhereNode | None) -> dict[str, list[Pred]]:
    """The analysable conjuncts of a WHERE tree, grouped by table alias."""
    found: dict[str, list[Pred]] = {}
    stack: list[Any] = [] if where is None else [where]
    while stack:  # iterative: a recursive closure would leave a reference cycle per SELECT
        node = stack.pop()
        if isinstance(node, WhereNode):
            if node.negated or (node.connector != AND and len(node.children) != 1):
                continue  # a disjunction or a negation: drop it (widens)
            stack.extend(reversed(node.children))
        elif isinstance(node, Lookup):
            result = lookup_preds(node)
            if result is not None:
                alias, preds = result
                found.setdefault(alias, []).extend(preds)
    return found


def where_aliases(node: Any, depth: int = 0) -> set[str]:
    """Every alias any column of a WHERE tree refers to, analysable or not."""
    if node is None or depth > 50:
        return set()
    if isinstance(node, Col):
        return {node.alias}
    if isinstance(node, Lookup):
        children: Sequence[Any] = [node.lhs, node.rhs]
    elif isinstance(node, WhereNode):
        children = node.children
    elif hasattr(node, "get_source_expressions") and not isinstance(node, Query):
        try:
            children = node.get_source_expressions()
        except Exception:  # an expression that cannot list its sources: assume it mentions everything
            return {"*"}
    else:
        children = []
    found: set[str] = set()
    for child in children:
        found |= where_aliases(child, depth + 1)
    return found


def nested_queries(node: Any, depth: int = 0) -> Iterator[Query]:
    """Queries nested in an expression tree (subqueries, ``__in`` querysets, Exists)."""
    if depth > 50 or node is None:
        return
    if isinstance(node, Query):
        yield node
        return
    inner = getattr(node, "query", None)
    if isinstance(inner, Query):
        yield inner
        return
    if isinstance(node, Lookup):
        children: Sequence[Any] = [node.lhs, node.rhs]
    elif isinstance(node, WhereNode):
        children = node.children
    elif isinstance(node, (list, tuple)):
        children = node
    elif hasattr(node, "get_source_expressions"):
        try:
            children = node.get_source_expressions()
        except Exception:  # some expressions cannot list sources before resolution
            children = []
    else:
        children = []
    for child in children:
        yield from nested_queries(child, depth + 1)


# (table, preds, column index of that table's pk in each result row, how to read it: see _pk_reader)
PkColumn = tuple[str, "tuple[Pred, ...] | None", int, "Callable[[Any], Any] | None"]


@dataclass
class SelectPlan:
    """How to record one SELECT: static reads, plus which result column holds which pk."""

    reads: list[TableRead]
    pk_columns: list[PkColumn]


def _used_aliases(query: Query, refcounts: dict[str, int] | None = None) -> list[tuple[str, Any]]:
    """Aliases the SQL really joins: Django keeps trimmed joins in ``alias_map`` with refcount 0.

    ``refcounts``: the counts before compiling, for a query just compiled (compiling resets
    the counts afterwards, so joins it added, e.g. for select_related, read as 0 then).
    """
    counts = query.alias_refcount if refcounts is None else refcounts
    return [(alias, join) for alias, join in query.alias_map.items() if counts.get(alias, 1)]


def _query_reads(query: Query, reads: list[TableRead], depth: int = 0) -> None:
    """Reads of ``query`` and everything nested in it, without pk tracking."""
    if depth > 20:
        reads.append(TableRead(ALL_TABLES))
        return
    if isinstance(query, AggregateQuery):
        _query_reads(query.inner_query, reads, depth + 1)
    preds = where_preds(query.where)
    for alias, join in _used_aliases(query):
        alias_preds: tuple[Pred, ...] = ()
        if not (isinstance(join, Join) and join.join_type == "LEFT OUTER JOIN"):
            alias_preds = tuple(preds.get(alias, ()))
        reads.append(TableRead(join.table_name, alias_preds))
    for combined in getattr(query, "combined_queries", ()) or ():
        _query_reads(combined, reads, depth + 1)
    for nested in nested_queries(_expressions(query)):
        _query_reads(nested, reads, depth + 1)


def _expressions(query: Query) -> list[Any]:
    """Every expression of ``query``'s SQL that may hold a nested query: WHERE, selected annotations, ORDER BY
    (expressions, and annotations it names), GROUP BY. An ``alias()`` no clause uses is not in the SQL."""
    found: list[Any] = [query.where, *query.annotation_select.values()]
    for item in query.order_by:
        if isinstance(item, str):
            name = item.lstrip("-")
            if name in query.annotations and name not in query.annotation_select:
                found.append(query.annotations[name])
        else:
            found.append(item)
    if isinstance(query.group_by, (list, tuple)):
        found.extend(query.group_by)
    return found


def _holds_raw_sql(node: Any, depth: int = 0) -> bool:
    """Does an expression tree hold SQL text Django did not build (RawSQL, extra(where=...))?"""
    if depth > 50 or node is None or isinstance(node, (str, Col)):
        return depth > 50
    if isinstance(node, (RawSQL, ExtraWhere)):
        return True
    if isinstance(node, WhereNode):
        children: Sequence[Any] = node.children
    elif isinstance(node, Lookup):
        children = [node.lhs, node.rhs]
    elif hasattr(node, "get_source_expressions") and not isinstance(node, Query):
        try:
            children = node.get_source_expressions()
        except Exception:
            return True
    else:
        return False
    return any(_holds_raw_sql(child, depth + 1) for child in children)


def _depends_on_other_rows(expressions: Sequence[Any]) -> bool:
    """Does any expression's value in a row depend on other rows (aggregate, window, subquery)?

    Then a row the query did not receive can change the rows it did, so received pks do not describe it.
    """
    for expr in expressions:
        if isinstance(expr, (Col, str)):
            continue
        if getattr(expr, "contains_aggregate", False) or getattr(expr, "contains_over_clause", False):
            return True
        if any(True for _ in nested_queries(expr)) or _holds_raw_sql(expr):
            return True
    return False


def _fk_join_alias(join: Any, query: Query) -> bool:
    """Is ``join`` a forward many-to-one join onto its target's primary key?"""
    join_fields = getattr(join, "join_fields", None)
    if not isinstance(join, Join) or not join_fields or len(join_fields) != 1:
        return False
    lhs_field, rhs_field = join_fields[0]
    parent = query.alias_map.get(join.parent_alias)
    return (
        # Forward: the parent's column is the relation (a reverse one-to-one onto a pk joins the other way).
        rhs_field is not None
        and getattr(lhs_field, "target_field", None) is rhs_field
        and bool(getattr(rhs_field, "primary_key", False))
        and rhs_field.model._meta.db_table == join.table_name  # type: ignore[union-attr]
        and parent is not None
        and lhs_field.model._meta.db_table == parent.table_name
    )


@lru_cache(maxsize=1024)
def _own_columns(opts: Any) -> frozenset[str]:
    """Names that order a model by its own table's columns (a parent's columns are in its own, joined table)."""
    own = {"pk"}
    for f in opts.local_concrete_fields:
        if not f.is_relation:
            own.update((f.name, f.attname))
    return frozenset(own)


def _ordered_by_own_columns(query: Query) -> bool:
    """Is the SELECT ordered by its base table's own columns only (or not at all)?"""
    ordering = list(query.order_by) or (list(query.get_meta().ordering or ()) if query.default_ordering else [])
    if query.extra_order_by:
        return False
    own = _own_columns(query.get_meta())
    for item in ordering:
        if isinstance(item, str):
            if item.lstrip("-") not in own:
                return False
            continue
        expression = getattr(item, "expression", item)  # OrderBy(F("name"))
        if getattr(expression, "name", None) not in own:
            return False
    return True


def _pk_reader(compiler: Any, expr: Col) -> Callable[[Any], Any] | None:
    """How to turn a received pk (as the driver returned it) into the stored domain of write images;
    None when it already is (integer keys without converters)."""
    field = expr.target
    converters = compiler.get_converters([expr]).get(0, ((), expr))[0]
    if not converters and isinstance(field, (models.AutoField, models.BigAutoField, models.IntegerField)):
        return None
    connection = compiler.connection

    def read(value: Any) -> Any:
        for convert in converters:
            value = convert(value, expr, connection)
        return stored_value(field, value)

    return read


def analyse_select(compiler: Any, refcounts: dict[str, int]) -> SelectPlan:
    """Plan the reads of a SELECT just compiled by ``compiler`` (``refcounts``: from before)."""
    query: Query = compiler.query
    reads: list[TableRead] = []
    pk_columns: list[PkColumn] = []
    preds = where_preds(query.where)
    pk_index: dict[str, tuple[int, Col]] = {}
    select = [expr for expr, _sql, _alias in compiler.select or ()]
    # Returned pks describe the result only when each returned row is one row of the table, no row was
    # skipped by OFFSET (a row leaving before the offset shifts the page) and no value in a row depends
    # on rows the query did not return (aggregates, windows, subqueries).
    if (
        not query.combinator
        and not query.distinct_fields
        and not isinstance(query, AggregateQuery)
        and not query.group_by
        and not query.low_mark
        and not query.explain_info  # the rows are the plan's, not the query's
        and not getattr(query.where, "contains_over_clause", False)
        and not query.extra
        and not query.extra_tables
        and not _holds_raw_sql(query.where)
        and not _depends_on_other_rows([*select, *query.annotation_select.values(), *query.order_by])
    ):
        for index, expr in enumerate(select):
            if isinstance(expr, Col) and getattr(expr.target, "primary_key", False):
                pk_index.setdefault(expr.alias, (index, expr))
    base_alias = query.base_table
    mentioned = where_aliases(query.where)
    if not _ordered_by_own_columns(query):
        mentioned.add("*")  # joined columns may decide which rows come first: joined rows matter beyond their pks
    for alias, join in _used_aliases(query, refcounts):
        outer = isinstance(join, Join) and join.join_type == "LEFT OUTER JOIN"
        alias_preds: tuple[Pred, ...] = () if outer else tuple(preds.get(alias, ()))
        if alias in pk_index and (alias == base_alias or _fk_join_alias(join, query)):
            tracked_preds: tuple[Pred, ...] | None = alias_preds
            if alias != base_alias and alias not in mentioned and "*" not in mentioned:
                tracked_preds = None  # reached only through a tracked row's foreign key, never filtered
            index, expr = pk_index[alias]
            pk_columns.append((join.table_name, tracked_preds, index, _pk_reader(compiler, expr)))
        else:
            reads.append(TableRead(join.table_name, alias_preds))
    for combined in query.combined_queries or ():
        _query_reads(combined, reads)
    for nested in nested_queries(_expressions(query)):
        _query_reads(nested, reads)
    if isinstance(query, AggregateQuery):
        _query_reads(query.inner_query, reads)
    return SelectPlan(reads, pk_columns)


def _received_pks(
    rows: Sequence[Sequence[Any]], index: int, read: Callable[[Any], Any] | None
) -> frozenset[Any] | None:
    """The pks in column ``index`` of ``rows``, in the stored domain; None if one of them is not known."""
    if read is None:
        return frozenset(row[index] for row in rows if row[index] is not None)
    pks = set()
    for row in rows:
        if row[index] is None:
            continue
        pk = read(row[index])
        if pk is UNKNOWN:
            return None
        pks.add(pk)
    return frozenset(pks)


# A table name not followed by ".": a reference to the table (FROM, JOIN, a comma join), not a column qualifier.
_NOT_QUALIFIER = re.compile(r"\s*\.")


@lru_cache(maxsize=4096)
def _references(sql: str) -> tuple[frozenset[str], Counter[str]]:
    """Known tables named in ``sql``, and how many times each is referenced as a table (an alias each)."""
    known = known_tables()
    named: set[str] = set()
    references: Counter[str] = Counter()
    for match in _IDENTIFIER.finditer(sql):
        name = match.group(1) or match.group(2) or match.group(3)
        if name in known:
            named.add(name)
            if not _NOT_QUALIFIER.match(sql, match.end()):
                references[name] += 1
    return frozenset(named), references


def record_select(collector: ReadCollector, plan: SelectPlan, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Record a SELECT's reads, with the pks of ``rows`` (every row it returned)."""
    analysed = Counter(read.table for read in plan.reads)
    for read in plan.reads:
        collector.add(read)
    for table, preds, index, reader in plan.pk_columns:
        pks = _received_pks(rows, index, reader)
        collector.add(TableRead(table, preds if pks is not None or preds is not None else (), pks))
        analysed[table] += 1
    # Safety net: a table of the SQL that the analysis missed, or that the SQL reads under more aliases
    # than the analysis saw (a nested query it did not find), is read whole.
    named, references = _references(sql)
    for table in named:
        if not analysed[table] or references[table] > analysed[table]:
            collector.add(TableRead(table))
    collector.count_rows(len(rows))  # last: a query stopped here still depends on what it read


_NO_READ = re.compile(r"\s*(savepoint|release|rollback|begin|commit|end|set)\b", re.IGNORECASE)


def record_raw_read(collector: ReadCollector, sql: str) -> None:
    """A raw SQL read: every known table it names, or every table if it names none."""
    if _NO_READ.match(sql):
        return  # transaction control reads no rows
    tables = tables_in_sql(sql)
    if not tables:
        collector.add(TableRead(ALL_TABLES))
    for table in tables:
        collector.add(TableRead(table))
