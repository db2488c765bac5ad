// What people type is text, never HTML.
import { test, expect, enterRoom, say } from "./fixtures";

test("a message with HTML shows as text for everyone", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  let dialogs = 0;
  for (const page of [alice, bob]) page.on("dialog", async (d) => { dialogs++; await d.dismiss(); });
  await enterRoom(alice, "alice");
  await enterRoom(bob, "<i>bob</i>");

  const text = "<b>hi</b> & <img src=x onerror=alert(1)> &amp;";
  await say(alice, text);
  for (const page of [alice, bob]) {
    const message = page.locator("li.message", { hasText: "<b>hi</b>" });
    await expect(message.locator(".text")).toHaveText(text);
    await expect(page.locator("#messages b, #messages img")).toHaveCount(0);
  }
  await expect(alice.locator("#online li", { hasText: "<i>bob</i>" })).toBeVisible();
  await expect(alice.locator("#online i")).toHaveCount(0);
  expect(dialogs).toBe(0);
});
