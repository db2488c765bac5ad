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
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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

  /** `extraArgs` go to every start (say, `--allow-guests`). */
  constructor(private readonly extraArgs: string[] = []) {}

  /** Starts the server on `addr` (port 0: any free port) and waits until it listens. */
  async start(addr = "127.0.0.1:0"): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, LEPTOS_SITE_ROOT: siteRoot, RUST_LOG: "info", NO_COLOR: "1" };
    // The test's own SQLite file, whatever the shell running the tests says.
    delete env.DATABASE_URL;
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

type Fixtures = {
  server: Server;
  /**
   * Opens the room in a new browser context (a separate user: its own
   * cookies and storage) and waits for hydration. Errors logged by any page
   * of that context fail the test.
   */
  openPage: (options?: { width?: number; height?: number; timezoneId?: string }) => Promise<Page>;
};

export const test = base.extend<Fixtures>({
  server: serverFixture(),

  openPage: async ({ browser, server }, use) => {
    const contexts: BrowserContext[] = [];
    const errors: string[] = [];
    await use(async ({ width = 1100, height = 700, timezoneId } = {}) => {
      const options: BrowserContextOptions = { viewport: { width, height } };
      if (timezoneId) options.timezoneId = timezoneId;
      const context = await browser.newContext(options);
      contexts.push(context);
      // Every page of the context, including tabs the test opens later.
      context.on("page", (page) => watchErrors(page, errors));
      const page = await context.newPage();
      await gotoHydrated(page, server.url);
      return page;
    });
    for (const context of contexts) await context.close();
    expect(errors, "errors logged by the pages").toEqual([]);
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
  await expect(page.locator("#online li", { hasText: name })).toBeVisible();
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
export async function registerToken(server: Server, name: string): Promise<string> {
  const response = await fetch(`${server.url}/api/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: name, password: PASSWORD }),
  });
  expect(response.status).toBe(201);
  return (await response.json()).token;
}

/** Types a message into the composer and sends it with Enter; waits for the server's acknowledgement. */
export async function say(page: Page, text: string): Promise<void> {
  await page.locator("#message").fill(text);
  await page.locator("#message").press("Enter");
  await expect(page.locator("li.message.own .text", { hasText: text }).last()).toBeVisible();
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
