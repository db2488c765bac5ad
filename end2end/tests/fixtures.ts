// Test fixtures: a fresh Chatroom server per test on a free port, pages that
// wait for hydration, and a check that no page logged an error.
import {
  test as base,
  expect,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type Page,
  type TestInfo,
} from "@playwright/test";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root (this file is `end2end/tests/fixtures.ts`). */
export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const serverBin = process.env.CHATROOM_SERVER_BIN ?? path.join(repo, "target", "debug", "server");
const siteRoot = path.join(repo, "target", "site");
const LISTENING = /listening on (http:\/\/[^\s]+)/;

/** A server process for one test, with a data directory of its own. */
export class Server {
  url = "";
  /** Its SQLite database lives here, across restarts; deleted by `remove()`. */
  readonly dataDir = mkdtempSync(path.join(os.tmpdir(), "chatroom-e2e-"));
  private child?: ChildProcess;
  private output: string[] = [];

  /**
   * `extraArgs` go to every start (say, `--allow-guests`); `extraEnv` is
   * added to its environment (secrets belong there, not on a command line
   * every process can read).
   */
  constructor(
    private readonly extraArgs: string[] = [],
    private readonly extraEnv: NodeJS.ProcessEnv = {},
  ) {}

  /** Starts the server on `addr` (port 0: any free port) and waits until it listens. */
  async start(addr = "127.0.0.1:0"): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, LEPTOS_SITE_ROOT: siteRoot, RUST_LOG: "info", NO_COLOR: "1" };
    // The test's own SQLite file, whatever the shell running the tests says.
    delete env.DATABASE_URL;
    // A single node unless the flags say otherwise.
    delete env.REDIS_URL;
    delete env.CHATROOM_JWT_SECRET;
    Object.assign(env, this.extraEnv);
    const child = spawn(serverBin, ["--addr", addr, "--data-dir", this.dataDir, ...this.extraArgs], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    child.stderr!.on("data", (chunk: Buffer) => this.output.push(chunk.toString()));
    this.url = await new Promise<string>((resolve, reject) => {
      let pending = ""; // a line not yet ended: pipes cut output anywhere
      const fail = (why: string) => {
        clearTimeout(timer);
        child.off("exit", onExit);
        reject(new Error(`${why}; its output:\n${this.logs()}`));
      };
      const onExit = (code: number | null, signal: string | null) =>
        fail(`the server (${serverBin}) exited (${signal ?? code}) before listening`);
      const timer = setTimeout(() => fail("the server did not say it was listening within 20 s"), 20_000);
      child.on("error", (error) => fail(`the server (${serverBin}) could not start: ${error.message}`));
      child.once("exit", onExit);
      child.stdout!.on("data", (chunk: Buffer) => {
        const text = chunk.toString();
        this.output.push(text);
        const lines = (pending + text).split("\n");
        pending = lines.pop()!;
        const found = lines.map((line) => LISTENING.exec(line)).find(Boolean);
        if (found) {
          clearTimeout(timer);
          child.off("exit", onExit);
          resolve(found[1]);
        }
      });
    });
  }

  /** Stops the server as an operator would (SIGTERM), killing it if it hangs for 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stops the server and starts it again on the same address, so open pages can reconnect. */
  async restart(): Promise<void> {
    const addr = new URL(this.url).host;
    await this.stop();
    await this.start(addr);
  }

  /** Everything the server wrote so far, across restarts. */
  logs(): string {
    return this.output.join("");
  }

  /** Stops the server and deletes its data. */
  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * A fixture giving each test a server of its own, started with `extraArgs`;
 * its output is attached to the test (and printed) when the test fails.
 */
export function serverFixture(extraArgs: string[] = []) {
  return async ({}, use: (server: Server) => Promise<void>, testInfo: TestInfo): Promise<void> => {
    const server = new Server(extraArgs);
    try {
      await server.start();
      await use(server);
    } finally {
      await server.remove();
      if (testInfo.status !== testInfo.expectedStatus) {
        await testInfo.attach("server output", { body: server.logs(), contentType: "text/plain" });
      }
    }
  };
}

