// Two people chat both ways; the screenshot for the README comes from here.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test, expect, enterRoom, say } from "./fixtures";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

test("two users chat both ways and each message shows at once for the other", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");

  await say(alice, "hi bob, how are things?");
  const atBob = bob.locator("li.message", { hasText: "hi bob, how are things?" });
  await expect(atBob.locator(".author")).toHaveText("alice");
  await expect(atBob).not.toHaveClass(/own/);

  await say(bob, "all good, alice!");
  const atAlice = alice.locator("li.message", { hasText: "all good, alice!" });
  await expect(atAlice.locator(".author")).toHaveText("bob");

  // Both screens show the same message with the same server id and time.
  const own = alice.locator("li.message.own", { hasText: "hi bob" });
  await expect(own).toHaveAttribute("data-id", (await atBob.getAttribute("data-id"))!);
  const datetime = await atBob.locator("time").getAttribute("datetime");
  expect(datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  await expect(own.locator("time")).toHaveAttribute("datetime", datetime!);
  await expect(atBob.locator("time")).toHaveText(/^\d\d:\d\d$/);
  await expect(alice.locator("#message")).toHaveValue("");
});

test("a third user joins the conversation; the README screenshot", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  const carol = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await say(alice, "Morning! Has anyone seen the build results?");
  await say(bob, "Green across the board");
  await enterRoom(carol, "carol");
  await say(carol, "Great, shipping it then.");
  await expect(alice.locator("li.message", { hasText: "shipping it" })).toBeVisible();
  await bob.locator("#message").fill("On it");
  await expect(alice.locator("#typing")).toHaveText("bob is typing…");
  await expect(alice.locator("#online-count")).toHaveText("3 people online");
  // The README's picture: refreshed on request, so a test run leaves the
  // tree clean.
  const target = process.env.CHATROOM_UPDATE_SCREENSHOT
    ? path.join(repo, "docs", "screenshot.png")
    : test.info().outputPath("room.png");
  await alice.screenshot({ path: target });
});
