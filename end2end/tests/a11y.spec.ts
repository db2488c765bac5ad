// Accessibility: axe finds nothing serious or critical on any page (log
// in, register, the room, the phone's drawer), in the light theme or the
// dark one.
import AxeBuilder from "@axe-core/playwright";
import { test, expect, enterRoom, say, type Page } from "./fixtures";

/** Fails with axe's serious and critical findings on the page as it is now. */
async function expectNoSeriousViolations(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ rule: v.id, help: v.help, where: v.nodes.map((n) => n.target.join(" ")) }));
  expect(serious, what).toEqual([]);
}

for (const theme of ["light", "dark"] as const) {
  test.describe(`${theme} theme`, () => {
    test("the login and register forms", async ({ openPage }) => {
      const page = await openPage();
      await page.emulateMedia({ colorScheme: theme });
      await expectNoSeriousViolations(page, "login form");
      await page.locator("#show-register").click();
      await expect(page.locator("#show-register")).toHaveAttribute("aria-pressed", "true");
      await expectNoSeriousViolations(page, "register form");
      // A refusal on show.
      await page.locator("#username").fill("x");
      await page.locator("#password").fill("short");
      await page.locator("#auth-submit").click();
      await expect(page.locator("#auth-error")).not.toBeEmpty();
      await expectNoSeriousViolations(page, "register form with an error");
    });

    test("the room, with messages from others and one's own", async ({ openPage }) => {
      const page = await openPage();
      await page.emulateMedia({ colorScheme: theme });
      // Chosen in the menu rather than by the system: the same colours.
      await page.locator("#theme").selectOption(theme);
      await enterRoom(page, "ana");
      const other = await openPage();
      await enterRoom(other, "ben");
      await say(other, "hello from ben");
      await say(page, "hello from ana");
      await expect(page.locator("li.message")).toHaveCount(2);
      await expectNoSeriousViolations(page, "room");
    });

    test("the room on a phone, with the drawer open", async ({ openPage }) => {
      const page = await openPage({ width: 375, height: 740 });
      await page.emulateMedia({ colorScheme: theme });
      await enterRoom(page, "cy");
      await say(page, "small screen");
      await expectNoSeriousViolations(page, "room on a phone");
      await page.locator("#online-toggle").click();
      await expect(page.locator("#side-panel")).toBeVisible();
      await expectNoSeriousViolations(page, "drawer");
    });
  });
}
