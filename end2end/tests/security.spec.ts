// The page works under its Content-Security-Policy, and a page of another
// origin cannot use the login cookie to open a socket.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test, expect, enterRoom, say, type Page } from "./fixtures";

/** What the page's policy refused, from console messages and `securitypolicyviolation` events. */
async function watchPolicy(page: Page): Promise<() => Promise<string[]>> {
  const seen: string[] = [];
  page.on("console", (message) => {
    if (/Content[- ]Security[- ]Policy/i.test(message.text())) seen.push(`console: ${message.text()}`);
  });
  // Registered before any page script runs; init scripts are not subject to the policy.
  await page.addInitScript(() => {
    const log: string[] = [];
    (window as unknown as { policyViolations: string[] }).policyViolations = log;
    document.addEventListener("securitypolicyviolation", (event) =>
      log.push(`${event.violatedDirective}: ${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`),
    );
  });
  return async () => [
    ...seen,
    ...(await page.evaluate(() => (window as unknown as { policyViolations: string[] }).policyViolations ?? [])),
  ];
}

test("the room works under the Content-Security-Policy without a single violation", async ({ openPage, server }) => {
  const alice = await openPage();
  const bob = await openPage();
  const violations = await Promise.all([alice, bob].map(watchPolicy));
  // Reload, so the watchers are in place from the document's first byte.
  const responses = await Promise.all([alice, bob].map((page) => page.reload()));
  for (const page of [alice, bob]) await page.locator("body[data-hydrated]").waitFor();

  const policy = responses[0]!.headers()["content-security-policy"];
  expect(policy).toContain("script-src 'self' 'nonce-");
  expect(policy).toContain("style-src 'self';");
  expect(policy).not.toContain("unsafe-inline");
  const nonce = /'nonce-([^']+)'/.exec(policy)![1];
  expect(responses[1]!.headers()["content-security-policy"]).not.toContain(nonce);

  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await say(alice, "hello under a strict policy");
  await say(bob, "and back");
  await expect(alice.locator("li.message", { hasText: "and back" })).toBeVisible();

  // Name colours come from the stylesheet's classes, not `style` attributes.
  const author = bob.locator("li.message", { hasText: "hello under" });
  await expect(author).toHaveClass(/\bname-c\d+\b/);
  await expect(author).not.toHaveAttribute("style");
  const colour = await author.locator(".author").evaluate((el) => getComputedStyle(el).color);
  const text = await bob.locator("body").evaluate((el) => getComputedStyle(el).color);
  expect(colour, "the name has its colour").not.toBe(text);
  await expect(bob.locator("#online li", { hasText: "alice" })).toHaveClass(/\bname-c\d+\b/);

  // Logging out and in again runs the rest of the page's code.
  await alice.locator("#logout").click();
  await expect(alice.locator("#auth")).toBeVisible();

  for (const seen of violations) expect(await seen()).toEqual([]);
  expect(server.logs()).not.toContain("cross-site connection refused");
});

test("the violation watcher sees a violation", async ({ browser, server }) => {
  // The check above can fail: an inline style is refused and reported.
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = await watchPolicy(page);
  await page.goto(server.url);
  await page.evaluate(() => document.body.setAttribute("style", "color: red"));
  await expect.poll(seen).not.toEqual([]);
  await context.close();
});

/**
 * Opens a Socket.IO connection from `page` by hand (Engine.IO open, then
 * CONNECT with no auth: the cookie is what authenticates) and returns the
 * server's answer to the CONNECT: `40…` (connected) or `44…` (refused).
 */
function connectFrom(page: Page, serverUrl: string): Promise<string> {
  return page.evaluate((url) => {
    return new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`${url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`);
      ws.onmessage = (event) => {
        const frame = String(event.data);
        if (frame.startsWith("0")) ws.send("40");
        else if (frame.startsWith("40") || frame.startsWith("44")) {
          ws.close();
          resolve(frame);
        }
      };
      ws.onerror = () => reject(new Error("the WebSocket failed"));
    });
  }, serverUrl);
}

test("a page of another origin cannot use the login cookie", async ({ openPage, server }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");

  // The server's own page: the cookie opens the socket.
  expect(await connectFrom(alice, server.url)).toMatch(/^40\{"sid"/);

  // Another port of the same host is the same site: SameSite=Strict still
  // sends the cookie, and only the Origin rule stops it. A bare page there,
  // from a server of the test's own, in alice's browser. It names an empty
  // icon so the browser asks it for nothing after the page loads: a late
  // favicon request to the closed server would log a connection error.
  const elsewhere = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end('<!DOCTYPE html><title>elsewhere</title><link rel="icon" href="data:,">');
  });
  await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
  const { port } = elsewhere.address() as AddressInfo;
  const evil = await alice.context().newPage();
  try {
    await evil.goto(`http://127.0.0.1:${port}/`);
    expect(await connectFrom(evil, server.url)).toBe(
      '44{"message":"cross-site connection refused: open the chat from its own address"}',
    );
  } finally {
    // The page goes first, so nothing of it can reach for the closed server.
    await evil.close();
    await new Promise((resolve) => elsewhere.close(resolve));
  }
});
