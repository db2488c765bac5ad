// Two people chat both ways; the screenshot for the README comes from here.
import path from "node:path";
import { test, expect, enterRoom, repo, say } from "./fixtures";

/** Hours and minutes of `iso` on a clock in `timeZone`, as the page shows them ("14:05"). */
function clockIn(timeZone: string, iso: string): string {
  return new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
    new Date(iso),
  );
}

test("two users chat both ways and each message shows at once for the other", async ({ openPage }) => {
  // Two time zones that are never a whole number of hours from UTC nor from
  // each other: a page showing UTC, or the other reader's time, shows up.
  const zones = { alice: "America/St_Johns", bob: "Asia/Kathmandu" };
  const alice = await openPage({ timezoneId: zones.alice });
  const bob = await openPage({ timezoneId: zones.bob });
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");

  // `say` waits for alice's own copy, shown from the server's acknowledgement.
  await say(alice, "hi bob, how are things?");
  const atBob = bob.locator("li.message", { hasText: "hi bob, how are things?" });
  await expect(atBob.locator(".author")).toHaveText("alice");
  await expect(atBob.locator(".text")).toHaveText("hi bob, how are things?");
  await expect(atBob).not.toHaveClass(/\bown\b/);
  await expect(alice.locator("#message")).toHaveValue("");

  await say(bob, "all good, alice!");
  const atAlice = alice.locator("li.message", { hasText: "all good, alice!" });
  await expect(atAlice.locator(".author")).toHaveText("bob");
  await expect(atAlice).not.toHaveClass(/\bown\b/);
  await expect(bob.locator("li.message.own .author").last()).toHaveText("bob");

  // Both screens show the same message with the same server id and instant,
  // each on its reader's own clock.
  const own = alice.locator("li.message.own", { hasText: "hi bob" });
  const id = await atBob.getAttribute("data-id");
  expect(id).toMatch(/^\d+$/);
  await expect(own).toHaveAttribute("data-id", id!);
  const datetime = await atBob.locator("time").getAttribute("datetime");
  expect(datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  expect(Math.abs(Date.parse(datetime!) - Date.now())).toBeLessThan(60_000);
  await expect(own.locator("time")).toHaveAttribute("datetime", datetime!);
  await expect(atBob.locator("time")).toHaveText(clockIn(zones.bob, datetime!));
  await expect(own.locator("time")).toHaveText(clockIn(zones.alice, datetime!));
});

test("a third user joins the conversation; the README screenshot", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  const carol = await openPage();
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await say(alice, "Morning! Has anyone seen the build results?");
  await say(bob, "Green across the board");
  await enterRoom(carol, "carol");
  await say(carol, "Great, shipping it then.");
  await expect(alice.locator("li.message", { hasText: "shipping it" })).toBeVisible();
  await bob.locator("#message").fill("On it");
  await expect(alice.locator("#typing")).toHaveText("bob is typing…");
  await expect(alice.locator("#online-count")).toHaveText("3 people online");
  // The README's pictures, light and dark: refreshed on request, so a test
  // run leaves the tree clean.
  for (const theme of ["light", "dark"]) {
    await alice.locator("#theme").selectOption(theme);
    await expect(alice.locator("html")).toHaveAttribute("data-theme", theme);
    const target = process.env.CHATROOM_UPDATE_SCREENSHOT
      ? path.join(repo, "docs", `screenshot-${theme}.png`)
      : test.info().outputPath(`room-${theme}.png`);
    await alice.screenshot({ path: target });
  }
});
