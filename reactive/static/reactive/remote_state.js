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
 * Extension hook, "diffs" (docs/protocol.md, "Extensions"): a server may send a QueryUpdated with
 * `diff` (changes of a list of `_id`-keyed objects, relative to the value last received) instead
 * of `value`, but only to a client that listed "diffs" in Connect.reactiveExtensions. This is
 * where such a diff is turned back into the exact value a full update would have carried.
 * Not implemented: EXTENSIONS in client.js is empty, so a conforming server never sends one.
 * Implementing it means filling in this function and adding "diffs" to EXTENSIONS.
 */
export function applyResultDiff(previousValue, diff) {
  throw new Error('Received a result diff, but this client does not implement the "diffs" extension');
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
