// ReactiveClient: live queries, mutations and actions over one WebSocket speaking Convex's sync
// protocol (shared/PROTOCOL.md) to a `reactive` Django server.
//
// The pieces, one concern each:
//   socket.js        the WebSocket's life: dead-socket detection, reconnects with backoff
//   protocol.js      every message the client sends, and the server's fields several modules read
//   auth.js          the token (setAuth) and the identity version of Authenticate messages
//   local_state.js   the query set the application wants (ref-counted, canonical keys)
//   remote_state.js  the server's results, advanced by versioned Transitions
//   diffs.js         the "diffs" extension: a list result rebuilt from its previous value and a diff
//   requests.js      mutations and actions in flight; a mutation is done when results include it
//   optimistic.js    local guesses layered over the server's results
//   values.js        Convex's JSON encoding
//   platform.js      what differs between browsers, Node and React Native (URL, UUID, microtasks, logs)
// This file wires them together and holds the ordering rules that span them.
//
// No DOM APIs: runs in browsers, in Node (pass `WebSocket` from the `ws` package) and in React Native.

import { AuthManager } from "./auth.js";
import { ClientClosedError } from "./errors.js";
import { LocalQuerySet, queryKey } from "./local_state.js";
import { OptimisticView } from "./optimistic.js";
import { callLogged, later, makeLogger, randomUuid, syncUrl } from "./platform.js";
import { connectMessage, loggable, requestMessage, responseTs } from "./protocol.js";
import { RemoteQuerySet } from "./remote_state.js";
import { RequestManager, settle } from "./requests.js";
import { SocketManager } from "./socket.js";

export { ReactiveError, ConnectionLostError, ClientClosedError } from "./errors.js";
export { queryKey, canonicalizeUdfPath } from "./local_state.js";
export { convexToJson, jsonToConvex } from "./values.js";
export { CLIENT_VERSION, syncUrl } from "./platform.js";
export { EXTENSIONS } from "./protocol.js";

// Mutations and actions sent and not yet answered, at most: half the server's default MAX_PENDING_MUTATIONS,
// so that a burst waits here rather than in the server's back-pressure.
export const MAX_REQUESTS_IN_FLIGHT = 50;

/**
 * A client of one `reactive` deployment.
 *
 *     const client = new ReactiveClient("http://127.0.0.1:8000");
 *     const stop = client.onUpdate("messages:list", { channelId: 1 }, (messages) => render(messages));
 *     await client.mutation("messages:send", { channelId: 1, body: "hi", author: "me" });
 */
export class ReactiveClient {
  /**
   * @param url the deployment's base URL, e.g. "http://127.0.0.1:8000"
   * @param options `{ WebSocket, onConnectionStateChange, verbose, logger }`; see client.d.ts
   */
  constructor(url, options = {}) {
    const WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (typeof WebSocketImpl !== "function") {
      throw new Error(
        'No WebSocket implementation: pass one as options.WebSocket (in Node: `import WebSocket from "ws"`)',
      );
    }
    this._logger = makeLogger(options);
    this._verbose = Boolean(options.verbose);
    this._sessionId = randomUuid();
    this._local = new LocalQuerySet();
    this._remote = new RemoteQuerySet();
    this._requests = new RequestManager();
    this._view = new OptimisticView(this._logger);
    this._nextRequestId = 0; // shared by mutations and actions; never reset (keys server de-duplication)
    this._maxObservedTs = null;
    this._auth = new AuthManager((message) => this._send(message), this._logger);
    this._flushScheduled = false;
    this._closed = false;
    this._stateListeners = new Set();
    if (options.onConnectionStateChange) this._stateListeners.add(options.onConnectionStateChange);
    this._publicState = "connecting";
    this._socket = new SocketManager(syncUrl(url, options.clientVersion), {
      WebSocket: WebSocketImpl,
      logger: this._logger,
      inactivityTimeoutMs: options.inactivityTimeoutMs,
      backoff: options.backoff,
      onOpen: (info) => this._onOpen(info),
      onMessage: (message) => this._onMessage(message),
      onClose: () => this._onClose(),
      onStateChange: () => this._stateChanged(),
    });
    this._socket.connect();
  }

  // --- queries ----------------------------------------------------------------------------------

  /**
   * Subscribe to a query. `callback(value)` runs with the current value (if one is known) and on
   * every change; `onError(error)` when the query fails (a ReactiveError with `.data`). Returns
   * the function that unsubscribes. Identical subscriptions share one server query.
   */
  onUpdate(name, args, callback, onError) {
    const key = queryKey(name, args);
    let last;
    let active = true;
    const deliver = () => {
      if (!active) return;
      const result = this._view.visible.get(key);
      if (result === undefined || result === last) return;
      last = result;
      if ("error" in result) {
        if (onError) onError(result.error);
        else
          this._logger.error(
            `reactive: query ${result.name} failed (pass onError to handle it): ${result.error.message}`,
          );
      } else if (result.value !== undefined) {
        callback(result.value);
      }
    };
    const unsubscribe = this.watchQuery(name, args, deliver);
    if (this._view.visible.has(key)) later(deliver);
    const stop = () => {
      active = false;
      unsubscribe();
    };
    stop.getCurrentValue = () => {
      const result = this._view.visible.get(key);
      return result && !("error" in result) ? result.value : undefined;
    };
    return stop;
  }

