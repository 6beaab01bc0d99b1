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
import { applyResultDiff } from "../../reactive/static/reactive/diffs.js";
import {
  EXTENSIONS,
  addQuery,
  authenticateMessage,
  connectMessage,
  loggable,
  modifyQuerySetMessage,
  removeQuery,
  requestMessage,
  responseTs,
  wireError,
} from "../../reactive/static/reactive/protocol.js";
import { RequestManager, Status, settle } from "../../reactive/static/reactive/requests.js";
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

// --- the messages the client sends (protocol.js) -------------------------------------------------------

describe("protocol messages", () => {
  test("Connect: session, counts, extensions, and the highest ts seen only once there is one", () => {
    const before = Date.now();
    const first = connectMessage({
      sessionId: "s-1",
      connectionCount: 0,
      lastCloseReason: "InitialConnect",
      maxObservedTs: null,
    });
    assert.deepEqual(Object.keys(first), [
      "type",
      "sessionId",
      "connectionCount",
      "lastCloseReason",
      "clientTs",
      "reactiveExtensions",
    ]);
    assert.equal(first.type, "Connect");
    assert.equal(first.sessionId, "s-1");
    assert.equal(first.connectionCount, 0);
    assert.equal(first.lastCloseReason, "InitialConnect");
    assert.ok(first.clientTs >= before && first.clientTs <= Date.now());
    assert.deepEqual(first.reactiveExtensions, ["diffs"]);
    assert.notEqual(first.reactiveExtensions, EXTENSIONS, "a copy: the frozen list is never sent itself");
    const later = connectMessage({ sessionId: "s-1", connectionCount: 3, lastCloseReason: null, maxObservedTs: 9n });
    assert.equal(later.maxObservedTimestamp, "CQAAAAAAAAA=");
    assert.equal(decodeTs(later.maxObservedTimestamp), 9n);
    assert.equal(later.lastCloseReason, null);
  });

  test("ModifyQuerySet moves one version on; Add carries a journal only when there is one", () => {
    const modifications = [
      addQuery(4, "messages:list", { channelId: 1 }, undefined),
      addQuery(5, "messages:paginated", {}, "signed-journal"),
      addQuery(6, "users:list", {}, null),
      removeQuery(2),
    ];
    assert.deepEqual(modifyQuerySetMessage(3, modifications), {
      type: "ModifyQuerySet",
      baseVersion: 3,
      newVersion: 4,
      modifications: [
        { type: "Add", queryId: 4, udfPath: "messages:list", args: [{ channelId: 1 }] },
        { type: "Add", queryId: 5, udfPath: "messages:paginated", args: [{}], journal: "signed-journal" },
        { type: "Add", queryId: 6, udfPath: "users:list", args: [{}], journal: null },
        { type: "Remove", queryId: 2 },
      ],
    });
    assert.equal("journal" in modifications[0], false);
  });

  test("Mutation and Action: args as a one-element array of Convex JSON; unencodable args throw", () => {
    assert.deepEqual(requestMessage("mutation", 7, "tasks:create", { n: 5n, text: "x", skip: undefined }), {
      type: "Mutation",
      requestId: 7,
      udfPath: "tasks:create",
      args: [{ n: { $integer: "BQAAAAAAAAA=" }, text: "x" }],
    });
    assert.deepEqual(requestMessage("action", 8, "payments:process", { orderId: 1 }), {
      type: "Action",
      requestId: 8,
      udfPath: "payments:process",
      args: [{ orderId: 1 }],
    });
    assert.throws(() => requestMessage("mutation", 9, "tasks:create", { when: new Date() }), /args\.when/);
  });

  test("Authenticate with a token, without one, and as logged", () => {
    const user = authenticateMessage("tok", 2);
    assert.deepEqual(user, { type: "Authenticate", tokenType: "User", value: "tok", baseVersion: 2 });
    assert.deepEqual(authenticateMessage(null, 3), { type: "Authenticate", tokenType: "None", baseVersion: 3 });
    assert.equal(loggable(user).value, "…", "the token never reaches a log");
    assert.equal(user.value, "tok", "the message itself is left alone");
    const mutation = requestMessage("mutation", 1, "a:b", {});
    assert.equal(loggable(mutation), mutation);
  });

  test("the server's fields: a response's commit ts, an error's data", () => {
    assert.equal(responseTs({ success: true, ts: encodeTs(12n) }), 12n);
    assert.equal(responseTs({ success: true }), null, "an ActionResponse has no ts");
    assert.equal(responseTs({ success: false, ts: encodeTs(12n) }), null);
    const withData = wireError("Nope", { n: { $integer: "AQAAAAAAAAA=" } }, "things:create", "mutation");
    assert.ok(withData instanceof ReactiveError);
    assert.equal(withData.message, "Nope");
    assert.deepEqual(withData.data, { n: 1n });
    assert.equal(withData.functionName, "things:create");
    assert.equal(withData.kind, "mutation");
    assert.equal(wireError("Plain", undefined, "q:x", "query").data, undefined);
    assert.equal(wireError("Null data", null, "q:x", "query").data, null, "present, even null, it is data");
  });
});

// --- the diffs extension (diffs.js) ----------------------------------------------------------------

