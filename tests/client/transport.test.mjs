// transport.test.mjs — which transport the real client ends up on when the application does not
// choose one (protocol.md §10.1): the server offers ServerSentEvents first, so an unrestricted
// client takes it; when the SSE GET fails the client negotiates again and falls back to
// LongPolling.  The failure is made by lighttpd itself, as a proxy that refuses event streams
// would: the test config (tests/integration/lighttpd.conf.in) denies a GET with
// `Accept: text/event-stream` whose query carries nosse=1; the client keeps the hub URL's query on
// every request, and the workers ignore the unknown key.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
    DISCONNECT_TIMEOUT_MS, Inbox, RS, RawConnection, RecordingHttpClient, SseStream, connect, hubUrl,
    signalR, sleep, tag,
} from "./helpers.mjs";

const T = { timeout: 60000 };

/** ILogger that keeps every message (the client's own account of what it did) */
class CapturingLogger {
    constructor() {
        this.lines = [];
    }

    log(level, message) {
        this.lines.push(`${signalR.LogLevel[level]}: ${message}`);
    }
}

const hubGets = (recorder, hub) =>
    recorder.requests.filter((r) => r.method === "GET" && r.url.startsWith(`${hubUrl(hub)}?`));
const negotiates = (recorder) =>
    recorder.requests.filter((r) => r.method === "POST" && r.url.includes("/negotiate?"));

test("no transport option: the client picks ServerSentEvents, the server's first offer", T, async (t) => {
    const recorder = new RecordingHttpClient();
    const logger = new CapturingLogger();
    const c = await connect(t, "Test", { httpClient: recorder, logger }, { transport: "auto", expect: null });
    assert.equal(c.transportName, "ServerSentEvents");
    // one EventSource, opened on the connection URL; no polls; one negotiate
    assert.equal(c.eventSources.length, 1, JSON.stringify(c.eventSources.map((e) => e.url)));
    assert.ok(c.eventSources[0].opened);
    assert.match(c.eventSources[0].url, new RegExp(`^${hubUrl("Test").replace(/[.?/]/g, "\\$&")}\\?id=[A-Za-z0-9_-]{22}$`));
    assert.deepEqual(hubGets(recorder, "Test"), [], "no long polls");
    assert.equal(negotiates(recorder).length, 1);
    // the client's own log says so too
    assert.ok(logger.lines.some((l) => l.includes("Selecting transport 'ServerSentEvents'")), logger.lines.join("\n"));
    assert.ok(logger.lines.some((l) => l.includes("SSE connected to")), logger.lines.join("\n"));
    assert.ok(!logger.lines.some((l) => /LongPolling transport|\(LongPolling transport\)/.test(l)), logger.lines.join("\n"));
    const text = `auto ${tag()}`;
    assert.equal(await c.invoke("Echo", text), text);
});

test("the nosse=1 rule is lighttpd's: the SSE GET is refused (403) before any worker sees it", T, async (t) => {
    const c = await RawConnection.negotiate("Test");
    t.after(() => c.delete().catch(() => {}));
    const refused = await SseStream.open(`${hubUrl("Test")}?nosse=1&id=${c.token}`);
    assert.equal(refused.status, 403, `SSE GET with nosse=1: ${refused.status} ${refused.raw.slice(0, 200)}`);
    assert.doesNotMatch(refused.headers["content-type"] ?? "", /event-stream/);
    // The worker never saw it: the connection has no transport yet, so it can still long-poll
    // (an SSE GET that had reached a worker would have bound it to ServerSentEvents: 400).
    const first = await http200Poll(`${hubUrl("Test")}?nosse=1&id=${c.token}&_=${Date.now()}`);
    assert.equal(first.status, 200);
    assert.equal(first.body, "");
    // POSTs with the key pass too, and the handshake answer comes by poll
    const hs = await c.send(`{"protocol":"json","version":1}${RS}`);
    assert.equal(hs.status, 200);
    const reply = await c.poll();
    assert.equal(reply.status, 200);
    assert.ok(reply.body.startsWith(`{}${RS}`), JSON.stringify(reply.body));
    // without the key the same kind of GET streams
    const other = await RawConnection.negotiate("Test");
    const s = await SseStream.open(other.url);
    t.after(() => s.close());
    assert.equal(s.status, 200);
});

