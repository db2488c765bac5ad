// Keyboard-only use, screen-reader announcements, and a phone-width screen.
import { test, expect, enterRoom } from "./fixtures";

test("register and send with the keyboard alone", async ({ openPage }) => {
  const page = await openPage();
  await expect(page.locator("#username")).toBeFocused();
  // Back to the "Register" switch, press it, then fill the form.
  await page.keyboard.press("Shift+Tab");
  await expect(page.locator("#show-register")).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.locator("#show-register")).toHaveAttribute("aria-pressed", "true");
  await page.keyboard.press("Tab");
  await expect(page.locator("#username")).toBeFocused();
  await page.keyboard.type("kim");
  await page.keyboard.press("Tab");
  await page.keyboard.type("a long enough password");
  await page.keyboard.press("Enter");
  await expect(page.locator("main#room")).toBeVisible();
  await expect(page.locator("#message")).toBeFocused();
  await page.keyboard.type("typed without a mouse");
  await page.keyboard.press("Enter");
  await expect(page.locator("li.message.own .text")).toHaveText("typed without a mouse");
  // Tab reaches the send button from the composer.
  await page.keyboard.press("Tab");
  await expect(page.locator("#composer button[type=submit]")).toBeFocused();
  // New messages are announced.
  await expect(page.locator("#messages")).toHaveAttribute("aria-live", "polite");
  await expect(page.locator("#messages")).toHaveAttribute("role", "log");
});

test("the room works at phone width", async ({ openPage }) => {
  const page = await openPage({ width: 375, height: 700 });
  await enterRoom(page, "pat");
  await page.locator("#message").fill("small screen, " + "long words ".repeat(20));
  await page.locator("#message").press("Enter");
  await expect(page.locator("li.message.own")).toBeVisible();
  await expect(page.locator("#message")).toBeInViewport();
  // The online list is a drawer, a tap away.
  await page.locator("#online-toggle").click();
  await expect(page.locator("#online-count")).toBeInViewport();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(375);
});
