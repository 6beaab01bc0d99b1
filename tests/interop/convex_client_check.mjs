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

const TIMEOUT_MS = 20_000;
const BODY = "hello from convex";

const listMessages = makeFunctionReference("messages:list");
const sendMessage = makeFunctionReference("messages:send");

let client = null;
let finished = false;
const clientErrors = []; // what the client logged at error level, for diagnostics

// JSON.stringify cannot handle BigInt (a `$integer` value decodes to one).
function toJson(value) {
  return JSON.stringify(value, (_key, v) =>
    typeof v === "bigint" ? v.toString() : v === undefined ? null : v,
  );
}

function errorText(err) {
  if (err instanceof Error) {
    let text = err.message;
    if ("data" in err) text += ` (data: ${toJson(err.data)})`;
    return text;
  }
  return String(err);
}

async function finish(code, payload) {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  if (!payload.ok && clientErrors.length > 0) {
    payload.clientErrors = clientErrors.slice(-5);
  }
  process.stdout.write(toJson(payload) + "\n");
  try {
    if (client !== null) {
      await Promise.race([
        client.close(),
        new Promise((resolve) => setTimeout(resolve, 2000)),
      ]);
    }
  } catch {
    // closing is best effort
  }
  process.exit(code);
}

function fail(err) {
  void finish(1, { ok: false, error: errorText(err) });
}

// The client throws from its WebSocket message handler on protocol violations
// (e.g. a Transition whose startVersion is not the client's current version).
process.on("uncaughtException", (err) => fail(err));
process.on("unhandledRejection", (err) => fail(err));

const timer = setTimeout(() => {
  let state = "";
  try {
    if (client !== null) state = ` (connection state: ${toJson(client.connectionState())})`;
  } catch {
    // no state available
  }
  fail(new Error(`timed out after ${TIMEOUT_MS / 1000} s${state}`));
}, TIMEOUT_MS);

const verbose = !!process.env.REACTIVE_VERBOSE;
const logger = {
  log: (...args) => console.error("[convex]", ...args),
  warn: (...args) => console.error("[convex warn]", ...args),
  error: (...args) => {
    clientErrors.push(args.map((a) => String(a)).join(" "));
    console.error("[convex error]", ...args);
  },
  logVerbose: (...args) => {
    if (verbose) console.error("[convex verbose]", ...args);
  },
};

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
