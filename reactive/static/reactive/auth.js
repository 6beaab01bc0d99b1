// The token the connection authenticates with (setAuth), and the identity version that numbers
// the Authenticate messages on one socket.
//
// The token outlives sockets: every new socket sends it again right after Connect, so that the
// server runs the queries as the right user from the start. The identity version does not: the
// server starts each socket at identity version 0.

import { callLogged } from "./platform.js";
import { authenticateMessage } from "./protocol.js";

export class AuthManager {
  /**
   * @param send `send(message)` puts a message on the current socket
   * @param logger the client's logger; where rejected tokens and throwing handlers are reported
   */
  constructor(send, logger) {
    this._send = send;
    this._logger = logger;
    this._token = null;
    this._onAuthError = null;
    this._identityVersion = 0; // the baseVersion of our next Authenticate on this socket
  }

  /**
   * Use `token` from now on (null: none), calling `onAuthError(message)` if the server rejects
   * it. With a socket open it is sent at once; otherwise it goes with the next Connect.
   */
  set(token, onAuthError, connected) {
    const had = this._token !== null;
    this._token = token || null;
    this._onAuthError = onAuthError ?? null;
    if (!connected) return;
    if (this._token !== null || had) this._authenticate();
  }

  /** A new socket, right after Connect: its identity version starts at 0; send the token if there is one. */
  restart() {
    this._identityVersion = 0;
    if (this._token !== null) this._authenticate();
  }

  /**
   * The server rejected the token: drop it and tell the application. As with Convex, every
   * Authenticate sent moves the identity version on, accepted or not: the next one starts after
   * it (the server refuses an older baseVersion). The server now runs this connection's queries
   * anonymously.
   */
  onAuthError(message) {
    this._token = null;
    this._logger.error(`reactive: authentication failed: ${message.error}`);
    const handler = this._onAuthError;
    if (handler) callLogged(this._logger, "onAuthError", () => handler(message.error));
  }

  _authenticate() {
    this._send(authenticateMessage(this._token, this._identityVersion));
    this._identityVersion += 1;
  }
}
