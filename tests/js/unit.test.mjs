// client.js without a server: values, keys, and the protocol rules driven through a fake WebSocket.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  MAX_REQUESTS_IN_FLIGHT,
  ReactiveClient,
  ReactiveError,
  canonicalizeUdfPath,
  queryKey,
  syncUrl,
} from "../../reactive/static/reactive/client.js";
import {
  completeReplacement,
  derivePaginatedView,
  initialPaginationState,
  loadMore,
  pageQueries,
} from "../../reactive/static/reactive/pagination.js";
import { convexToJson, decodeTs, encodeTs, jsonToConvex } from "../../reactive/static/reactive/values.js";
import { collector, waitFor } from "./helpers/util.mjs";

// --- a scriptable WebSocket -----------------------------------------------------------------------

/** `net.sockets` are the fake sockets the client created, newest last; the test plays the server. */
function fakeNetwork() {
  const net = { sockets: [] };
  net.WebSocket = class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closed = false;
      net.sockets.push(this);
    }

    send(data) {
      if (this.closed) throw new Error("send on a closed socket");
      this.sent.push(JSON.parse(data));
    }

    close() {
      this.closed = true;
    }

    // --- the server's side ---
    open() {
      this.onopen({});
    }

    receive(message) {
      this.onmessage({ data: JSON.stringify(message) });
    }

    drop(code = 1006, reason = "") {
      this.closed = true;
      this.onclose({ code, reason });
    }
  };
  Object.defineProperty(net, "socket", { get: () => net.sockets[net.sockets.length - 1] });
  return net;
}

const quiet = { log() {}, debug() {}, warn() {}, error() {} };

function fakeClient(options = {}) {
  const net = fakeNetwork();
  const client = new ReactiveClient("http://fake.test:8000", {
    WebSocket: net.WebSocket,
    logger: quiet,
    backoff: { initialMs: 5, maxMs: 20 },
    ...options,
  });
  return { net, client };
}

const ts = (n) => encodeTs(BigInt(n));
const version = (querySet, identity, t) => ({ querySet, identity, ts: ts(t) });
function transition(start, end, modifications = []) {
  return { type: "Transition", startVersion: version(...start), endVersion: version(...end), modifications };
}
const updated = (queryId, value, journal = null) => ({ type: "QueryUpdated", queryId, value, logLines: [], journal });
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

// --- values and names -----------------------------------------------------------------------------

describe("values", () => {
  test("timestamps are base64 of 8 bytes little-endian", () => {
    assert.equal(encodeTs(0n), "AAAAAAAAAAA=");
    assert.equal(encodeTs(1n), "AQAAAAAAAAA=");
    assert.equal(decodeTs("DwAAAAAAAAA="), 15n);
    const big = 2n ** 63n + 12345n;
    assert.equal(decodeTs(encodeTs(big)), big);
  });

  test("Convex JSON round trip: int64, bytes, special floats, sorted keys, undefined dropped", () => {
    assert.deepEqual(convexToJson(5n), { $integer: "BQAAAAAAAAA=" });
    assert.equal(jsonToConvex({ $integer: "BQAAAAAAAAA=" }), 5n);
    assert.equal(jsonToConvex(convexToJson(-(2n ** 63n))), -(2n ** 63n));
    assert.ok(Number.isNaN(jsonToConvex(convexToJson(NaN))));
    assert.ok(Object.is(jsonToConvex(convexToJson(-0)), -0));
    assert.equal(jsonToConvex(convexToJson(-Infinity)), -Infinity);
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253]).buffer;
    assert.deepEqual(new Uint8Array(jsonToConvex(convexToJson(bytes))), new Uint8Array(bytes));
    assert.equal(
      JSON.stringify(convexToJson({ b: 1, a: { d: 2, c: undefined, b: [3] } })),
      '{"a":{"b":[3],"d":2},"b":1}',
    );
    assert.throws(() => convexToJson({ $bad: 1 }), /reserved/);
    assert.throws(() => convexToJson(new Map()), /not a valid value/);
  });

  test("query keys: canonical path and args", () => {
    assert.equal(queryKey("messages:list", { b: 1, a: 2 }), queryKey("messages.js:list", { a: 2, b: 1, c: undefined }));
    assert.notEqual(queryKey("messages:list", { a: 1 }), queryKey("messages:list", { a: 2 }));
    assert.equal(canonicalizeUdfPath("messages"), "messages:default");
    assert.equal(canonicalizeUdfPath("dir/messages.js:list"), "dir/messages:list");
  });

  test("the sync URL follows the deployment URL's scheme", () => {
    assert.equal(syncUrl("http://127.0.0.1:8000"), "ws://127.0.0.1:8000/api/reactive-0.1.0/sync");
    assert.equal(syncUrl("https://example.com/prefix/"), "wss://example.com/prefix/api/reactive-0.1.0/sync");
    assert.throws(() => syncUrl("example.com"), /must start with/);
  });
});

