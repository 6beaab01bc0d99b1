// The server's results, moved forward only by Transitions that start exactly where the last ended.
//
// Each Transition moves every query it mentions to one snapshot (its endVersion.ts), so the
// results held here are always mutually consistent. Results are kept across reconnects: after a
// new socket opens, the old values stay visible until the server re-sends them (the first
// Transition of a connection carries every re-added query), so the UI never blanks out.

import { applyResultDiff } from "./diffs.js";
import { wireError } from "./protocol.js";
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
            // Only sent when this client holds the previous value (the diffs extension, diffs.js).
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
            error: wireError(
              modification.errorMessage,
              modification.errorData,
              entry.name,
              "query",
              modification.errorCode,
            ),
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
