// The stream reads as a conversation: runs under one name, days divided,
// links clickable (and only real ones), tall messages folded, joins in a row
// on one line, news marked when the reader was not looking, and history
// readable with the keyboard alone.
import { io, type Socket } from "socket.io-client";
import { chattyTest as test, expect, enterRoom, registerToken, type Page } from "./fixtures";

/** A user talking from a socket, already in the room. */
async function talker(server: { url: string }, name: string): Promise<Socket> {
  const socket = io(server.url, { transports: ["websocket"], auth: { token: await registerToken(server, name) } });
  await socket.timeout(5_000).emitWithAck("add user", name);
  return socket;
}

async function send(socket: Socket, text: string): Promise<void> {
  const ack = await socket.timeout(5_000).emitWithAck("new message", text);
  expect(ack, `"${text.slice(0, 20)}…" refused`).not.toHaveProperty("error");
}

/** How far the message list is from its bottom, in pixels. */
function gapToBottom(page: Page): Promise<number> {
  return page.locator("#messages").evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
}

test("a run of messages shows one name and time; links are links, and only http(s) ones", async ({ openPage, server }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  const carol = await talker(server, "carol");
  try {
    const tricky = "see https://example.com/a_(b). not javascript:alert(1) nor <a href=x>x</a>";
    for (const text of ["one", "two", tricky]) await send(carol, text);
    const list = alice.locator("#messages");
    await expect(list.locator("li.message")).toHaveCount(3);
    await expect(list.locator("li.message .author")).toHaveText(["carol"]);
    await expect(list.locator("li.message.cont")).toHaveCount(2);
    // Not shown again under the run's name, but there for screen readers.
    await expect(list.locator("li.message.cont .visually-hidden")).toHaveText(["carol: ", "carol: "]);
    const hidden = await list.locator("li.message.cont .visually-hidden").first().boundingBox();
    expect(hidden!.width * hidden!.height).toBeLessThanOrEqual(1);
    await expect(list.locator("li.day")).toHaveText(["Today"]);
    // The full date and time on hover.
    await expect(list.locator("li.message time").first()).toHaveAttribute("title", /^\w+day \d+ \w+ \d{4}, \d\d:\d\d:\d\d$/);

    const link = list.locator("li.message a");
    await expect(link).toHaveCount(1);
    await expect(link).toHaveText("https://example.com/a_(b)");
    await expect(link).toHaveAttribute("href", "https://example.com/a_(b)");
    await expect(link).toHaveAttribute("target", "_blank");
    await expect(link).toHaveAttribute("rel", "noopener noreferrer");
    await expect(list.locator("li.message .text").last()).toHaveText(tricky);

    // Someone else speaking starts a new run, under their name.
    await alice.locator("#message").fill("mine");
    await alice.locator("#message").press("Enter");
    await expect(list.locator("li.message.own .author")).toHaveText("alice");
    await send(carol, "after alice");
    await expect(list.locator("li.message .author")).toHaveText(["carol", "alice", "carol"]);
  } finally {
    carol.disconnect();
  }
});

test("a very tall message folds behind Show more, and nothing paints outside its box", async ({ openPage, server }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  const carol = await talker(server, "carol");
  try {
    await send(carol, "tall\n".repeat(50) + "end");
    const tall = alice.locator("li.message").last();
    const button = tall.locator("button.fold");
    await expect(button).toHaveText("Show more");
    await expect(button).toHaveAttribute("aria-expanded", "false");
    const folded = await tall.locator(".text").evaluate((el) => el.clientHeight);
    await button.click();
    await expect(button).toHaveText("Show less");
    await expect(button).toHaveAttribute("aria-expanded", "true");
    expect(await tall.locator(".text").evaluate((el) => el.clientHeight)).toBeGreaterThan(folded * 2);
    await button.click();
    await expect(button).toHaveText("Show more");

    // Three marks on every letter (the most allowed), 150 letters.
    await send(carol, "Z\u0336\u0337\u0338".repeat(150));
    await send(carol, "short");
    await expect(alice.locator("li.message .fold")).toHaveCount(1);
    const zalgo = alice.locator("li.message .text").nth(-2);
    const style = await zalgo.evaluate((el) => [getComputedStyle(el).overflow, getComputedStyle(el).contain]);
    expect(style[0]).toBe("hidden");
    expect(style[1]).toContain("paint");
  } finally {
    carol.disconnect();
  }
});