  /**
   * The low-level subscription the React hooks use: keeps the query live and calls `onChange()`
   * (no arguments) whenever its result may have changed; read it with `localQueryResult`.
   */
  watchQuery(name, args, onChange) {
    if (this._closed) return () => {};
    const record = { onChange };
    const entry = this._local.subscribe(name, args ?? {}, record);
    this._scheduleFlush();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this._local.unsubscribe(entry, record);
      this._scheduleFlush();
    };
  }

  /**
   * The current result of a query as the application sees it (optimistic updates applied):
   * `{ value }`, `{ error }`, or undefined while it is loading (or not subscribed).
   * The object is the same until the result changes.
   */
  localQueryResult(name, args) {
    return this._view.visible.get(queryKey(name, args ?? {}));
  }

  /** Run a query once: subscribe, resolve with the first value (or reject with its error), unsubscribe. */
  query(name, args = {}) {
    if (this._closed) return Promise.reject(new ClientClosedError());
    return new Promise((resolve, reject) => {
      let stop = null;
      let finished = false;
      const finish = (fn, x) => {
        if (finished) return;
        finished = true;
        later(() => stop());
        fn(x);
      };
      stop = this.onUpdate(
        name,
        args,
        (value) => finish(resolve, value),
        (error) => finish(reject, error),
      );
    });
  }

  // --- mutations and actions --------------------------------------------------------------------

  /**
   * Run a mutation. Resolves with its result once the query results include its writes;
   * rejects with a ReactiveError (`.message`, `.data`) if it failed. `optimisticUpdate(localStore,
   * args)` applies a guess at once; it is replayed over server updates until the mutation is
   * confirmed, and rolled back if it fails.
   */
  mutation(name, args = {}, options = {}) {
    return this._request("mutation", name, args, options);
  }

  /** Run an action. Not retried: if the connection drops while it runs, it rejects with ConnectionLostError. */
  action(name, args = {}) {
    return this._request("action", name, args, {});
  }

  /** A mutation or an action: nothing is registered (or sent) when its args or its optimistic update throw. */
  _request(kind, name, args, options) {
    if (this._closed) return Promise.reject(new ClientClosedError());
    const requestId = this._nextRequestId++;
    let message;
    let changed = null;
    try {
      message = requestMessage(kind, requestId, name, args);
      const update = options.optimisticUpdate;
      if (update) changed = this._view.addLayer(requestId, (store) => update(store, args));
    } catch (error) {
      return Promise.reject(error);
    }
    const promise = this._requests.add(requestId, kind, message);
    if (changed !== null) this._notify(changed);
    this._sendRequests();
    return promise;
  }

  // --- authentication ---------------------------------------------------------------------------

  /**
   * Act as the user of `token` (from `/api/reactive/token`), now and after every reconnect;
   * `null` goes back to the identity of the session cookie (or anonymous). `onAuthError(message)`
   * runs if the server rejects the token; the client then drops it.
   */
  setAuth(token, { onAuthError } = {}) {
    this._auth.set(token, onAuthError, this._socket.state === "connected");
  }

  /** Same as setAuth(null). */
  clearAuth() {
    this.setAuth(null);
  }

  // --- connection -------------------------------------------------------------------------------

  /** "connecting" (never connected yet), "connected", or "disconnected" (reconnecting, or closed). */
  connectionState() {
    return this._publicState;
  }

  /** Call `listener(state)` on every change of connectionState(); returns the function that stops it. */
  onConnectionStateChange(listener) {
    this._stateListeners.add(listener);
    return () => this._stateListeners.delete(listener);
  }

  /** The id that keys this client's mutations on the server (stable across reconnects). */
  get sessionId() {
    return this._sessionId;
  }

  /** Close the connection for good. Pending mutations and actions reject with ClientClosedError. */
  close() {
    if (this._closed) return;
    this._closed = true;
    this._socket.close();
    for (const request of this._requests.takeAll()) request.reject(new ClientClosedError());
  }

  _stateChanged() {
    const state = this._socket.state === "closed" ? "disconnected" : this._socket.state;
    if (state === this._publicState) return;
    this._publicState = state;
    for (const listener of [...this._stateListeners]) {
      callLogged(this._logger, "a connection state listener", () => listener(state));
    }
  }

  // --- the wire ---------------------------------------------------------------------------------

  _send(message) {
    const sent = this._socket.send(message);
    if (sent && this._verbose) this._logger.debug("reactive: sent", loggable(message));
    return sent;
  }

  _scheduleFlush() {
    if (this._flushScheduled) return;
    this._flushScheduled = true;
    later(() => {
      this._flushScheduled = false;
      if (this._closed) return;
      const { message, dropped } = this._local.flush(this._socket.state === "connected");
      if (message !== null) this._send(message);
      this._forget(dropped);
    });
  }

  _forget(droppedEntries) {
    if (droppedEntries.length === 0) return;
    for (const entry of droppedEntries) this._remote.forget(entry.queryId);
    this._notify(this._view.rebuild(this._serverResults()));
  }

  /**
   * A new socket. The server starts from nothing, so the order matters: Connect, then
   * Authenticate (queries run as the right user from the start), then every live query in one
   * ModifyQuerySet from version 0 (same queryIds), then every unconfirmed mutation in its
   * original order with its original requestId (the server runs each once), and the actions
   * that were never sent.
   */
  _onOpen({ connectionCount, lastCloseReason }) {
    this._remote.restart();
    this._send(
      connectMessage({
        sessionId: this._sessionId,
        connectionCount,
        lastCloseReason,
        maxObservedTs: this._maxObservedTs,
      }),
    );
    this._auth.restart();
    const { message, dropped } = this._local.restart();
    this._send(message);
    this._requests.restart();
    this._sendRequests();
    this._forget(dropped);
  }

  /** Send the requests the in-flight cap lets go now (all of them, in order, as responses arrive). */
  _sendRequests() {
    for (const request of this._requests.toSend(MAX_REQUESTS_IN_FLIGHT)) {
      if (!this._send(request.message)) return;
      this._requests.markSent(request);
    }
  }

  /** The socket died: actions in flight on it cannot be answered any more (they are not retried). */
  _onClose() {
    this._finish(this._requests.failSentActions());
  }

  _observe(ts) {
    if (ts === null) return;
    if (this._maxObservedTs === null || ts > this._maxObservedTs) this._maxObservedTs = ts;
  }

  _onMessage(message) {
    if (this._verbose) this._logger.debug("reactive: received", message);
    switch (message.type) {
      case "Transition":
        this._onTransition(message);
        return;
      case "MutationResponse":
      case "ActionResponse": {
        this._observe(responseTs(message));
        this._finish(this._requests.onResponse(message, this._remote.ts));
        this._sendRequests(); // room for a request waiting behind the in-flight cap
        return;
      }
      case "Ping":
        return; // its only job was to reset the inactivity timer (socket.js)
      case "AuthError":
        this._auth.onAuthError(message);
        return;
      case "FatalError":
        // The server found this connection's state broken; a new socket starts it afresh.
        this._logger.error(`reactive: the server reported a fatal error: ${message.error}`);
        this._socket.restart(`FatalError: ${message.error}`.slice(0, 120));
        return;
      default:
        this._logger.warn(`reactive: ignoring a server message of unknown type ${JSON.stringify(message.type)}`);
    }
  }

  _onTransition(message) {
    const changedIds = this._remote.applyTransition(
      message,
      (queryId) => this._local.byId(queryId),
      (queryId, journal) => {
        const entry = this._local.byId(queryId);
        if (entry !== undefined) entry.journal = journal;
      },
    );
    this._observe(this._remote.ts);
    this._socket.resetBackoff(); // the server answers on this socket: it is healthy again
    // Mutations the results now include: their guesses go in the same rebuild that brings the
    // real writes, so the UI never shows both (or neither).
    const confirmed = this._requests.takeConfirmed(this._remote.ts);
    this._finish(confirmed, changedIds.length > 0 || confirmed.length > 0);
  }

  /**
   * Settle requests that are done, after dropping their optimistic layers in one rebuild of the
   * view (made anyway when `rebuild`): subscribers see the rollback, or the real writes without
   * the guess, before any promise settles.
   */
  _finish(done, rebuild = false) {
    const dropped = new Set(done.filter((r) => this._view.hasLayer(r.requestId)).map((r) => r.requestId));
    if (rebuild || dropped.size > 0) this._notify(this._view.rebuild(this._serverResults(), dropped));
    for (const request of done) settle(request);
  }

  /** key -> server result, for every query still wanted. */
  _serverResults() {
    const results = new Map();
    for (const entry of this._local.entries()) {
      const result = this._remote.result(entry.queryId);
      if (result !== undefined) results.set(entry.key, result);
    }
    return results;
  }

  _notify(keys) {
    for (const key of keys) {
      const entry = this._local.byKey(key);
      if (entry === undefined) continue;
      for (const record of [...entry.subscriptions]) {
        callLogged(this._logger, `a subscriber of ${entry.name}`, () => record.onChange());
      }
    }
  }
}
