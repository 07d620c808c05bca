// fallback.test.mjs — the page's default transport ("auto": no transport option, the client's
// own choice) in browsers without WebSockets, and without EventSource either.  The server offers
// no WebSockets; the client must take Server-Sent Events, else long polling.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, openPage, problemsOf, say, tag, transportOf, waitMessage } from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Counts the WebSockets the page opens (there must be none) and the EventSource GETs. */
function watch(page, seen) {
    Object.assign(seen, { websockets: 0, eventStreams: 0 });
    page.on("websocket", () => seen.websockets++);
    page.on("request", (r) => {
        if (r.resourceType() === "eventsource") seen.eventStreams++;
    });
    return seen;
}

test("without WebSocket the default transport connects over ServerSentEvents", async () => {
    const seen = {};
    const page = await openPage(browser, {
        name: "NoWS",
        init: async (p) => {
            watch(p, seen);
            await p.addInitScript(() => { window.WebSocket = undefined; });
        },
    });
    assert.equal(await page.evaluate(() => typeof window.WebSocket), "undefined");
    assert.equal(await page.getByTestId("transport-select").inputValue(), "auto");
    assert.equal(await transportOf(page), "ServerSentEvents");
    const text = `over SSE by default ${tag()}`;
    await say(page, text);
    await waitMessage(page, text);
    assert.equal(seen.websockets, 0, "no WebSocket was opened");
    assert.ok(seen.eventStreams >= 1, "the page opened an event stream");
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
});

test("without WebSocket and EventSource the default transport falls back to LongPolling", async () => {
    const page = await openPage(browser, {
        name: "NoSSE",
        init: (p) => p.addInitScript(() => { window.WebSocket = undefined; window.EventSource = undefined; }),
    });
    assert.equal(await transportOf(page), "LongPolling");
    const text = `over long polling ${tag()}`;
    await say(page, text);
    await waitMessage(page, text);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
});

test("an SSE page and a long-polling page hear each other", async () => {
    const sse = await openPage(browser, { name: "Sse", init: (p) => p.addInitScript(() => { window.WebSocket = undefined; }) });
    const lp = await openPage(browser, { name: "Lp",
        init: (p) => p.addInitScript(() => { window.WebSocket = undefined; window.EventSource = undefined; }) });
    assert.equal(await transportOf(sse), "ServerSentEvents");
    assert.equal(await transportOf(lp), "LongPolling");
    const t = tag();
    await say(sse, `from sse ${t}`);
    await waitMessage(lp, `from sse ${t}`);
    await say(lp, `from lp ${t}`);
    await waitMessage(sse, `from lp ${t}`);
    await sse.context().close();
    await lp.context().close();
});