test("joins in a row are one line in the stream, every one in the side panel", async ({ openPage, server }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  const others: Socket[] = [];
  try {
    for (const name of ["bob", "dave", "erin", "frank"]) others.push(await talker(server, name));
    const run = alice.locator("#messages li.activity");
    await expect(run).toHaveCount(1);
    await expect(run.locator("summary")).toContainText("alice, bob and 3 others joined");
    await expect(alice.locator("#activity-log li")).toHaveCount(5);
    // It opens to list each.
    await run.locator("summary").click();
    await expect(run.locator(".run-items li")).toHaveText([
      /alice joined/,
      /bob joined/,
      /dave joined/,
      /erin joined/,
      /frank joined/,
    ]);
    // A message ends the run; a leave after it starts another.
    await send(others[0], "hello");
    others[1].disconnect();
    await expect(alice.locator("#messages li.activity")).toHaveCount(2);
    await expect(alice.locator("#messages li.activity").last()).toContainText("dave left", { timeout: 30_000 });
  } finally {
    for (const socket of others) socket.disconnect();
  }
});

test("news that came while scrolled up is marked, counted and one click away", async ({ openPage, server }) => {
  const alice = await openPage({ width: 900, height: 500 });
  await enterRoom(alice, "alice");
  const carol = await talker(server, "carol");
  try {
    for (let i = 1; i <= 40; i++) await send(carol, `old ${i}`);
    await expect(alice.locator("li.message", { hasText: "old 40" })).toBeVisible();
    await expect(alice.locator("#jump-to-bottom")).toHaveCount(0);
    await expect(alice.locator("#new-messages")).toHaveCount(0);

    await alice.locator("#messages").evaluate((el) => { el.scrollTop = 0; });
    await expect(alice.locator("#jump-to-bottom")).toHaveText("↓ Jump to the newest");
    await send(carol, "new 1");
    await send(carol, "new 2");
    await expect(alice.locator("#jump-to-bottom")).toHaveText("↓ 2 new messages");
    await expect(alice.locator("#new-messages")).toHaveText("New messages");
    await expect(alice.locator("#new-messages + li.message .text")).toHaveText("new 1");
    expect(await alice.locator("#messages").evaluate((el) => el.scrollTop)).toBe(0);

    await alice.locator("#jump-to-bottom").click();
    await expect(alice.locator("#jump-to-bottom")).toHaveCount(0);
    await expect.poll(() => gapToBottom(alice)).toBeLessThan(5);
    await expect(alice.locator("#messages")).toBeFocused();
  } finally {
    carol.disconnect();
  }
});

test("the tab's title counts news while the tab is hidden", async ({ openPage, server }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  const carol = await talker(server, "carol");
  // A hidden tab, as the browser makes one: it says so, and draws no frames
  // (animation frame callbacks wait until it is shown again).
  const visibility = (hidden: boolean) =>
    alice.evaluate((hidden) => {
      const w = window as unknown as { shown?: typeof requestAnimationFrame; held?: FrameRequestCallback[] };
      if (hidden) {
        Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
        Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
        w.shown = window.requestAnimationFrame;
        w.held = [];
        window.requestAnimationFrame = (callback) => (w.held!.push(callback), 0);
      } else {
        // Back to the browser's own (the prototype's) answers.
        delete (document as { visibilityState?: string }).visibilityState;
        delete (document as { hidden?: boolean }).hidden;
        window.requestAnimationFrame = w.shown!;
        for (const callback of w.held!) window.requestAnimationFrame(callback);
      }
      document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
    }, hidden);
  try {
    await expect(alice).toHaveTitle("Chatroom");
    await send(carol, "seen");
    await expect(alice.locator("li.message", { hasText: "seen" })).toBeVisible();
    await expect(alice).toHaveTitle("Chatroom");

    // Without frames the news is still heard and counted (what the page
    // hears is applied at the next frame, or after 100 ms without one).
    await visibility(true);
    for (const text of ["away 1", "away 2", "away 3"]) await send(carol, text);
    await expect(alice).toHaveTitle("(3) Chatroom");

    await visibility(false);
    await expect(alice).toHaveTitle("Chatroom");
    // The marker stays, to show where the news began.
    await expect(alice.locator("#new-messages")).toHaveCount(1);
    await expect(alice.locator("#new-messages + li.message .text")).toHaveText("away 1");
  } finally {
    carol.disconnect();
  }
});

