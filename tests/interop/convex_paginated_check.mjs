// Interop check: the official `convex/react` `usePaginatedQuery` hook against a `reactive` server,
// rendered with react-test-renderer inside a `ConvexProvider` (no DOM, no generated code).
//
//   cd tests/interop && npm install
//   REACTIVE_URL=http://127.0.0.1:8123 CHANNEL_ID=1 node convex_paginated_check.mjs
//
// The channel must hold exactly 12 messages "m1".."m12" (m12 the newest). Steps:
//   1. first page (initialNumItems 5): status "CanLoadMore", m12..m8
//   2. loadMore(5): 10 results, m12..m3
//   3. messages:send "m13": 11 results, m13 first, no duplicate _id (the first page grows)
//   4. loadMore(5): 13 results, m13..m1, status "Exhausted"
//
// Prints exactly one line of JSON on stdout:
//   {"ok": true, "steps": [{"name", "count", "status", "bodies"}...], ...}  (exit 0)
//   {"ok": false, "error": "...", "steps": [...], "last": {...}}           (exit 1)
// Client logs go to stderr (set REACTIVE_VERBOSE=1 for the client's verbose log).

import {
  ConvexProvider,
  ConvexReactClient,
  usePaginatedQuery,
} from "convex/react";
import { makeFunctionReference } from "convex/server";
import React from "react";
import TestRenderer from "react-test-renderer";
import WebSocket from "ws";

import { startCheck, toJson } from "./check_harness.mjs";

const TIMEOUT_MS = 25_000;
const NEW_BODY = "m13";

const paginatedMessages = makeFunctionReference("messages:paginated");
const sendMessage = makeFunctionReference("messages:send");

const { act } = TestRenderer;

let client = null;
let renderer = null;
const steps = [];
const renders = []; // {results, status} of every render of the component
const duplicateRenders = []; // renders whose results held one _id twice (must stay empty)
let latest = null; // the hook's value at the latest render: {results, status, loadMore}

function snapshot(state) {
  if (state === null) return null;
  return {
    status: state.status,
    count: state.results.length,
    bodies: state.results.map((m) => m?.body),
    ids: state.results.map((m) => String(m?._id)),
  };
}

const { finish, fail, logger, verbose, clientErrors, isFinished } = startCheck({
  timeoutMs: TIMEOUT_MS,
  describeState: () => (client === null ? "" : ` (connection state: ${toJson(client.connectionState())})`),
  decorate: (payload) => {
    payload.steps = steps;
    payload.renderCount = renders.length;
    if (!payload.ok) {
      payload.last = snapshot(latest);
      payload.statuses = renders.slice(-20).map((r) => `${r.status}:${r.results.length}`);
    }
  },
  cleanup: async () => {
    if (renderer !== null) renderer.unmount();
    if (client !== null) await client.close();
  },
});

// React reports render errors (and act() misuse) through console.error: keep them for the report.
const consoleError = console.error.bind(console);
console.error = (...args) => {
  const text = args
    .map((a) => (a instanceof Error ? a.stack : String(a)))
    .join(" ");
  if (text.startsWith("react-test-renderer is deprecated")) return; // React 19 says so on every run
  if (!text.startsWith("[convex")) clientErrors.push(text.slice(0, 500));
  consoleError(...args);
};

// An error thrown while rendering (usePaginatedQuery throws a failed page) ends the check.
class ErrorBoundary extends React.Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  componentDidCatch(error) {
    fail(error);
  }
  render() {
    return this.state.error === null ? this.props.children : null;
  }
}

function Messages({ channelId }) {
  const state = usePaginatedQuery(
    paginatedMessages,
    { channelId },
    { initialNumItems: 5 },
  );
  renders.push({ results: state.results, status: state.status });
  const ids = state.results.map((m) => String(m?._id));
  if (new Set(ids).size !== ids.length) {
    duplicateRenders.push(
      `${state.status}: ${toJson(state.results.map((m) => m?.body))}`,
    );
  }
  latest = state;
  return null;
}

// Updates pushed by the server (query results, a mutation's Transition) arrive at any time, so React
// runs outside act() (as under Testing Library's waitFor) except while this script itself renders or
// calls loadMore, which happen inside act().
globalThis.IS_REACT_ACT_ENVIRONMENT = false;

