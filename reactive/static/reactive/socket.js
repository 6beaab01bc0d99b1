// The WebSocket's life: connect, notice a dead socket, reconnect with jittered exponential backoff.
//
// This file knows nothing of the protocol beyond "one JSON object per text frame"; the client
// decides what to send when a socket opens and what a message means.

export const INITIAL_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 16000;
/** After the client itself dropped a socket (inactive server, bad message) the server is likely fine. */
export const CLIENT_CLOSE_BACKOFF_MS = 100;
/** A socket silent this long is dead; the server sends a Ping after about 15 s of silence. */
export const INACTIVITY_TIMEOUT_MS = 60000;

const noop = () => {};

/**
 * One logical connection made of successive WebSockets.
 *
 * Public states: "connecting" until the first socket ever opens, "connected" while a socket is
 * open, "disconnected" while waiting to reconnect after a socket died (reconnect attempts do not
 * flip it back to "connecting", so a status badge does not flicker while a server is down), and
 * "closed" after close().
 */
export class SocketManager {
  constructor(
    uri,
    { WebSocket, onOpen, onMessage, onClose, onStateChange, logger, inactivityTimeoutMs, backoff = {} },
  ) {
    this._uri = uri;
    this._WebSocket = WebSocket;
    this._onOpen = onOpen;
    this._onMessage = onMessage;
    this._onClose = onClose;
    this._onStateChange = onStateChange;
    this._logger = logger;
    this._inactivityTimeoutMs = inactivityTimeoutMs ?? INACTIVITY_TIMEOUT_MS;
    this._initialBackoffMs = backoff.initialMs ?? INITIAL_BACKOFF_MS;
    this._maxBackoffMs = backoff.maxMs ?? MAX_BACKOFF_MS;
    this._ws = null;
    this._state = "connecting";
    this._everConnected = false;
    this._retries = 0;
    this._reconnectTimer = null;
    this._inactivityTimer = null;
    /** Sockets opened so far; sent in Connect. */
    this.connectionCount = 0;
    /** Why the previous socket ended; sent in the next Connect. */
    this.lastCloseReason = "InitialConnect";
  }

  get state() {
    return this._state;
  }

  _setState(state) {
    if (state === this._state) return;
    this._state = state;
    this._onStateChange(state);
  }

  /** Open a socket now (the first one, or a scheduled reconnect). */
  connect() {
    if (this._state === "closed") return;
    this._reconnectTimer = null;
    let ws;
    try {
      ws = new this._WebSocket(this._uri);
    } catch (error) {
      this._logger.error(`reactive: cannot create a WebSocket to ${this._uri}: ${error}`);
      this._scheduleReconnect(false);
      return;
    }
    this._ws = ws;
    this._resetInactivityTimer();
    ws.onopen = () => {
      if (ws !== this._ws) return;
      this._everConnected = true;
      this._resetInactivityTimer();
      this._setState("connected");
      const info = { connectionCount: this.connectionCount, lastCloseReason: this.lastCloseReason };
      this.connectionCount += 1;
      this.lastCloseReason = null;
      this._onOpen(info);
    };
    ws.onmessage = (event) => {
      if (ws !== this._ws) return; // a late frame from a socket we already gave up on
      this._resetInactivityTimer();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        this._logger.error(`reactive: the server sent a frame that is not JSON: ${error}`);
        this.restart("InvalidServerMessage");
        return;
      }
      try {
        this._onMessage(message);
      } catch (error) {
        // The client could not apply the message (e.g. a Transition that does not start where the
        // last one ended): its view of the server is unreliable, so start over on a new socket.
        const detail = error && error.stack ? error.stack : error;
        this._logger.error(`reactive: could not handle a ${message && message.type} message, reconnecting: ${detail}`);
        this.restart(`ClientError: ${error && error.message ? error.message : error}`.slice(0, 120));
      }
    };
    ws.onclose = (event) => {
      if (ws !== this._ws) return;
      const reason = event.reason || `closed with code ${event.code}`;
      if (event.code !== 1000 && event.code !== 1001 && event.code !== 1005) {
        this._logger.log(
          `reactive: WebSocket closed with code ${event.code}${event.reason ? `: ${event.reason}` : ""}`,
        );
      }
      this._died(reason, false);
    };
    ws.onerror = (event) => {
      if (ws !== this._ws) return;
      // A failed handshake or a broken connection; browsers follow with a close event, but not
      // every implementation does, so the socket is given up here.
      const detail = event && event.message ? `: ${event.message}` : "";
      this._died(`WebSocket error${detail}`, false);
    };
  }

  /** Send one message; false when no socket is open (the caller re-sends on the next open). */
  send(message) {
    if (this._state !== "connected" || this._ws === null) return false;
    try {
      this._ws.send(JSON.stringify(message));
      return true;
    } catch (error) {
      this._logger.error(`reactive: failed to send on the WebSocket, reconnecting: ${error}`);
      this.restart("FailedToSendMessage");
      return false;
    }
  }

  /** Drop the current socket and reconnect soon: the client found the connection unusable. */
  restart(reason) {
    if (this._state === "closed" || this._ws === null) return;
    this._died(reason, true);
  }

  /** The server is healthy (it answered on a new socket): the next failure starts from the shortest backoff. */
  resetBackoff() {
    this._retries = 0;
  }

  /** Close for good: no reconnect, no more callbacks. */
  close() {
    if (this._state === "closed") return;
    this._dropSocket();
    this._setState("closed");
  }

  _died(reason, clientInitiated) {
    this._dropSocket();
    if (this.lastCloseReason === null) this.lastCloseReason = reason;
    if (this._everConnected) this._setState("disconnected");
    this._scheduleReconnect(clientInitiated);
    this._onClose();
  }

  /** Stop the timers and let go of the current socket, which sends no more callbacks. */
  _dropSocket() {
    this._clearTimers();
    const ws = this._ws;
    this._ws = null;
    if (ws === null) return;
    // No-op handlers rather than null: the `ws` package throws on an "error" event nobody listens to.
    ws.onopen = noop;
    ws.onmessage = noop;
    ws.onclose = noop;
    ws.onerror = noop;
    try {
      ws.close(1000);
    } catch {
      // closing a socket that is already closing or broken: nothing left to do
    }
  }

  _scheduleReconnect(clientInitiated) {
    const delay = this._nextBackoff(clientInitiated);
    this._logger.log(`reactive: reconnecting in ${Math.round(delay)} ms`);
    this._reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  _nextBackoff(clientInitiated) {
    const retries = this._retries;
    this._retries += 1;
    if (clientInitiated && retries === 0) return CLIENT_CLOSE_BACKOFF_MS;
    const base = Math.min(this._initialBackoffMs * 2 ** retries, this._maxBackoffMs);
    // Jitter (50% to 150%) spreads the reconnects of many clients after a server restart.
    return Math.min(base * (0.5 + Math.random()), this._maxBackoffMs);
  }

  _resetInactivityTimer() {
    if (this._inactivityTimer !== null) clearTimeout(this._inactivityTimer);
    this._inactivityTimer = setTimeout(() => {
      this._inactivityTimer = null;
      this._logger.log(`reactive: no message from the server for ${this._inactivityTimeoutMs} ms, reconnecting`);
      this.restart("InactiveServer");
    }, this._inactivityTimeoutMs);
  }

  _clearTimers() {
    if (this._inactivityTimer !== null) clearTimeout(this._inactivityTimer);
    if (this._reconnectTimer !== null) clearTimeout(this._reconnectTimer);
    this._inactivityTimer = null;
    this._reconnectTimer = null;
  }
}
