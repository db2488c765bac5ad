// The official socket.io-client, used exactly as the canonical chat demo
// uses it: no browser, no extras.
import { io, type Socket } from "socket.io-client";
import { test, expect } from "./fixtures";

/** Resolves with the next `event` on `socket`. */
function next<T = any>(socket: Socket, event: string): Promise<T> {
  return new Promise((resolve) => socket.once(event, resolve));
}

test("a demo client joins, chats, types and leaves", async ({ server }) => {
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
