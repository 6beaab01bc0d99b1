// Type declarations for react.js: React hooks over ReactiveClient.

import type { ReactElement, ReactNode } from "react";
import type { Args, ConnectionState, OptimisticUpdate, ReactiveClient } from "./client.js";

export declare function ReactiveProvider(props: { client: ReactiveClient; children?: ReactNode }): ReactElement;

/** The client of the nearest ReactiveProvider (throws without one). */
export declare function useReactiveClient(): ReactiveClient;

/**
 * A query's live value; undefined while loading (or with "skip"). A failed query throws its
 * ReactiveError to the nearest error boundary.
 */
export declare function useQuery<T = any>(name: string, args?: Args | "skip"): T | undefined;

export interface ReactMutation<A extends Args = Args, T = any> {
  (args?: A): Promise<T>;
  /** The same mutation with an optimistic update applied on every call. */
  withOptimisticUpdate(update: OptimisticUpdate<A>): ReactMutation<A, T>;
}

export declare function useMutation<A extends Args = Args, T = any>(name: string): ReactMutation<A, T>;

export declare function useAction<A extends Args = Args, T = any>(name: string): (args?: A) => Promise<T>;

export declare function useConnectionState(): ConnectionState;

export type PaginationStatus = "LoadingFirstPage" | "CanLoadMore" | "LoadingMore" | "Exhausted";

/** What a paginated query receives as `args.paginationOpts`. */
export interface PaginationOptions {
  numItems: number;
  cursor: string | null;
  endCursor?: string | null;
  id: number;
}

/** What a paginated query returns. */
export interface PaginationResult<T> {
  page: T[];
  isDone: boolean;
  continueCursor: string;
  splitCursor?: string | null;
  pageStatus?: "SplitRecommended" | "SplitRequired" | null;
}

export interface UsePaginatedQueryResult<T> {
  /** Items of every loaded page, in order. */
  results: T[];
  status: PaginationStatus;
  isLoading: boolean;
  /** Load `numItems` more; does nothing (returns false) unless status is "CanLoadMore". */
  loadMore(numItems: number): boolean;
}

/** A paginated query, page by page; each page is its own live query. */
export declare function usePaginatedQuery<T = any>(
  name: string,
  args: Args | "skip",
  options: { initialNumItems: number },
): UsePaginatedQueryResult<T>;
