// React bindings for ReactiveClient: a provider and hooks, built on useSyncExternalStore so that
// they work with React 18 and 19 (concurrent rendering included) through any bundler or import map.
//
//     <ReactiveProvider client={client}><App /></ReactiveProvider>
//     const messages = useQuery("messages:list", { channelId });   // undefined while loading
//
// No JSX, so this file runs as is, without a build step.

import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from "react";
import { queryKey } from "./local_state.js";
import {
  derivePaginatedView,
  firstPageLoading,
  initialPaginationState,
  loadMore as loadMoreState,
  pageQueries,
} from "./pagination.js";

const ReactiveContext = createContext(null);
ReactiveContext.displayName = "ReactiveContext";

const noop = () => {};
const unsubscribed = () => noop;

/** Makes `client` available to the hooks below it. */
export function ReactiveProvider({ client, children }) {
  return createElement(ReactiveContext.Provider, { value: client }, children);
}

/** The ReactiveClient of the nearest ReactiveProvider. */
export function useReactiveClient() {
  const client = useContext(ReactiveContext);
  if (client === null) {
    throw new Error("No ReactiveClient: wrap the component tree in <ReactiveProvider client={client}>");
  }
  return client;
}

/**
 * The live value of a query: undefined while loading, then every new value. A failed query
 * throws its error (a ReactiveError) during render, to the nearest error boundary. `"skip"` as
 * args subscribes to nothing and returns undefined.
 */
export function useQuery(name, args) {
  const client = useReactiveClient();
  const skip = args === "skip";
  const key = skip ? null : queryKey(name, args ?? {});
  // `args` is captured when `key` changes: the same key means the same canonical args.
  const subscribe = useCallback(
    (onChange) => (skip ? noop : client.watchQuery(name, args ?? {}, onChange)),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [client, key],
  );
  const getSnapshot = useCallback(
    () => (skip ? undefined : client.localQueryResult(name, args ?? {})),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [client, key],
  );
  const result = useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
  if (result !== undefined && "error" in result) throw result.error;
  return result === undefined ? undefined : result.value;
}

function makeMutation(client, name, optimisticUpdate) {
  const mutate = (args) => client.mutation(name, args ?? {}, optimisticUpdate ? { optimisticUpdate } : {});
  mutate.withOptimisticUpdate = (update) => {
    if (optimisticUpdate) throw new Error(`The mutation ${name} already has an optimistic update`);
    return makeMutation(client, name, update);
  };
  return mutate;
}

/**
 * A function that runs the mutation: `mutate(args)` returns its promise (see
 * ReactiveClient.mutation). `mutate.withOptimisticUpdate((localStore, args) => …)` returns a
 * variant with an optimistic update.
 */
export function useMutation(name) {
  const client = useReactiveClient();
  return useMemo(() => makeMutation(client, name, undefined), [client, name]);
}

/** A function that runs the action: `run(args)` returns its promise (see ReactiveClient.action). */
export function useAction(name) {
  const client = useReactiveClient();
  return useMemo(() => (args) => client.action(name, args ?? {}), [client, name]);
}

/** "connecting" | "connected" | "disconnected", re-rendering on every change. */
export function useConnectionState() {
  const client = useReactiveClient();
  const subscribe = useCallback((onChange) => client.onConnectionStateChange(onChange), [client]);
  const getSnapshot = useCallback(() => client.connectionState(), [client]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}

/**
 * Several live queries at once: `queries` is `[{ pageKey, name, args, key }]`; returns an object
 * pageKey -> result ({ value } | { error } | undefined), the same object until a result changes.
 */
function useQueryResults(client, queries) {
  const signature = queries.map((q) => `${q.pageKey}=${q.key}`).join("\n");
  const subscribe = useCallback(
    (onChange) => {
      const stops = queries.map((q) => client.watchQuery(q.name, q.args, onChange));
      return () => stops.forEach((stop) => stop());
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [client, signature],
  );
  const cache = useRef(null);
  const getSnapshot = () => {
    const current = queries.map((q) => client.localQueryResult(q.name, q.args));
    const cached = cache.current;
    if (cached !== null && cached.signature === signature && cached.list.every((r, i) => r === current[i])) {
      return cached.snapshot;
    }
    const snapshot = {};
    queries.forEach((q, i) => {
      snapshot[q.pageKey] = current[i];
    });
    cache.current = { signature, list: current, snapshot };
    return snapshot;
  };
  return useSyncExternalStore(queries.length === 0 ? unsubscribed : subscribe, getSnapshot, getSnapshot);
}

/**
 * A paginated query, loaded page by page: `{ results, status, loadMore, isLoading }`.
 *
 * The query receives `{ ...args, paginationOpts: { numItems, cursor, endCursor?, id } }` and
 * returns `{ page, isDone, continueCursor, splitCursor?, pageStatus? }`. `status` is
 * "LoadingFirstPage", "CanLoadMore", "LoadingMore" or "Exhausted"; `loadMore(numItems)` asks for
 * the next page when the status is "CanLoadMore" (otherwise it does nothing). New args restart
 * from the first page; `"skip"` loads nothing. A failed page throws to the error boundary.
 */
export function usePaginatedQuery(name, args, options) {
  const initialNumItems = options && options.initialNumItems;
  if (typeof initialNumItems !== "number" || !(initialNumItems > 0)) {
    throw new Error(`usePaginatedQuery: options.initialNumItems must be a positive number, got ${initialNumItems}`);
  }
  const client = useReactiveClient();
  const skip = args === "skip";
  const identity = skip ? "skip" : `${queryKey(name, args ?? {})}#${initialNumItems}`;
  const create = () => (skip ? null : initialPaginationState(name, args ?? {}, initialNumItems));
  const [stored, setStored] = useState(() => ({ identity, state: create() }));
  let state = stored.state;
  if (stored.identity !== identity) {
    // New query or args: start over (setting state during render is React's documented way to reset).
    state = create();
    setStored({ identity, state });
  }
  const queries = useMemo(() => (state === null ? [] : pageQueries(state)), [state]);
  const results = useQueryResults(client, queries);
  const view = useMemo(
    () => (state === null ? firstPageLoading() : derivePaginatedView(state, (pageKey) => results[pageKey])),
    [state, results],
  );
  useEffect(() => {
    if (view.transitions.length === 0) return;
    setStored((current) => {
      if (current.identity !== identity || current.state === null) return current;
      const next = view.transitions.reduce((s, transition) => transition(s), current.state);
      return next === current.state ? current : { identity, state: next };
    });
  }, [view, identity]);
  if (view.error !== undefined) throw view.error;
  const lastPage = view.lastPage;
  const lastPageKey = state === null ? undefined : state.pageKeys[state.pageKeys.length - 1];
  const loadMore = useCallback(
    (numItems) => {
      if (lastPage === undefined || lastPage.isDone) return false;
      if (typeof numItems !== "number" || !(numItems > 0))
        throw new Error(`loadMore: numItems must be a positive number, got ${numItems}`);
      setStored((current) => {
        if (current.identity !== identity || current.state === null) return current;
        const next = loadMoreState(current.state, numItems, lastPageKey, lastPage);
        return next === current.state ? current : { identity, state: next };
      });
      return true;
    },
    [identity, lastPage, lastPageKey],
  );
  return { results: view.results, status: view.status, isLoading: view.isLoading, loadMore };
}
