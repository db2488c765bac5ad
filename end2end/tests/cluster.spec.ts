// Several nodes, one conversation: two Chatroom nodes sharing PostgreSQL and
// Redis, behind HAProxy configured as deploy/haproxy.cfg says. Clients on
// different nodes see each other's messages, joins, typing and leaves,
// through HAProxy (the official socket.io-client over long-polling and over
// WebSocket, a browser) and on the nodes directly (browsers).
import { io, type Socket, type SocketOptions, type ManagerOptions } from "socket.io-client";
import { clusterTest as test, expect, logIn, registerToken, say, type Page } from "./fixtures";

/** HAProxy's sticky-session cookie (deploy/haproxy.cfg): its value names a node. */
const STICKY = "CHATROOM_NODE";

/**
 * Resolves with the next `event` on `socket`; fails at once if the socket
 * cannot connect or loses its connection first (a session that HAProxy sent
 * to the wrong node fails so, instead of timing out).
 */
function next<T = any>(socket: Socket, event: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const fail = (why: unknown) => {
      done();
      reject(new Error(`waiting for "${event}": ${why instanceof Error ? why.message : String(why)}`));
    };
    const got = (value: T) => {
      done();
      resolve(value);
    };
    const done = () => {
      socket.off(event, got);
      socket.off("connect_error", fail);
      socket.off("disconnect", fail);
    };
    socket.once(event, got);
    socket.once("connect_error", fail);
    socket.once("disconnect", fail);
  });
}

/** The other node of a two-node cluster. */
function other(node: string): string {
  return node === "node1" ? "node2" : "node1";
}

/**
 * Two guests, one on each node, enter, see each other join, type, chat and
 * leave; `bob` is always on the node `alice` is not.
 */
async function converse(alice: Socket, bob: () => Socket): Promise<void> {
  const aliceLogin = next(alice, "login");
  alice.emit("add user", "alice");
  expect(await aliceLogin).toMatchObject({ numUsers: 1 });

  const b = bob();
  try {
    await next(b, "connect");
    const joined = next(alice, "user joined");
    const bobLogin = next(b, "login");
    b.emit("add user", "bob");
    expect(await bobLogin).toMatchObject({ numUsers: 2 });
    expect(await joined).toMatchObject({ username: "bob", numUsers: 2 });

    const typing = next(alice, "typing");
    b.emit("typing");
    expect(await typing).toEqual({ username: "bob" });
    const stopped = next(b, "stop typing");
    alice.emit("typing");
    alice.emit("stop typing");
    expect(await stopped).toEqual({ username: "alice" });

    // The id acked to the sender is the id delivered on the other node.
    const atAlice = next(alice, "new message");
    const ack = await b.timeout(5_000).emitWithAck("new message", "hello from bob");
    expect(ack.data).toMatchObject({ username: "bob", message: "hello from bob" });
    expect(await atAlice).toMatchObject({ username: "bob", message: "hello from bob", id: ack.data.id });
    const atBob = next(b, "new message");
    const reply = await alice.timeout(5_000).emitWithAck("new message", "hello from alice");
    expect(await atBob).toMatchObject({ username: "alice", message: "hello from alice", id: reply.data.id });
    // One order: ids come from the shared database.
    expect(reply.data.id).toBeGreaterThan(ack.data.id);

    const left = next(alice, "user left");
    b.disconnect();
    expect(await left).toMatchObject({ username: "bob", numUsers: 1 });
  } finally {
    b.disconnect();
  }
}

test("the official client over long-polling through HAProxy: the sticky cookie keeps each session on its node", async ({
  cluster,
}) => {
  // Long-polling is many requests per session; only the cookie HAProxy
  // inserts sends them all to the node holding the session. In Node the
  // client keeps cookies only with `withCredentials`.
  const polling: Partial<ManagerOptions & SocketOptions> = { transports: ["polling"], reconnection: false };
  const alice = io(cluster.url, { ...polling, withCredentials: true });
  try {
    await next(alice, "connect");
    // The client's cookie jar (engine.io-client ≥ 6.5, Node.js only) holds
    // what HAProxy set: the node alice's session is on.
    const jar = (alice.io.engine as unknown as { _cookieJar: { cookies: Iterable<[string, { value: string }]> } })
      ._cookieJar;
    const aliceNode = new Map(jar.cookies).get(STICKY)?.value;
    expect(["node1", "node2"]).toContain(aliceNode);
    // Bob carries the other node's cookie, as a browser that was sent there would.
    await converse(alice, () =>
      io(cluster.url, { ...polling, extraHeaders: { cookie: `${STICKY}=${other(aliceNode!)}` } }),
    );
    expect(alice.io.engine.transport.name).toBe("polling");
  } finally {
    alice.disconnect();
  }
});

