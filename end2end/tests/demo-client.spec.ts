// The official socket.io-client, used exactly as the canonical chat demo
// uses it: no browser, no extras.
import { io, type Socket } from "socket.io-client";
import { test as base, expect, registerToken, serverFixture, type Server } from "./fixtures";

// A server open to guests, as the demo's clients expect (`--allow-guests`).
const test = base.extend<{ guestServer: Server }>({ guestServer: serverFixture(["--allow-guests"]) });

/** Resolves with the next `event` on `socket`. */
function next<T = any>(socket: Socket, event: string): Promise<T> {
  return new Promise((resolve) => socket.once(event, resolve));
}

test("a demo client joins, chats, types and leaves (guests allowed)", async ({ guestServer: server }) => {
  const alice = io(server.url, { transports: ["websocket"] });
  const bob = io(server.url); // polling first, then the upgrade to WebSocket
  try {
    const aliceLogin = next(alice, "login");
    alice.emit("add user", "alice");
    expect(await aliceLogin).toMatchObject({ numUsers: 1 });

    const joined = next(alice, "user joined");
    const bobLogin = next(bob, "login");
    bob.emit("add user", "bob");
    expect(await bobLogin).toMatchObject({ numUsers: 2 });
    expect(await joined).toMatchObject({ username: "bob", numUsers: 2 });

    const typing = next(alice, "typing");
    bob.emit("typing");
    expect(await typing).toEqual({ username: "bob" });
    const stopped = next(alice, "stop typing");
    bob.emit("stop typing");
    expect(await stopped).toEqual({ username: "bob" });

    // The sender does not hear its own message; the other does.
    let echoed = false;
    bob.on("new message", () => { echoed = true; });
    const atAlice = next(alice, "new message");
    bob.emit("new message", "hello from the demo");
    expect(await atAlice).toMatchObject({ username: "bob", message: "hello from the demo" });

    // With an ack: the stored message, or a refusal with a reason.
    const ack = await bob.timeout(5_000).emitWithAck("new message", "with an ack");
    expect(ack).toEqual({
      data: { username: "bob", message: "with an ack", id: expect.any(Number), timestamp: expect.any(Number) },
    });
    const refused = await bob.timeout(5_000).emitWithAck("new message", "x".repeat(2_001));
    expect(refused).toEqual({
      error: { code: "invalid_message", message: "the message is 2001 characters long; the limit is 2000" },
    });
    expect(bob.connected).toBe(true);
    expect(echoed).toBe(false);

    const left = next(alice, "user left");
    bob.disconnect();
    expect(await left).toMatchObject({ username: "bob", numUsers: 1 });
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
});

test("without guests, the official client needs a token, and then chats", async ({ server }) => {
  const anonymous = io(server.url, { transports: ["websocket"], reconnection: false });
  const refused = await new Promise<Error>((resolve) => anonymous.once("connect_error", resolve));
  expect(refused.message).toBe("login required");
  anonymous.disconnect();

  const forged = io(server.url, { transports: ["websocket"], reconnection: false, auth: { token: "forged" } });
  expect((await new Promise<Error>((resolve) => forged.once("connect_error", resolve))).message).toBe(
    "invalid session: log in again",
  );
  forged.disconnect();

  const alice = io(server.url, { transports: ["websocket"], auth: { token: await registerToken(server, "alice") } });
  const bob = io(server.url, { auth: { token: await registerToken(server, "bob") } });
  try {
    // The name comes from the token: another one is refused.
    const mismatch = await alice.timeout(5_000).emitWithAck("add user", "mallory");
    expect(mismatch).toEqual({ error: { code: "name_mismatch", message: "you are logged in as “alice”" } });
    expect((await alice.timeout(5_000).emitWithAck("add user", "alice")).data.username).toBe("alice");
    const joined = next(alice, "user joined");
    await bob.timeout(5_000).emitWithAck("add user", "bob");
    expect(await joined).toMatchObject({ username: "bob", numUsers: 2 });
    const heard = next(alice, "new message");
    bob.emit("new message", "hello with a token");
    expect(await heard).toMatchObject({ username: "bob", message: "hello with a token" });
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
});

// A burst sent without waiting for acknowledgements, as a script or a paste
// of lines sends it, arrives in the order sent (before each connection's
// events took turns, about half of such runs arrived reordered).
const burstTest = base.extend<{ burstServer: Server }>({
  burstServer: serverFixture(["--message-burst", "1000", "--message-rate", "60000"]),
});

burstTest("the official client's burst of 200 arrives in the order sent", async ({ burstServer: server }) => {
  const alice = io(server.url, { transports: ["websocket"], auth: { token: await registerToken(server, "alice") } });
  const bob = io(server.url, { transports: ["websocket"], auth: { token: await registerToken(server, "bob") } });
  try {
    await alice.timeout(5_000).emitWithAck("add user", "alice");
    await bob.timeout(5_000).emitWithAck("add user", "bob");
    const heard: string[] = [];
    const all = new Promise<void>((resolve) =>
      bob.on("new message", (m: { message: string }) => {
        heard.push(m.message);
        if (heard.length === 200) resolve();
      }),
    );
    for (let i = 0; i < 200; i++) alice.emit("new message", `m${i}`);
    await all;
    expect(heard).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
});

test("an official client that floods is refused with a time to wait, then disconnected", async ({ server }) => {
  const mallory = io(server.url, {
    transports: ["websocket"],
    reconnection: false,
    auth: { token: await registerToken(server, "mallory") },
  });
  try {
    await mallory.timeout(5_000).emitWithAck("add user", "mallory");
    const told = next<{ message: string }>(mallory, "flooding");
    const gone = next<string>(mallory, "disconnect");
    const refusals: any[] = [];
    for (let i = 0; i < 200 && mallory.connected; i++) {
      const reply = await mallory.timeout(5_000).emitWithAck("new message", `spam ${i}`).catch(() => null);
      if (reply?.error) refusals.push(reply.error);
    }
    expect(refusals[0]).toMatchObject({ code: "rate_limited", message: expect.stringMatching(/^slow down/) });
    expect(refusals[0].retryAfterMs).toBeGreaterThan(0);
    expect((await told).message).toMatch(/too many events/);
    expect(await gone).toBe("io server disconnect");
  } finally {
    mallory.disconnect();
  }
});
