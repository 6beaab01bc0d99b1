// The client side of the "diffs" extension (docs/protocol.md, "Extensions"): a QueryUpdated may
// carry `diff` instead of `value` (only because this client listed "diffs" in Connect), and the
// value a full update would have carried is rebuilt here from the value last received. The
// server's side, and the same algorithm in Python, is reactive/diffs.py.

import { jsonToConvex } from "./values.js";

/**
 * The new value of a list query from its previous value and a diff: drop the `removed` ids, then
 * walk `items` (a number copies that many of the remaining items in order, skipping ones already
 * placed; `[id]` places an unchanged item moved here; an object is a new or changed item, in
 * Convex JSON). Unchanged items keep their identity, which lets React skip re-rendering them.
 */
export function applyResultDiff(previousValue, diff) {
  if (!Array.isArray(previousValue)) {
    throw new Error("Received a result diff for a query that does not hold a list");
  }
  const removed = new Set(diff.removed);
  const rest = previousValue.filter((item) => !removed.has(item._id));
  const byId = new Map(rest.map((item) => [item._id, item]));
  const placed = new Set();
  const result = [];
  let position = 0;
  for (const entry of diff.items) {
    if (typeof entry === "number") {
      for (let copied = 0; copied < entry; copied++) {
        while (placed.has(rest[position]._id)) position++;
        result.push(rest[position]);
        placed.add(rest[position]._id);
        position++;
      }
    } else if (Array.isArray(entry)) {
      result.push(byId.get(entry[0]));
      placed.add(entry[0]);
    } else {
      const item = jsonToConvex(entry);
      result.push(item);
      placed.add(item._id);
    }
  }
  return result;
}
