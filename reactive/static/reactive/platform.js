// What differs between browsers, Node and React Native, kept in one place: the URL of the sync
// endpoint, a UUID, the microtask queue, and logging (with the one way application callbacks are
// called). Nothing here touches the DOM.

/** Sent as the version part of `/api/<version>/sync`; the server accepts any. */
export const CLIENT_VERSION = "reactive-0.1.0";

/** Run `fn` in a microtask (older React Native engines lack queueMicrotask: a resolved promise does the same). */
export const later =
  typeof queueMicrotask === "function" ? (fn) => queueMicrotask(fn) : (fn) => Promise.resolve().then(fn);

/** `http://host:8000` -> `ws://host:8000/api/<version>/sync` (a path prefix is kept). */
export function syncUrl(url, version = CLIENT_VERSION) {
  const match = /^(https?|wss?):\/\/(.+)$/i.exec(String(url));
  if (match === null) {
    throw new Error(
      `The deployment URL must start with http://, https://, ws:// or wss://, got ${JSON.stringify(url)}`,
    );
  }
  const scheme = match[1].toLowerCase();
  const secure = scheme === "https" || scheme === "wss";
  const rest = match[2].replace(/\/+$/, "");
  return `${secure ? "wss" : "ws"}://${rest}/api/${version}/sync`;
}

/** A v4 UUID: crypto.randomUUID where there is one (it only keys the server's mutation de-duplication). */
export function randomUuid() {
  const crypto = globalThis.crypto;
  if (crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (crypto && typeof crypto.getRandomValues === "function") crypto.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Call `fn()`, application code the client must outlive (a subscriber, a listener, a handler):
 * what it throws is logged as `reactive: <what> threw: …`, with its stack, and goes no further.
 */
export function callLogged(logger, what, fn) {
  try {
    fn();
  } catch (error) {
    logger.error(`reactive: ${what} threw: ${error && error.stack ? error.stack : error}`);
  }
}

/** The client's logger: `options.logger`, or the console (informational lines only when verbose). */
export function makeLogger(options) {
  const custom = options.logger;
  if (custom) {
    return {
      log: (...a) => custom.log(...a),
      debug: (...a) => (custom.debug ? custom.debug(...a) : custom.log(...a)),
      warn: (...a) => custom.warn(...a),
      error: (...a) => custom.error(...a),
    };
  }
  const verbose = Boolean(options.verbose);
  const noop = () => {};
  return {
    log: verbose ? (...a) => console.log(...a) : noop,
    debug: verbose ? (...a) => console.debug(...a) : noop,
    warn: (...a) => console.warn(...a),
    error: (...a) => console.error(...a),
  };
}