describe("result diffs", () => {
  const a = { _id: 1, body: "a" };
  const b = { _id: 2, body: "b" };
  const c = { _id: 3, body: "c" };
  const d = { _id: 4, body: "d" };

  test("copies, removals, changed and new items; unchanged items keep their identity", () => {
    const next = applyResultDiff([a, b, c], {
      removed: [2],
      items: [1, { _id: 3, body: "c2" }, { _id: 5, body: "e", n: { $integer: "AgAAAAAAAAA=" } }],
    });
    assert.deepEqual(next, [a, { _id: 3, body: "c2" }, { _id: 5, body: "e", n: 2n }]);
    assert.equal(next[0], a);
  });

  test("a move places an item out of order and the copies skip it", () => {
    const next = applyResultDiff([a, b, c, d], { removed: [], items: [[3], 3] });
    assert.deepEqual(next, [c, a, b, d]);
    next.forEach((item, i) => assert.equal(item, [c, a, b, d][i]));
    assert.deepEqual(applyResultDiff([a, b, c], { removed: [1], items: [[3], 1] }), [c, b]);
  });

  test("a diff that keeps everything, one that removes everything, one from an empty list", () => {
    assert.deepEqual(applyResultDiff([a, b], { removed: [], items: [2] }), [a, b]);
    assert.deepEqual(applyResultDiff([a, b], { removed: [1, 2], items: [] }), []);
    assert.deepEqual(applyResultDiff([], { removed: [], items: [{ _id: 9 }] }), [{ _id: 9 }]);
  });

  test("a diff for a value that is not a list is refused", () => {
    assert.throws(() => applyResultDiff(undefined, { removed: [], items: [] }), /does not hold a list/);
    assert.throws(() => applyResultDiff({ page: [] }, { removed: [], items: [] }), /does not hold a list/);
  });
});

// --- request status (requests.js) ----------------------------------------------------------------

describe("request status", () => {
  const statuses = (manager, ids) => ids.map((id) => manager._inflight.get(id)?.status);
  const sendAll = (manager, limit = 10) => {
    const sent = manager.toSend(limit);
    for (const request of sent) manager.markSent(request);
    return sent.map((request) => request.requestId);
  };

  test("NotSent -> Requested -> Completed -> done; a reconnect re-sends what is not done, in order", async () => {
    const manager = new RequestManager();
    const m0 = manager.add(0, "mutation", requestMessage("mutation", 0, "a:b", {}));
    manager.add(1, "mutation", requestMessage("mutation", 1, "a:b", {}));
    const a2 = manager.add(2, "action", requestMessage("action", 2, "a:c", {}));
    assert.deepEqual(statuses(manager, [0, 1, 2]), [Status.NotSent, Status.NotSent, Status.NotSent]);
    assert.deepEqual(sendAll(manager), [0, 1, 2]);
    assert.deepEqual(statuses(manager, [0, 1, 2]), [Status.Requested, Status.Requested, Status.Requested]);
    assert.deepEqual(sendAll(manager), [], "nothing is sent twice on one socket");

    const answer = { type: "MutationResponse", requestId: 0, success: true, result: 5, ts: encodeTs(7n), logLines: [] };
    assert.deepEqual(manager.onResponse(answer, 3n), [], "not done before a Transition reaches ts 7");
    assert.equal(statuses(manager, [0])[0], Status.Completed);

    // The socket dies: the action sent on it fails; on the new one everything left goes again.
    const failed = manager.failSentActions();
    assert.deepEqual(
      failed.map((r) => r.requestId),
      [2],
    );
    assert.equal(failed[0].outcome.error.name, "ConnectionLostError");
    settle(failed[0]);
    await assert.rejects(a2, { name: "ConnectionLostError" });
    manager.restart();
    assert.deepEqual(statuses(manager, [0, 1, 2]), [Status.CompletedNotSent, Status.NotSent, undefined]);
    assert.deepEqual(sendAll(manager), [0, 1]);
    assert.deepEqual(statuses(manager, [0, 1]), [Status.Completed, Status.Requested]);

    const confirmed = manager.takeConfirmed(7n);
    assert.deepEqual(
      confirmed.map((r) => r.requestId),
      [0],
    );
    settle(confirmed[0]);
    assert.equal(await m0, 5);
    assert.deepEqual(manager.onResponse(answer, 7n), [], "a repeat answer for a request already done");
  });

  test("the in-flight cap counts only requests that wait for their response", () => {
    const manager = new RequestManager();
    for (let id = 0; id < 4; id++) manager.add(id, "mutation", requestMessage("mutation", id, "a:b", {}));
    assert.deepEqual(sendAll(manager, 2), [0, 1]);
    assert.deepEqual(sendAll(manager, 2), []);
    manager.onResponse({ type: "MutationResponse", requestId: 0, success: true, result: null, ts: encodeTs(9n) }, 0n);
    assert.deepEqual(sendAll(manager, 2), [2], "a Completed mutation leaves room");
    const failure = { type: "MutationResponse", requestId: 1, success: false, result: "no", logLines: [] };
    const [done] = manager.onResponse(failure, 0n);
    assert.equal(done.outcome.error.message, "no");
    assert.equal(statuses(manager, [1])[0], undefined, "a failure is done at once");
    assert.deepEqual(sendAll(manager, 2), [3]);
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
