// Nobody is in the room without logging in: register, log in, reload and
// stay, log out and be out, and an expired session back at the form.
import {
  test as base,
  expect,
  enterRoom,
  gotoHydrated,
  logIn,
  say,
  serverFixture,
  watchErrors,
  type Server,
} from "./fixtures";

// Logins last three seconds here.
const test = base.extend<{ shortServer: Server }>({ shortServer: serverFixture(["--token-ttl-secs", "3"]) });


test("the room is closed before login, even by URL", async ({ openPage }) => {
  const page = await openPage();
  await expect(page.locator("form#auth")).toBeVisible();
  await expect(page.locator("main#room")).toHaveCount(0);
  await gotoHydrated(page, page.url() + "?room");
  await expect(page.locator("form#auth")).toBeVisible();
  await expect(page.locator("main#room")).toHaveCount(0);
  // A wrong password is refused with the server's words.
  await page.locator("#username").fill("nobody");
  await page.locator("#password").fill("not the password");
  await page.locator("#auth-submit").click();
  await expect(page.locator("#auth-error")).toHaveText("wrong username or password");
});

test("register, chat with another user, reload and stay, log out and be out", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await say(alice, "hello bob");
  await expect(bob.locator("li.message", { hasText: "hello bob" })).toBeVisible();

  await alice.reload();
  await alice.locator("body[data-hydrated]").waitFor();
  await expect(alice.locator("main#room")).toBeVisible();
  await expect(alice.locator("#whoami")).toHaveText("alice");
  await expect(alice.locator("li.message", { hasText: "hello bob" })).toBeVisible();

  await alice.locator("#logout").click();
  await expect(alice.locator("form#auth")).toBeVisible();
  await expect(bob.locator("#messages li.activity").last()).toContainText("alice left");
  await alice.reload();
  await alice.locator("body[data-hydrated]").waitFor();
  await expect(alice.locator("form#auth")).toBeVisible();
  await expect(alice.locator("main#room")).toHaveCount(0);

  // And back in with the password.
  await logIn(alice, "alice");
  await expect(bob.locator("#online li")).toHaveText(["bob", "alice"]);
});

test("an expired session lands on the login form", async ({ browser, shortServer }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  watchErrors(page, errors);
  await gotoHydrated(page, shortServer.url);
  await enterRoom(page, "alice");
  await expect(page.locator("form#auth")).toBeVisible({ timeout: 15_000 });
  await expect(page.locator("#auth-notice")).toHaveText("Your session expired. Log in again.");
  await expect(page.locator("main#room")).toHaveCount(0);
  await context.close();
  expect(errors).toEqual([]);
});

test("log out everywhere ends the account's other pages too", async ({ openPage }) => {
  const laptop = await openPage();
  const phone = await openPage();
  const bob = await openPage();
  await enterRoom(laptop, "alice");
  await logIn(phone, "alice");
  await enterRoom(bob, "bob");

  await laptop.locator("#logout-all").click();
  await expect(laptop.locator("form#auth")).toBeVisible();
  // The phone's connection is cut and its login refused: back to the form.
  await expect(phone.locator("form#auth")).toBeVisible();
  await expect(phone.locator("#auth-notice")).toHaveText("You were logged out. Log in again.");
  await phone.reload();
  await phone.locator("body[data-hydrated]").waitFor();
  await expect(phone.locator("main#room")).toHaveCount(0);
  // Bob stays.
  await expect(bob.locator("main#room")).toBeVisible();
  await expect(bob.locator("#messages li.activity").last()).toContainText("alice left");
});