/** Where the machine's PostgreSQL and Redis are (see the README). */
const POSTGRES = { host: "127.0.0.1", port: "5432", user: "postgres", database: "test" };
const REDIS = { host: "127.0.0.1", port: "6379" };
/** HAProxy's configuration in the repository; its node lines are replaced. */
const haproxyConfig = path.join(repo, "deploy", "haproxy.cfg");
const NODE_LINES = /^([ \t]*# BEGIN nodes[ \t]*\n)(?:[^\n]*\n)*?([ \t]*# END nodes[ \t]*)$/m;

/**
 * Several Chatroom nodes in cluster mode behind HAProxy, as
 * `scripts/cluster` runs them, but private to one test: a PostgreSQL schema
 * of its own (in the database `test`), a Redis key prefix of its own, a
 * secret of its own, and every port chosen by the OS.
 */
export class Cluster {
  /** The PostgreSQL schema holding this cluster's tables (dropped by `remove()`). */
  readonly schema = `e2e_cluster_${randomBytes(6).toString("hex")}`;
  /** Every Redis key and channel of this cluster starts with `<redisPrefix>:`. */
  readonly redisPrefix = `e2e-cluster-${randomBytes(6).toString("hex")}`;
  /** The nodes, in the order started: `nodes[0]` is node1. */
  readonly nodes: Server[] = [];
  /** HAProxy's address: what users of the cluster open. */
  url = "";
  /** HAProxy's configuration, rendered for these nodes, lives here. */
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), "chatroom-e2e-haproxy-"));
  private haproxy?: ChildProcess;
  private haproxyOutput: string[] = [];

  /** `size` nodes, each started with `extraArgs` too. */
  constructor(
    private readonly size = 2,
    private readonly extraArgs: string[] = [],
  ) {}

  /** The URL every node is given: the shared database, inside this cluster's schema. */
  get databaseUrl(): string {
    const { user, host, port, database } = POSTGRES;
    return `postgres://${user}@${host}:${port}/${database}?options=-c%20search_path%3D${this.schema}`;
  }

  /** Creates the schema, starts the nodes one after another, then HAProxy in front of them. */
  async start(): Promise<void> {
    psql(`CREATE SCHEMA ${this.schema}`);
    // One secret for all: a login made on one node is good on every other.
    const secret = randomBytes(32).toString("hex");
    for (let i = 1; i <= this.size; i++) {
      const node = new Server(
        [
          "--database-url",
          this.databaseUrl,
          "--redis-url",
          `redis://${REDIS.host}:${REDIS.port}`,
          "--redis-prefix",
          this.redisPrefix,
          "--node-id",
          `node${i}`,
          "--trusted-proxies",
          "127.0.0.1",
          ...this.extraArgs,
        ],
        { CHATROOM_JWT_SECRET: secret },
      );
      this.nodes.push(node);
      // One at a time: the first creates the tables in the empty schema.
      await node.start();
    }
    await this.startHaproxy();
  }

  /** deploy/haproxy.cfg with its node lines naming this cluster's nodes. */
  renderHaproxyConfig(): string {
    const servers = this.nodes
      .map((node, i) => `    server node${i + 1} ${new URL(node.url).host} cookie node${i + 1}\n`)
      .join("");
    const config = readFileSync(haproxyConfig, "utf8");
    if (!NODE_LINES.test(config)) throw new Error(`${haproxyConfig} has no "# BEGIN nodes" … "# END nodes" block`);
    return config.replace(NODE_LINES, (_, begin: string, end: string) => begin + servers + end);
  }

  private async startHaproxy(): Promise<void> {
    const config = path.join(this.dir, "haproxy.cfg");
    writeFileSync(config, this.renderHaproxyConfig());
    // HAProxy cannot tell which port it got for port 0, so the OS names a
    // free one first; another process may take it meanwhile, hence the retries.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const child = spawn("haproxy", ["-f", config, "-db"], {
        env: { ...process.env, CHATROOM_LB_ADDR: `127.0.0.1:${port}` },
        stdio: ["ignore", "pipe", "pipe"],
      });
      this.haproxy = child;
      for (const stream of [child.stdout!, child.stderr!]) {
        stream.on("data", (chunk: Buffer) => this.haproxyOutput.push(chunk.toString()));
      }
      const url = `http://127.0.0.1:${port}`;
      if (await answers(`${url}/api/health`, child)) {
        this.url = url;
        return;
      }
      await this.stopHaproxy();
      if (attempt === 3) throw new Error(`HAProxy did not answer on ${url}; its output:\n${this.haproxyOutput.join("")}`);
    }
  }

  private async stopHaproxy(): Promise<void> {
    const child = this.haproxy;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  /** What HAProxy and every node wrote so far. */
  logs(): string {
    const nodes = this.nodes.map((node, i) => `==== node${i + 1} (${node.url})\n${node.logs()}`);
    return [...nodes, `==== HAProxy (${this.url})\n${this.haproxyOutput.join("")}`].join("\n");
  }

  /** Stops HAProxy and the nodes; drops the schema and deletes the Redis keys. */
  async remove(): Promise<void> {
    await this.stopHaproxy();
    await Promise.all(this.nodes.map((node) => node.remove()));
    rmSync(this.dir, { recursive: true, force: true });
    psql(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    const keys = execFileSync(
      "redis-cli",
      ["-h", REDIS.host, "-p", REDIS.port, "--scan", "--pattern", `${this.redisPrefix}:*`],
      { encoding: "utf8" },
    )
      .split("\n")
      .filter(Boolean);
    for (let i = 0; i < keys.length; i += 500) {
      execFileSync("redis-cli", ["-h", REDIS.host, "-p", REDIS.port, "DEL", ...keys.slice(i, i + 500)]);
    }
  }
}

/** Runs one SQL statement on the test database as the superuser. */
function psql(sql: string): void {
  const { host, port, user, database } = POSTGRES;
  execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", user, "-d", database, "-c", sql], {
    // Not the notices a DROP … CASCADE prints for every table.
    env: { ...process.env, PGOPTIONS: "-c client_min_messages=warning" },
  });
}

