"""Keyset pagination that stays reactive: ``reactive.paginate(queryset, pagination_opts)``.

    @query(args={"channelId": v.id(Channel), "paginationOpts": v.pagination_opts()})
    def paginated(ctx, channelId, paginationOpts):
        messages = Message.objects.filter(channel_id=channelId).order_by("-created_at")
        return paginate(messages, paginationOpts, serialize=message_json)

Pages follow the queryset's ordering, ties broken by primary key; cursors are opaque
strings holding the sort key of a row, signed for that ordering (Django's signing), so a
cursor the server did not write fails with :class:`InvalidCursor`. The first run of a page records where it ended
in the query's *journal*; every later run (after a write, or a reconnect that sends the
journal back) ends at that same key, so loaded pages neither overlap nor leave gaps
while rows are added, changed or deleted: a page grows or shrinks instead of shifting.
The last page (``isDone``) is open-ended, so rows added at the end appear on it. A page
that grows past twice its requested size recommends a split (``splitCursor``).

Ordering fields must be concrete columns of the model and never NULL.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db.models import Model, Q, QuerySet

from ..conf import reactive_settings
from ..db_values import decode_value, encode_value
from ..errors import InvalidCursor, LimitExceeded

# The journal of a page marks its end; this one means "to the end of the range".
END = "end"
_SPLIT_FACTOR = 2


@dataclass
class Journal:
    """The journal of the query run in progress: what it was given, and what it leaves."""

    incoming: str | None
    outgoing: str | None = None


_journal: contextvars.ContextVar[Journal | None] = contextvars.ContextVar("reactive_journal", default=None)


def run_with_journal(incoming: str | None, run: Callable[[], Any]) -> tuple[Any, str | None]:
    """Run ``run()`` with ``incoming`` as the journal; returns its result and its new journal."""
    journal = Journal(incoming)
    token = _journal.set(journal)
    try:
        return run(), journal.outgoing
    finally:
        _journal.reset(token)


@dataclass(frozen=True)
class _Ordering:
    model: str  # the model's label: a cursor holds a key of one ordering of one model
    attnames: tuple[str, ...]
    descending: tuple[bool, ...]

    @classmethod
    def of(cls, queryset: QuerySet[Any]) -> _Ordering:
        opts = queryset.model._meta
        names = list(queryset.query.order_by or opts.ordering or ())
        attnames, descending = [], []
        for name in names:
            if not isinstance(name, str) or "__" in name.lstrip("-") or name.lstrip("-") == "?":
                raise TypeError(f"paginate() orders by concrete fields only, not {name!r}")
            desc = name.startswith("-")
            field_name = name.lstrip("-")
            field = opts.pk if field_name == "pk" else opts.get_field(field_name)
            attnames.append(field.attname)  # type: ignore[union-attr]
            descending.append(desc)
        pk = opts.pk.attname  # type: ignore[union-attr]
        if pk not in attnames:
            attnames.append(pk)
            descending.append(False)
        return cls(opts.label, tuple(attnames), tuple(descending))

    def order_by(self) -> list[str]:
        return [("-" if desc else "") + name for name, desc in zip(self.attnames, self.descending, strict=True)]

    def key(self, row: Model) -> list[Any]:
        return [getattr(row, name) for name in self.attnames]

    def after(self, key: Sequence[Any], *, inclusive: bool = False) -> Q:
        """Rows strictly after ``key`` in this ordering (or at it, when ``inclusive``)."""
        condition = Q()
        for index in range(len(self.attnames) - 1, -1, -1):
            name, desc = self.attnames[index], self.descending[index]
            beyond = Q(**{f"{name}__{'lt' if desc else 'gt'}": key[index]})
            if index == len(self.attnames) - 1:
                tail = beyond | Q(**{name: key[index]}) if inclusive else beyond
            else:
                tail = beyond | (Q(**{name: key[index]}) & condition)
            condition = tail
        return condition

    def _signer(self) -> signing.Signer:
        """Cursors are signed for this ordering: only keys this server wrote, of the right types, reach SQL."""
        return signing.Signer(salt=f"reactive.cursor:{self.model}:{self.attnames}:{self.descending}")

    def encode(self, key: Sequence[Any]) -> str:
        payload = json.dumps([encode_value(value) for value in key], separators=(",", ":"))
        return self._signer().sign(base64.urlsafe_b64encode(payload.encode()).decode())

    def decode(self, cursor: Any) -> list[Any]:
        if not isinstance(cursor, str):
            raise InvalidCursor()
        try:
            payload = self._signer().unsign(cursor)
        except signing.BadSignature:
            raise InvalidCursor() from None
        try:
            values = json.loads(base64.urlsafe_b64decode(payload.encode()))
            key = [decode_value(value) for value in values]
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise InvalidCursor() from None
        if not isinstance(values, list) or len(key) != len(self.attnames):
            raise InvalidCursor()
        return key


def _page_size(pagination_opts: Mapping[str, Any]) -> int:
    """``numItems``, which ``MAX_PAGE_SIZE`` bounds."""
    num_items = int(pagination_opts["numItems"])
    limit = reactive_settings.MAX_PAGE_SIZE
    if num_items > limit:
        raise LimitExceeded(f"A page of {num_items} items exceeds MAX_PAGE_SIZE={limit}")
    return num_items


def paginate(
    queryset: QuerySet[Any],
    pagination_opts: Mapping[str, Any],
    *,
    serialize: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """One page of ``queryset``: ``{"page", "isDone", "continueCursor", "splitCursor"?, "pageStatus"?}``.

    ``serialize`` turns each row into its JSON value (default: the model instance, which
    becomes an object with ``_id``).
    """
    ordering = _Ordering.of(queryset)
    num_items = _page_size(pagination_opts)
    cursor = pagination_opts.get("cursor")
    end_cursor = pagination_opts.get("endCursor")
    journal = _journal.get()
    if end_cursor is None and journal is not None and journal.incoming is not None:
        end_cursor = journal.incoming
    rows_qs = queryset.order_by(*ordering.order_by())
    if cursor == END:
        rows_qs = rows_qs.none()  # after the end of the range
    elif cursor is not None:
        rows_qs = rows_qs.filter(ordering.after(ordering.decode(cursor)))
    if end_cursor is None:
        rows = list(rows_qs[: num_items + 1])
        is_done = len(rows) <= num_items
        rows = rows[:num_items]
    elif end_cursor == END:
        rows, is_done = list(rows_qs), True
    else:
        end_key = ordering.decode(end_cursor)
        rows = list(rows_qs.exclude(ordering.after(end_key)))
        is_done = False
    if end_cursor is not None and end_cursor != END:
        continue_cursor = end_cursor  # a pinned page ends exactly where it was pinned
    elif rows:
        continue_cursor = ordering.encode(ordering.key(rows[-1]))
    else:
        continue_cursor = cursor or END
    if journal is not None:
        journal.outgoing = END if is_done else continue_cursor
    result: dict[str, Any] = {
        "page": [serialize(row) for row in rows] if serialize else rows,
        "isDone": is_done,
        "continueCursor": continue_cursor,
    }
    if len(rows) > _SPLIT_FACTOR * num_items:
        result["splitCursor"] = ordering.encode(ordering.key(rows[num_items - 1]))
        result["pageStatus"] = "SplitRecommended"
    return result
