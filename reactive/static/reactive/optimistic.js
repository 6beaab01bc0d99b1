// The optimistic layer: what the application sees = the server's results + pending local guesses.
//
// Each mutation called with an `optimisticUpdate` adds a layer that edits query results through a
// local store. Layers are kept in mutation order and replayed over every new set of server
// results, so a guess survives unrelated server updates. A layer goes when its mutation is
// confirmed (the server's results now include the real write, so replaying the guess would
// count it twice) or fails (a rollback: the next view is the server's results without it).

import { canonicalizeUdfPath, queryKey } from "./local_state.js";
import { callLogged } from "./platform.js";

/** The store handed to `optimisticUpdate(localStore, args)`. */
class LocalStore {
  constructor(results) {
    this._results = results;
    this.modified = new Set();
  }

  /** The current value of a query (with earlier guesses applied); undefined while loading or failed. */
  getQuery(name, args) {
    const result = this._results.get(queryKey(name, args));
    return result === undefined ? undefined : result.value;
  }

  /** Every loaded query of this function: `[{ args, value }]` (value undefined if it failed). */
  getAllQueries(name) {
    const path = canonicalizeUdfPath(name);
    const out = [];
    for (const result of this._results.values()) {
      if (result.name === path) out.push({ args: result.args, value: result.value });
    }
    return out;
  }

  /** Replace a query's value (undefined makes it "loading"). Treat values as immutable: build new ones. */
  setQuery(name, args, value) {
    const key = queryKey(name, args);
    this._results.set(key, { name: canonicalizeUdfPath(name), args: args ?? {}, value });
    this.modified.add(key);
  }
}

export class OptimisticView {
  constructor(logger) {
    this._logger = logger;
    this._layers = []; // [{ mutationId, update(localStore) }] in mutation order
    /** key -> { name, args, value } | { name, args, error } : what subscribers see. */
    this.visible = new Map();
  }

  /** Add a mutation's guess and apply it on top of the current view; returns the keys it changed. */
  addLayer(mutationId, update) {
    const next = new Map(this.visible);
    const store = new LocalStore(next);
    update(store); // an exception here is the caller's: nothing is applied and the mutation is not sent
    this.visible = next;
    this._layers.push({ mutationId, update });
    return [...store.modified];
  }

  /**
   * New server results (`server`: key -> result, shared objects kept when unchanged), without
   * the layers of `dropped` mutation ids. Returns the keys whose visible result changed.
   */
  rebuild(server, dropped = new Set()) {
    if (dropped.size > 0) this._layers = this._layers.filter((layer) => !dropped.has(layer.mutationId));
    const previous = this.visible;
    const next = new Map(server);
    const store = new LocalStore(next);
    // A replay that throws is skipped this time; the layer stays until its mutation is done.
    for (const layer of this._layers)
      callLogged(this._logger, "an optimistic update being replayed", () => layer.update(store));
    this.visible = next;
    const changed = [];
    for (const [key, result] of next) if (previous.get(key) !== result) changed.push(key);
    for (const key of previous.keys()) if (!next.has(key)) changed.push(key);
    return changed;
  }

  hasLayer(mutationId) {
    return this._layers.some((layer) => layer.mutationId === mutationId);
  }
}
