// react.js hooks, rendered with react-test-renderer, against a real Daphne server.

import assert from "node:assert/strict";
import { register } from "node:module";
import { after, before, describe } from "node:test";
import { Component, createElement as h } from "react";
import TestRenderer from "react-test-renderer";
import WebSocket from "ws";

import { ReactiveClient } from "../../reactive/static/reactive/client.js";
import { startServer } from "./helpers/server.mjs";
import { recordingWebSocket, settleTicks, trackingTest, uniqueName, waitFor } from "./helpers/util.mjs";

register("./helpers/react_resolver.mjs", import.meta.url);
const { ReactiveProvider, useAction, useConnectionState, useMutation, usePaginatedQuery, useQuery, useReactiveClient } =
  await import("../../reactive/static/reactive/react.js");

// Updates arrive from the WebSocket, outside act(): tell React this is not an act() environment.
globalThis.IS_REACT_ACT_ENVIRONMENT = false;

const { test, failures } = trackingTest();
let server;
const clients = [];
const renderers = [];

function newClient(options = {}) {
  const client = new ReactiveClient(server.url, { WebSocket, ...options });
  clients.push(client);
  return client;
}

/** Render `element` under a provider of `client`; returns the renderer. */
function render(client, element) {
  // React 19 warns that react-test-renderer is deprecated (it is still the cheapest way to run
  // hooks in Node without a DOM); keep that one line out of the test output.
  const originalError = console.error;
  console.error = (...args) => {
    if (!String(args[0]).includes("react-test-renderer is deprecated")) originalError(...args);
  };
  try {
    const renderer = TestRenderer.create(h(ReactiveProvider, { client }, element));
    renderers.push(renderer);
    return renderer;
  } finally {
    console.error = originalError;
  }
}

/** A component that renders nothing and reports what `useHooks(props)` returned on every render. */
function Probe({ useHooks, props, report }) {
  report(useHooks(props));
  return null;
}

/** Render a Probe (React renders concurrently: resolves after its first render). */
async function probe(client, useHooks, props = {}) {
  const seen = [];
  const renderer = render(client, h(Probe, { useHooks, props, report: (value) => seen.push(value) }));
  await waitFor(() => seen.length > 0, "the first render");
  return {
    seen,
    renderer,
    get latest() {
      return seen[seen.length - 1];
    },
    update(newProps) {
      renderer.update(
        h(ReactiveProvider, { client }, h(Probe, { useHooks, props: newProps, report: (value) => seen.push(value) })),
      );
    },
  };
}

class Boundary extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }

  static getDerivedStateFromError(error) {
    return { error };
  }

  render() {
    return this.state.error ? h("p", null, `caught: ${this.state.error.message}`) : this.props.children;
  }
}

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const renderer of renderers) renderer.unmount();
  for (const client of clients) client.close();
  if (server) await server.dispose({ printOutput: failures.count > 0 });
});

