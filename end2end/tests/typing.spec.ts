// "alice is typing…": shown to the others, cleared by a message, by an
// emptied box, and with two typers both named.
import { test, expect, enterRoom } from "./fixtures";

test("typing shows and clears", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  const carol = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await enterRoom(carol, "carol");

  await alice.locator("#message").pressSequentially("hello");
  await expect(bob.locator("#typing")).toHaveText("alice is typing…");
  await expect(alice.locator("#typing")).toHaveText("", { timeout: 1_000 });

  await carol.locator("#message").pressSequentially("hey");
  await expect(bob.locator("#typing")).toHaveText("alice and carol are typing…");

  // A message clears its author's typing.
  await alice.locator("#message").press("Enter");
  await expect(bob.locator("li.message", { hasText: "hello" })).toBeVisible();
  await expect(bob.locator("#typing")).toHaveText("carol is typing…");

  // Emptying the box is stopping.
  await carol.locator("#message").fill("");
  await carol.locator("#message").dispatchEvent("input");
  await expect(bob.locator("#typing")).toHaveText("");
});

test("typing clears by itself when the typist pauses", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await alice.locator("#message").pressSequentially("thinking");
  await expect(bob.locator("#typing")).toHaveText("alice is typing…");
  // No keystroke for a few seconds: alice's page says she stopped.
  await expect(bob.locator("#typing")).toHaveText("", { timeout: 8_000 });
  await expect(alice.locator("#message")).toHaveValue("thinking");
});
