// Mutations and actions in flight, and when each one is really done.
//
// A mutation is done when the query results the client shows include its writes, not when its
// MutationResponse arrives: the server sends the response first and the Transition with the
// writes after (PROTOCOL.md). So a successful response only records the mutation's commit ts;
// the promise settles when a Transition reaches that ts. Until then the mutation counts as
// unconfirmed and is re-sent on a reconnect, with the same requestId: the server runs each
// (sessionId, requestId) once and answers a repeat with the stored outcome.
//
// Actions are not idempotent, so an action whose socket died is failed, never re-sent.

import { ConnectionLostError } from "./errors.js";
import { responseTs, wireError } from "./protocol.js";
import { jsonToConvex } from "./values.js";

/**
 * Where a request in flight stands (the names of Convex's request_manager, plus one for the
 * completed mutations a new socket still owes a re-send):
 *
 *   NotSent           waiting for its response; not sent on the current socket yet
 *   Requested         sent on the current socket; waiting for its response
 *   Completed         a mutation whose successful response came: `ts` and `outcome` are known; it
 *                     waits for a Transition at `ts`
 *   CompletedNotSent  Completed, and not re-sent on the current socket yet (after a reconnect)
 *
 * A request leaves the in-flight set when it is done (its outcome final), whatever its status.
 */
export const Status = Object.freeze({
  NotSent: "NotSent",
  Requested: "Requested",
  Completed: "Completed",
  CompletedNotSent: "CompletedNotSent",
});

class Request {
  constructor(requestId, kind, message, resolve, reject) {
    this.requestId = requestId;
    this.kind = kind; // "mutation" | "action"
    this.message = message;
    this.resolve = resolve;
    this.reject = reject;
    this.status = Status.NotSent;
    this.ts = null; // BigInt commit ts, from Completed on
    this.outcome = null; // { value } | { error }, from Completed on, or once done
  }
}

export class RequestManager {
  constructor() {
    this._inflight = new Map(); // requestId -> Request, in requestId (= sending) order
  }

  /** Register a request; returns its promise. The caller sends it (and calls `markSent`) when it can. */
  add(requestId, kind, message) {
    let request;
    const promise = new Promise((resolve, reject) => {
      request = new Request(requestId, kind, message, resolve, reject);
    });
    this._inflight.set(requestId, request);
    return promise;
  }

  /**
   * The requests to send now, in order: unsent ones, while fewer than `limit` requests sent on this
   * socket still wait for their response. Capping what is in flight keeps an honest client within the
   * server's limits (MAX_PENDING_MUTATIONS); the rest wait here, and go as responses come back.
   */
  toSend(limit) {
    let waiting = 0;
    for (const request of this._inflight.values()) if (request.status === Status.Requested) waiting += 1;
    const ready = [];
    for (const request of this._inflight.values()) {
      if (waiting >= limit) break;
      if (isUnsent(request)) {
        ready.push(request);
        waiting += 1;
      }
    }
    return ready;
  }

  /** `request` (from `toSend`) went out on the current socket. */
  markSent(request) {
    request.status = request.status === Status.CompletedNotSent ? Status.Completed : Status.Requested;
  }

  /**
   * A MutationResponse or ActionResponse. Returns the requests that are now done (their
   * outcome is set; the caller settles them after updating the UI), usually zero or one.
   * `reachedTs` is the ts the client's results are at.
   */
  onResponse(message, reachedTs) {
    const request = this._inflight.get(message.requestId);
    if (request === undefined) return []; // a repeat answer for a request already done
    if (!message.success) {
      request.outcome = {
        error: wireError(message.result, message.errorData, request.message.udfPath, request.kind, message.errorCode),
      };
      return this._done([request]);
    }
    request.outcome = { value: jsonToConvex(message.result ?? null) };
    const ts = request.kind === "mutation" ? responseTs(message) : null;
    if (ts !== null) {
      request.ts = ts;
      request.status = Status.Completed;
      if (ts > reachedTs) return []; // wait for the Transition that contains its writes
    }
    return this._done([request]);
  }

  /** Mutations whose writes the results at `ts` include: removed from the in-flight set and returned. */
  takeConfirmed(ts) {
    return this._done([...this._inflight.values()].filter((request) => request.ts !== null && request.ts <= ts));
  }

  /**
   * The socket died. Actions sent on it are failed (returned, with their outcome set): their
   * answer cannot arrive any more, and running them again might run them twice.
   */
  failSentActions() {
    const failed = [...this._inflight.values()].filter(
      (request) => request.kind === "action" && request.status === Status.Requested,
    );
    for (const request of failed) {
      request.outcome = {
        error: new ConnectionLostError(
          `The connection was lost while action ${request.message.udfPath} was in flight; it may or may not have run`,
        ),
      };
    }
    return this._done(failed);
  }

  /**
   * A new socket opened: every request in flight is to be sent on it (see `toSend`), in its original
   * order: every unconfirmed mutation (even one already answered, whose Transition did not arrive)
   * and every action that was never sent.
   */
  restart() {
    for (const request of this._inflight.values()) request.status = unsentStatus(request);
  }

  /** Every request in flight, removed (close()). */
  takeAll() {
    return this._done([...this._inflight.values()]);
  }

  _done(requests) {
    for (const request of requests) this._inflight.delete(request.requestId);
    return requests;
  }
}

/** Whether the current socket still owes `request` a send. */
function isUnsent(request) {
  switch (request.status) {
    case Status.NotSent:
    case Status.CompletedNotSent:
      return true;
    case Status.Requested:
    case Status.Completed:
      return false;
    default:
      throw new Error(`Unknown request status ${JSON.stringify(request.status)}`);
  }
}

/** The status of `request` on a new socket, which has been sent nothing. */
function unsentStatus(request) {
  switch (request.status) {
    case Status.NotSent:
    case Status.Requested:
      return Status.NotSent;
    case Status.Completed:
    case Status.CompletedNotSent:
      return Status.CompletedNotSent;
    default:
      throw new Error(`Unknown request status ${JSON.stringify(request.status)}`);
  }
}

/** Settle a finished request's promise from its outcome. */
export function settle(request) {
  if (request.outcome && "error" in request.outcome) request.reject(request.outcome.error);
  else request.resolve(request.outcome ? request.outcome.value : undefined);
}
