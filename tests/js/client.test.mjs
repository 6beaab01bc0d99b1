// client.js against a real Daphne server running the demo project.

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import WebSocket from "ws";

import { ReactiveClient, ReactiveError } from "../../reactive/static/reactive/client.js";
import { startServer } from "./helpers/server.mjs";
import {
  collector,
  recordingWebSocket,
  settleTicks,
  trackingTest,
  uniqueName,
  waitFor,
  withTimeout,
} from "./helpers/util.mjs";

const { test, failures } = trackingTest();
let server;
const clients = [];

function newClient(options = {}) {
  const client = new ReactiveClient(server.url, { WebSocket, ...options });
  clients.push(client);
  return client;
}

async function newChannel(client) {
  return client.mutation("channels:create", { name: uniqueName("chan") });
}

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const client of clients) client.close();
  if (server) await server.dispose({ printOutput: failures.count > 0 });
});

describe("queries and mutations", () => {
  test("a subscription gets the current value, then the update a mutation causes", async () => {
    const client = newClient();
    const channelId = await newChannel(client);
    const messages = collector();
    const stop = client.onUpdate("messages:list", { channelId }, messages.onValue, messages.onError);
    await waitFor(() => messages.values.length > 0, "the first value");
    assert.deepEqual(messages.latest, []);

    const id = await client.mutation("messages:send", { channelId, body: "hello", author: "alice" });
    // The promise resolves only once the query results include the write.
    assert.equal(messages.latest.length, 1);
    assert.equal(messages.latest[0]._id, id);
    assert.equal(messages.latest[0].body, "hello");
    assert.equal(messages.latest[0].author, "alice");
    assert.deepEqual(messages.errors, []);
    stop();
  });

  test("a write by someone else reaches the subscriber", async () => {
    const watcher = newClient();
    const writer = newClient();
    const channelId = await newChannel(writer);
    const messages = collector();
    watcher.onUpdate("messages:list", { channelId }, messages.onValue);
    await waitFor(() => messages.values.length > 0, "the first value");
    await writer.mutation("messages:send", { channelId, body: "from the writer", author: "bob" });
    await waitFor(() => messages.latest.length === 1, "the other client's message");
    assert.equal(messages.latest[0].body, "from the writer");
  });

  test("query() resolves once with the current value", async () => {
    const client = newClient();
    const channelId = await newChannel(client);
    await client.mutation("messages:send", { channelId, body: "one-shot", author: "carol" });
    const messages = await withTimeout(client.query("messages:list", { channelId }), "query()");
    assert.deepEqual(
      messages.map((m) => m.body),
      ["one-shot"],
    );
  });

  test("mutations sent in a row run in order and resolve in order", async () => {
    const client = newClient();
    const channelId = await newChannel(client);
    const messages = collector();
    client.onUpdate("messages:list", { channelId }, messages.onValue);
    const bodies = ["m1", "m2", "m3", "m4", "m5", "m6"];
    const resolvedOrder = [];
    const ids = await Promise.all(
      bodies.map((body, i) =>
        client.mutation("messages:send", { channelId, body, author: "dave" }).then((id) => {
          resolvedOrder.push(i);
          return id;
        }),
      ),
    );
    assert.deepEqual(resolvedOrder, [0, 1, 2, 3, 4, 5]);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `ids increase: ${ids}`);
    await waitFor(() => messages.latest && messages.latest.length === bodies.length, "all messages");
    assert.deepEqual(
      messages.latest.map((m) => m.body),
      bodies,
    );
  });

  test("a failing query reports a ReactiveError to onError", async () => {
    const client = newClient();
    const results = collector();
    client.onUpdate("nosuchmodule:nothing", {}, results.onValue, results.onError);
    await waitFor(() => results.errors.length > 0, "the query error");
    assert.ok(results.errors[0] instanceof ReactiveError);
    assert.match(results.errors[0].message, /Could not find/);
    assert.equal(results.errors[0].code, "not_found");
    assert.deepEqual(results.values, []);
    await assert.rejects(client.query("nosuchmodule:nothing", {}), /Could not find/);
  });

  test("a failing mutation rejects with the server's message and data", async () => {
    const client = newClient();
    const name = uniqueName("taken");
    await client.mutation("channels:create", { name });
    const error = await client.mutation("channels:create", { name }).then(
      () => assert.fail("the duplicate channel was created"),
      (e) => e,
    );
    assert.ok(error instanceof ReactiveError);
    assert.match(error.message, /already exists/);
    assert.deepEqual(error.data, { code: "name_taken", name });
    assert.equal(error.code, "error"); // the server error's code: a plain ReactiveError
    assert.equal(error.functionName, "channels:create");
  });

  test("an action runs and resolves with its result", async () => {
    const client = newClient();
    const orderId = await client.mutation("orders:create", { description: "a book", amountCents: 1250 });
    const orders = collector();
    client.onUpdate("orders:list", {}, orders.onValue);
    const result = await withTimeout(client.action("payments:process", { orderId }), "the action");
    assert.equal(typeof result.paymentId, "number");
    assert.match(result.reference, /^pay_/);
    await waitFor(() => orders.latest && orders.latest.find((o) => o._id === orderId)?.paid === true, "the paid order");
    await assert.rejects(
      client.action("payments:process", { orderId }),
      (e) => e instanceof ReactiveError && e.data.code === "already_paid",
    );
  });
});

