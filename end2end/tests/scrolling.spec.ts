// The stream follows the newest message, unless the reader scrolled up to
// read older ones.
import { io } from "socket.io-client";
import { chattyTest as test, expect, enterRoom, registerToken, type Page } from "./fixtures";

/** How far the message list is from its bottom, in pixels. */
function gapToBottom(page: Page): Promise<number> {
  return page.locator("#messages").evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
}

test("the list keeps to the newest message unless the reader scrolled up", async ({ openPage, server }) => {
  const alice = await openPage({ width: 900, height: 500 });
  await enterRoom(alice, "alice");
  const carol = io(server.url, { transports: ["websocket"], auth: { token: await registerToken(server, "carol") } });
  try {
    await carol.timeout(5_000).emitWithAck("add user", "carol");
    for (let i = 1; i <= 40; i++) await carol.timeout(5_000).emitWithAck("new message", `message ${i}`);
    await expect(alice.locator("li.message", { hasText: "message 40" })).toBeVisible();
    await expect.poll(() => gapToBottom(alice)).toBeLessThan(5);

    // Reading older messages: a new one arrives but the view stays put.
    await alice.locator("#messages").evaluate((el) => { el.scrollTop = 0; });
    await carol.timeout(5_000).emitWithAck("new message", "while you were reading");
    await expect(alice.locator("li.message", { hasText: "while you were reading" })).toHaveCount(1);
    expect(await alice.locator("#messages").evaluate((el) => el.scrollTop)).toBe(0);
    await expect(alice.locator("li.message", { hasText: "message 1" }).first()).toBeInViewport();

    // Back at the bottom, it follows again.
    await alice.locator("#messages").evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await carol.timeout(5_000).emitWithAck("new message", "latest");
    await expect(alice.locator("li.message", { hasText: "latest" })).toBeInViewport();
    await expect.poll(() => gapToBottom(alice)).toBeLessThan(5);
  } finally {
    carol.disconnect();
  }
});
