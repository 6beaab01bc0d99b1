// Errors the client reports to application code.

/**
 * A function (query, mutation or action) failed on the server.
 *
 * `message` is the server's error message; `data` is the error's JSON data (`errorData` on the
 * wire), `undefined` when the server sent none; `code` is the server error's stable code (`errorCode`:
 * "not_found", "invalid_args", "server_error", ...); `functionName` names the function that failed.
 */
export class ReactiveError extends Error {
  constructor(message, { data, code, functionName, kind } = {}) {
    super(message);
    this.name = "ReactiveError";
    this.data = data;
    this.code = code;
    this.functionName = functionName;
    this.kind = kind;
  }
}

/** The connection went away while a request could not be safely retried (an action in flight). */
export class ConnectionLostError extends Error {
  constructor(message) {
    super(message);
    this.name = "ConnectionLostError";
  }
}

/** The client was closed with `close()`; pending requests reject with this. */
export class ClientClosedError extends Error {
  constructor(message = "The ReactiveClient was closed") {
    super(message);
    this.name = "ClientClosedError";
  }
}
