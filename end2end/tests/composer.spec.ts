// The composer: a box that grows with its lines, Shift+Enter for a new line,
// Enter to send (not while an input method is composing), and a counter
// near the length limit that blocks a message over it.
import { test, expect, enterRoom, say } from "./fixtures";

test("Shift+Enter makes lines, Enter sends them with their line breaks", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");

  const box = alice.locator("#message");
  await expect(box).toHaveJSProperty("tagName", "TEXTAREA");
  await box.pressSequentially("line one");
  await box.press("Shift+Enter");
  await box.pressSequentially("line two");
  await box.press("Shift+Enter");
  await box.pressSequentially("line three");
  await expect(box).toHaveValue("line one\nline two\nline three");
  await expect(box).toHaveAttribute("rows", "3");
  const threeLines = await box.evaluate((el) => el.getBoundingClientRect().height);
  await box.press("Enter");
  await expect(box).toHaveValue("");
  const oneLine = await box.evaluate((el) => el.getBoundingClientRect().height);
  expect(threeLines).toBeGreaterThan(oneLine);

  const atBob = bob.locator("li.message .text").last();
  await expect(atBob).toHaveText(/line one/);
  expect(await atBob.evaluate((el) => el.textContent)).toBe("line one\nline two\nline three");
  // Shown as lines, not run together.
  expect(await atBob.evaluate((el) => (el as HTMLElement).innerText)).toBe("line one\nline two\nline three");

  // The box grows to eight lines at most, then scrolls.
  await box.fill(Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n"));
  await expect(box).toHaveAttribute("rows", "8");
  const scrolls = await box.evaluate((el) => el.scrollHeight > el.clientHeight);
  expect(scrolls).toBe(true);
});

test("Enter while an input method is composing does not send", async ({ openPage }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  const box = alice.locator("#message");
  await box.fill("かな");
  await box.evaluate((el) =>
    el.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", isComposing: true, bubbles: true, cancelable: true })),
  );
  await expect(box).toHaveValue("かな");
  await box.press("Enter");
  await expect(alice.locator("li.message.own .text")).toHaveText(["かな"]);
});

test("a counter appears near the limit and a message over it cannot go", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  const box = alice.locator("#message");
  const counter = alice.locator("#composer-counter");
  const send = alice.locator("#composer button[type=submit]");

  await box.fill("x".repeat(1_799));
  await expect(counter).toHaveText("");
  await box.fill("x".repeat(1_877));
  await expect(counter).toHaveText("123 left");
  await expect(counter).not.toHaveClass(/\bover\b/);
  await expect(send).toBeEnabled();

  await box.fill("x".repeat(2_003));
  await expect(counter).toHaveText("3 too many");
  await expect(counter).toHaveClass(/\bover\b/);
  await expect(send).toBeDisabled();
  await box.press("Enter");
  await expect(box).toHaveValue("x".repeat(2_003));
  await expect(alice.locator("#pending li")).toHaveCount(0);

  // Trimmed back to the limit, it goes.
  await box.fill("y".repeat(2_000));
  await expect(counter).toHaveText("0 left");
  await box.press("Enter");
  await expect(bob.locator("li.message .text")).toHaveText(["y".repeat(2_000)]);
  await say(alice, "short again");
  await expect(counter).toHaveText("");
});
