// reconnect.test.mjs — a worker dies under a connected page: the page shows "reconnecting", the
// client's automatic reconnect gets a new connection from the other worker (or the one lighttpd
// spawns in its place), and the page shows "connected" again and still chats.
//
// The workers are the children of the lighttpd that run.sh started (SR_TEST_LIGHTTPD_PID); which
// of them holds the page's stream or poll is not visible from outside, so the test SIGKILLs them
// one after the other until the page notices (lighttpd respawns each one it loses).  Runs last.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
    childPids, commOf, connectionIdOf, launch, openPage, panel, problemsOf, say, screenshot, sleep, tag,
    transportOf, waitMessage, waitState,
} from "./helpers.mjs";

const LIGHTTPD = Number(process.env.SR_TEST_LIGHTTPD_PID);
/** console lines a lost connection causes: the cut stream, lighttpd's 5xx for the cut poll, and the
 *  client's error log line about it */
const LOST = [/ERR_INCOMPLETE_CHUNKED_ENCODING/, /status of 50\d/, /Connection disconnected with error/];

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const workers = () => childPids(LIGHTTPD).filter((p) => commOf(p).startsWith("signalr-fcgi"));

/** Waits until lighttpd has `n` live workers again. */
async function waitWorkers(n, timeout = 20_000) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
        if (workers().length >= n) return;
        await sleep(100);
    }
    throw new Error(`lighttpd ${LIGHTTPD} has ${workers().length} workers, expected ${n}`);
}

/** Records every state the chat panel shows (a MutationObserver on its state label). */
async function recordStates(page) {
    await page.evaluate(() => {
        const el = document.querySelector('[data-testid="chat-panel"] [data-testid="state"]');
        window.__states = [el.dataset.state];
        new MutationObserver(() => {
            const s = el.dataset.state;
            if (window.__states.at(-1) !== s) window.__states.push(s);
        }).observe(el, { attributes: true, attributeFilter: ["data-state"] });
    });
}

const noticeCount = (page, text) =>
    panel(page, "chat").getByTestId("notice").filter({ hasText: text }).count();

/** SIGKILLs the workers one at a time until the page loses its connection; returns the pids. */
async function killUntilLost(page) {
    const killed = [];
    for (const pid of workers()) {
        process.kill(pid, "SIGKILL");
        killed.push(pid);
        const deadline = Date.now() + 4000;
        while (Date.now() < deadline) {
            const states = await page.evaluate(() => window.__states);
            if (states.includes("reconnecting")) return killed;
            await sleep(50);
        }
    }
    throw new Error(`killed workers ${killed.join(", ")} and the page never showed "reconnecting"`);
}

test("SIGKILLed workers: the page shows reconnecting, then connected again", { timeout: 120_000 }, async (t) => {
    assert.ok(LIGHTTPD > 0, "SR_TEST_LIGHTTPD_PID names the lighttpd of run.sh");
    await waitWorkers(2);
    for (const transport of ["ServerSentEvents", "LongPolling"]) {
        await t.test(transport, async () => {
            const page = await openPage(browser, { name: "Phoenix", path: `/?transport=${transport}` });
            assert.equal(await transportOf(page), transport);
            const before = await connectionIdOf(page);
            await recordStates(page);

            const killed = await killUntilLost(page);
            await waitState(page, "connected", "chat", 60_000);
            const states = await page.evaluate(() => window.__states);
            assert.deepEqual(states.slice(0, 2), ["connected", "reconnecting"], `states: ${states}`);
            assert.equal(states.at(-1), "connected", `states: ${states}`);
            assert.equal(await noticeCount(page, "Connection lost — reconnecting"), 1);
            assert.equal(await noticeCount(page, `Reconnected over ${transport}`), 1);
            assert.equal(await transportOf(page), transport, "the reconnect keeps the forced transport");
            const after = await connectionIdOf(page);
            assert.notEqual(after, before, "a new connection after the reconnect");
            for (const pid of killed) assert.ok(!workers().includes(pid), `worker ${pid} is gone`);

            // the new connection works both ways (with a peer that comes after the kills, so that
            // it is not in the middle of a reconnect of its own)
            const peer = await openPage(browser, { name: "Peer" });
            await transportOf(peer);
            const t1 = tag();
            await say(page, `back again ${t1}`);
            await waitMessage(peer, `back again ${t1}`);
            await say(peer, `welcome back ${t1}`);
            await waitMessage(page, `welcome back ${t1}`);
            if (transport === "ServerSentEvents") await screenshot(page, "reconnected-desktop.png");
            t.diagnostic(`${transport}: killed ${killed.length} worker(s); states ${states.join(" > ")}`);
            // what the browser and the client log about the broken stream or poll, and nothing else
            assert.deepEqual(problemsOf(page, LOST), []);
            assert.deepEqual(problemsOf(peer), []);
            await page.context().close();
            await peer.context().close();
            await waitWorkers(2);
        });
    }
});
