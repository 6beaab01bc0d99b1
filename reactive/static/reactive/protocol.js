// The wire messages (shared/PROTOCOL.md, docs/protocol.md): every message the client sends is
// built here, and the fields of the server's messages that more than one module reads (a
// response's commit ts, an error's message and data) are read here.
//
// Field order follows what the client has always sent; servers do not depend on it, but logs and
// tests read better when it does not move.

import { ReactiveError } from "./errors.js";
import { convexToJson, decodeTs, encodeTs, jsonToConvex } from "./values.js";

/**
 * Protocol extensions this client understands, announced in Connect.reactiveExtensions
 * (docs/protocol.md, "Extensions"); a server uses one only for clients that list it.
 * "diffs": list results keyed by `_id` may arrive as changes (diffs.js).
 */
export const EXTENSIONS = Object.freeze(["diffs"]);

/** The first message on every socket. `maxObservedTs` (BigInt or null) is the highest ts seen on any earlier one. */
export function connectMessage({ sessionId, connectionCount, lastCloseReason, maxObservedTs }) {
  const message = {
    type: "Connect",
    sessionId,
    connectionCount,
    lastCloseReason,
    clientTs: Date.now(),
    reactiveExtensions: [...EXTENSIONS],
  };
  if (maxObservedTs !== null) message.maxObservedTimestamp = encodeTs(maxObservedTs);
  return message;
}

/** A ModifyQuerySet moving the server's query set from `baseVersion` to the next version. */
export function modifyQuerySetMessage(baseVersion, modifications) {
  return { type: "ModifyQuerySet", baseVersion, newVersion: baseVersion + 1, modifications };
}

/** The `Add` modification of a query; `argsJson` is already Convex JSON, `journal` the server's (if any). */
export function addQuery(queryId, udfPath, argsJson, journal) {
  const add = { type: "Add", queryId, udfPath, args: [argsJson] };
  if (journal !== undefined) add.journal = journal;
  return add;
}

/** The `Remove` modification of a query. */
export function removeQuery(queryId) {
  return { type: "Remove", queryId };
}

/**
 * A Mutation (`kind` "mutation") or an Action ("action"). Throws before anything is sent when
 * `args` holds something Convex JSON cannot encode.
 */
export function requestMessage(kind, requestId, udfPath, args) {
  const type = kind === "mutation" ? "Mutation" : "Action";
  return { type, requestId, udfPath, args: [convexToJson(args, "args")] };
}

/** Authenticate as the user of `token`, or (token null) go back to no token. */
export function authenticateMessage(token, baseVersion) {
  if (token === null) return { type: "Authenticate", tokenType: "None", baseVersion };
  return { type: "Authenticate", tokenType: "User", value: token, baseVersion };
}

/** A message as it may be logged: a token never reaches the logs. */
export function loggable(message) {
  return message.type === "Authenticate" ? { ...message, value: "…" } : message;
}

/** The commit ts (BigInt) of a successful MutationResponse, or null (a failure, an action, no ts). */
export function responseTs(message) {
  return message.success && typeof message.ts === "string" ? decodeTs(message.ts) : null;
}

/**
 * The ReactiveError of a failed query, mutation or action: `errorMessage` as the server sent
 * it; `errorData` is decoded when present (present, even null, it is the error's data); `code`: its `errorCode`.
 */
export function wireError(errorMessage, errorData, functionName, kind, code) {
  return new ReactiveError(errorMessage, {
    data: errorData === undefined ? undefined : jsonToConvex(errorData),
    code,
    functionName,
    kind,
  });
}
