// The query set the application wants, and what the server has been told of it.
//
// Identical subscriptions (same function, same canonical args) share one entry and one server
// query; the entry is reference-counted by its subscriptions. Changes are not sent one by one:
// the client flushes them together (once per microtask), so an unsubscribe followed at once by a
// subscribe to the same query (a React re-render, a component moving) costs nothing on the wire.

import { addQuery, modifyQuerySetMessage, removeQuery } from "./protocol.js";
import { canonicalJson, convexToJson } from "./values.js";

/** `messages` -> `messages:default`, `dir/messages.js:list` -> `dir/messages:list` (as the server names functions). */
export function canonicalizeUdfPath(name) {
  if (typeof name !== "string" || name === "")
    throw new TypeError('A function name must be a non-empty string like "messages:list"');
  const colon = name.lastIndexOf(":");
  let module = colon === -1 ? name : name.slice(0, colon);
  const fn = colon === -1 ? "default" : name.slice(colon + 1);
  if (module.endsWith(".js")) module = module.slice(0, -3);
  return `${module}:${fn}`;
}

/** The identity of a query: its canonical function path and canonical (sorted-key) args. */
export function queryKey(name, args) {
  return `${canonicalizeUdfPath(name)}|${canonicalJson(args ?? {})}`;
}

/**
 * One wanted query. `subscriptions` are opaque records of whoever asked for it; the query lives
 * on the server while there is at least one.
 */
class QueryEntry {
  constructor(key, queryId, name, args) {
    this.key = key;
    this.queryId = queryId;
    this.name = canonicalizeUdfPath(name);
    this.args = args;
    this.argsJson = convexToJson(args, "args");
    this.subscriptions = new Set();
    /** The server's journal for this query (opaque), handed back when the query is re-added. */
    this.journal = undefined;
  }
}

export class LocalQuerySet {
  constructor() {
    this._byKey = new Map();
    this._byId = new Map();
    this._nextQueryId = 0; // queryIds are never reused, and survive reconnects
    this._onServer = new Set(); // queryIds added on the current socket and not removed since
    this._version = 0; // the query set version of the last ModifyQuerySet sent on this socket
  }

  /** Add a subscription record to the query (creating it if new); returns the entry. */
  subscribe(name, args, record) {
    const key = queryKey(name, args);
    let entry = this._byKey.get(key);
    if (entry === undefined) {
      entry = new QueryEntry(key, this._nextQueryId++, name, args ?? {});
      this._byKey.set(key, entry);
      this._byId.set(entry.queryId, entry);
    }
    entry.subscriptions.add(record);
    return entry;
  }

  /** Remove a subscription record; the entry itself goes at the next flush if it has none left. */
  unsubscribe(entry, record) {
    entry.subscriptions.delete(record);
  }

  byKey(key) {
    return this._byKey.get(key);
  }

  byId(queryId) {
    return this._byId.get(queryId);
  }

  entries() {
    return this._byKey.values();
  }

  /**
   * Bring the server up to date. Entries without subscriptions are dropped (and removed on the
   * server); new entries are added when a socket is open. Returns the ModifyQuerySet to send (or
   * null) and the entries dropped, whose results the caller forgets.
   */
  flush(connected) {
    const dropped = this._purge();
    const modifications = [];
    for (const entry of dropped) {
      if (this._onServer.delete(entry.queryId)) modifications.push(removeQuery(entry.queryId));
    }
    if (!connected) return { message: null, dropped };
    modifications.push(...this._addMissing());
    if (modifications.length === 0) return { message: null, dropped };
    return { message: this._modify(modifications), dropped };
  }

  /**
   * A new socket: the server knows nothing. Returns the ModifyQuerySet from version 0 that adds
   * every live query with its original queryId; it is sent even when empty, so that the server
   * answers with a first Transition.
   */
  restart() {
    const dropped = this._purge();
    this._onServer.clear();
    this._version = 0;
    return { message: this._modify(this._addMissing()), dropped };
  }

  _purge() {
    const dropped = [];
    for (const entry of this._byKey.values()) {
      if (entry.subscriptions.size === 0) dropped.push(entry);
    }
    for (const entry of dropped) {
      this._byKey.delete(entry.key);
      this._byId.delete(entry.queryId);
    }
    return dropped;
  }

  /** `Add` modifications for the entries the server does not have yet, now counted as on the server. */
  _addMissing() {
    const adds = [];
    for (const entry of this._byKey.values()) {
      if (this._onServer.has(entry.queryId)) continue;
      adds.push(addQuery(entry.queryId, entry.name, entry.argsJson, entry.journal));
      this._onServer.add(entry.queryId);
    }
    return adds;
  }

  _modify(modifications) {
    const message = modifyQuerySetMessage(this._version, modifications);
    this._version = message.newVersion;
    return message;
  }
}
