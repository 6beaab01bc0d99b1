// Reconnection against a real server that is SIGKILLed and restarted on the same port, and a
// connection dropped while a mutation's answer was lost.

import assert from "node:assert/strict";
import { after, before } from "node:test";
import WebSocket from "ws";

import { ReactiveClient } from "../../reactive/static/reactive/client.js";
import { startServer } from "./helpers/server.mjs";
import { collector, recordingWebSocket, trackingTest, uniqueName, waitFor, withTimeout } from "./helpers/util.mjs";

const { test, failures } = trackingTest();
let server;
const clients = [];

function newClient(options = {}) {
  // Short backoff bounds keep the test quick; the algorithm is the same as the defaults'.
  const client = new ReactiveClient(server.url, { WebSocket, backoff: { initialMs: 200, maxMs: 1000 }, ...options });
  clients.push(client);
  return client;
}

/** Bodies of the messages of a channel, read by a fresh client (not the one under test). */
async function bodiesOnServer(channelId) {
  const { status, body } = await server.call("query", "messages:list", { channelId });
  assert.equal(status, 200, JSON.stringify(body));
  return body.value.map((m) => m.body);
}

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const client of clients) client.close();
  if (server) await server.dispose({ printOutput: failures.count > 0 });
});

test("after the server is killed and restarted, queries resume and a mutation sent meanwhile runs once", async () => {
  const recorder = recordingWebSocket();
  const states = [];
  const client = newClient({ WebSocket: recorder.WebSocket, onConnectionStateChange: (s) => states.push(s) });
  assert.equal(client.connectionState(), "connecting");
  const channelId = await client.mutation("channels:create", { name: uniqueName("reconnect") });
  const messages = collector();
  client.onUpdate("messages:list", { channelId }, messages.onValue, messages.onError);
  await waitFor(() => messages.values.length > 0, "the first value");
  const queryId = recorder.modifications().find((m) => m.type === "Add" && m.udfPath === "messages:list").queryId;

  await server.kill();
  await waitFor(() => client.connectionState() === "disconnected", "the disconnected state");

  // Sent while the server is down: it waits for the next connection.
  const pending = client.mutation("messages:send", { channelId, body: "sent while down", author: "frank" });
  // A write the client cannot see yet (made right after the restart, before it reconnects).
  await server.start();
  await server.call("mutation", "messages:send", { channelId, body: "written by another client", author: "gina" });

  const id = await withTimeout(pending, "the mutation after the restart");
  assert.equal(typeof id, "number");
  await waitFor(() => client.connectionState() === "connected", "connected again");
  // Fresh data: both writes, the queued mutation's exactly once.
  await waitFor(() => messages.latest.length === 2, "both messages in the live query");
  assert.deepEqual(messages.latest.map((m) => m.body).sort(), ["sent while down", "written by another client"]);
  assert.deepEqual((await bodiesOnServer(channelId)).sort(), ["sent while down", "written by another client"]);
  assert.deepEqual(messages.errors, []);

  // The new socket re-sent Connect (same session), then the whole query set from version 0 with the same queryId.
  const connects = recorder.sent.filter((m) => m.type === "Connect");
  assert.ok(connects.length >= 2);
  const last = connects[connects.length - 1];
  assert.equal(last.sessionId, connects[0].sessionId);
  assert.equal(typeof last.maxObservedTimestamp, "string");
  const afterConnect = recorder.sent.slice(recorder.sent.lastIndexOf(last) + 1);
  assert.equal(afterConnect[0].type, "ModifyQuerySet");
  assert.equal(afterConnect[0].baseVersion, 0);
  assert.ok(afterConnect[0].modifications.some((m) => m.type === "Add" && m.queryId === queryId));

  // And the live query keeps working on the new connection.
  await client.mutation("messages:send", { channelId, body: "after", author: "frank" });
  assert.equal(messages.latest.length, 3);

  // connecting -> connected -> disconnected -> connected; failed attempts while the server was
  // down stay "disconnected" (no flicker back to "connecting").
  assert.deepEqual(states.slice(0, 3), ["connected", "disconnected", "connected"], `states: ${states}`);
  assert.ok(!states.includes("connecting"), `states: ${states}`);
  assert.equal(states.at(-1), "connected");
});

test("a mutation whose answer was lost is re-sent on the new connection and runs exactly once", async () => {
  const recorder = recordingWebSocket();
  const client = newClient({ WebSocket: recorder.WebSocket });
  const channelId = await client.mutation("channels:create", { name: uniqueName("lost-answer") });
  const messages = collector();
  client.onUpdate("messages:list", { channelId }, messages.onValue);
  await waitFor(() => messages.values.length > 0, "the first value");

  // Lose the MutationResponse of the next mutation (once), then break the socket.
  let dropped = null;
  recorder.dropIncoming = (message) => {
    if (dropped === null && message.type === "MutationResponse") {
      dropped = message;
      return true;
    }
    return false;
  };
  const pending = client.mutation("messages:send", { channelId, body: "exactly once", author: "hana" });
  await waitFor(() => dropped !== null, "the lost response");
  // The write is already visible (its Transition arrived), but without its response the client
  // cannot know it is confirmed.
  await waitFor(() => messages.latest.length === 1, "the write in the live query");
  recorder.sockets[recorder.sockets.length - 1].terminate();

  const id = await withTimeout(pending, "the re-sent mutation");
  assert.equal(id, dropped.result);
  const sends = recorder.sent.filter((m) => m.type === "Mutation" && m.udfPath === "messages:send");
  assert.equal(sends.length, 2, "sent twice");
  assert.equal(sends[0].requestId, sends[1].requestId, "with the same requestId");
  assert.deepEqual(await bodiesOnServer(channelId), ["exactly once"]);
  await waitFor(() => client.connectionState() === "connected", "connected again");
  assert.deepEqual(
    messages.latest.map((m) => m.body),
    ["exactly once"],
  );
});

test("an action in flight when the connection drops fails with a clear error", async () => {
  const recorder = recordingWebSocket();
  const client = newClient({ WebSocket: recorder.WebSocket });
  await waitFor(() => client.connectionState() === "connected", "connected");
  const orderId = await client.mutation("orders:create", { description: "lost action", amountCents: 100 });
  recorder.dropIncoming = (message) => message.type === "ActionResponse";
  const pending = client.action("payments:process", { orderId });
  await waitFor(() => recorder.sent.some((m) => m.type === "Action"), "the action sent");
  recorder.sockets[recorder.sockets.length - 1].terminate();
  await assert.rejects(withTimeout(pending, "the failed action"), (error) => {
    assert.equal(error.name, "ConnectionLostError");
    assert.match(error.message, /connection was lost while action payments:process was in flight/);
    return true;
  });
  assert.equal(recorder.sent.filter((m) => m.type === "Action").length, 1, "not re-sent");
});
