// Names nobody can fake, and messages that stay in their box: the page
// refuses what the server refuses with the server's words, isolates names
// and message text, and keeps every message inside its bubble.
import { test, expect, enterRoom, say, PASSWORD, type Page } from "./fixtures";

/** Registers `name` through the form and expects it refused with `reason`. */
async function refusedAtRegister(page: Page, name: string, reason: string): Promise<void> {
  await page.locator("#show-register").click();
  await page.locator("#username").fill(name);
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#auth-submit").click();
  await expect(page.locator("#auth-error")).toHaveText(reason);
  await expect(page.locator("main#room")).toHaveCount(0);
}

test("a name with a right-to-left override is refused in the register form with the server's words", async ({
  openPage,
  server,
}) => {
  const name = "\u202Eecila"; // shows as "alice"
  const reason = "the name has a bidirectional control character (U+202E)";
  const page = await openPage();
  await refusedAtRegister(page, name, reason);
  // The server's own answer, asked directly, is the same.
  const response = await fetch(`${server.url}/api/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: name, password: PASSWORD }),
  });
  expect(response.status).toBe(422);
  expect((await response.json()).error).toBe(reason);
});

test("a look-alike of a registered name is refused in the form", async ({ openPage }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  const other = await openPage();
  // A Cyrillic а: the page cannot know the accounts, the server's refusal shows.
  await refusedAtRegister(other, "\u0430lice", "“\u0430lice” is too similar to an existing name");
});

test("names are isolated wherever they are shown", async ({ openPage }) => {
  const sara = await openPage();
  await enterRoom(sara, "سارا");
  const bob = await openPage();
  await enterRoom(bob, "bob");
  await say(sara, "سلام");
  await sara.locator("#message").fill("…");
  await expect(bob.locator("#typing bdi")).toHaveText("سارا");
  await expect(bob.locator("#typing")).toHaveText("سارا is typing…");
  await expect(sara.locator("#whoami")).toHaveJSProperty("tagName", "BDI");
  await expect(bob.locator("#online li bdi", { hasText: "سارا" })).toHaveCount(1);
  await expect(bob.locator("li.message bdi.author")).toHaveText("سارا");
  await expect(bob.locator("#messages li.activity summary bdi", { hasText: "bob" })).toHaveCount(1);
  await expect(bob.locator("li.message .text")).toHaveAttribute("dir", "auto");
});

test("a message stays inside its bubble whatever it holds", async ({ openPage }) => {
  const alice = await openPage({ width: 900 });
  await enterRoom(alice, "alice");
  const texts = [
    // A long unbroken string.
    "W".repeat(400),
    // Right-to-left override text, unbroken, then a long right-to-left word.
    "\u202Etxet desrever " + "x".repeat(300) + " " + "ن".repeat(300),
    // Three combining marks on every letter (the most allowed).
    "Z\u0336\u0337\u0338".repeat(150),
    // One grapheme cluster as wide as 300 emoji (joined by zero-width
    // joiners): no line break can fall inside it, so the bubble must clip it.
    "\u{1F600}\u200D".repeat(300) + "\u{1F600}",
  ];
  for (const text of texts) await say(alice, text);
  const messages = alice.locator("li.message");
  await expect(messages).toHaveCount(texts.length);
  const list = await alice.locator("#messages").boundingBox();
  expect(list).not.toBeNull();
  for (let i = 0; i < texts.length; i++) {
    const bubble = await messages.nth(i).boundingBox();
    const text = await messages.nth(i).locator(".text").boundingBox();
    expect(bubble && text, `message ${i}`).toBeTruthy();
    // The text inside its bubble, the bubble inside the list.
    expect(text!.x, `message ${i}`).toBeGreaterThanOrEqual(bubble!.x);
    expect(text!.x + text!.width, `message ${i}`).toBeLessThanOrEqual(bubble!.x + bubble!.width + 0.5);
    expect(text!.y + text!.height, `message ${i}`).toBeLessThanOrEqual(bubble!.y + bubble!.height + 0.5);
    expect(bubble!.x, `message ${i}`).toBeGreaterThanOrEqual(list!.x);
    expect(bubble!.x + bubble!.width, `message ${i}`).toBeLessThanOrEqual(list!.x + list!.width + 0.5);
  }
  // Nothing spills out of a bubble into the list: it does not scroll sideways.
  const sideways = await alice.locator("#messages").evaluate((el) => el.scrollWidth - el.clientWidth);
  expect(sideways).toBeLessThanOrEqual(0);
});

test("a message with stacked marks is refused by the composer with the server's words", async ({ openPage }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  const zalgo = "h\u0336\u0337\u0338\u0339i";
  await alice.locator("#message").fill(zalgo);
  await alice.locator("#message").press("Enter");
  await expect(alice.locator("#composer-error")).toHaveText(
    "the message has 4 combining marks on one character; the limit is 3",
  );
  // The text is given back to fix, and nothing was sent.
  await expect(alice.locator("#message")).toHaveValue(zalgo);
  await expect(alice.locator("li.message")).toHaveCount(0);
});