describe("useQuery, useMutation, useAction, useConnectionState", () => {
  test("useQuery is undefined while loading, then live; unmounting removes the query", async () => {
    const recorder = recordingWebSocket();
    const client = newClient({ WebSocket: recorder.WebSocket });
    const channelId = await client.mutation("channels:create", { name: uniqueName("hooks") });
    const view = await probe(
      client,
      ({ channelId: id }) => ({
        messages: useQuery("messages:list", { channelId: id }),
        send: useMutation("messages:send"),
        state: useConnectionState(),
        sameClient: useReactiveClient() === client,
      }),
      { channelId },
    );
    assert.equal(view.seen[0].messages, undefined);
    assert.equal(view.latest.sameClient, true);
    await waitFor(() => view.latest.messages !== undefined, "the first value");
    assert.deepEqual(view.latest.messages, []);
    assert.equal(view.latest.state, "connected");

    await view.latest.send({ channelId, body: "from a hook", author: "ivy" });
    await waitFor(() => view.latest.messages.length === 1, "the re-render with the message");
    assert.equal(view.latest.messages[0].body, "from a hook");

    view.renderer.unmount();
    await waitFor(() => recorder.modifications().some((m) => m.type === "Remove"), "the Remove after unmount");
  });

  test('"skip" subscribes to nothing; new args move the subscription', async () => {
    const recorder = recordingWebSocket();
    const client = newClient({ WebSocket: recorder.WebSocket });
    const first = await client.mutation("channels:create", { name: uniqueName("skip-a") });
    const second = await client.mutation("channels:create", { name: uniqueName("skip-b") });
    await client.mutation("messages:send", { channelId: second, body: "in b", author: "jo" });
    const useMessages = ({ channelId }) => useQuery("messages:list", channelId === null ? "skip" : { channelId });
    const view = await probe(client, useMessages, { channelId: null });
    await settleTicks();
    assert.equal(view.latest, undefined);
    assert.equal(recorder.modifications().filter((m) => m.type === "Add").length, 0, "skip sends no Add");

    view.update({ channelId: first });
    await waitFor(() => Array.isArray(view.latest), "channel a's messages");
    assert.deepEqual(view.latest, []);
    view.update({ channelId: second });
    await waitFor(() => Array.isArray(view.latest) && view.latest.length === 1, "channel b's messages");
    await waitFor(() => recorder.modifications().some((m) => m.type === "Remove"), "the old query removed");
    const adds = recorder.modifications().filter((m) => m.type === "Add");
    assert.deepEqual(
      adds.map((m) => m.args[0].channelId),
      [first, second],
    );
  });

  test("a failing query throws to the nearest error boundary", async () => {
    const client = newClient();
    const Broken = () => h("p", null, String(useQuery("nosuchmodule:nothing", {})));
    const originalError = console.error;
    console.error = () => {}; // React reports caught render errors on the console
    try {
      const renderer = render(client, h(Boundary, null, h(Broken)));
      await waitFor(() => JSON.stringify(renderer.toJSON()).includes("caught:"), "the error boundary");
      assert.match(JSON.stringify(renderer.toJSON()), /caught: .*Could not find/);
    } finally {
      console.error = originalError;
    }
  });

  test("withOptimisticUpdate shows the change at once; useAction runs an action", async () => {
    const client = newClient();
    const taskId = await client.mutation("tasks:create", { text: uniqueName("hook-task") });
    const view = await probe(client, () => ({
      tasks: useQuery("tasks:list", {}),
      toggle: useMutation("tasks:toggle").withOptimisticUpdate((store, { taskId: id }) => {
        const list = store.getQuery("tasks:list", {});
        if (list)
          store.setQuery(
            "tasks:list",
            {},
            list.map((t) => (t._id === id ? { ...t, done: !t.done } : t)),
          );
      }),
      pay: useAction("payments:process"),
    }));
    await waitFor(() => view.latest.tasks?.some((t) => t._id === taskId), "the task");
    const renders = view.seen.length;
    const done = view.latest.toggle({ taskId });
    await waitFor(() => view.seen.length > renders, "a re-render");
    assert.equal(view.latest.tasks.find((t) => t._id === taskId).done, true, "optimistic value rendered");
    assert.equal(await done, true);
    assert.equal(view.latest.tasks.find((t) => t._id === taskId).done, true);

    const orderId = await client.mutation("orders:create", { description: "hook order", amountCents: 300 });
    const result = await view.latest.pay({ orderId });
    assert.match(result.reference, /^pay_/);
  });
});

