// The benchmark's Node.js reference, not part of the product: the canonical
// Socket.IO chat demo's server (socket.io's examples/chat) on socket.io v4
// with its defaults, no storage and no auth: what you would have written in
// JavaScript. PORT is required; PORT=0 picks a free port, and the one line on
// stdout says which.
const { createServer } = require("node:http");
const { Server } = require("socket.io");

if (process.env.PORT === undefined || !/^\d+$/.test(process.env.PORT)) {
  console.error("PORT must be set to a port number (0 picks a free one)");
  process.exit(2);
}
const port = Number(process.env.PORT);
const httpServer = createServer();
const io = new Server(httpServer);
let numUsers = 0;

io.on("connection", (socket) => {
  let addedUser = false;

  socket.on("new message", (data) => {
    socket.broadcast.emit("new message", { username: socket.username, message: data });
  });

  socket.on("add user", (username) => {
    if (addedUser) return;
    socket.username = username;
    numUsers += 1;
    addedUser = true;
    socket.emit("login", { numUsers });
    socket.broadcast.emit("user joined", { username: socket.username, numUsers });
  });

  socket.on("typing", () => {
    socket.broadcast.emit("typing", { username: socket.username });
  });

  socket.on("stop typing", () => {
    socket.broadcast.emit("stop typing", { username: socket.username });
  });

  socket.on("disconnect", () => {
    if (!addedUser) return;
    numUsers -= 1;
    socket.broadcast.emit("user left", { username: socket.username, numUsers });
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
