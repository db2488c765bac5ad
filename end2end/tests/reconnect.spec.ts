// The page notices the server going away, reconnects by itself, and is back
// in the room under the same name.
import { test, expect, enterRoom, say } from "./fixtures";

test("pages reconnect and re-enter after a server restart", async ({ openPage, server }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await expect(alice.locator("#connection")).toHaveAttribute("data-state", "online");

  await server.stop();
  for (const page of [alice, bob]) {
    await expect(page.locator("#connection")).toHaveAttribute("data-state", "reconnecting");
    await expect(page.locator("#connection")).toHaveText(/^reconnecting/);
  }
  await server.start(new URL(server.url).host);

  for (const page of [alice, bob]) {
    await expect(page.locator("#connection")).toHaveAttribute("data-state", "online", { timeout: 20_000 });
    await expect(page.locator("#connection")).toHaveText("online");
    // Both are back; who came back first is down to the reconnection jitter.
    await expect.poll(async () => (await page.locator("#online li").allInnerTexts()).sort()).toEqual(["alice", "bob"]);
  }
  await say(alice, "back after the restart");
  await expect(bob.locator("li.message", { hasText: "back after the restart" })).toBeVisible();
});
