// What every interop check shares: one JSON line on stdout (exit 0 on success, 1 on failure),
// failure on any uncaught error (the official client throws from its socket handler on protocol
// violations), a time limit, and a logger for the client that keeps its errors for the report.

// JSON.stringify cannot handle BigInt (a `$integer` value decodes to one).
export function toJson(value) {
  return JSON.stringify(value, (_key, v) =>
    typeof v === "bigint" ? v.toString() : v === undefined ? null : v,
  );
}

export function errorText(err) {
  if (err instanceof Error) {
    let text = err.message;
    if ("data" in err) text += ` (data: ${toJson(err.data)})`;
    return text;
  }
  return String(err);
}

/**
 * Start a check. `describeState()` adds context to a timeout; `decorate(payload)` adds to the
 * report before it is printed; `cleanup()` (best effort, at most 2 s) runs before exiting.
 */
export function startCheck({ timeoutMs, describeState = () => "", decorate = () => {}, cleanup = async () => {} }) {
  let finished = false;
  const clientErrors = [];

  async function finish(code, payload) {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    decorate(payload);
    if (!payload.ok && clientErrors.length > 0) payload.clientErrors = clientErrors.slice(-5);
    process.stdout.write(toJson(payload) + "\n");
    try {
      await Promise.race([cleanup(), new Promise((resolve) => setTimeout(resolve, 2000))]);
    } catch {
      // cleaning up is best effort
    }
    process.exit(code);
  }

  function fail(err) {
    void finish(1, { ok: false, error: errorText(err) });
  }

  process.on("uncaughtException", (err) => fail(err));
  process.on("unhandledRejection", (err) => fail(err));
  const timer = setTimeout(() => {
    let state = "";
    try {
      state = describeState();
    } catch {
      // no state available
    }
    fail(new Error(`timed out after ${timeoutMs / 1000} s${state}`));
  }, timeoutMs);

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

  return { finish, fail, logger, verbose, clientErrors, isFinished: () => finished };
}
