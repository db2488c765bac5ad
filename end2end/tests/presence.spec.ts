// Who is online: joins and leaves reach everyone, tabs of one browser are one
// user, a reload is not a leave, and a taken name is refused with the
// server's reason.
import { test as base, expect, enterRoom, gotoHydrated, say, serverFixture, type Server } from "./fixtures";

// A closed page leaves after the presence grace period: 1 s here rather
// than the default 15 s, so the tests need not wait for it.
const test = base.extend<{ server: Server }>({ server: serverFixture(["--presence-grace-secs", "1"]) });
// The default grace period, for the reload.
const defaultGrace = base;

test("a third user sees the others join and one leave", async ({ openPage }) => {
  const carol = await openPage();
  await enterRoom(carol, "carol");
  await expect(carol.locator("#online-count")).toHaveText("1 person online");

  const alice = await openPage();
  await enterRoom(alice, "alice");
  const bob = await openPage();
  await enterRoom(bob, "bob");

  await expect(carol.locator("#online-count")).toHaveText("3 people online");
  await expect(carol.locator("#online li")).toHaveText(["carol", "alice", "bob"]);
  // Joins in a row make one line in the stream; the side panel lists each.
  await expect(carol.locator("#messages li.activity summary")).toHaveText(/^carol, alice and bob joined/);
  await expect(carol.locator("#activity-log li")).toContainText(["carol joined", "alice joined", "bob joined"]);

  await bob.context().close();
  await expect(carol.locator("#online-count")).toHaveText("2 people online");
  await expect(carol.locator("#online li")).toHaveText(["carol", "alice"]);
  await expect(carol.locator("#messages li.activity").last()).toContainText("bob left");
  await expect(carol.locator("#activity-log li").last()).toContainText("bob left");
  await expect(alice.locator("#messages li.activity").last()).toContainText("bob left");
});

test("two tabs of one browser under one name are one user", async ({ openPage }) => {
  const bob = await openPage();
  await enterRoom(bob, "bob");
  const tab1 = await openPage();
  await enterRoom(tab1, "alice");
  // A second page in the same context shares local storage: same browser.
  const tab2 = await tab1.context().newPage();
  await gotoHydrated(tab2, tab1.url());
  // Same browser, same login cookie: straight into the room as alice.
  await expect(tab2.locator("main#room")).toBeVisible();
  await expect(tab2.locator("#whoami")).toHaveText("alice");

  await expect(bob.locator("#online-count")).toHaveText("2 people online");
  await expect(bob.locator("#online li")).toHaveText(["bob", "alice"]);
  await expect(bob.locator("#messages li.activity", { hasText: "alice joined" })).toHaveCount(1);

  await tab1.close();
  // Alice is still there on her other tab: a message from it reaches bob,
  // and no leave was announced.
  await tab2.locator("#message").fill("still here");
  await tab2.locator("#message").press("Enter");
  await expect(bob.locator("li.message", { hasText: "still here" })).toBeVisible();
  await expect(bob.locator("#messages li.activity", { hasText: "alice left" })).toHaveCount(0);

  await tab2.close();
  await expect(bob.locator("#messages li.activity", { hasText: "alice left" })).toHaveCount(1);
  await expect(bob.locator("#online-count")).toHaveText("1 person online");
});

defaultGrace("a reload is not a leave and a join for the others", async ({ openPage }) => {
  const alice = await openPage();
  await enterRoom(alice, "alice");
  const bob = await openPage();
  await enterRoom(bob, "bob");
  await expect(alice.locator("#messages li.activity", { hasText: "bob joined" })).toHaveCount(1);

  await bob.reload();
  await bob.locator("body[data-hydrated]").waitFor();
  await expect(bob.locator("main#room")).toBeVisible();
  await say(bob, "back after a reload");
  await expect(alice.locator("li.message .text", { hasText: "back after a reload" })).toHaveCount(1);
  await expect(alice.locator("#messages li.activity", { hasText: "bob left" })).toHaveCount(0);
  await expect(alice.locator("#messages li.activity", { hasText: "bob joined" })).toHaveCount(1);
  await expect(alice.locator("#activity-log li", { hasText: "bob" })).toHaveCount(1);
  await expect(alice.locator("#online-count")).toHaveText("2 people online");
});

test("a taken name is refused with the reason", async ({ openPage }) => {
  const first = await openPage();
  await enterRoom(first, "Alice");
  const second = await openPage();
  await second.locator("#show-register").click();
  await second.locator("#username").fill("alice");
  await second.locator("#password").fill("another password");
  await second.locator("#password").press("Enter");
  await expect(second.locator("#auth-error")).toHaveText("the name “alice” is taken");
  await expect(second.locator("main#room")).toHaveCount(0);
  // Too long a name is refused in the page, with the server's words.
  await second.locator("#username").fill("x".repeat(33));
  await second.locator("#password").press("Enter");
  await expect(second.locator("#auth-error")).toHaveText("the name is 33 characters long; the limit is 32");
  // Another name works.
  await enterRoom(second, "alice2");
  await expect(first.locator("#online-count")).toHaveText("2 people online");
});
