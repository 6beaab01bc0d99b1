"""The "diffs" protocol extension: send list results keyed by ``_id`` as changes.

A client that lists ``"diffs"`` in ``Connect.reactiveExtensions`` may receive
``{"type": "QueryUpdated", "queryId", "diff": {"removed": [...], "items": [...]}, ...}``
instead of ``"value"``, relative to the value it last received for that query. To rebuild:

1. drop the items whose ``_id`` is in ``removed``; call what is left ``rest``;
2. walk ``items``; a number ``k`` copies the next ``k`` items of ``rest`` (skipping any
   already placed), ``[id]`` places the unchanged item ``id`` of ``rest`` here (a move),
   and an object is a new or changed item, placed as is.

The rebuilt list equals the full value exactly. Lists whose items are not all objects
with distinct scalar ``_id`` values are always sent whole, as is anything the diff would
not make smaller.
"""

from __future__ import annotations

import json
from typing import Any

EXTENSION = "diffs"


def _keyed(value: Any) -> dict[Any, Any] | None:
    """``{_id: item}`` for a list of objects with distinct scalar ``_id``s, else None."""
    if not isinstance(value, list):
        return None
    keyed: dict[Any, Any] = {}
    for item in value:
        if not isinstance(item, dict) or "_id" not in item:
            return None
        key = item["_id"]
        if not isinstance(key, (int, str)) or isinstance(key, bool) or key in keyed:
            return None
        keyed[key] = item
    return keyed


def compute(old: Any, new: Any) -> dict[str, Any] | None:
    """The diff turning ``old`` into ``new``, or None when only the whole value will do."""
    old_items, new_items = _keyed(old), _keyed(new)
    if old_items is None or new_items is None:
        return None
    removed = [key for key in old_items if key not in new_items]
    rest = [key for key in old_items if key in new_items]
    placed: set[Any] = set()
    items: list[Any] = []
    position, run = 0, 0
    for item in new:
        key = item["_id"]
        while position < len(rest) and rest[position] in placed:
            position += 1
        unchanged = key in old_items and old_items[key] == item
        if position < len(rest) and rest[position] == key and unchanged:
            run += 1
            position += 1
        else:
            if run:
                items.append(run)
                run = 0
            items.append([key] if unchanged else item)
        placed.add(key)
    if run:
        items.append(run)
    return {"removed": removed, "items": items}


def apply(old: list[Any], diff: dict[str, Any]) -> list[Any]:
    """Rebuild the new value from ``old`` and a diff (the client's side, in Python)."""
    removed = set(diff["removed"])
    rest = [item for item in old if item["_id"] not in removed]
    by_key = {item["_id"]: item for item in rest}
    placed: set[Any] = set()
    result: list[Any] = []
    position = 0
    for entry in diff["items"]:
        if isinstance(entry, int):
            for _ in range(entry):
                while rest[position]["_id"] in placed:
                    position += 1
                result.append(rest[position])
                placed.add(rest[position]["_id"])
                position += 1
        elif isinstance(entry, list):
            result.append(by_key[entry[0]])
            placed.add(entry[0])
        else:
            result.append(entry)
            placed.add(entry["_id"])
    return result


_PARSE = object()


def encoded_diff(old_json: str, new_json: str, new_value: Any = _PARSE) -> str | None:
    """The diff as JSON text, when it is smaller than the new value's JSON text.

    ``new_value``: the new value already parsed (what ``new_json`` encodes), if the caller has it.
    """
    new = json.loads(new_json) if new_value is _PARSE else new_value
    if _keyed(new) is None:
        return None  # not a keyed list: no need to parse the old value
    diff = compute(json.loads(old_json), new)
    if diff is None:
        return None
    text = json.dumps(diff, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text if len(text) < len(new_json) else None
