// The colour theme: the system's until the user picks one in the header;
// the pick is remembered, and applied before the page's own code runs (no
// white flash for a dark-theme user).
import { test, expect, enterRoom, type Page } from "./fixtures";

/** The page background, as the browser computed it. */
async function background(page: Page): Promise<string> {
  return page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
}

// --bg in main.css, light and dark.
const LIGHT_BG = "rgb(246, 247, 249)";
const DARK_BG = "rgb(18, 20, 24)";

test("the theme follows the system until one is chosen", async ({ openPage }) => {
  const page = await openPage();
  await expect(page.locator("#theme")).toHaveValue("system");
  await page.emulateMedia({ colorScheme: "dark" });
  expect(await background(page)).toBe(DARK_BG);
  await page.emulateMedia({ colorScheme: "light" });
  expect(await background(page)).toBe(LIGHT_BG);
  // Chosen: the system no longer decides.
  await page.locator("#theme").selectOption("dark");
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  expect(await background(page)).toBe(DARK_BG);
  await page.locator("#theme").selectOption("light");
  await page.emulateMedia({ colorScheme: "dark" });
  expect(await background(page)).toBe(LIGHT_BG);
  // Back to the system's.
  await page.locator("#theme").selectOption("system");
  await expect(page.locator("html")).not.toHaveAttribute("data-theme");
  expect(await background(page)).toBe(DARK_BG);
});

test("the dark theme is remembered across a reload, and colours the room", async ({ openPage }) => {
  const page = await openPage();
  await page.emulateMedia({ colorScheme: "light" });
  await page.locator("#theme").selectOption("dark");
  await page.reload();
  await page.locator("body[data-hydrated]").waitFor();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expect(page.locator("#theme")).toHaveValue("dark");
  expect(await background(page)).toBe(DARK_BG);
  // The room's parts take the dark palette too.
  await enterRoom(page, "nox");
  await page.locator("#message").fill("in the dark");
  await page.locator("#message").press("Enter");
  const bubble = page.locator("li.message.own");
  await expect(bubble).toBeVisible();
  // --bubble-own and --fg, dark.
  await expect(bubble).toHaveCSS("background-color", "rgb(29, 43, 66)");
  await expect(bubble.locator(".text")).toHaveCSS("color", "rgb(230, 232, 238)");
});

test("a remembered theme applies before the app's code runs", async ({ browser, server }) => {
  // A browser that chose dark earlier, on a light system; the app's script
  // and WebAssembly never arrive, so only the inline script in <head> (which
  // the Content-Security-Policy must allow by its nonce) can apply it.
  const context = await browser.newContext({
    colorScheme: "light",
    storageState: {
      cookies: [],
      origins: [{ origin: server.url, localStorage: [{ name: "chatroom.theme", value: "dark" }] }],
    },
  });
  try {
    const page = await context.newPage();
    const refusedScripts: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy/.test(m.text())) refusedScripts.push(m.text());
    });
    await page.route(/\/pkg\//, (route) =>
      route.request().url().endsWith(".css") ? route.continue() : route.abort(),
    );
    await page.goto(server.url);
    await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
    expect(await background(page)).toBe(DARK_BG);
    expect(refusedScripts).toEqual([]);
  } finally {
    await context.close();
  }
});