async function inAct(callback) {
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  try {
    await act(async () => {
      callback();
    });
  } finally {
    globalThis.IS_REACT_ACT_ENVIRONMENT = false;
  }
}

// Wait until the latest render satisfies `predicate`.
async function waitFor(label, predicate) {
  for (;;) {
    if (latest !== null && predicate(latest)) return latest;
    if (isFinished()) throw new Error(`stopped while waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function expectPage(label, state, { count, status, bodies }) {
  const snap = snapshot(state);
  const problems = [];
  if (snap.count !== count)
    problems.push(`${snap.count} results instead of ${count}`);
  if (status !== undefined && snap.status !== status)
    problems.push(`status ${snap.status} instead of ${status}`);
  if (bodies !== undefined && toJson(snap.bodies) !== toJson(bodies)) {
    problems.push(`bodies ${toJson(snap.bodies)} instead of ${toJson(bodies)}`);
  }
  const unique = new Set(snap.ids);
  if (unique.size !== snap.ids.length)
    problems.push(`duplicate _id in ${toJson(snap.ids)}`);
  steps.push({
    name: label,
    count: snap.count,
    status: snap.status,
    bodies: snap.bodies,
  });
  if (problems.length > 0) throw new Error(`${label}: ${problems.join("; ")}`);
}

const range = (from, to) => {
  const out = [];
  for (let n = from; n >= to; n--) out.push(`m${n}`);
  return out;
};

async function main() {
  const url = process.env.REACTIVE_URL;
  const channelRaw = process.env.CHANNEL_ID;
  if (!url) throw new Error("REACTIVE_URL is not set");
  if (channelRaw === undefined || channelRaw === "")
    throw new Error("CHANNEL_ID is not set");
  const channelId = Number(channelRaw);
  if (!Number.isFinite(channelId))
    throw new Error(`CHANNEL_ID is not a number: ${channelRaw}`);

  client = new ConvexReactClient(url.replace(/\/+$/, ""), {
    webSocketConstructor: WebSocket,
    // The URL is not a *.convex.cloud deployment.
    skipConvexDeploymentUrlCheck: true,
    // No `window` in Node; say so explicitly.
    unsavedChangesWarning: false,
    logger,
    verbose,
  });

  await inAct(() => {
    renderer = TestRenderer.create(
      React.createElement(
        ErrorBoundary,
        null,
        React.createElement(
          ConvexProvider,
          { client },
          React.createElement(Messages, { channelId }),
        ),
      ),
    );
  });

  // 1. The first page.
  let state = await waitFor(
    "the first page",
    (s) => s.status !== "LoadingFirstPage",
  );
  expectPage("firstPage", state, {
    count: 5,
    status: "CanLoadMore",
    bodies: range(12, 8),
  });

  // 2. One more page.
  await inAct(() => state.loadMore(5));
  state = await waitFor(
    "the second page",
    (s) => s.status !== "LoadingMore" && s.results.length !== 5,
  );
  expectPage("loadMore", state, {
    count: 10,
    status: "CanLoadMore",
    bodies: range(12, 3),
  });

  // 3. A new message lands on top of the first page; the second page does not shift.
  const mutationResult = await client.mutation(sendMessage, {
    channelId,
    body: NEW_BODY,
    author: "convex-paginated",
  });
  state = await waitFor("the new message", (s) =>
    s.results.some((m) => m?.body === NEW_BODY),
  );
  expectPage("afterSend", state, {
    count: 11,
    status: "CanLoadMore",
    bodies: range(13, 3),
  });

  // 4. The rest.
  await inAct(() => state.loadMore(5));
  state = await waitFor("the last page", (s) => s.status === "Exhausted");
  expectPage("exhausted", state, {
    count: 13,
    status: "Exhausted",
    bodies: range(13, 1),
  });

  if (duplicateRenders.length > 0) {
    throw new Error(
      `renders with a duplicate _id: ${duplicateRenders.slice(0, 3).join(" | ")}`,
    );
  }
  await finish(0, {
    ok: true,
    mutationResult: mutationResult === undefined ? null : mutationResult,
  });
}

main().catch(fail);
