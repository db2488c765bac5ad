// Without JavaScript (or before the page has hydrated) the login and register
// forms still work: they post to the server, which sets the login cookie and
// redirects, or brings the reason back to the form; a password never travels
// in a URL.
import { test, expect, PASSWORD, gotoHydrated, watchErrors } from "./fixtures";

test("without JavaScript the forms register, refuse and log in, and no URL holds the password", async ({
  browser,
  server,
}) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const urls: string[] = [];
  page.on("request", (request) => urls.push(request.url()));
  const token = async () => (await context.cookies()).find((c) => c.name === "chatroom_token")?.value;
  await page.goto(server.url);

  // The mode button loads the register form.
  await page.locator("#show-register").click();
  await expect(page).toHaveURL(/\?mode=register$/);
  await expect(page.locator("#auth-submit")).toHaveText("Create account");
  await page.locator("#username").fill("alice");
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#password").press("Enter");
  await expect(page).toHaveURL(`${server.url}/`);
  expect(await token()).toBeTruthy();

  // A wrong password comes back to the form with the server's words, once.
  await context.clearCookies();
  await page.goto(server.url);
  await page.locator("#username").fill("alice");
  await page.locator("#password").fill(`not ${PASSWORD}`);
  await page.locator("#auth-submit").click();
  await expect(page.locator("#auth-error")).toHaveText("wrong username or password");
  expect(await token()).toBeUndefined();
  await page.reload();
  await expect(page.locator("#auth-error")).toHaveText("");

  // The right one logs in.
  await page.locator("#username").fill("alice");
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#password").press("Enter");
  await expect(page).toHaveURL(`${server.url}/`);
  expect(await token()).toBeTruthy();

  // The cookie is a login: a page with JavaScript opens the room with it.
  const withScripts = await browser.newContext({ storageState: await context.storageState() });
  const room = await withScripts.newPage();
  const errors: string[] = [];
  watchErrors(room, errors);
  await gotoHydrated(room, server.url);
  await expect(room.locator("main#room")).toBeVisible();
  await expect(room.locator("#whoami")).toHaveText("alice");

  const secrets = [PASSWORD, encodeURIComponent(PASSWORD), PASSWORD.replaceAll(" ", "+"), "password="];
  expect(urls.filter((url) => secrets.some((secret) => url.includes(secret)))).toEqual([]);
  await withScripts.close();
  await context.close();
  expect(errors).toEqual([]);
});