/** A port the OS says is free now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** Whether `url` answers 200 within 10 s, while `child` (what serves it) runs. */
async function answers(url: string, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      if ((await fetch(url)).status === 200) return true;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

/**
 * A fixture giving each test a cluster of its own (`size` nodes started
 * with `extraArgs`, HAProxy in front); the output of every node and of
 * HAProxy is attached to the test when it fails.
 */
export function clusterFixture(size = 2, extraArgs: string[] = []) {
  return async ({}, use: (cluster: Cluster) => Promise<void>, testInfo: TestInfo): Promise<void> => {
    const cluster = new Cluster(size, extraArgs);
    try {
      await cluster.start();
      await use(cluster);
    } finally {
      await cluster.remove();
      if (testInfo.status !== testInfo.expectedStatus) {
        await testInfo.attach("cluster output", { body: cluster.logs(), contentType: "text/plain" });
      }
    }
  };
}

/** Size and time zone of a browser context's window. */
type PageOptions = { width?: number; height?: number; timezoneId?: string };

type Fixtures = {
  server: Server;
  /**
   * Opens the room in a new browser context (a separate user: its own
   * cookies and storage) and waits for hydration. Errors logged by any page
   * of that context fail the test.
   */
  openPage: (options?: PageOptions) => Promise<Page>;
};

/**
 * Runs `use` with a function that opens a URL in a new browser context
 * and waits for hydration; afterwards closes the contexts and fails the
 * test if any of their pages logged an error.
 */
async function withContexts(
  browser: Browser,
  use: (open: (url: string, options?: PageOptions) => Promise<Page>) => Promise<void>,
): Promise<void> {
  const contexts: BrowserContext[] = [];
  const errors: string[] = [];
  await use(async (url, { width = 1100, height = 700, timezoneId } = {}) => {
    const options: BrowserContextOptions = { viewport: { width, height } };
    if (timezoneId) options.timezoneId = timezoneId;
    const context = await browser.newContext(options);
    contexts.push(context);
    // Every page of the context, including tabs the test opens later.
    context.on("page", (page) => watchErrors(page, errors));
    const page = await context.newPage();
    await gotoHydrated(page, url);
    return page;
  });
  for (const context of contexts) await context.close();
  expect(errors, "errors logged by the pages").toEqual([]);
}

export const test = base.extend<Fixtures>({
  server: serverFixture(),

  openPage: async ({ browser, server }, use) => {
    await withContexts(browser, (open) => use((options) => open(server.url, options)));
  },
});

type ClusterFixtures = {
  /** Two nodes open to guests (the demo's clients), behind HAProxy. */
  cluster: Cluster;
  /**
   * Opens the room at `url` (HAProxy's, or one node's) in a new browser
   * context, as `openPage` does.
   */
  openPageAt: (url: string, options?: PageOptions) => Promise<Page>;
};

/** Fixtures for tests of several nodes: no single server, a cluster instead. */
export const clusterTest = base.extend<ClusterFixtures>({
  cluster: clusterFixture(2, ["--allow-guests"]),

  openPageAt: async ({ browser }, use) => {
    await withContexts(browser, use);
  },
});

/** Opens `url` and waits until the app has hydrated: clicks before that are lost. */
export async function gotoHydrated(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.locator("body[data-hydrated]").waitFor();
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchErrors(page: Page, errors: string[]): void {
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    // The browser itself logs two things the page cannot prevent: refused
    // WebSocket connections while the server restarts, and the API's
    // refusals (401 from /api/me when nobody is logged in, 401/409/422/429 on
    // the forms). The page's own code logs nothing as an error.
    const browserNoise =
      /WebSocket connection to .* failed/.test(message.text()) ||
      /Failed to load resource: the server responded with a status of (401|409|422|429)/.test(message.text());
    if (message.type() === "error" && !browserNoise) {
      errors.push(`console: ${message.text()}`);
    }
  });
}

