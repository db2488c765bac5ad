// The benchmark's Node.js reference, not part of the product: the canonical
// Socket.IO chat demo's server (socket.io's examples/chat) on socket.io v4
// with its defaults, no storage and no auth: what you would have written in
// JavaScript. PORT is required; PORT=0 picks a free port, and the one line on
// stdout says which.
//
// With REDIS_URL set it is one of several nodes, deployed the way a Node user
// would: socket.io's Redis adapter (@socket.io/redis-adapter over the `redis`
// client) carries every broadcast to the other nodes, and the room's head
// count is a Redis counter (the demo's in-process `numUsers` would count one
// node's users only). REDIS_PREFIX (default "socket.io") names the adapter's
// channels and the counter, so that runs sharing a Redis do not hear each
// other.
const { createServer } = require("node:http");
const { Server } = require("socket.io");

if (process.env.PORT === undefined || !/^\d+$/.test(process.env.PORT)) {
  console.error("PORT must be set to a port number (0 picks a free one)");
  process.exit(2);
}
const port = Number(process.env.PORT);
const httpServer = createServer();
const io = new Server(httpServer);

// The head count: in process alone, in Redis across nodes.
let count = {
  local: 0,
  async add() {
    this.local += 1;
    return this.local;
  },
  async remove() {
    this.local -= 1;
    return this.local;
  },
};

async function useRedis(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const prefix = process.env.REDIS_PREFIX || "socket.io";
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) {
    client.on("error", (err) => console.error(`redis: ${err.message}`));
  }
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub, { key: prefix }));
  const key = `${prefix}:numUsers`;
  count = {
    add: () => pub.incr(key),
    remove: () => pub.decr(key),
  };
}

io.on("connection", (socket) => {
  let addedUser = false;

  socket.on("new message", (data) => {
    socket.broadcast.emit("new message", { username: socket.username, message: data });
  });

  socket.on("add user", async (username) => {
    if (addedUser) return;
    socket.username = username;
    addedUser = true;
    const numUsers = await count.add();
    socket.emit("login", { numUsers });
    socket.broadcast.emit("user joined", { username: socket.username, numUsers });
  });

  socket.on("typing", () => {
    socket.broadcast.emit("typing", { username: socket.username });
  });

  socket.on("stop typing", () => {
    socket.broadcast.emit("stop typing", { username: socket.username });
  });

  socket.on("disconnect", async () => {
    if (!addedUser) return;
    const numUsers = await count.remove();
    socket.broadcast.emit("user left", { username: socket.username, numUsers });
  });
});

async function main() {
  if (process.env.REDIS_URL) {
    await useRedis(process.env.REDIS_URL);
  }
  httpServer.listen(port, "127.0.0.1", () => {
    console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
