// Paginated queries as a list of page subscriptions: pure state transitions, no React.
//
// A paginated query takes `paginationOpts: { numItems, cursor, endCursor?, id }` among its args
// and returns `{ page, isDone, continueCursor, splitCursor?, pageStatus? }` (shared/PROTOCOL.md,
// "Pagination"). Each loaded page is its own live query. Pages neither overlap nor leave gaps
// while rows are added and removed because the server pins where each page ended in the query's
// journal (docs/protocol.md, "Journals and pagination"); the client keeps journals and sends
// them back when it re-adds a page after a reconnect (local_state.js). A page that grew too
// large is split in two at the server's `splitCursor`, each half with explicit bounds; the old
// page stays on screen until both halves have results, so nothing flickers.
//
// States are plain objects, never mutated; every transition returns a new state (or the same one
// when it does not apply any more).

import { queryKey } from "./local_state.js";

let lastPaginationId = 0;

/** A fresh pagination id: part of every page's args, so a restarted pagination never shares pages with an old one. */
export function nextPaginationId() {
  lastPaginationId += 1;
  return lastPaginationId;
}

function withOpts(state, paginationOpts) {
  return { ...state.args, paginationOpts };
}

/** The first state: one page of `initialNumItems` from the start. */
export function initialPaginationState(name, args, initialNumItems, id = nextPaginationId()) {
  return {
    name,
    args,
    initialNumItems,
    id,
    nextKey: 1,
    pageKeys: [0],
    pages: { 0: withOpts({ args }, { numItems: initialNumItems, cursor: null, id }) },
    replacing: {}, // pageKey -> the pageKeys of its split halves, which replace it once both have results
  };
}

/** `[{ pageKey, name, args, key }]`: every query the state needs live (shown pages and replacements). */
export function pageQueries(state) {
  return Object.entries(state.pages).map(([pageKey, args]) => ({
    pageKey: Number(pageKey),
    name: state.name,
    args,
    key: queryKey(state.name, args),
  }));
}

function isInvalidCursor(error) {
  if (!error) return false;
  if (String(error.message).includes("InvalidCursor")) return true;
  const data = error.data;
  return typeof data === "object" && data !== null && data.paginationError === "InvalidCursor";
}

function checkPage(value, name) {
  if (
    typeof value !== "object" ||
    value === null ||
    !Array.isArray(value.page) ||
    typeof value.isDone !== "boolean" ||
    typeof value.continueCursor !== "string"
  ) {
    throw new Error(
      `${name} is not a paginated query: it must return { page: [...], isDone: boolean, continueCursor: string }`,
    );
  }
}

/** A view of `derivePaginatedView`; `isLoading` follows from the status. */
function paginatedView(results, status, lastPage, error, transitions) {
  return {
    results,
    status,
    isLoading: status === "LoadingFirstPage" || status === "LoadingMore",
    lastPage,
    error,
    transitions,
  };
}

/** The view while the first page loads (and of a skipped paginated query). */
export function firstPageLoading(transitions = []) {
  return paginatedView([], "LoadingFirstPage", undefined, undefined, transitions);
}

/**
 * What to show for `state` given `resultOf(pageKey)` (`{ value }`, `{ error }` or undefined):
 * `{ results, status, isLoading, lastPage, error, transitions }`. `transitions` are the state
 * changes the results call for (finish a replacement, split a page, restart after an invalid
 * cursor); the caller applies them.
 */
export function derivePaginatedView(state, resultOf) {
  const results = [];
  const transitions = [];
  let lastPage;
  let loadingIndex = -1;
  for (let index = 0; index < state.pageKeys.length; index++) {
    const pageKey = state.pageKeys[index];
    const result = resultOf(pageKey);
    if (result === undefined) {
      loadingIndex = index;
      break;
    }
    if ("error" in result) {
      if (isInvalidCursor(result.error)) {
        transitions.push((s) => (s.id === state.id ? initialPaginationState(s.name, s.args, s.initialNumItems) : s));
        return firstPageLoading(transitions);
      }
      return paginatedView(results, "Error", undefined, result.error, transitions);
    }
    const page = result.value;
    try {
      checkPage(page, state.name);
    } catch (error) {
      return paginatedView(results, "Error", undefined, error, transitions);
    }
    const replacements = state.replacing[pageKey];
    if (replacements !== undefined) {
      const ready = replacements.every((key) => {
        const r = resultOf(key);
        return r !== undefined && !("error" in r);
      });
      if (ready) transitions.push((s) => completeReplacement(s, pageKey));
    } else if (
      page.splitCursor &&
      (page.pageStatus === "SplitRecommended" ||
        page.pageStatus === "SplitRequired" ||
        page.page.length > state.initialNumItems * 2)
    ) {
      transitions.push((s) => splitPage(s, pageKey, page.splitCursor, page.continueCursor));
    }
    if (page.pageStatus === "SplitRequired") {
      // The server will not serve this page whole any more: show what precedes it until the split lands.
      loadingIndex = index;
      break;
    }
    results.push(...page.page);
    lastPage = page;
  }
  if (loadingIndex !== -1) {
    const status = loadingIndex === 0 ? "LoadingFirstPage" : "LoadingMore";
    return paginatedView(results, status, undefined, undefined, transitions);
  }
  return paginatedView(results, lastPage.isDone ? "Exhausted" : "CanLoadMore", lastPage, undefined, transitions);
}

/**
 * Load `numItems` more after the last page, whose current result is `lastPage`; returns the
 * same state if its last page changed since (a second loadMore for the same page is a no-op).
 */
export function loadMore(state, numItems, lastPageKey, lastPage) {
  if (state.pageKeys[state.pageKeys.length - 1] !== lastPageKey || lastPage.isDone) return state;
  const newKey = state.nextKey;
  return {
    ...state,
    nextKey: newKey + 1,
    pages: { ...state.pages, [newKey]: withOpts(state, { numItems, cursor: lastPage.continueCursor, id: state.id }) },
    pageKeys: [...state.pageKeys, newKey],
  };
}

/** Split a page in two at `splitCursor`: [start, splitCursor] and [splitCursor, its end]. */
export function splitPage(state, pageKey, splitCursor, continueCursor) {
  if (state.pages[pageKey] === undefined || state.replacing[pageKey] !== undefined) return state;
  const opts = state.pages[pageKey].paginationOpts;
  const first = state.nextKey;
  const second = state.nextKey + 1;
  return {
    ...state,
    nextKey: state.nextKey + 2,
    pages: {
      ...state.pages,
      [first]: withOpts(state, { ...opts, endCursor: splitCursor }),
      [second]: withOpts(state, { ...opts, cursor: splitCursor, endCursor: continueCursor }),
    },
    replacing: { ...state.replacing, [pageKey]: [first, second] },
  };
}

/** Put a page's replacements in its place and stop subscribing to it. */
export function completeReplacement(state, pageKey) {
  const replacements = state.replacing[pageKey];
  const index = state.pageKeys.indexOf(pageKey);
  if (replacements === undefined || index === -1) return state;
  const pages = { ...state.pages };
  delete pages[pageKey];
  const replacing = { ...state.replacing };
  delete replacing[pageKey];
  const pageKeys = [...state.pageKeys.slice(0, index), ...replacements, ...state.pageKeys.slice(index + 1)];
  return { ...state, pages, replacing, pageKeys };
}
