// Interop check: the protocol's edges where the official `convex` client must never wait forever.
//
//   REACTIVE_URL=http://127.0.0.1:8123 CHANNEL_ID=1 SCENARIO=<noop|resend|burst> node convex_edges_check.mjs
//
// - noop:   a mutation that writes nothing resolves (its response's ts was already sent).
// - resend: the socket is cut right after a MutationResponse left the server (the client never gets it);
//           the client re-sends on reconnect and its promise resolves, while another client holds the
//           same query, so the new socket's first Transition already reaches the stored ts.
// - burst:  150 mutations fired at once, the socket cut after the 20th response: all resolve, each once.
//
// The client talks to the server through a WebSocket proxy of this script's, which can drop a frame and
// cut the connection. Prints one JSON line: {"ok": true, ...} (exit 0) or {"ok": false, "error": ...}.

import http from "node:http";

import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import WebSocket, { WebSocketServer } from "ws";

import { startCheck, toJson } from "./check_harness.mjs";

const TIMEOUT_MS = 40_000;
const BURST = 150;
const CUT_AFTER_RESPONSES = 20;

const listMessages = makeFunctionReference("messages:list");
const sendMessage = makeFunctionReference("messages:send");
const writeNothing = makeFunctionReference("recall:sync");

const clients = [];
let proxy = null;
const progress = {};

const { finish, fail, logger, verbose } = startCheck({
  timeoutMs: TIMEOUT_MS,
  describeState: () => ` (progress: ${toJson(progress)})`,
  cleanup: async () => {
    await Promise.all(clients.map((client) => client.close()));
    proxy?.close();
  },
});

/**
 * A WebSocket proxy to `upstream` (http://host:port). `onServerFrame(text, cut)` sees every frame from the
 * server; it returns false to drop it, and may call `cut()` to close both sides of that connection.
 */
function startProxy(upstream, onServerFrame) {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on("connection", (downstream, request) => {
    const target = upstream.replace(/^http/, "ws") + request.url;
    const up = new WebSocket(target);
    const early = [];
    const cut = () => {
      downstream.terminate();
      up.terminate();
    };
    up.on("open", () => {
      for (const frame of early) up.send(frame);
      early.length = 0;
    });
    up.on("message", (data) => {
      const text = data.toString();
      if (onServerFrame(text, cut) !== false && downstream.readyState === WebSocket.OPEN) downstream.send(text);
    });
    downstream.on("message", (data) => {
      const text = data.toString();
      if (up.readyState === WebSocket.OPEN) up.send(text);
      else early.push(text);
    });
    up.on("close", () => downstream.terminate());
    downstream.on("close", () => up.terminate());
    up.on("error", () => downstream.terminate());
    downstream.on("error", () => up.terminate());
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() });
    });
  });
}

function newClient(url) {
  const client = new ConvexClient(url, {
    webSocketConstructor: WebSocket,
    skipConvexDeploymentUrlCheck: true,
    unsavedChangesWarning: false,
    logger,
    verbose,
  });
  clients.push(client);
  return client;
}

function firstResult(client, args) {
  return new Promise((resolve, reject) => {
    client.onUpdate(listMessages, args, (value) => resolve(value), reject);
  });
}

async function noop(url, channelId) {
  const client = newClient(url);
  await firstResult(client, { channelId });
  progress.subscribed = true;
  await client.mutation(writeNothing, {});
  progress.noopResolved = true;
  await client.mutation(writeNothing, {});
  return { resolved: 2 };
}

async function resend(url, channelId) {
  const watcher = newClient(url); // holds the same query: the re-sent request's socket shares its instance
  await firstResult(watcher, { channelId });
  let dropped = 0;
  proxy = await startProxy(url, (text, cut) => {
    if (dropped === 0 && JSON.parse(text).type === "MutationResponse") {
      dropped += 1;
      cut();
      return false;
    }
    return true;
  });
  const client = newClient(proxy.url);
  await firstResult(client, { channelId });
  progress.subscribed = true;
  const result = await client.mutation(sendMessage, { channelId, body: "re-sent", author: "convex-bot" });
  progress.resolved = true;
  return { dropped, mutationResult: result };
}

async function burst(url, channelId) {
  let responses = 0;
  let cuts = 0;
  proxy = await startProxy(url, (text, cut) => {
    if (JSON.parse(text).type === "MutationResponse") {
      responses += 1;
      if (responses === CUT_AFTER_RESPONSES && cuts === 0) {
        cuts += 1;
        setTimeout(cut, 0); // after this response reaches the client
      }
    }
    return true;
  });
  const client = newClient(proxy.url);
  await firstResult(client, { channelId });
  const bodies = Array.from({ length: BURST }, (_, i) => `b${String(i).padStart(3, "0")}`);
  progress.fired = bodies.length;
  const settled = await Promise.allSettled(
    bodies.map((body) => client.mutation(sendMessage, { channelId, body, author: "convex-bot" })),
  );
  const failures = settled.filter((s) => s.status === "rejected").map((s) => String(s.reason?.message ?? s.reason));
  if (failures.length > 0) throw new Error(`${failures.length} of ${BURST} mutations failed: ${failures[0]}`);
  return { resolved: settled.length, cuts, ids: settled.map((s) => s.value) };
}

async function main() {
  const url = process.env.REACTIVE_URL?.replace(/\/+$/, "");
  const channelId = Number(process.env.CHANNEL_ID);
  const scenario = process.env.SCENARIO;
  if (!url || !Number.isFinite(channelId)) throw new Error("REACTIVE_URL and CHANNEL_ID must be set");
  const run = { noop, resend, burst }[scenario];
  if (run === undefined) throw new Error(`unknown SCENARIO ${scenario}`);
  const report = await run(url, channelId);
  await finish(0, { ok: true, scenario, ...report });
}

main().catch(fail);
