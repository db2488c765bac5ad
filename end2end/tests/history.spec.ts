// Nothing said is lost: newcomers see the conversation, scrollback reaches
// its beginning, a page that was offline catches up, and a restart keeps it.
import { io } from "socket.io-client";
import { chattyTest as test, expect, enterRoom, registerToken, say } from "./fixtures";

test("a newcomer sees the recent conversation and scrolls back to its beginning", async ({ openPage, server }) => {
  const alice = io(server.url, { transports: ["websocket"], auth: { token: await registerToken(server, "alice") } });
  try {
    await alice.timeout(5_000).emitWithAck("add user", "alice");
    for (let i = 1; i <= 70; i++) await alice.timeout(5_000).emitWithAck("new message", `m${i}`);

    const carol = await openPage({ width: 900, height: 600 });
    await enterRoom(carol, "carol");
    const list = carol.locator("#messages");
    // The newest page: 50 items (m22..m70 and carol's join), not the oldest.
    await expect(list.locator("li.message").last()).toContainText("m70");
    await expect(list.locator("li.message .text").first()).toHaveText("m22");
    await expect(carol.locator("#load-older")).toBeVisible();

    // Scrolling to the top loads the page before, and the reader stays on m22.
    await list.evaluate((el) => { el.scrollTop = 0; });
    await expect(list.locator("li.message .text").first()).toHaveText("m1");
    await expect(list.locator("li.message .text", { hasText: /^m22$/ })).toBeInViewport();
    expect(await list.evaluate((el) => el.scrollTop)).toBeGreaterThan(0);

    // At the very top, the page says the conversation starts here.
    await list.evaluate((el) => { el.scrollTop = 0; });
    await expect(carol.locator("#beginning")).toHaveText("This is the beginning of the conversation.");
    await expect(list.locator("li.activity").first()).toContainText("alice joined");
    await expect(list.locator("li.message")).toHaveCount(70);
  } finally {
    alice.disconnect();
  }
});

test("a page that was offline shows every missed message once", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await say(alice, "before going offline");
  await expect(bob.locator("li.message", { hasText: "before going offline" })).toBeVisible();

  await bob.context().setOffline(true);
  await expect(bob.locator("#connection")).not.toHaveAttribute("data-state", "online");
  for (const text of ["missed one", "missed two", "missed three"]) await say(alice, text);

  await bob.context().setOffline(false);
  await expect(bob.locator("#connection")).toHaveAttribute("data-state", "online", { timeout: 20_000 });
  for (const text of ["missed one", "missed two", "missed three"]) {
    await expect(bob.locator("li.message .text", { hasText: text })).toHaveCount(1);
  }
  const texts = await bob.locator("li.message .text").allInnerTexts();
  expect(texts).toEqual(["before going offline", "missed one", "missed two", "missed three"]);
  // And live messages flow again.
  await say(alice, "welcome back");
  await expect(bob.locator("li.message .text", { hasText: "welcome back" })).toHaveCount(1);
  // Back within the grace period: for alice, bob never left.
  await say(bob, "I was only offline a moment");
  await expect(alice.locator("li.message .text", { hasText: "I was only offline" })).toHaveCount(1);
  await expect(alice.locator("#messages li.activity", { hasText: "bob left" })).toHaveCount(0);
  await expect(alice.locator("#messages li.activity", { hasText: "bob joined" })).toHaveCount(1);
});

test("the conversation is still there after a server restart", async ({ openPage, server }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  await say(alice, "kept across restarts");
  await server.restart();
  await expect(alice.locator("#connection")).toHaveAttribute("data-state", "online", { timeout: 20_000 });
  await expect(alice.locator("li.message .text", { hasText: "kept across restarts" })).toHaveCount(1);

  const dave = await openPage();
  await enterRoom(dave, "dave");
  await expect(dave.locator("li.message", { hasText: "kept across restarts" }).locator(".author")).toHaveText("alice");
});