describe("shared subscriptions", () => {
  test("identical subscriptions share one server query; Remove goes when the last one leaves", async () => {
    const recorder = recordingWebSocket();
    const client = newClient({ WebSocket: recorder.WebSocket });
    const channelId = await newChannel(client);
    const a = collector();
    const b = collector();
    const stopA = client.onUpdate("messages:list", { channelId }, a.onValue);
    const stopB = client.onUpdate("messages:list", { channelId }, b.onValue);
    await waitFor(() => a.values.length > 0 && b.values.length > 0, "both subscribers' values");
    // A third one, subscribing once the value is known, gets it at once and costs nothing either.
    const c = collector();
    const stopC = client.onUpdate("messages.js:list", { channelId, ignored: undefined }, c.onValue);
    await waitFor(() => c.values.length > 0, "the third subscriber's value");

    const adds = recorder.modifications().filter((m) => m.type === "Add" && m.udfPath === "messages:list");
    assert.equal(adds.length, 1, `one Add on the wire: ${JSON.stringify(recorder.sent)}`);
    const queryId = adds[0].queryId;

    await client.mutation("messages:send", { channelId, body: "shared", author: "erin" });
    for (const sub of [a, b, c]) assert.equal(sub.latest.length, 1);

    stopA();
    stopC();
    await settleTicks();
    assert.equal(
      recorder.modifications().filter((m) => m.type === "Remove").length,
      0,
      "no Remove while a subscriber remains",
    );
    stopB();
    await waitFor(() => recorder.modifications().some((m) => m.type === "Remove"), "the Remove");
    assert.deepEqual(
      recorder.modifications().filter((m) => m.type === "Remove"),
      [{ type: "Remove", queryId }],
    );
    // The server confirms: the next Transition carries QueryRemoved.
    await waitFor(
      () =>
        recorder.received.some(
          (m) =>
            m.type === "Transition" && m.modifications.some((x) => x.type === "QueryRemoved" && x.queryId === queryId),
        ),
      "QueryRemoved",
    );
  });

  test("unsubscribing and resubscribing in the same tick sends nothing", async () => {
    const recorder = recordingWebSocket();
    const client = newClient({ WebSocket: recorder.WebSocket });
    const first = collector();
    const stop = client.onUpdate("channels:list", {}, first.onValue);
    await waitFor(() => first.values.length > 0, "the first value");
    const before = recorder.sent.length;
    stop();
    const again = collector();
    client.onUpdate("channels:list", {}, again.onValue);
    await waitFor(() => again.values.length > 0, "the value, again");
    await settleTicks();
    assert.deepEqual(recorder.sent.slice(before), []);
  });
});

describe("optimistic updates", () => {
  test("applied at once and rolled back when the mutation fails", async () => {
    const client = newClient();
    const taken = uniqueName("optimistic");
    await client.mutation("channels:create", { name: taken });
    const channels = collector();
    client.onUpdate("channels:list", {}, channels.onValue);
    await waitFor(() => channels.latest && channels.latest.some((c) => c.name === taken), "the channel list");
    const serverValue = channels.latest;

    const promise = client.mutation(
      "channels:create",
      { name: taken },
      {
        optimisticUpdate: (store, args) => {
          const list = store.getQuery("channels:list", {});
          if (list !== undefined)
            store.setQuery("channels:list", {}, [...list, { _id: -1, name: `${args.name} (pending)` }]);
        },
      },
    );
    // Applied synchronously, before anything went over the wire.
    assert.ok(channels.latest.some((c) => c._id === -1 && c.name === `${taken} (pending)`));
    const error = await promise.then(
      () => assert.fail("the duplicate channel was created"),
      (e) => e,
    );
    assert.equal(error.data.code, "name_taken");
    // Rolled back before the promise settled.
    assert.ok(!channels.latest.some((c) => c._id === -1));
    assert.deepEqual(channels.latest, serverValue);
  });

  test("kept over server updates while in flight, then replaced by the server's result", async () => {
    const client = newClient();
    const taskId = await client.mutation("tasks:create", { text: uniqueName("task") });
    const tasks = collector();
    client.onUpdate("tasks:list", {}, tasks.onValue);
    await waitFor(() => tasks.latest && tasks.latest.some((t) => t._id === taskId), "the task list");
    const toggle = (store, { taskId: id }) => {
      const list = store.getQuery("tasks:list", {});
      if (list)
        store.setQuery(
          "tasks:list",
          {},
          list.map((t) => (t._id === id ? { ...t, done: !t.done } : t)),
        );
    };
    const promise = client.mutation("tasks:toggle", { taskId }, { optimisticUpdate: toggle });
    assert.equal(tasks.latest.find((t) => t._id === taskId).done, true, "applied at once");
    const newValue = await promise;
    assert.equal(newValue, true);
    assert.equal(tasks.latest.find((t) => t._id === taskId).done, true, "the server's value, counted once");
    // Toggle back: the layer of the first mutation is gone, so the guess flips the server's value.
    const back = client.mutation("tasks:toggle", { taskId }, { optimisticUpdate: toggle });
    assert.equal(tasks.latest.find((t) => t._id === taskId).done, false);
    assert.equal(await back, false);
    assert.equal(tasks.latest.find((t) => t._id === taskId).done, false);
  });
});

