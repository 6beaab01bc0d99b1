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

import { ConnectionLostError, ReactiveError } from "./errors.js";
import { decodeTs, jsonToConvex } from "./values.js";

class Request {
  constructor(requestId, kind, message, resolve, reject) {
    this.requestId = requestId;
    this.kind = kind; // "mutation" | "action"
    this.message = message;
    this.resolve = resolve;
    this.reject = reject;
    this.sent = false; // sent on the current socket
    this.ts = null; // BigInt commit ts once a successful MutationResponse arrived
    this.outcome = null; // { value } | { error } once known
  }
}

export class RequestManager {
  constructor() {
    this._inflight = new Map(); // requestId -> Request, in requestId (= sending) order
  }

  /** Register a request; returns its promise. The caller sends it (and calls `sent`) when it can. */
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
    for (const request of this._inflight.values()) if (request.sent && request.outcome === null) waiting += 1;
    const ready = [];
    for (const request of this._inflight.values()) {
      if (waiting >= limit) break;
      if (!request.sent) {
        ready.push(request);
        waiting += 1;
      }
    }
    return ready;
  }

  /**
   * A MutationResponse or ActionResponse. Returns the requests that are now done (their
   * outcome is set; the caller settles them after updating the UI), usually zero or one.
   * `reachedTs` is the ts the client's results are at.
   */
  onResponse(message, reachedTs) {
    const request = this._inflight.get(message.requestId);
    if (request === undefined) return []; // a repeat answer for a request already done
    const functionName = request.message.udfPath;
    if (!message.success) {
      request.outcome = {
        error: new ReactiveError(message.result, {
          data: message.errorData === undefined ? undefined : jsonToConvex(message.errorData),
          code: message.errorCode,
          functionName,
          kind: request.kind,
        }),
      };
      this._inflight.delete(request.requestId);
      return [request];
    }
    request.outcome = { value: jsonToConvex(message.result ?? null) };
    if (request.kind === "mutation" && typeof message.ts === "string") {
      request.ts = decodeTs(message.ts);
      if (request.ts > reachedTs) return []; // wait for the Transition that contains its writes
    }
    this._inflight.delete(request.requestId);
    return [request];
  }

  /** Mutations whose writes the results at `ts` include: removed from the in-flight set and returned. */
  takeConfirmed(ts) {
    const done = [];
    for (const request of this._inflight.values()) {
      if (request.ts !== null && request.ts <= ts) done.push(request);
    }
    for (const request of done) this._inflight.delete(request.requestId);
    return done;
  }

  /**
   * The socket died. Actions sent on it are failed (returned, with their outcome set): their
   * answer cannot arrive any more, and running them again might run them twice.
   */
  failSentActions() {
    const failed = [];
    for (const request of this._inflight.values()) {
      if (request.kind === "action" && request.sent) {
        request.outcome = {
          error: new ConnectionLostError(
            `The connection was lost while action ${request.message.udfPath} was in flight; it may or may not have run`,
          ),
        };
        failed.push(request);
      }
    }
    for (const request of failed) this._inflight.delete(request.requestId);
    return failed;
  }

  /**
   * A new socket opened: every request in flight is to be sent on it (see `toSend`), in its original
   * order: every unconfirmed mutation (even one already answered, whose Transition did not arrive)
   * and every action that was never sent.
   */
  restart() {
    for (const request of this._inflight.values()) request.sent = false;
  }

  /** Every request in flight, removed (close()). */
  takeAll() {
    const all = [...this._inflight.values()];
    this._inflight.clear();
    return all;
  }
}

/** Settle a finished request's promise from its outcome. */
export function settle(request) {
  if (request.outcome && "error" in request.outcome) request.reject(request.outcome.error);
  else request.resolve(request.outcome ? request.outcome.value : undefined);
}