async function http200Poll(url) {
    const res = await fetch(url, { signal: AbortSignal.timeout(15000) });
    return { status: res.status, body: await res.text() };
}

test("fallback: when the SSE GET fails, the client negotiates again and works over LongPolling", T, async (t) => {
    const recorder = new RecordingHttpClient();
    const logger = new CapturingLogger();
    const observer = await connect(t, "Test", {}, { transport: "LongPolling" });
    const broadcasts = new Inbox(observer, "Broadcast");
    const startedAt = Date.now();
    const c = await connect(t, "Test", { httpClient: recorder, logger },
        { transport: "auto", query: "?nosse=1", expect: "LongPolling" });
    const inC = new Inbox(c, "Broadcast");

    // the SSE attempt: one EventSource, refused with 403, never opened
    assert.equal(c.eventSources.length, 1, JSON.stringify(c.eventSources.map(({ url, status }) => ({ url, status }))));
    const [sse] = c.eventSources;
    assert.equal(sse.opened, false);
    assert.equal(sse.status, 403);
    assert.match(sse.url, /\?nosse=1&id=[A-Za-z0-9_-]{22}$/);
    const abandonedToken = sse.url.slice(sse.url.lastIndexOf("=") + 1);

    // then a brand-new negotiate (§10.1) and long polls on the new token, all keeping nosse=1
    const negs = negotiates(recorder);
    assert.equal(negs.length, 2, JSON.stringify(recorder.requests.map((r) => `${r.method} ${r.url} ${r.status}`)));
    for (const n of negs) assert.ok(n.url.startsWith(`${hubUrl("Test")}/negotiate?nosse=1&negotiateVersion=1`), n.url);
    const polls = hubGets(recorder, "Test");
    assert.ok(polls.length >= 1, "long polls were made");
    for (const p of polls) {
        assert.match(p.url, /\?nosse=1&id=[A-Za-z0-9_-]{22}&_=\d+$/);
        assert.ok(!p.url.includes(`id=${abandonedToken}&`), "the polls use the new token");
    }
    assert.ok(logger.lines.some((l) => l.includes("Selecting transport 'ServerSentEvents'")), logger.lines.join("\n"));
    assert.ok(logger.lines.some((l) => l.includes("Selecting transport 'LongPolling'")), logger.lines.join("\n"));

    // and it works: results, and messages both ways
    const text = `fallback ${tag()}`;
    assert.equal(await c.invoke("Echo", text), text);
    assert.equal(await c.invoke("Add", 20, 22), 42);
    await c.invoke("Broadcast", text);
    await inC.waitFor((s) => s === text, 10000, "the fallback client receiving its broadcast");
    await broadcasts.waitFor((s) => s === text, 10000, "the observer receiving the fallback client's broadcast");
    const ping = `to fallback ${tag()}`;
    await observer.invoke("Broadcast", ping);
    await inC.waitFor((s) => s === ping, 10000, "the fallback client receiving a broadcast");
    assert.equal(c.state, "Connected");
    assert.ok(recorder.requests.every((r) => r.status === undefined || r.status < 300 || r === negs[0]),
        `refused requests: ${JSON.stringify(recorder.requests.filter((r) => r.status >= 300))}`);

    // The connection negotiated for the failed attempt is reaped like any unused one.  Probed
    // with empty POSTs: they neither end it (as a non-handshake frame would) nor keep it alive.
    const unused = new RawConnection("Test", { connectionId: "unused", connectionToken: abandonedToken });
    const deadline = startedAt + DISCONNECT_TIMEOUT_MS + 10000;
    let r;
    for (;;) {
        r = await unused.send("");
        if (r.status !== 200 || Date.now() > deadline) break;
        await sleep(250);
    }
    assert.equal(r.status, 404, `the abandoned connection still answers ${r.status} ${r.body}`);
    const ms = Date.now() - startedAt;
    assert.ok(ms >= DISCONNECT_TIMEOUT_MS - 500, `reaped ${ms} ms after it was negotiated`);
});
