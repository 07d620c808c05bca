// chat.test.mjs — the public chat room (/Hubs/ChatRoom) between two pages, over each transport
// the page can force, and the transport selector.  Also takes the chat screenshots (desktop and
// phone); chat-desktop.png becomes docs/screenshot.png (run.sh).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
    DESKTOP, PHONE, chooseTransport, connectionIdOf, launch, openPage, panel, problemsOf, say,
    screenshot, tag, transportOf, waitMessage,
} from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Two visitors exchange a message each; both see both, each marks its own as "mine". */
async function exchange(a, b) {
    const t = tag();
    const fromA = `hello from A ${t}`;
    const fromB = `and hello from B ${t}`;
    await say(a, fromA);
    await waitMessage(b, fromA);
    const ownA = await waitMessage(a, fromA);
    assert.equal(await ownA.getAttribute("data-mine"), "true", "A's own message is marked as A's");
    await say(b, fromB);
    const seen = await waitMessage(a, fromB);
    assert.equal(await seen.getAttribute("data-mine"), "false", "B's message is not A's");
    // the sender is shown by the name the page put in front of the text
    assert.match(await seen.locator(".author").textContent(), /Bob/);
    // the line carries the sender's connection id (ReceivePublicMessage "<id>:<time>:<text>")
    assert.equal(await seen.getAttribute("data-connection-id"), await connectionIdOf(b));
}

for (const transport of ["ServerSentEvents", "LongPolling"]) {
    describe(`chat over ${transport}`, () => {
        test("two pages chat; the transport label shows the forced transport", async () => {
            // A forces the transport with the selector, B through the page's ?transport= link
            const a = await openPage(browser, { name: "Alice" });
            await chooseTransport(a, transport);
            const b = await openPage(browser, { name: "Bob", path: `/?transport=${transport}` });
            // the selector restarts A's connection; wait for the new one
            await a.waitForFunction((t) => document.querySelector('[data-testid="chat-panel"] [data-testid="transport"]')?.textContent.trim() === t, transport, { timeout: 30_000 });
            assert.equal(await transportOf(a), transport);
            assert.equal(await transportOf(b), transport);
            assert.equal(await b.getByTestId("transport-select").inputValue(), transport);
            assert.notEqual(await connectionIdOf(a), await connectionIdOf(b));
            await exchange(a, b);
            assert.deepEqual(problemsOf(a), []);
            assert.deepEqual(problemsOf(b), []);
            await a.context().close();
            await b.context().close();
        });
    });
}

test("switching the transport reconnects over the chosen one", async () => {
    const a = await openPage(browser, { name: "Alice" });
    assert.equal(await transportOf(a), "ServerSentEvents", "auto picks Server-Sent Events");
    const first = await connectionIdOf(a);
    await chooseTransport(a, "LongPolling");
    await a.waitForFunction(() => document.querySelector('[data-testid="chat-panel"] [data-testid="transport"]')?.textContent.trim() === "LongPolling", null, { timeout: 30_000 });
    const second = await connectionIdOf(a);
    assert.notEqual(second, first, "a new connection");
    assert.match(a.url(), /[?&]transport=LongPolling/, "the choice is kept in the address");
    const t = tag();
    await say(a, `still here ${t}`);
    await waitMessage(a, `still here ${t}`);
    await a.context().close();
});

test("Enter sends, Shift+Enter does not; nothing is sent while the field is empty", async () => {
    const a = await openPage(browser, { name: "" });
    await transportOf(a);
    const input = panel(a, "chat").getByTestId("message-input");
    await input.press("Enter"); // empty: nothing
    await input.fill(`no name ${tag()}`);
    await input.press("Shift+Enter");
    assert.notEqual(await input.inputValue(), "", "Shift+Enter keeps the text");
    const text = await input.inputValue();
    await input.press("Enter");
    const msg = await waitMessage(a, text);
    // the page's own message, sent without a name prefix
    assert.equal((await msg.locator(".author").textContent()).trim(), "You");
    assert.equal(await msg.getAttribute("data-mine"), "true");
    assert.equal(await panel(a, "chat").getByTestId("message").count(), 1);
    await a.context().close();
});

test("screenshots: a conversation on a desktop and on a phone", async () => {
    const alice = await openPage(browser, { name: "Alice", viewport: DESKTOP });
    const bob = await openPage(browser, { name: "Bob", viewport: PHONE, isMobile: true,
        path: "/?transport=LongPolling" });
    await transportOf(alice);
    await transportOf(bob);
    const lines = [
        [alice, "Hi Bob! This page talks to a SignalR hub written in C."],
        [bob, "Hi Alice. I'm on my phone, over long polling."],
        [alice, "And I'm on Server-Sent Events. Same hub, two FastCGI workers, state in PostgreSQL."],
        [bob, "No WebSockets anywhere?"],
        [alice, "None needed: plain HTTP requests that any proxy passes."],
    ];
    for (const [page, text] of lines) {
        await say(page, text);
        await waitMessage(alice, text);
        await waitMessage(bob, text);
    }
    await alice.getByTestId("message-input").focus();
    await screenshot(alice, "chat-desktop.png");
    await screenshot(bob, "chat-phone.png");
    assert.deepEqual(problemsOf(alice), []);
    assert.deepEqual(problemsOf(bob), []);
    await alice.context().close();
    await bob.context().close();
});