// --- the protocol through a fake socket -------------------------------------------------------------

describe("protocol rules", () => {
  test("a burst of mutations is sent MAX_REQUESTS_IN_FLIGHT at a time, in order, as responses arrive", async () => {
    const { net, client } = fakeClient();
    net.socket.open();
    net.socket.receive(transition([0, 0, 0], [1, 0, 3]));
    const burst = 2 * MAX_REQUESTS_IN_FLIGHT + 10;
    const promises = Array.from({ length: burst }, (_, i) => client.mutation("tasks:create", { text: `t${i}` }));
    const sentIds = () => net.socket.sent.filter((m) => m.type === "Mutation").map((m) => m.requestId);
    assert.equal(sentIds().length, MAX_REQUESTS_IN_FLIGHT);
    for (let answered = 0; answered < burst; answered += 1) {
      assert.ok(sentIds().length - answered <= MAX_REQUESTS_IN_FLIGHT, "never more in flight than the cap");
      net.socket.receive({ type: "MutationResponse", requestId: answered, success: true, result: answered, ts: ts(4), logLines: [] });
    }
    assert.deepEqual(sentIds(), Array.from({ length: burst }, (_, i) => i), "every one sent once, in order");
    net.socket.receive(transition([1, 0, 3], [1, 0, 4]));
    assert.deepEqual(await Promise.all(promises), Array.from({ length: burst }, (_, i) => i));
    client.close();
  });

  test("a mutation resolves when a Transition reaches its ts, not when its response arrives", async () => {
    const { net, client } = fakeClient();
    net.socket.open();
    const [connect, modify] = net.socket.sent;
    assert.equal(connect.type, "Connect");
    assert.deepEqual(connect.reactiveExtensions, ["diffs"]);
    assert.deepEqual(modify, { type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [] });
    net.socket.receive(transition([0, 0, 0], [1, 0, 3]));

    let resolved = false;
    const promise = client.mutation("tasks:create", { text: "x" }).then((v) => {
      resolved = true;
      return v;
    });
    assert.deepEqual(net.socket.sent[2], {
      type: "Mutation",
      requestId: 0,
      udfPath: "tasks:create",
      args: [{ text: "x" }],
    });
    net.socket.receive({ type: "MutationResponse", requestId: 0, success: true, result: 7, ts: ts(5), logLines: [] });
    await tick();
    assert.equal(resolved, false, "not before the Transition");
    net.socket.receive(transition([1, 0, 3], [1, 0, 4]));
    await tick();
    assert.equal(resolved, false, "not before a Transition at its ts");
    net.socket.receive(transition([1, 0, 4], [1, 0, 5]));
    assert.equal(await promise, 7);
    client.close();
  });

  test("a Transition that does not start where the last ended makes the client reconnect", async () => {
    const { net, client } = fakeClient();
    const first = net.socket;
    first.open();
    first.receive(transition([0, 0, 0], [1, 0, 3]));
    first.receive(transition([1, 0, 2], [1, 0, 4])); // wrong start
    assert.equal(first.closed, true);
    await waitFor(() => net.sockets.length === 2, "a new socket");
    net.socket.open();
    assert.equal(net.socket.sent[0].type, "Connect");
    assert.equal(net.socket.sent[0].sessionId, first.sent[0].sessionId, "same session");
    assert.equal(net.socket.sent[0].maxObservedTimestamp, ts(3));
    assert.match(net.socket.sent[0].lastCloseReason, /Transition starts at/);
    client.close();
  });

  test("a silent socket is given up and replaced; a FatalError does the same", async () => {
    const { net, client } = fakeClient({ inactivityTimeoutMs: 30 });
    net.socket.open();
    await waitFor(() => net.sockets.length === 2, "a socket replacing the silent one");
    assert.equal(net.sockets[0].closed, true);
    net.socket.open();
    assert.equal(net.socket.sent[0].lastCloseReason, "InactiveServer");
    net.socket.receive({ type: "FatalError", error: "something broke" });
    await waitFor(() => net.sockets.length === 3, "a socket replacing the failed one");
    net.socket.open();
    assert.equal(net.socket.sent[0].lastCloseReason, "FatalError: something broke");
    client.close();
  });

  test("on reconnect: Connect, Authenticate, the query set from version 0, then unconfirmed mutations", async () => {
    const { net, client } = fakeClient();
    const states = [];
    client.onConnectionStateChange((s) => states.push(s));
    client.setAuth("token-1");
    net.socket.open();
    assert.deepEqual(
      net.socket.sent.map((m) => m.type),
      ["Connect", "Authenticate", "ModifyQuerySet"],
    );
    assert.deepEqual(net.socket.sent[1], { type: "Authenticate", tokenType: "User", value: "token-1", baseVersion: 0 });
    net.socket.receive(transition([0, 0, 0], [1, 1, 2]));

    const a = collector();
    client.onUpdate("messages:list", { channelId: 1 }, a.onValue);
    client.onUpdate("users:list", {}, () => {});
    await tick();
    assert.deepEqual(
      net.socket.sent[3].modifications.map((m) => m.queryId),
      [0, 1],
    );
    net.socket.receive(transition([1, 1, 2], [2, 1, 3], [updated(0, ["hello"], "journal-0"), updated(1, [])]));
    await waitFor(() => a.values.length === 1, "the value");

    const answered = client.mutation("messages:send", { body: "answered" });
    const unanswered = client.mutation("messages:send", { body: "unanswered" });
    const action = client.action("payments:process", { orderId: 1 });
    net.socket.receive({ type: "MutationResponse", requestId: 0, success: true, result: 10, ts: ts(9), logLines: [] });
    net.socket.drop(1011, "InternalServerError: restart");
    assert.equal(client.connectionState(), "disconnected");
    await assert.rejects(action, { name: "ConnectionLostError" });
    const queued = client.action("payments:process", { orderId: 2 }); // not sent yet: sent after the reconnect

    await waitFor(() => net.sockets.length === 2, "a new socket");
    net.socket.open();
    const sent = net.socket.sent;
    assert.deepEqual(
      sent.map((m) => m.type),
      ["Connect", "Authenticate", "ModifyQuerySet", "Mutation", "Mutation", "Action"],
    );
    assert.equal(sent[0].maxObservedTimestamp, ts(9));
    assert.equal(sent[0].lastCloseReason, "InternalServerError: restart");
    assert.equal(sent[1].baseVersion, 0);
    assert.deepEqual(sent[2], {
      type: "ModifyQuerySet",
      baseVersion: 0,
      newVersion: 1,
      modifications: [
        { type: "Add", queryId: 0, udfPath: "messages:list", args: [{ channelId: 1 }], journal: "journal-0" },
        { type: "Add", queryId: 1, udfPath: "users:list", args: [{}], journal: null },
      ],
    });
    assert.deepEqual([sent[3].requestId, sent[4].requestId, sent[5].requestId], [0, 1, 3]);
    // The old value stays visible until the new connection's first Transition replaces it.
    assert.deepEqual(client.localQueryResult("messages:list", { channelId: 1 }).value, ["hello"]);
    net.socket.receive(transition([0, 0, 0], [1, 1, 9], [updated(0, ["hello", "answered"]), updated(1, [])]));
    assert.equal(await answered, 10);
    net.socket.receive({ type: "MutationResponse", requestId: 1, success: true, result: 11, ts: ts(10), logLines: [] });
    net.socket.receive(transition([1, 1, 9], [1, 1, 10], [updated(0, ["hello", "answered", "unanswered"])]));
    assert.equal(await unanswered, 11);
    net.socket.receive({ type: "ActionResponse", requestId: 3, success: true, result: "paid", logLines: [] });
    assert.equal(await queued, "paid");
    assert.deepEqual(a.latest, ["hello", "answered", "unanswered"]);
    assert.deepEqual(states, ["connected", "disconnected", "connected"]);
    client.close();
  });

  test("a failed query reaches onError with its data; a failed mutation rejects with its data", async () => {
    const { net, client } = fakeClient();
    net.socket.open();
    net.socket.receive(transition([0, 0, 0], [1, 0, 1]));
    const q = collector();
    client.onUpdate("things:get", { id: 1 }, q.onValue, q.onError);
    await tick();
    net.socket.receive(
      transition(
        [1, 0, 1],
        [2, 0, 1],
        [
          {
            type: "QueryFailed",
            queryId: 0,
            errorMessage: "No such thing",
            errorData: { code: "not_found" },
            logLines: [],
            journal: null,
          },
        ],
      ),
    );
    assert.equal(q.values.length, 0);
    assert.ok(q.errors[0] instanceof ReactiveError);
    assert.equal(q.errors[0].message, "No such thing");
    assert.deepEqual(q.errors[0].data, { code: "not_found" });
    assert.equal(q.errors[0].functionName, "things:get");

    const failing = client.mutation("things:create", {});
    net.socket.receive({
      type: "MutationResponse",
      requestId: 0,
      success: false,
      result: "Nope",
      errorData: { n: 1n.toString() },
      logLines: [],
    });
    await assert.rejects(failing, (e) => e instanceof ReactiveError && e.message === "Nope" && e.data.n === "1");
    const plain = client.mutation("things:create", {});
    net.socket.receive({ type: "MutationResponse", requestId: 1, success: false, result: "Plain", logLines: [] });
    await assert.rejects(plain, (e) => e instanceof ReactiveError && e.data === undefined);
    client.close();
  });

  test("optimistic layers: replayed over server updates, dropped on confirmation, rolled back on failure", async () => {
    const { net, client } = fakeClient();
    net.socket.open();
    net.socket.receive(transition([0, 0, 0], [1, 0, 1]));
    const list = collector();
    client.onUpdate("items:list", {}, list.onValue);
    await tick();
    net.socket.receive(transition([1, 0, 1], [2, 0, 1], [updated(0, ["a"])]));
    const add = (item) => (store) => store.setQuery("items:list", {}, [...store.getQuery("items:list", {}), item]);

    const kept = client.mutation("items:add", { item: "b" }, { optimisticUpdate: add("b?") });
    const failed = client.mutation("items:add", { item: "c" }, { optimisticUpdate: add("c?") });
    assert.deepEqual(list.latest, ["a", "b?", "c?"]);
    net.socket.receive(transition([2, 0, 1], [2, 0, 2], [updated(0, ["a", "z"])])); // someone else's write
    assert.deepEqual(list.latest, ["a", "z", "b?", "c?"], "replayed over the new server value");
    net.socket.receive({
      type: "MutationResponse",
      requestId: 0,
      success: true,
      result: null,
      ts: ts(3),
      logLines: [],
    });
    net.socket.receive({ type: "MutationResponse", requestId: 1, success: false, result: "no c", logLines: [] });
    await assert.rejects(failed, /no c/);
    assert.deepEqual(list.latest, ["a", "z", "b?"], "the failed guess rolled back");
    net.socket.receive(transition([2, 0, 2], [2, 0, 3], [updated(0, ["a", "z", "b"])]));
    await kept;
    assert.deepEqual(list.latest, ["a", "z", "b"], "the guess gave way to the server's value");
    client.close();
  });

  test("AuthError: onAuthError runs, the token is dropped, the next Authenticate follows the rejected one", async () => {
    const { net, client } = fakeClient();
    net.socket.open();
    net.socket.receive(transition([0, 0, 0], [1, 0, 1]));
    const errors = [];
    client.setAuth("bad", { onAuthError: (message) => errors.push(message) });
    assert.deepEqual(net.socket.sent.at(-1), { type: "Authenticate", tokenType: "User", value: "bad", baseVersion: 0 });
    net.socket.receive({ type: "AuthError", error: "The token is invalid", baseVersion: 0, authUpdateAttempted: true });
    assert.deepEqual(errors, ["The token is invalid"]);
    client.setAuth("good");
    assert.deepEqual(net.socket.sent.at(-1), {
      type: "Authenticate",
      tokenType: "User",
      value: "good",
      baseVersion: 1,
    });
    net.socket.drop();
    await waitFor(() => net.sockets.length === 2, "a new socket");
    net.socket.open();
    assert.deepEqual(net.socket.sent[1], { type: "Authenticate", tokenType: "User", value: "good", baseVersion: 0 });
    client.close();
  });
});

