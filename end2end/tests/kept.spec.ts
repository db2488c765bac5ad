// A tab keeps what was written and not yet stored across a reload: the
// outbox (in order, sent once when the page is back in the room) and the
// composer's draft. Logging out forgets them. A kept message the server
// refuses waits with the server's reason, to edit or discard.
import { test, expect, enterRoom, logIn, reloadHydrated, say, write, type Page } from "./fixtures";

/**
 * Routes `page`'s Socket.IO connections through the test. While cut, every
 * connection is closed at once, so the page stays offline while its HTTP
 * requests (a reload) still work.
 */
async function cuttable(page: Page): Promise<(cut: boolean) => void> {
  let cut = false;
  const open = new Set<{ close: () => void }>();
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    if (cut) {
      ws.close();
      return;
    }
    const server = ws.connectToServer();
    const both = {
      close: () => {
        ws.close();
        server.close();
      },
    };
    open.add(both);
    ws.onClose(() => open.delete(both));
  });
  return (now) => {
    cut = now;
    if (cut) {
      for (const connection of open) connection.close();
      open.clear();
    }
  };
}

/** The keys of the tab's session storage that hold Chatroom's kept state. */
function keptKeys(page: Page): Promise<string[]> {
  return page.evaluate(() => Object.keys(sessionStorage).filter((key) => key.startsWith("chatroom.")).sort());
}

test("messages written offline and a draft survive a reload, then go once and in order", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  const cut = await cuttable(alice);
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");
  await say(alice, "before");

  cut(true);
  await expect(alice.locator("#connection")).not.toHaveAttribute("data-state", "online");
  const texts = ["first while away", "second while away"];
  for (const text of texts) await write(alice, text);
  await alice.locator("#message").fill("half written");
  const pending = alice.locator("#pending li.pending");
  await expect(pending.locator(".text")).toHaveText(texts);
  await expect.poll(() => keptKeys(alice)).toHaveLength(2);

  await reloadHydrated(alice);
  await expect(pending.locator(".text")).toHaveText(texts);
  await expect(pending.locator(".state")).toHaveText(["sending…", "sending…"]);
  await expect(alice.locator("#message")).toHaveValue("half written");
  await expect(bob.locator("li.message .text")).toHaveText(["before"]);

  cut(false);
  await expect(pending).toHaveCount(0, { timeout: 20_000 });
  for (const page of [alice, bob]) {
    await expect(page.locator("li.message .text")).toHaveText(["before", ...texts], { timeout: 20_000 });
  }
  await reloadHydrated(bob);
  await expect(bob.locator("li.message .text")).toHaveText(["before", ...texts]);
  // Sent: only the draft is kept now, and a reload still has it.
  await expect.poll(() => keptKeys(alice)).toEqual([expect.stringMatching(/^chatroom\.draft\.\d+$/)]);
  await reloadHydrated(alice);
  await expect(alice.locator("#message")).toHaveValue("half written");

  // Logging out forgets it: the next login in this tab starts empty.
  await alice.locator("#logout").click();
  await expect(alice.locator("#auth")).toBeVisible();
  expect(await keptKeys(alice)).toEqual([]);
  await logIn(alice, "alice");
  await expect(alice.locator("#message")).toHaveValue("");
  await expect(pending).toHaveCount(0);
});

test("a kept message the server refuses waits with its reason, to edit or discard", async ({ openPage }) => {
  const alice = await openPage();
  const bob = await openPage();
  const cut = await cuttable(alice);
  await enterRoom(alice, "alice");
  await enterRoom(bob, "bob");

  cut(true);
  await expect(alice.locator("#connection")).not.toHaveAttribute("data-state", "online");
  for (const text of ["to edit", "goes", "to discard"]) await write(alice, text);
  await expect(alice.locator("#pending li.pending")).toHaveCount(3);
  // Kept by an older page whose limit was looser: the page's own checks
  // never see these, so only the server can refuse them.
  const long = "x".repeat(2_001);
  await expect.poll(() => keptKeys(alice)).toHaveLength(1);
  await alice.evaluate((long) => {
    const key = Object.keys(sessionStorage).find((k) => k.startsWith("chatroom.outbox."))!;
    const items = JSON.parse(sessionStorage.getItem(key)!);
    for (const item of items) if (item.text !== "goes") item.text = `${item.text} ${long}`;
    sessionStorage.setItem(key, JSON.stringify(items));
  }, long);
  await reloadHydrated(alice);

  cut(false);
  await expect(bob.locator("li.message .text")).toHaveText(["goes"], { timeout: 20_000 });
  const refused = alice.locator("#pending li.pending");
  await expect(refused).toHaveCount(2, { timeout: 20_000 });
  await expect(refused.locator(".reason")).toHaveText([
    "the message is 2009 characters long; the limit is 2000",
    "the message is 2012 characters long; the limit is 2000",
  ]);
  await expect(alice.locator("li.message.own .text")).toHaveText(["goes"]);
  // Two long ones waiting leave the stream and the composer their room.
  await expect(alice.locator("#message")).toBeInViewport();
  await expect(refused.first().locator("button.edit")).toBeInViewport();
  const stream = await alice.locator("#messages").boundingBox();
  expect(stream!.height).toBeGreaterThan(200);

  // Edit brings the text back to the composer, where the counter says what
  // to cut; Discard drops it. Neither ever reaches bob.
  await refused.first().locator("button.edit").click();
  await expect(alice.locator("#message")).toHaveValue(`to edit ${long}`);
  await expect(alice.locator("#composer-counter")).toHaveText("9 too many");
  await expect(refused.locator(".text")).toHaveText([`to discard ${long}`]);
  await refused.first().locator("button.discard").click();
  await expect(refused).toHaveCount(0);
  await write(alice, "to edit, shorter");
  await expect(bob.locator("li.message .text")).toHaveText(["goes", "to edit, shorter"]);
  // Nothing is kept now but what is in the composer (empty: nothing).
  await expect.poll(() => keptKeys(alice)).toEqual([]);
});