test("the keyboard alone scrolls history and loads older messages", async ({ openPage, server }) => {
  const carol = await talker(server, "carol");
  try {
    for (let i = 1; i <= 70; i++) await send(carol, `m${i}`);
    const alice = await openPage({ width: 900, height: 600 });
    await enterRoom(alice, "alice");
    const list = alice.locator("#messages");
    await expect(list.locator("li.message .text").first()).toHaveText("m22");
    await expect.poll(() => gapToBottom(alice)).toBeLessThan(5);

    // From the composer, back to the list (through the load button, whose
    // focus scrolls to the top, which loads the rest: then it is gone).
    await expect(alice.locator("#message")).toBeFocused();
    await alice.keyboard.press("Shift+Tab");
    await expect(alice.locator("#beginning")).toHaveCount(1);
    await expect(list).toBeFocused();
    expect(await list.evaluate((el) => getComputedStyle(el).outlineStyle)).not.toBe("none");

    // (Focusing the button at the top scrolled there.) End: to the newest.
    await alice.keyboard.press("End");
    await expect.poll(() => gapToBottom(alice)).toBeLessThan(5);
    const bottom = await list.evaluate((el) => el.scrollTop);
    await alice.keyboard.press("PageUp");
    await expect.poll(() => list.evaluate((el) => el.scrollTop)).toBeLessThan(bottom);
    await alice.keyboard.press("PageDown");
    await expect.poll(() => gapToBottom(alice)).toBeLessThan(5);

    // Ctrl+Home: to the top, loading the page before.
    await alice.keyboard.press("Control+Home");
    await expect(list.locator("li.message .text").first()).toHaveText("m1");
    await alice.keyboard.press("Control+Home");
    await expect(alice.locator("#beginning")).toBeInViewport();
    await expect(list).toBeFocused();
    await expect(list.locator("li.message")).toHaveCount(70);

    // Ctrl+End: back to the newest.
    await alice.keyboard.press("Control+End");
    await expect.poll(() => gapToBottom(alice)).toBeLessThan(5);
  } finally {
    carol.disconnect();
  }
});

test("the load button keeps the keyboard's focus in the list", async ({ openPage, server }) => {
  const carol = await talker(server, "carol");
  try {
    for (let i = 1; i <= 120; i++) await send(carol, `m${i}`);
    const alice = await openPage({ width: 900, height: 600 });
    await enterRoom(alice, "alice");
    const texts = alice.locator("#messages li.message .text");
    await expect(texts.first()).toHaveText("m72");
    // Focused, the button scrolls into view at the top, which loads a page.
    await alice.keyboard.press("Shift+Tab");
    await expect(alice.locator("#load-older")).toBeFocused();
    await expect(texts.first()).toHaveText("m22");
    await expect(alice.locator("#load-older")).toBeFocused();
    await alice.keyboard.press("Enter");
    // The beginning is reached: the button goes, the focus stays in the list.
    await expect(alice.locator("#beginning")).toHaveCount(1);
    await expect(alice.locator("#messages li.message .text").first()).toHaveText("m1");
    await expect(alice.locator("#messages")).toBeFocused();
  } finally {
    carol.disconnect();
  }
});