// --- pagination state ------------------------------------------------------------------------------

describe("pagination state", () => {
  const page = (items, extra = {}) => ({
    value: { page: items, isDone: false, continueCursor: `after-${items.at(-1)}`, ...extra },
  });

  test("first page, loadMore, split, completion", () => {
    let state = initialPaginationState("messages:paginated", { channelId: 1 }, 2, 7);
    assert.deepEqual(
      pageQueries(state).map((q) => q.args),
      [{ channelId: 1, paginationOpts: { numItems: 2, cursor: null, id: 7 } }],
    );
    const results = {};
    let view = derivePaginatedView(state, (k) => results[k]);
    assert.equal(view.status, "LoadingFirstPage");
    results[0] = page(["a", "b"]);
    view = derivePaginatedView(state, (k) => results[k]);
    assert.equal(view.status, "CanLoadMore");
    state = loadMore(state, 2, 0, view.lastPage);
    assert.equal(loadMore(state, 2, 0, view.lastPage), state, "a second loadMore for the same page does nothing");
    assert.deepEqual(pageQueries(state)[1].args.paginationOpts, { numItems: 2, cursor: "after-b", id: 7 });
    view = derivePaginatedView(state, (k) => results[k]);
    assert.equal(view.status, "LoadingMore");
    assert.deepEqual(view.results, ["a", "b"]);
    results[1] = page(["c"], { isDone: true });
    // Page 0 grew and the server recommends a split.
    results[0] = page(["a", "a2", "a3", "b"], { splitCursor: "after-a2", pageStatus: "SplitRecommended" });
    view = derivePaginatedView(state, (k) => results[k]);
    assert.equal(view.status, "Exhausted");
    assert.deepEqual(view.results, ["a", "a2", "a3", "b", "c"]);
    assert.equal(view.transitions.length, 1);
    state = view.transitions[0](state);
    const halves = pageQueries(state)
      .slice(2)
      .map((q) => q.args.paginationOpts);
    assert.deepEqual(halves, [
      { numItems: 2, cursor: null, id: 7, endCursor: "after-a2" },
      { numItems: 2, cursor: "after-a2", id: 7, endCursor: "after-b" },
    ]);
    results[2] = page(["a", "a2"]);
    view = derivePaginatedView(state, (k) => results[k]);
    assert.equal(view.transitions.length, 0, "not until both halves have results");
    results[3] = page(["a3", "b"]);
    view = derivePaginatedView(state, (k) => results[k]);
    state = view.transitions.reduce((s, t) => t(s), state);
    assert.deepEqual(state.pageKeys, [2, 3, 1]);
    assert.equal(completeReplacement(state, 0), state);
    view = derivePaginatedView(state, (k) => results[k]);
    assert.deepEqual(view.results, ["a", "a2", "a3", "b", "c"]);
    assert.deepEqual(
      pageQueries(state).map((q) => q.pageKey),
      [1, 2, 3],
    );
  });

  test("an InvalidCursor error restarts from the first page with a new id", () => {
    const state = initialPaginationState("m:p", {}, 5, 1000);
    const error = new ReactiveError("InvalidCursor: bad", {
      data: { isConvexSystemError: true, paginationError: "InvalidCursor" },
    });
    const view = derivePaginatedView(state, () => ({ error }));
    assert.equal(view.status, "LoadingFirstPage");
    const next = view.transitions[0](state);
    assert.notEqual(next.id, state.id);
    assert.deepEqual(next.pageKeys, [0]);
    const other = derivePaginatedView(state, () => ({ error: new ReactiveError("boom") }));
    assert.equal(other.error.message, "boom");
  });
});
