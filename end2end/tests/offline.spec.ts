// Sending while offline: messages written while the server is away wait in
// the outbox, shown pending, and go out once, in order, when the page is
// back in the room. A message whose acknowledgement is lost goes again
// under the same client id, and the server stores it once.
import { io } from "socket.io-client";
import {
  test,
  expect,
  enterRoom,
  reloadHydrated,
  say,
  serverFixture,
  write,
  type Page,
  type Server,
} from "./fixtures";

test("messages written offline are pending, then arrive once and in order", async ({ openPage, server }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await say(alice, "before");

  await server.stop();
  await expect(alice.locator("#connection")).toHaveAttribute("data-state", "reconnecting");
  const texts = ["first while away", "second while away", "third while away"];
  for (const text of texts) await write(alice, text);
  const pending = alice.locator("#pending li.pending");
  await expect(pending.locator(".text")).toHaveText(texts);
  await expect(pending.locator(".state")).toHaveText(["sending…", "sending…", "sending…"]);
  await expect(alice.locator("#message")).toHaveValue("");
  await expect(alice.locator("li.message .text")).toHaveText(["before"]);

  await server.start(new URL(server.url).host);
  await expect(pending).toHaveCount(0, { timeout: 20_000 });
  for (const page of [alice, bob]) {
    await expect(page.locator("li.message .text")).toHaveText(["before", ...texts], { timeout: 20_000 });
  }
  // Once: a reload reads the stored conversation.
  await reloadHydrated(bob);
  await expect(bob.locator("li.message .text")).toHaveText(["before", ...texts]);
});

/**
 * Routes `page`'s Socket.IO connections through the test, which drops the
 * first acknowledgement carrying `text` (and, with `close`, the connection
 * with it).
 */
async function loseFirstAck(page: Page, text: string, close: boolean): Promise<() => boolean> {
  let lost = false;
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => server.send(message));
    server.onMessage((message) => {
      // An ack is `43<id>[…]`; its data is the stored message.
      if (!lost && typeof message === "string" && message.startsWith("43") && message.includes(JSON.stringify(text))) {
        lost = true;
        if (close) ws.close();
        return;
      }
      ws.send(message);
    });
  });
  return () => lost;
}

for (const close of [false, true]) {
  const how = close ? "with the connection" : "on the way (no answer in time)";
  test(`a message whose ack was lost ${how} is sent again and stored once`, async ({ openPage }) => {
    const alice = await openPage();
    const bob = await openPage();
    const lost = await loseFirstAck(alice, "lost ack", close);
    await enterRoom(alice, "alice");
    await enterRoom(bob, "bob");

    await write(alice, "lost ack");
    // Bob has it at once: it was stored; only alice's answer went missing.
    await expect(bob.locator("li.message .text")).toHaveText(["lost ack"]);
    await expect.poll(lost).toBe(true);
    if (!close) {
      // Still waiting for its answer, pending.
      await expect(alice.locator("#pending li.pending .text")).toHaveText(["lost ack"]);
    }
    // Sent again under the same id (after the 10 s ack timeout, or on
    // reconnecting): the server answers with the stored message.
    await expect(alice.locator("#pending li.pending")).toHaveCount(0, { timeout: 25_000 });
    await expect(alice.locator("li.message.own .text")).toHaveText(["lost ack"]);
    await say(alice, "next");
    await expect(bob.locator("li.message .text")).toHaveText(["lost ack", "next"]);
    const bobsIds = await bob.locator("li.message").evaluateAll((items) => items.map((li) => li.getAttribute("data-id")));
    const alicesIds = await alice.locator("li.message").evaluateAll((items) => items.map((li) => li.getAttribute("data-id")));
    expect(alicesIds).toEqual(bobsIds);
  });
}

// The official socket.io-client sends the object form, and a repeat, as a
// client that lost its ack would: one message, heard once.
const guestTest = test.extend<{ guestServer: Server }>({ guestServer: serverFixture(["--allow-guests"]) });

guestTest("the official client's repeat of a client id is answered with the stored message", async ({ guestServer }) => {
  const alice = io(guestServer.url, { transports: ["websocket"] });
  const bob = io(guestServer.url, { transports: ["websocket"] });
  try {
    await alice.timeout(5_000).emitWithAck("add user", "alice");
    await bob.timeout(5_000).emitWithAck("add user", "bob");
    const heard: unknown[] = [];
    alice.on("new message", (message) => heard.push(message));

    const payload = { message: "once", clientId: "k7Fq-2_x" };
    const first = await bob.timeout(5_000).emitWithAck("new message", payload);
    expect(first).toEqual({
      data: { username: "bob", message: "once", id: expect.any(Number), timestamp: expect.any(Number) },
    });
    expect(await bob.timeout(5_000).emitWithAck("new message", payload)).toEqual(first);
    const refused = await bob.timeout(5_000).emitWithAck("new message", { message: "x", clientId: "not ok" });
    expect(refused).toEqual({
      error: { code: "invalid_payload", message: "the clientId may only hold A-Z, a-z, 0-9, _ and -" },
    });
    // The plain string still works, and is the next thing alice hears.
    const plain = await bob.timeout(5_000).emitWithAck("new message", "plain");
    await expect.poll(() => heard.length).toBe(2);
    expect(heard).toEqual([first.data, plain.data]);
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
});
