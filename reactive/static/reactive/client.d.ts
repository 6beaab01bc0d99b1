// Type declarations for client.js: the ReactiveClient of a `reactive` Django deployment.

/** A value that travels between client and server (Convex's value model). */
export type Value =
  null | boolean | number | bigint | string | ArrayBuffer | Value[] | { [key: string]: Value | undefined };

/** Function arguments: a plain object (members that are `undefined` are left out). */
export type Args = { [key: string]: Value | undefined };

/** "connecting" until the first connection, "connected" while a socket is open, "disconnected" otherwise. */
export type ConnectionState = "connecting" | "connected" | "disconnected";

/** A query's current result: its value, its error, or undefined while loading. */
export type QueryResult<T = any> =
  { name: string; args: Args; value: T } | { name: string; args: Args; error: ReactiveError };

/** A function failed on the server. */
export declare class ReactiveError<TData = any> extends Error {
  constructor(
    message: string,
    options?: { data?: TData; code?: string; functionName?: string; kind?: "query" | "mutation" | "action" },
  );
  name: "ReactiveError";
  /** The error's JSON data (`errorData`), undefined when the server sent none. */
  data: TData | undefined;
  /** The server error's stable code (`errorCode`), e.g. "not_found", "invalid_args", "server_error". */
  code: string | undefined;
  /** The function that failed, e.g. "channels:create". */
  functionName: string | undefined;
  kind: "query" | "mutation" | "action" | undefined;
}

/** The connection dropped while an action was running; it may or may not have run. */
export declare class ConnectionLostError extends Error {
  name: "ConnectionLostError";
}

/** The client was closed; pending requests reject with this. */
export declare class ClientClosedError extends Error {
  name: "ClientClosedError";
}

/** The store given to optimistic updates: edits apply to the local view only. */
export interface OptimisticLocalStore {
  /** The current value of a query (earlier optimistic updates applied); undefined while loading or failed. */
  getQuery<T = any>(name: string, args?: Args): T | undefined;
  /** Every loaded query of a function, with its args. */
  getAllQueries<T = any>(name: string): Array<{ args: Args; value: T | undefined }>;
  /** Replace a query's value (undefined makes it loading). Build new objects; do not mutate values. */
  setQuery(name: string, args: Args, value: any): void;
}

/** `(localStore, args) => void`: edits queries to show a mutation's effect before the server confirms it. */
export type OptimisticUpdate<A extends Args = Args> = (localStore: OptimisticLocalStore, args: A) => void;

export interface MutationOptions<A extends Args = Args> {
  optimisticUpdate?: OptimisticUpdate<A>;
}

export interface Logger {
  log(...args: any[]): void;
  debug?(...args: any[]): void;
  warn(...args: any[]): void;
  error(...args: any[]): void;
}

export interface ReactiveClientOptions {
  /** A WebSocket class; defaults to `globalThis.WebSocket` (pass `ws`'s in Node < 22). */
  WebSocket?: any;
  /** Called with the new state on every change of `connectionState()`. */
  onConnectionStateChange?: (state: ConnectionState) => void;
  /** Log connection events and every message sent and received. */
  verbose?: boolean;
  /** Where logs go (default: console; informational lines only when verbose). */
  logger?: Logger;
  /** Advanced: a socket silent this long is considered dead (default 60000 ms). */
  inactivityTimeoutMs?: number;
  /** Advanced: reconnect backoff bounds (default 1000 ms doubling up to 16000 ms, jittered). */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Advanced: the version part of the sync URL (default CLIENT_VERSION). */
  clientVersion?: string;
}

/** Returned by onUpdate: call it to unsubscribe. */
export interface Unsubscribe {
  (): void;
  /** The subscription's current value, undefined while loading or failed. */
  getCurrentValue(): any;
}

export declare const CLIENT_VERSION: string;
/** Protocol extensions announced in Connect.reactiveExtensions. */
export declare const EXTENSIONS: readonly string[];
/** Mutations and actions the client keeps sent and unanswered at most; the rest wait in the client. */
export declare const MAX_REQUESTS_IN_FLIGHT: number;

/** `http://host:8000` -> `ws://host:8000/api/<version>/sync`. */
export declare function syncUrl(url: string, version?: string): string;
/** The identity of a query: canonical function path + canonical (sorted-key) args. */
export declare function queryKey(name: string, args?: Args): string;
/** `messages` -> `messages:default`; strips `.js` from the module. */
export declare function canonicalizeUdfPath(name: string): string;
/** A value in Convex's JSON encoding (keys sorted). */
export declare function convexToJson(value: Value, path?: string): any;
/** Convex JSON as a value (`$integer` -> bigint, `$bytes` -> ArrayBuffer). */
export declare function jsonToConvex(json: any): Value;

export declare class ReactiveClient {
  /**
   * @param url the deployment's base URL, e.g. "http://127.0.0.1:8000" (https -> wss)
   */
  constructor(url: string, options?: ReactiveClientOptions);

  /**
   * Subscribe to a query: `callback` gets the current value and every new one, `onError` its
   * failures. Identical subscriptions share one server query.
   */
  onUpdate<T = any>(
    name: string,
    args: Args | undefined,
    callback: (value: T) => void,
    onError?: (error: ReactiveError) => void,
  ): Unsubscribe;

  /** Run a query once: its first value (or its error). */
  query<T = any>(name: string, args?: Args): Promise<T>;

  /**
   * Run a mutation; resolves with its result once the query results include its writes, rejects
   * with a ReactiveError (with `.data`) if it failed.
   */
  mutation<T = any, A extends Args = Args>(name: string, args?: A, options?: MutationOptions<A>): Promise<T>;

  /** Run an action (never retried; rejects with ConnectionLostError if the connection drops meanwhile). */
  action<T = any>(name: string, args?: Args): Promise<T>;

  /** Act as the token's user (now and after reconnects); null returns to the cookie's user or anonymous. */
  setAuth(token: string | null, options?: { onAuthError?: (message: string) => void }): void;
  clearAuth(): void;

  connectionState(): ConnectionState;
  onConnectionStateChange(listener: (state: ConnectionState) => void): () => void;

  /** Low-level: keep a query live; `onChange` runs when its result may have changed. */
  watchQuery(name: string, args: Args | undefined, onChange: () => void): () => void;
  /** Low-level: the current result (optimistic updates applied), stable until it changes. */
  localQueryResult<T = any>(name: string, args?: Args): QueryResult<T> | undefined;

  /** Keys the server's mutation de-duplication; the same across reconnects. */
  readonly sessionId: string;

  /** Close for good; pending requests reject with ClientClosedError. */
  close(): void;
}