test("the official client over WebSocket through HAProxy, one client on each node", async ({ cluster }) => {
  const websocket = (node: string): Partial<ManagerOptions & SocketOptions> => ({
    transports: ["websocket"],
    reconnection: false,
    // The upgrade request's cookie picks the node: each client on its own.
    extraHeaders: { cookie: `${STICKY}=${node}` },
  });
  const alice = io(cluster.url, websocket("node1"));
  try {
    await converse(alice, () => io(cluster.url, websocket("node2")));
  } finally {
    alice.disconnect();
  }
});

/** Alice and bob, logged in in their pages, see each other join, type, chat and leave. */
async function chatAcross(alice: Page, bob: Page): Promise<void> {
  await logIn(alice, "alice");
  await logIn(bob, "bob");
  await expect(alice.locator("#messages li.activity").last()).toContainText("bob joined");
  for (const page of [alice, bob]) {
    await expect(page.locator("#online-count")).toHaveText("2 people online");
    await expect(page.locator("#online li", { hasText: "alice" })).toBeVisible();
    await expect(page.locator("#online li", { hasText: "bob" })).toBeVisible();
  }

  await bob.locator("#message").pressSequentially("hi al");
  await expect(alice.locator("#typing")).toHaveText("bob is typing…");
  await bob.locator("#message").press("Enter");
  await expect(alice.locator("li.message", { hasText: "hi al" })).toBeVisible();
  await expect(alice.locator("#typing")).toHaveText("");

  await alice.locator("#message").pressSequentially("hello bob");
  await expect(bob.locator("#typing")).toHaveText("alice is typing…");
  await alice.locator("#message").press("Enter");
  await expect(bob.locator("li.message", { hasText: "hello bob" })).toBeVisible();
  // The same conversation, in the same order, on both nodes.
  await expect(alice.locator("li.message .text")).toHaveText(["hi al", "hello bob"]);
  await expect(bob.locator("li.message .text")).toHaveText(["hi al", "hello bob"]);

  // Logging out leaves at once, on every node.
  await bob.locator("#logout").click();
  await expect(bob.locator("form#auth")).toBeVisible();
  await expect(alice.locator("#messages li.activity").last()).toContainText("bob left");
  await expect(alice.locator("#online-count")).toHaveText("1 person online");
}

test("two browsers on two nodes chat, see each other join, type and leave", async ({ cluster, openPageAt }) => {
  const [node1, node2] = cluster.nodes;
  // The login secret is shared: an account registered on one node logs in on any.
  await registerToken(node1, "alice");
  await registerToken(node2, "bob");
  const alice = await openPageAt(node1.url);
  const bob = await openPageAt(node2.url);
  await chatAcross(alice, bob);
});

test("a browser through HAProxy chats with a browser on the other node directly", async ({
  cluster,
  openPageAt,
}) => {
  await registerToken(cluster, "alice");
  await registerToken(cluster, "bob");
  const alice = await openPageAt(cluster.url);
  // HAProxy sent alice's page to a node and told her browser which; bob
  // opens the other one.
  const cookie = (await alice.context().cookies()).find((c) => c.name === STICKY);
  expect(["node1", "node2"]).toContain(cookie?.value);
  const bobsNode = cluster.nodes[other(cookie!.value) === "node1" ? 0 : 1];
  const bob = await openPageAt(bobsNode.url);
  await chatAcross(alice, bob);
  // Alice's page never left her node: the messages it showed came through it.
  await say(alice, "still through HAProxy");
  expect((await alice.context().cookies()).find((c) => c.name === STICKY)?.value).toBe(cookie!.value);
});

test("logging out everywhere on one node cuts the same account's page on the other", async ({
  cluster,
  openPageAt,
}) => {
  const [node1, node2] = cluster.nodes;
  await registerToken(node1, "alice");
  const laptop = await openPageAt(node1.url);
  const phone = await openPageAt(node2.url);
  await logIn(laptop, "alice");
  await logIn(phone, "alice");

  await laptop.locator("#logout-all").click();
  await expect(laptop.locator("form#auth")).toBeVisible();
  await expect(phone.locator("form#auth")).toBeVisible();
  await expect(phone.locator("#auth-notice")).toHaveText("You were logged out. Log in again.");
});