describe("authentication", () => {
  test("setAuth switches the identity of live queries; a bad token reaches onAuthError", async () => {
    const username = uniqueName("user");
    const token = await server.shell(
      [
        "from django.contrib.auth import get_user_model",
        "from demo_project.chat.models import Notification",
        "from reactive.security import tokens",
        `user = get_user_model().objects.create(username="${username}")`,
        'Notification.objects.create(user=user, text="for you")',
        "print(tokens.issue(user))",
      ].join("\n"),
    );
    const client = newClient();
    const notifications = collector();
    client.onUpdate("notifications:list", {}, notifications.onValue, notifications.onError);
    await waitFor(() => notifications.values.length > 0, "the anonymous value");
    assert.deepEqual(notifications.latest, []);

    client.setAuth(token);
    await waitFor(() => notifications.latest.length === 1, "the signed-in value");
    assert.equal(notifications.latest[0].text, "for you");

    const authErrors = [];
    client.setAuth("not-a-token", { onAuthError: (message) => authErrors.push(message) });
    await waitFor(() => authErrors.length > 0, "the AuthError");
    assert.match(authErrors[0], /invalid or has expired/);
    // A rejected token leaves the connection anonymous, and usable: a good token works again.
    await waitFor(() => notifications.latest.length === 0, "the anonymous value");
    client.setAuth(token);
    await waitFor(() => notifications.latest.length === 1, "signed in again");
    client.clearAuth();
    await waitFor(() => notifications.latest.length === 0, "the signed-out value");
    assert.deepEqual(notifications.errors, []);
    assert.equal(client.connectionState(), "connected");
  });
});

describe("lifecycle", () => {
  test("Connect announces the protocol extensions; close() rejects what is pending", async () => {
    const recorder = recordingWebSocket();
    const states = [];
    const client = newClient({ WebSocket: recorder.WebSocket, onConnectionStateChange: (s) => states.push(s) });
    assert.equal(client.connectionState(), "connecting");
    await waitFor(() => client.connectionState() === "connected", "connected");
    const connect = recorder.sent[0];
    assert.equal(connect.type, "Connect");
    assert.deepEqual(connect.reactiveExtensions, ["diffs"]);
    assert.equal(connect.sessionId, client.sessionId);
    assert.equal(connect.maxObservedTimestamp, undefined);
    const pending = client.action("payments:process", { orderId: 999999999 });
    client.close();
    await assert.rejects(pending, { name: "ClientClosedError" });
    assert.equal(client.connectionState(), "disconnected");
    assert.deepEqual(states, ["connected", "disconnected"]);
    await assert.rejects(client.mutation("channels:create", { name: "x" }), { name: "ClientClosedError" });
  });
});

describe("the diffs extension", () => {
  test("a list kept up to date from diffs equals the full value, and the wire carried diffs", async () => {
    const recorder = recordingWebSocket();
    const client = newClient({ WebSocket: recorder.WebSocket });
    const channelId = await newChannel(client);
    const messages = collector();
    const stop = client.onUpdate("messages:list", { channelId }, messages.onValue, messages.onError);
    await waitFor(() => messages.values.length > 0, "the first value");
    for (let i = 0; i < 55; i++) {
      await client.mutation("messages:send", { channelId, body: `m${i}`, author: "alice" });
    }
    await client.mutation("messages:send", { channelId, body: "m3 again", author: "bob" });
    const fresh = newClient();
    const full = await fresh.query("messages:list", { channelId });
    assert.deepEqual(messages.latest, full);
    assert.equal(full.length, 50);
    const diffed = recorder.received
      .filter((message) => message.type === "Transition")
      .flatMap((message) => message.modifications)
      .filter((modification) => "diff" in modification);
    assert.ok(diffed.length >= 50, `expected diffs on the wire, saw ${diffed.length}`);
    stop();
  });
});
