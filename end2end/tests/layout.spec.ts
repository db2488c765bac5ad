// The header and the side panel on a phone and with awkward names, and
// what the header says about the connection.
import { test, expect, enterRoom, type Page } from "./fixtures";

/** Fails unless `selector`'s box lies inside the page's `width`. */
async function insideWidth(page: Page, selector: string, width: number): Promise<void> {
  const box = await page.locator(selector).boundingBox();
  expect(box, selector).not.toBeNull();
  expect(box!.x, selector).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width, selector).toBeLessThanOrEqual(width);
}

test("on a phone the online list is a drawer behind the header's button", async ({ openPage }) => {
  const page = await openPage({ width: 375, height: 740 });
  await enterRoom(page, "pat");
  const other = await openPage();
  await enterRoom(other, "quinn");
  const toggle = page.locator("#online-toggle");
  const panel = page.locator("#side-panel");
  await expect(toggle).toHaveText("2 online");
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(toggle).toHaveAttribute("aria-controls", "side-panel");
  await expect(panel).toBeHidden();

  // Opens over the stream, with the keyboard inside; Escape closes it and
  // gives the keyboard back.
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  await expect(panel).toBeVisible();
  await expect(page.locator("#online li")).toHaveText(["pat", "quinn"]);
  await expect(page.locator(".drawer-close")).toBeFocused();
  await insideWidth(page, "#side-panel", 375);
  await page.keyboard.press("Escape");
  await expect(panel).toBeHidden();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(toggle).toBeFocused();

  // The close button, and a click beside the drawer, close it too.
  await toggle.click();
  await page.locator(".drawer-close").click();
  await expect(panel).toBeHidden();
  await toggle.click();
  await expect(panel).toBeVisible();
  await page.locator(".backdrop").click({ position: { x: 10, y: 400 } });
  await expect(panel).toBeHidden();
  // So does the keyboard leaving it for the page it covers.
  await toggle.click();
  await expect(page.locator(".drawer-close")).toBeFocused();
  await page.keyboard.press("Shift+Tab");
  await expect(panel).toBeHidden();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");

  // The button follows the count (a logout leaves at once).
  await other.locator("#logout").click();
  await expect(toggle).toHaveText("1 online");
});

test("on a wide screen the panel stays beside the stream and needs no button", async ({ openPage }) => {
  const page = await openPage({ width: 1100 });
  await enterRoom(page, "wide");
  await expect(page.locator("#side-panel")).toBeVisible();
  await expect(page.locator("#online-toggle")).toBeHidden();
  await expect(page.locator(".drawer-close")).toBeHidden();
});

test("a 32-character name is cut short and leaves the ways out on a phone's screen", async ({ openPage }) => {
  const name = "W".repeat(32);
  const page = await openPage({ width: 375, height: 740 });
  await enterRoom(page, name);
  for (const selector of ["#logout", "#logout-all", "#theme", "#online-toggle", "#whoami"]) {
    await expect(page.locator(selector), selector).toBeInViewport({ ratio: 1 });
    await insideWidth(page, selector, 375);
  }
  // Cut short (the whole name is its title), and the page does not scroll sideways.
  const whoami = page.locator("#whoami");
  await expect(whoami).toHaveAttribute("title", name);
  expect(await whoami.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  // In the drawer's list too.
  await page.locator("#online-toggle").click();
  const row = page.locator("#online li", { hasText: name });
  await expect(row).toBeVisible();
  expect(await row.evaluate((el) => el.scrollWidth > el.clientWidth)).toBe(true);
  const panel = await page.locator("#side-panel").boundingBox();
  const box = await row.boundingBox();
  expect(box!.x + box!.width).toBeLessThanOrEqual(panel!.x + panel!.width);
});

test("a name of stacked marks is clipped to its row in the header and the side panel", async ({ openPage }) => {
  // Three marks above every letter, the most a name may have (none of them
  // composes with Z, so normalisation keeps them all).
  const name = "Z\u030D\u030E\u0310".repeat(8);
  const page = await openPage({ width: 1100 });
  await enterRoom(page, name);
  for (const selector of ["#whoami", "#online li.me", "#activity-log li"]) {
    const element = page.locator(selector);
    await expect(element).toBeVisible();
    // Clipped: the marks stacked above the line cannot paint over the rows
    // around it.
    await expect(element).toHaveCSS("overflow-y", "hidden");
    await expect(element).toHaveCSS("overflow-x", "hidden");
  }
  // The row stays one line high.
  const row = await page.locator("#online li.me").boundingBox();
  const heading = await page.locator("#online-count").boundingBox();
  expect(row!.height).toBeLessThan(heading!.height * 2);
});

test("the header says nothing about a connection when logged out, before or after", async ({ openPage }) => {
  const page = await openPage();
  const status = page.locator("#connection");
  // Logged out: no "connecting…" forever.
  await expect(status).toHaveAttribute("data-state", "none");
  await expect(status).toHaveText("");
  await enterRoom(page, "sam");
  await expect(status).toHaveAttribute("data-state", "online");
  await expect(status).toHaveText("online");
  // Logged out again: no red "closed".
  await page.locator("#logout").click();
  await expect(page.locator("#auth")).toBeVisible();
  await expect(status).toHaveAttribute("data-state", "none");
  await expect(status).toHaveText("");
});