/** The password every test account gets. */
export const PASSWORD = "correct horse battery";

/** Registers `name` through the form and lands in the room. */
export async function enterRoom(page: Page, name: string): Promise<void> {
  await page.locator("#show-register").click();
  await page.locator("#username").fill(name);
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#auth-submit").click();
  await expect(page.locator("main#room")).toBeVisible();
  // Attached, not visible: on a phone the list is in a closed drawer.
  await expect(page.locator("#online li", { hasText: name })).toBeAttached();
}

/** Logs `name` in through the form and lands in the room. */
export async function logIn(page: Page, name: string): Promise<void> {
  await page.locator("#show-login").click();
  await page.locator("#username").fill(name);
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#auth-submit").click();
  await expect(page.locator("main#room")).toBeVisible();
}

/** Registers `name` through the API; returns its login token (for non-browser clients). */
export async function registerToken(server: { url: string }, name: string): Promise<string> {
  const response = await fetch(`${server.url}/api/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: name, password: PASSWORD }),
  });
  expect(response.status).toBe(201);
  return (await response.json()).token;
}

/** Types a message into the composer and presses Enter, without waiting for the server. */
export async function write(page: Page, text: string): Promise<void> {
  await page.locator("#message").fill(text);
  await page.locator("#message").press("Enter");
}

/** Types a message into the composer and sends it with Enter; waits for the server's acknowledgement. */
export async function say(page: Page, text: string): Promise<void> {
  await write(page, text);
  await expect(page.locator("li.message.own .text", { hasText: text }).last()).toBeVisible();
}

/** Reloads the page and waits for hydration. */
export async function reloadHydrated(page: Page): Promise<void> {
  await page.reload();
  await page.locator("body[data-hydrated]").waitFor();
}

export type { Browser, Page };
export { expect };

/**
 * The same fixtures, on a server whose rate limits a script writing a long
 * history in seconds does not reach (people do: see limits.spec.ts).
 */
export const chattyTest = test.extend<{ server: Server }>({
  server: serverFixture([
    "--message-burst",
    "1000",
    "--message-rate",
    "60000",
    "--event-burst",
    "1000",
    "--events-in-flight",
    "1000",
  ]),
});
