// A real Daphne process serving the demo project on its own temporary SQLite database.
//
//     const server = await startServer();   // migrate, then daphne on a free port
//     after(() => server.stop());           // always: SIGTERM, then SIGKILL
//     await server.kill();                  // SIGKILL (a crash); server.start() restarts on the same port

import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const PYTHON = path.join(REPO_ROOT, ".venv", "bin", "python");
const START_TIMEOUT_MS = 30000;
const STOP_TIMEOUT_MS = 5000;

// Backstop for a test process that ends before its teardown ran: no server outlives it.
const running = new Set();
const directories = new Set();
const killAll = () => {
  for (const child of running) child.kill("SIGKILL");
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
};
process.on("exit", killAll);
for (const [signal, number] of [
  ["SIGINT", 2],
  ["SIGTERM", 15],
  ["SIGHUP", 1],
]) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + number);
  });
}

/** A TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class DemoServer {
  constructor(port, directory) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.directory = directory;
    this.env = {
      ...process.env,
      DATABASE_URL: `sqlite:///${path.join(directory, "db.sqlite3")}`,
      DJANGO_SETTINGS_MODULE: "demo_project.settings",
      DEMO_PAYMENT_DELAY: "0.05",
      PYTHONUNBUFFERED: "1",
      REACTIVE_LOG_LEVEL: "WARNING",
    };
    delete this.env.REDIS_URL; // one process: the in-memory channel layer
    this.output = "";
    this.child = null;
  }

  async migrate() {
    await promisify(execFile)(PYTHON, ["manage.py", "migrate", "--noinput"], { cwd: REPO_ROOT, env: this.env });
  }

  /** Start Daphne and resolve once the port accepts connections. */
  async start() {
    if (this.child !== null) throw new Error(`server on port ${this.port} is already running`);
    const child = spawn(
      PYTHON,
      ["-m", "daphne", "-b", "127.0.0.1", "-p", String(this.port), "demo_project.asgi:application"],
      {
        cwd: REPO_ROOT,
        env: this.env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    running.add(child);
    const collect = (chunk) => {
      this.output += chunk.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.exited = new Promise((resolve) => child.once("exit", resolve));
    child.exited.then(() => running.delete(child));
    const deadline = Date.now() + START_TIMEOUT_MS;
    let exitCode = null;
    child.exited.then((code) => {
      exitCode = code ?? "signal";
    });
    while (!(await accepts(this.port))) {
      if (exitCode !== null) throw new Error(`daphne exited (${exitCode}) while starting:\n${this.output}`);
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`daphne did not listen on ${this.port} within ${START_TIMEOUT_MS} ms:\n${this.output}`);
      }
      await sleep(50);
    }
  }

  /** SIGKILL: a crash, no graceful shutdown. */
  async kill() {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await child.exited;
  }

  /** SIGTERM, then SIGKILL if it is still alive after a few seconds. */
  async stop() {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await child.exited;
      clearTimeout(timer);
    }
  }

  /** Stop the server and delete its database; print what it logged if asked (or REACTIVE_JS_SERVER_LOG=1). */
  async dispose({ printOutput = false } = {}) {
    await this.stop();
    if (printOutput || process.env.REACTIVE_JS_SERVER_LOG) {
      process.stderr.write(`----- output of the server on port ${this.port} -----\n${this.output}\n`);
    }
    rmSync(this.directory, { recursive: true, force: true });
    directories.delete(this.directory);
  }

  /** Run Python code with the server's Django settings (manage.py shell -c); resolves with the last line it printed. */
  async shell(code) {
    const { stdout } = await promisify(execFile)(PYTHON, ["manage.py", "shell", "-c", code], {
      cwd: REPO_ROOT,
      env: this.env,
    });
    // Django 5.2's shell may print a line of its own first ("N objects imported automatically").
    const lines = stdout.split("\n").filter((line) => line.trim() !== "");
    return lines.length === 0 ? "" : lines[lines.length - 1].trim();
  }

  /** One-shot HTTP call of a function: the parsed JSON body and the status code. */
  async call(kind, name, args = {}) {
    const response = await fetch(`${this.url}/api/${kind}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: name, args: [args], format: "convex_encoded_json" }),
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body };
  }
}

/** A migrated, started demo server on a fresh database and a free port. */
export async function startServer() {
  const directory = mkdtempSync(path.join(tmpdir(), "reactive-js-"));
  directories.add(directory);
  const server = new DemoServer(await freePort(), directory);
  try {
    await server.migrate();
    await server.start();
  } catch (error) {
    await server.dispose();
    throw error;
  }
  return server;
}