describe("usePaginatedQuery", () => {
  async function channelWithMessages(client, count) {
    const channelId = await client.mutation("channels:create", { name: uniqueName("pages") });
    const sends = [];
    for (let i = 1; i <= count; i++)
      sends.push(client.mutation("messages:send", { channelId, body: `m${i}`, author: "kai" }));
    await Promise.all(sends);
    return channelId;
  }

  const bodies = (results) => results.map((m) => m.body);
  const newestFirst = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => `m${to - i}`);

  test("loads page by page, then stays live without duplicates or gaps", async () => {
    const client = newClient();
    const channelId = await channelWithMessages(client, 25);
    const view = await probe(
      client,
      ({ id }) => usePaginatedQuery("messages:paginated", { channelId: id }, { initialNumItems: 10 }),
      {
        id: channelId,
      },
    );
    assert.equal(view.seen[0].status, "LoadingFirstPage");
    assert.equal(view.seen[0].isLoading, true);
    await waitFor(() => view.latest.status === "CanLoadMore", "the first page");
    assert.deepEqual(bodies(view.latest.results), newestFirst(16, 25));

    assert.equal(view.latest.loadMore(10), true);
    await waitFor(() => view.latest.status !== "CanLoadMore" || view.latest.results.length > 10, "loading more");
    await waitFor(() => view.latest.results.length === 20 && view.latest.status === "CanLoadMore", "the second page");
    assert.ok(
      view.seen.some((s) => s.status === "LoadingMore"),
      "LoadingMore was shown",
    );
    assert.deepEqual(bodies(view.latest.results), newestFirst(6, 25));

    view.latest.loadMore(10);
    await waitFor(() => view.latest.status === "Exhausted", "the last page");
    assert.deepEqual(bodies(view.latest.results), newestFirst(1, 25));
    assert.equal(view.latest.isLoading, false);

    // New rows land on the first page (which grows, since its end is pinned), not across pages.
    await client.mutation("messages:send", { channelId, body: "m26", author: "kai" });
    await waitFor(() => view.latest.results.length === 26, "the new message");
    assert.deepEqual(bodies(view.latest.results), newestFirst(1, 26));
  });

  test("a page that grows too large is split, and the list stays the same", async () => {
    const recorder = recordingWebSocket();
    const client = newClient({ WebSocket: recorder.WebSocket });
    const channelId = await channelWithMessages(client, 8);
    const view = await probe(client, () =>
      usePaginatedQuery("messages:paginated", { channelId }, { initialNumItems: 3 }),
    );
    await waitFor(() => view.latest.status === "CanLoadMore", "the first page");
    view.latest.loadMore(3);
    await waitFor(() => view.latest.results.length === 6 && view.latest.status === "CanLoadMore", "two pages");
    const sends = [];
    for (let i = 9; i <= 20; i++)
      sends.push(client.mutation("messages:send", { channelId, body: `m${i}`, author: "kai" }));
    await Promise.all(sends);
    await waitFor(() => view.latest.results.length === 18, "the grown first page");
    assert.deepEqual(bodies(view.latest.results), newestFirst(3, 20));
    // Nothing missing or repeated while the split happens, and after it.
    for (const state of view.seen) {
      const list = bodies(state.results);
      assert.equal(new Set(list).size, list.length, `no duplicates in ${list}`);
    }
    // The split: two new page queries with explicit bounds, then the grown page removed.
    const opts = () =>
      recorder
        .modifications()
        .filter((m) => m.type === "Add")
        .map((m) => m.args[0].paginationOpts);
    await waitFor(() => opts().some((o) => o.cursor !== null && typeof o.endCursor === "string"), "the split halves");
    await waitFor(() => recorder.modifications().some((m) => m.type === "Remove"), "the grown page removed");
    const [, , firstHalf, secondHalf] = opts();
    assert.equal(firstHalf.cursor, null);
    assert.equal(secondHalf.cursor, firstHalf.endCursor, "the halves meet at the split cursor");
    assert.deepEqual(bodies(view.latest.results), newestFirst(3, 20));

    view.latest.loadMore(10);
    await waitFor(() => view.latest.status === "Exhausted", "the end");
    assert.deepEqual(bodies(view.latest.results), newestFirst(1, 20));
  });
});
