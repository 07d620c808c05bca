// layout.test.mjs — the page on a desktop (1280x800) and a phone (390x844): nothing wider than
// the screen, the composer on screen without scrolling the page, readable text and tappable
// controls on the phone, and not a single request to another origin (no CDN, no web fonts).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { BASE, DESKTOP, PHONE, launch, openPage, panel, problemsOf, screenshot, transportOf } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const origin = new URL(BASE).origin;

for (const [label, viewport, isMobile] of [["desktop", DESKTOP, false], ["phone", PHONE, true]]) {
    test(`${label} ${viewport.width}x${viewport.height}: fits, stays usable, loads nothing from elsewhere`, async () => {
        const foreign = [];
        const page = await openPage(browser, { name: "Layout", viewport, isMobile,
            init: (p) => p.on("request", (r) => { if (new URL(r.url()).origin !== origin) foreign.push(r.url()); }) });
        await transportOf(page);
        for (const tab of ["chat", "rooms"]) {
            await page.getByTestId(`tab-${tab}`).click();
            if (tab === "rooms") await transportOf(page, "rooms");
            const m = await page.evaluate(() => ({
                scrollWidth: document.documentElement.scrollWidth,
                scrollHeight: document.documentElement.scrollHeight,
                innerWidth: window.innerWidth,
                innerHeight: window.innerHeight,
            }));
            assert.ok(m.scrollWidth <= m.innerWidth, `${tab}: page ${m.scrollWidth}px wide in a ${m.innerWidth}px window`);
            assert.ok(m.scrollHeight <= m.innerHeight + 1, `${tab}: the page itself does not scroll (${m.scrollHeight}px)`);
            // the message field and its send button are on screen
            const input = panel(page, tab).getByTestId(tab === "chat" ? "message-input" : "room-message-input");
            const send = panel(page, tab).getByTestId(tab === "chat" ? "send" : "room-send");
            for (const el of [input, send]) {
                const box = await el.boundingBox();
                assert.ok(box && box.y >= 0 && box.y + box.height <= viewport.height && box.x + box.width <= viewport.width,
                    `${tab}: ${await el.getAttribute("data-testid")} on screen (${JSON.stringify(box)})`);
                if (isMobile) assert.ok(box.height >= 40, `${tab}: ${await el.getAttribute("data-testid")} is ${box.height}px tall`);
            }
            if (isMobile) {
                // 16px or more in text fields: mobile browsers zoom into smaller ones
                const sizes = await page.$$eval("input:not([type=hidden]), select",
                    (els) => els.filter((e) => e.offsetParent).map((e) => parseFloat(getComputedStyle(e).fontSize)));
                assert.ok(sizes.length > 0 && sizes.every((s) => s >= 16), `${tab}: field font sizes ${sizes}`);
            }
            await screenshot(page, `layout-${tab}-${label}.png`);
        }
        assert.deepEqual(foreign, [], "requests to other origins");
        assert.deepEqual(problemsOf(page), []);
        await page.context().close();
    });
}
