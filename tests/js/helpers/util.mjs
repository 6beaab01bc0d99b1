// Test utilities: waiting without asserting timings, and a WebSocket that records its frames.

import { test } from "node:test";
import WebSocket from "ws";

/** Resolve once `predicate()` is truthy; the timeout only guards against hangs. */
export async function waitFor(predicate, what = "condition", timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Settle `promise` or fail after `timeoutMs` (a hang guard, not a timing assertion). */
export function withTimeout(promise, what = "promise", timeoutMs = 30000) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Let pending microtasks and a few macrotask turns run (e.g. the client's batched query-set flush). */
export function settleTicks() {
  return new Promise((resolve) => setTimeout(resolve, 50));
}

/**
 * A `ws` WebSocket class that records every frame it sends and receives, and can drop chosen
 * incoming messages (`recorder.dropIncoming = (message) => boolean`).
 */
export function recordingWebSocket() {
  const recorder = {
    sent: [],
    received: [],
    sockets: [],
    dropIncoming: () => false,
    /** The ModifyQuerySet modifications sent so far, flattened. */
    modifications() {
      return this.sent.filter((m) => m.type === "ModifyQuerySet").flatMap((m) => m.modifications);
    },
  };
  class RecordingWebSocket extends WebSocket {
    constructor(url, ...rest) {
      super(url, ...rest);
      recorder.sockets.push(this);
    }

    send(data, ...rest) {
      recorder.sent.push(JSON.parse(data));
      return super.send(data, ...rest);
    }

    get onmessage() {
      return super.onmessage;
    }

    set onmessage(handler) {
      if (typeof handler !== "function") {
        super.onmessage = handler;
        return;
      }
      super.onmessage = (event) => {
        const message = JSON.parse(event.data);
        recorder.received.push(message);
        if (recorder.dropIncoming(message)) return;
        handler(event);
      };
    }
  }
  recorder.WebSocket = RecordingWebSocket;
  return recorder;
}

/** A name no other test uses (channel names are unique on the server). */
export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Collect every value a subscription delivers; `.latest` is the newest. */
export function collector() {
  const values = [];
  const errors = [];
  return {
    values,
    errors,
    onValue: (value) => values.push(value),
    onError: (error) => errors.push(error),
    get latest() {
      return values[values.length - 1];
    },
  };
}

/**
 * `test`, remembering whether any test failed (`failures.count`), so that teardown can print
 * the server's log only when it is useful.
 */
export function trackingTest() {
  const failures = { count: 0 };
  const tracked = (name, fn) =>
    test(name, async (t) => {
      try {
        return await fn(t);
      } catch (error) {
        failures.count += 1;
        throw error;
      }
    });
  return { test: tracked, failures };
}
