// Over the rate limit: the composer says when sending works again, counting
// down, and keeps the text; the message goes once the wait is over.
import { test as base, expect, enterRoom, say, serverFixture, type Server } from "./fixtures";

// Two messages at once, then one every 10 s: a limit a test reaches fast.
const test = base.extend<{ server: Server }>({
  server: serverFixture(["--message-burst", "2", "--message-rate", "6"]),
});

test("a sender over the limit is told to slow down and keeps the text", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await say(alice, "one");
  await say(alice, "two");

  await alice.locator("#message").fill("three");
  await alice.locator("#message").press("Enter");
  const error = alice.locator("#composer-error");
  await expect(error).toHaveText(/^Slow down: you can send again in \d+ s$/);
  await expect(alice.locator("#message")).toHaveValue("three");
  // The countdown goes down as time passes.
  const first = Number((await error.textContent())!.match(/\d+/)![0]);
  await expect(async () => {
    const now = Number((await error.textContent())!.match(/\d+/)?.[0] ?? "0");
    expect(now).toBeLessThan(first);
  }).toPass({ timeout: 5_000 });
  await expect(bob.locator("li.message", { hasText: "three" })).toHaveCount(0);

  // Once the wait is over, the same text goes.
  await expect(error).toHaveText("", { timeout: 15_000 });
  await alice.locator("#message").press("Enter");
  await expect(bob.locator("li.message", { hasText: "three" })).toBeVisible();
  await expect(alice.locator("#message")).toHaveValue("");
});
