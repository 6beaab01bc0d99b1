// Convex's JSON value encoding (the wire format of shared/PROTOCOL.md, "Values" and "Timestamps").
//
// JSON lacks 64-bit integers, bytes and non-finite floats, so they travel as one-key objects:
// {"$integer": base64 of 8 bytes LE}, {"$bytes": base64}, {"$float": base64 of an 8-byte LE double}.
// Timestamps (`ts`) are u64 commit numbers, base64 of 8 bytes LE; here they are BigInts so that
// comparisons stay exact whatever their size.
//
// No atob/btoa/Buffer: base64 is done by hand so this runs unchanged in browsers, Node and
// React Native (whose JS engines do not all ship those globals).

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;
LOOKUP["-".charCodeAt(0)] = 62; // accept the URL-safe alphabet on decode
LOOKUP["_".charCodeAt(0)] = 63;

/** Standard base64 (with padding) of a Uint8Array. */
export function bytesToBase64(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + "==";
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + "=";
  }
  return out;
}

/** Decode base64 (padding optional, URL-safe characters accepted) into a Uint8Array. */
export function base64ToBytes(text) {
  if (typeof text !== "string") throw new TypeError("base64 value must be a string");
  const clean = text.replace(/=+$/, "");
  if (clean.length % 4 === 1) throw new Error(`Invalid base64 string: ${JSON.stringify(text)}`);
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let j = 0;
  for (let i = 0; i < clean.length; i++) {
    const code = clean.charCodeAt(i);
    const value = code < 128 ? LOOKUP[code] : -1;
    if (value < 0) throw new Error(`Invalid base64 string: ${JSON.stringify(text)}`);
    buffer = (buffer << 6) | value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}

// --- 64-bit integers and timestamps -----------------------------------------------------------
// Done with two 32-bit halves: DataView.getBigInt64 is missing in some React Native engines.

const TWO_32 = BigInt(2) ** BigInt(32);
const TWO_64 = BigInt(2) ** BigInt(64);
const MAX_I64 = BigInt(2) ** BigInt(63) - BigInt(1);
const MIN_I64 = -(BigInt(2) ** BigInt(63));

function u64ToBytes(value) {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, Number(value % TWO_32), true);
  view.setUint32(4, Number(value / TWO_32), true);
  return bytes;
}

function bytesToU64(bytes) {
  if (bytes.length !== 8) throw new Error(`Expected 8 bytes for a 64-bit value, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  return BigInt(view.getUint32(4, true)) * TWO_32 + BigInt(view.getUint32(0, true));
}

/** Encode a u64 timestamp (BigInt or non-negative integer Number) as base64 of 8 bytes LE. */
export function encodeTs(ts) {
  const value = BigInt(ts);
  if (value < 0n || value >= TWO_64) throw new RangeError(`Timestamp out of range: ${ts}`);
  return bytesToBase64(u64ToBytes(value));
}

/** Decode a timestamp sent by the server into a BigInt. */
export function decodeTs(text) {
  return bytesToU64(base64ToBytes(text));
}

function encodeInt64(value) {
  if (value < MIN_I64 || value > MAX_I64)
    throw new RangeError(`BigInt ${value} does not fit in a signed 64-bit integer`);
  return bytesToBase64(u64ToBytes(value < 0n ? value + TWO_64 : value));
}

function decodeInt64(text) {
  const value = bytesToU64(base64ToBytes(text));
  return value > MAX_I64 ? value - TWO_64 : value;
}

function encodeFloat(number) {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, number, true);
  return bytesToBase64(bytes);
}

function decodeFloat(text) {
  const bytes = base64ToBytes(text);
  if (bytes.length !== 8) throw new Error(`$float must hold 8 bytes, got ${bytes.length}`);
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0, true);
}

// --- values -------------------------------------------------------------------------------------

const MAX_KEY_LENGTH = 1024;

function checkKey(key, path) {
  if (key.length > MAX_KEY_LENGTH) throw new Error(`${path}: object key longer than ${MAX_KEY_LENGTH} characters`);
  if (key.startsWith("$")) throw new Error(`${path}: object key ${JSON.stringify(key)} starts with "$" (reserved)`);
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code < 32 || code > 126) {
      throw new Error(`${path}: object key ${JSON.stringify(key)} must be printable ASCII`);
    }
  }
}

function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A JS value as Convex JSON. Object keys come out sorted and `undefined` members are dropped,
 * so the JSON text of equal values is equal (this is what makes canonical query keys work).
 */
export function convexToJson(value, path = "value") {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value) || Object.is(value, -0)) return { $float: encodeFloat(value) };
    return value;
  }
  if (typeof value === "bigint") return { $integer: encodeInt64(value) };
  if (value instanceof ArrayBuffer) return { $bytes: bytesToBase64(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) {
    return { $bytes: bytesToBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  }
  if (Array.isArray(value)) return value.map((item, i) => convexToJson(item, `${path}[${i}]`));
  if (typeof value === "object" && isPlainObject(value)) {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      const member = value[key];
      if (member === undefined) continue;
      checkKey(key, path);
      out[key] = convexToJson(member, `${path}.${key}`);
    }
    return out;
  }
  if (value === undefined) throw new Error(`${path}: undefined is not a valid value (use null)`);
  const kind = Object.prototype.toString.call(value);
  throw new Error(
    `${path}: ${kind} is not a valid value (use plain objects, arrays, strings, numbers, bigints, booleans, null, ArrayBuffer)`,
  );
}

/** Convex JSON from the server as JS values: `$integer` -> BigInt, `$bytes` -> ArrayBuffer, `$float` -> number. */
export function jsonToConvex(value) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(jsonToConvex);
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const key = keys[0];
    if (key === "$integer") return decodeInt64(value.$integer);
    if (key === "$float") return decodeFloat(value.$float);
    if (key === "$bytes") {
      const bytes = base64ToBytes(value.$bytes);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    }
  }
  const out = {};
  for (const key of keys) out[key] = jsonToConvex(value[key]);
  return out;
}

/** The JSON text of the canonical form of `value` (sorted keys): equal values, equal text. */
export function canonicalJson(value) {
  return JSON.stringify(convexToJson(value, "args"));
}
