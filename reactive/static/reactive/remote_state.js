// The server's results, moved forward only by Transitions that start exactly where the last ended.
//
// Each Transition moves every query it mentions to one snapshot (its endVersion.ts), so the
// results held here are always mutually consistent. Results are kept across reconnects: after a
// new socket opens, the old values stay visible until the server re-sends them (the first
// Transition of a connection carries every re-added query), so the UI never blanks out.

import { ReactiveError } from "./errors.js";
import { decodeTs, jsonToConvex } from "./values.js";

/** The version every new socket starts at (PROTOCOL.md: the server starts each connection from scratch). */
function initialVersion() {
  return { querySet: 0, identity: 0, ts: 0n };
}

function sameVersion(a, b) {
  return a.querySet === b.querySet && a.identity === b.identity && a.ts === b.ts;
}

function parseVersion(raw, what) {
  if (raw === null || typeof raw !== "object") throw new Error(`Transition.${what} is missing`);
  return { querySet: raw.querySet, identity: raw.identity, ts: decodeTs(raw.ts) };
}

function describe(version) {
  return `(querySet ${version.querySet}, identity ${version.identity}, ts ${version.ts})`;
}

/**
 * The "diffs" extension (docs/protocol.md, "Extensions"): a QueryUpdated may carry `diff`
 * instead of `value` (only because this client listed "diffs" in Connect). Rebuild the exact
 * value a full update would have carried from the value last received: drop `removed` ids,
 * then walk `items` (a number copies that many of the remaining items in order, skipping ones
 * already placed; `[id]` places an unchanged item moved here; an object is a new or changed
 * item). Unchanged items keep their identity, which lets React skip re-rendering them.
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

export class RemoteQuerySet {
  constructor() {
    this.version = initialVersion();
    /** queryId -> { name, args, value } | { name, args, error }; a new object whenever it changes */
    this._results = new Map();
  }

  /** A new socket: versions start over; results stay until replaced. */
  restart() {
    this.version = initialVersion();
  }

  /** The highest ts this connection has reached. */
  get ts() {
    return this.version.ts;
  }

  result(queryId) {
    return this._results.get(queryId);
  }

  forget(queryId) {
    this._results.delete(queryId);
  }

  /**
   * Apply one Transition. `entryOf(queryId)` is the client's entry ({ name, args }) of a query it
   * still wants (undefined for one it has dropped: its late results are ignored);
   * `setJournal(queryId, journal)` records the server's journal. Returns the queryIds whose
   * results changed. Throws when the Transition does not start at the current version: the
   * caller then reconnects, since its view is unreliable.
   */
  applyTransition(message, entryOf, setJournal) {
    const start = parseVersion(message.startVersion, "startVersion");
    const end = parseVersion(message.endVersion, "endVersion");
    if (!sameVersion(start, this.version)) {
      throw new Error(`Transition starts at ${describe(start)} but the client is at ${describe(this.version)}`);
    }
    const changed = [];
    for (const modification of message.modifications ?? []) {
      const queryId = modification.queryId;
      const entry = entryOf(queryId);
      if (entry === undefined) {
        // Removed by the client while this Transition was on its way; QueryRemoved lands here too.
        this._results.delete(queryId);
        continue;
      }
      switch (modification.type) {
        case "QueryUpdated": {
          let value;
          if ("diff" in modification) {
            const previous = this._results.get(queryId);
            value = applyResultDiff(previous && previous.value, modification.diff);
          } else {
            value = jsonToConvex(modification.value ?? null);
          }
          this._results.set(queryId, { name: entry.name, args: entry.args, value });
          break;
        }
        case "QueryFailed":
          this._results.set(queryId, {
            name: entry.name,
            args: entry.args,
            error: new ReactiveError(modification.errorMessage, {
              data: modification.errorData === undefined ? undefined : jsonToConvex(modification.errorData),
              code: modification.errorCode,
              functionName: entry.name,
              kind: "query",
            }),
          });
          break;
        case "QueryRemoved":
          this._results.delete(queryId);
          break;
        default:
          throw new Error(`Unknown query modification ${JSON.stringify(modification.type)}`);
      }
      if (modification.journal !== undefined) setJournal(queryId, modification.journal);
      changed.push(queryId);
    }
    this.version = end;
    return changed;
  }
}
