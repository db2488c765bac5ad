// The first response already holds the page the visitor should see: the
// room with its recent history for a logged-in visitor, so a reload never
// flashes the login form; and the forms (log in, log out) work before the
// WASM has loaded.
import { test, expect, enterRoom, gotoHydrated, say, PASSWORD } from "./fixtures";

test("a logged-in reload shows the room and its history from the first frame, never the login form", async ({
  openPage,
}) => {
  const page = await openPage();
  await enterRoom(page, "alice");
  await say(page, "said before the reload");

  // From the very first parse of the document: remember if the login form
  // ever existed, and whether the room was there before any script ran.
  await page.addInitScript(() => {
    const w = window as unknown as { sawLoginForm: boolean; roomAtParse: boolean | null };
    w.sawLoginForm = false;
    w.roomAtParse = null;
    new MutationObserver(() => {
      if (document.querySelector("#auth")) w.sawLoginForm = true;
    }).observe(document, { childList: true, subtree: true });
    document.addEventListener("DOMContentLoaded", () => {
      w.roomAtParse = document.querySelector("main#room") !== null;
      if (document.querySelector("#auth")) w.sawLoginForm = true;
    });
  });
  await page.reload();
  await page.locator("body[data-hydrated]").waitFor();
  const seen = await page.evaluate(() => {
    const w = window as unknown as { sawLoginForm: boolean; roomAtParse: boolean | null };
    return { sawLoginForm: w.sawLoginForm, roomAtParse: w.roomAtParse };
  });
  expect(seen).toEqual({ sawLoginForm: false, roomAtParse: true });
  await expect(page.locator("li.message.own .text", { hasText: "said before the reload" })).toBeVisible();
  await expect(page.locator("#whoami")).toHaveText("alice");
  // Hydrated on top of the server's room: the page still chats.
  await say(page, "said after the reload");
});

test("after a server-rendered reload, times are on the reader's clock, not the server's", async ({ openPage }) => {
  // Never a whole number of hours from UTC: a time left as the server
  // rendered it shows up.
  const timeZone = "Asia/Kathmandu";
  const page = await openPage({ timezoneId: timeZone });
  await enterRoom(page, "alice");
  await say(page, "what time is it?");
  await page.reload();
  await page.locator("body[data-hydrated]").waitFor();
  const message = page.locator("li.message.own", { hasText: "what time is it?" });
  const datetime = await message.locator("time").getAttribute("datetime");
  const local = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  await expect(message.locator("time")).toHaveText(local.format(new Date(datetime!)));
});

test("the server's HTML holds the room, the history and the online list, as text", async ({ openPage, server }) => {
  const page = await openPage();
  await enterRoom(page, "alice");
  const hostile = "</script><script>window.pwned=1</script><b>bold</b>";
  await say(page, hostile);

  // The raw first response, with the page's cookie.
  const response = await page.request.get(server.url);
  expect(response.status()).toBe(200);
  const html = await response.text();
  expect(html).toContain('id="room"');
  expect(html).not.toContain('id="auth"');
  expect(html).toContain("alice");
  // The message is in the markup as escaped text, and nowhere as markup.
  expect(html).toContain("&lt;/script&gt;&lt;script&gt;window.pwned=1");
  expect(html).not.toContain("<script>window.pwned=1");
  expect(html).not.toContain("<b>bold</b>");

  // A visitor without the cookie gets the login form.
  const anonymous = await fetch(server.url);
  const anonymousHtml = await anonymous.text();
  expect(anonymousHtml).toContain('id="auth"');
  expect(anonymousHtml).not.toContain('id="room"');
  expect(anonymousHtml).not.toContain("window.pwned");
});

test("before the WASM loads, logging in lands in the room and logging out on the login form", async ({
  browser,
  server,
}) => {
  // Someone else has talked already.
  const other = await browser.newContext();
  const bob = await other.newPage();
  await gotoHydrated(bob, server.url);
  await enterRoom(bob, "bob");
  await say(bob, "hello from bob");

  // A register through the page, whose WASM never arrives.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.route("**/*.wasm", (route) => route.abort());
  await page.goto(`${server.url}/?mode=register`);
  await page.locator("#username").fill("carol");
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#auth-submit").click();
  await expect(page.locator("main#room")).toBeVisible();
  await expect(page.locator("#whoami")).toHaveText("carol");
  await expect(page.locator("li.message .text", { hasText: "hello from bob" })).toBeVisible();
  await expect(page.locator("#online li", { hasText: "carol" })).toBeVisible();
  expect(await page.locator("body[data-hydrated]").count()).toBe(0);

  // Logging out works without the WASM too, and the cookie is gone.
  await page.locator("#logout").click();
  await expect(page.locator("#auth")).toBeVisible();
  expect((await context.cookies()).find((c) => c.name === "chatroom_token")).toBeUndefined();
  await page.reload();
  await expect(page.locator("#auth")).toBeVisible();

  // With the WASM, the same login from the form lands in a live room.
  await page.unroute("**/*.wasm");
  await gotoHydrated(page, server.url);
  await page.locator("#username").fill("carol");
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#auth-submit").click();
  await expect(page.locator("main#room")).toBeVisible();
  await say(page, "carol is live");
  await expect(bob.locator("li.message .text", { hasText: "carol is live" })).toBeVisible();
  await context.close();
  await other.close();
});

/** Holds the page's WASM back until the returned function is called. */
async function holdWasm(page: import("@playwright/test").Page): Promise<() => void> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/*.wasm", async (route) => {
    await gate;
    await route.continue();
  });
  return release;
}

test("what is typed while the WASM loads is kept, and Send waits for it", async ({ browser, server }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  let release = await holdWasm(page);
  await page.goto(`${server.url}/?mode=register`, { waitUntil: "domcontentloaded" });
  await page.locator("#username").fill("dora");
  await page.locator("#password").fill(PASSWORD);
  release();
  await page.locator("body[data-hydrated]").waitFor();
  await expect(page.locator("#username")).toHaveValue("dora");
  await expect(page.locator("#password")).toHaveValue(PASSWORD);
  // Submitted after hydration, in place: the typed fields are what counts.
  await page.locator("#auth-submit").click();
  await expect(page.locator("main#room")).toBeVisible();
  await expect(page.locator("#whoami")).toHaveText("dora");

  // The room, server-rendered: a draft typed before hydration survives it,
  // and Send is disabled until the page can send.
  await page.unroute("**/*.wasm");
  release = await holdWasm(page);
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.locator("#message").fill("typed early");
  await expect(page.locator("#composer button[type=submit]")).toBeDisabled();
  release();
  await page.locator("body[data-hydrated]").waitFor();
  await expect(page.locator("#message")).toHaveValue("typed early");
  await expect(page.locator("#composer button[type=submit]")).toBeEnabled();
  await page.locator("#message").press("Enter");
  await expect(page.locator("li.message.own .text", { hasText: "typed early" })).toBeVisible();
  await context.close();
});
