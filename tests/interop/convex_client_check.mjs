// Interop check: drive a `reactive` server with the official `convex` npm client,
// used exactly as an application would (no generated code).
//
//   cd tests/interop && npm install
//   REACTIVE_URL=http://127.0.0.1:8123 CHANNEL_ID=1 node convex_client_check.mjs
//
// Prints exactly one line of JSON on stdout:
//   {"ok": true, "initialCount": N, "finalCount": M, "mutationResult": ...}  (exit 0)
//   {"ok": false, "error": "..."}                                           (exit 1)
// Client logs go to stderr (set REACTIVE_VERBOSE=1 for the client's verbose log).

import { ConvexClient } from "convex/browser";
import { makeFunctionReference } from "convex/server";
import WebSocket from "ws";

import { startCheck, toJson } from "./check_harness.mjs";

const TIMEOUT_MS = 20_000;
const BODY = "hello from convex";

const listMessages = makeFunctionReference("messages:list");
const sendMessage = makeFunctionReference("messages:send");

let client = null;

const { finish, fail, logger, verbose } = startCheck({
  timeoutMs: TIMEOUT_MS,
  describeState: () => (client === null ? "" : ` (connection state: ${toJson(client.connectionState())})`),
  cleanup: async () => {
    if (client !== null) await client.close();
  },
});

function main() {
  const url = process.env.REACTIVE_URL;
  const channelRaw = process.env.CHANNEL_ID;
  if (!url) throw new Error("REACTIVE_URL is not set");
  if (channelRaw === undefined || channelRaw === "") {
    throw new Error("CHANNEL_ID is not set");
  }
  const channelId = Number(channelRaw);
  if (!Number.isFinite(channelId)) {
    throw new Error(`CHANNEL_ID is not a number: ${channelRaw}`);
  }

  client = new ConvexClient(url.replace(/\/+$/, ""), {
    webSocketConstructor: WebSocket,
    // The URL is not a *.convex.cloud deployment.
    skipConvexDeploymentUrlCheck: true,
    // No `window` in Node; say so explicitly.
    unsavedChangesWarning: false,
    logger,
    verbose,
  });

  let initialCount = null;
  let initialMatches = 0; // messages already carrying BODY (e.g. from an earlier run)
  let mutationStarted = false;
  let mutationDone = false;
  let mutationResult;
  let finalCount = null;

  const maybeFinish = () => {
    if (mutationDone && finalCount !== null) {
      void finish(0, { ok: true, initialCount, finalCount, mutationResult });
    }
  };

  client.onUpdate(
    listMessages,
    { channelId },
    (messages) => {
      if (!Array.isArray(messages)) {
        fail(new Error(`messages:list returned a non-array: ${toJson(messages)}`));
        return;
      }
      const matches = messages.filter(
        (m) => m !== null && typeof m === "object" && m.body === BODY,
      ).length;
      if (initialCount === null) {
        initialCount = messages.length;
        initialMatches = matches;
      }
      if (mutationStarted && finalCount === null && matches > initialMatches) {
        finalCount = messages.length;
        maybeFinish();
      }
      if (!mutationStarted) {
        mutationStarted = true;
        client
          .mutation(sendMessage, { channelId, body: BODY, author: "convex-bot" })
          .then((result) => {
            mutationResult = result === undefined ? null : result;
            mutationDone = true;
            maybeFinish();
          })
          .catch(fail);
      }
    },
    (err) => fail(err),
  );
}

try {
  main();
} catch (err) {
  fail(err);
}
