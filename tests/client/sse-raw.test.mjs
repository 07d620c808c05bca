// sse-raw.test.mjs — the Server-Sent Events transport spoken by hand (node:http, no client
// library): protocol.md §1.2 (what negotiate offers), §2 (validation), §4 (the stream: head,
// first bytes, framing, keep-alive, end), §6.3 (client timeout), §7.1 (handshake).  Needs
// SIGNALR_TEST_HUBS=1, SIGNALR_KEEPALIVE_INTERVAL=2 and SIGNALR_CLIENT_TIMEOUT=4 (scripts/test.sh).

import { test } from "node:test";
import assert from "node:assert/strict";
import {
    CLIENT_TIMEOUT_MS, ID_RE, Inbox, KEEPALIVE_INTERVAL_MS, RS, RawConnection, SseStream, connect,
    hubUrl, negotiate, openSse, sleep, tag,
} from "./helpers.mjs";

const T = { timeout: 60000 };
// the worker's loop ticks every 250 ms and checks for silent clients every 2 s; allow for a
// loaded 2-core machine on top
const SLACK_MS = 1500;
const SILENCE_CHECK_MS = 2000;
// an event or answer that must come "at once"
const PROMPT_MS = 1500;

const isPing = (f) => f.type === 6 && Object.keys(f).length === 1;

test("negotiate offers ServerSentEvents (Text) first, then LongPolling (Text, Binary)", T, async () => {
    const r = await negotiate("Test");
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body);
    assert.match(body.connectionId, ID_RE);
    assert.deepEqual(body.availableTransports, [
        { transport: "ServerSentEvents", transferFormats: ["Text"] },
        { transport: "LongPolling", transferFormats: ["Text", "Binary"] },
    ]);
});

test("SSE GET: 200 event stream, no caching, ':\\r\\n' at once; the handshake reply is the first event", T, async (t) => {
    const c = await RawConnection.negotiate("Test");
    const s = await SseStream.open(c.url);
    t.after(() => s.close());
    assert.equal(s.status, 200);
    assert.match(s.headers["content-type"] ?? "", /^text\/event-stream\b/);
    const cc = s.headers["cache-control"] ?? "";
    assert.match(cc, /no-cache/, `Cache-Control: ${cc}`);
    assert.match(cc, /no-store/, `Cache-Control: ${cc}`);
    assert.equal(s.headers["content-length"], undefined, "a stream has no Content-Length");

    // the opening comment arrives before anything was POSTed, and at once
    await s.waitFor((x) => x.raw.length >= 3, PROMPT_MS, "the first bytes of the stream");
    assert.equal(s.raw, ":\r\n", "nothing but the comment before the handshake");
    assert.ok(s.chunks[0].at - s.sentAt < PROMPT_MS, `first bytes after ${s.chunks[0].at - s.sentAt} ms`);
    await sleep(300);
    assert.equal(s.raw, ":\r\n", "nothing else unasked (no Ping before the handshake reply)");
    assert.equal(s.events.length, 0);

    const hs = await c.send(`{"protocol":"json","version":1}${RS}`);
    assert.equal(hs.status, 200);
    await s.waitFor((x) => x.events.length >= 1, PROMPT_MS, "the handshake reply event");
    assert.ok(s.raw.startsWith(`:\r\ndata: {}${RS}\r\n\r\n`), JSON.stringify(s.raw));
    assert.equal(s.events[0].data, `{}${RS}`);
    assert.ok(s.open, "the stream stays open");
});

test("an invocation's completion arrives as an event while the stream stays open", T, async (t) => {
    const { conn, stream } = await openSse(t, "Test");
    const text = `over sse ${tag()}`;
    const r = await conn.invoke("1", "Echo", [text]);
    assert.equal(r.status, 200);
    const ev = await stream.waitFor((s) => s.events.find((e) => Array.isArray(e.frames) &&
        e.frames.some((f) => f.type === 3 && f.invocationId === "1")), 5000, "the completion event");
    assert.deepEqual(ev.frames.filter((f) => !isPing(f)), [{ type: 3, invocationId: "1", result: text }]);
    // one unnamed event: a single data line (compact JSON has no LF) ending with RS, then a blank line
    assert.ok(!ev.data.includes("\n") && ev.data.endsWith(RS), JSON.stringify(ev.data));
    assert.ok(stream.raw.includes(`\r\n\r\ndata: ${ev.data}\r\n\r\n`), JSON.stringify(stream.raw));
    assert.ok(!/^event:/m.test(stream.raw), "no named events");
    assert.ok(stream.open, "the response is still open");

    // several in a row: each completion once, in order
    for (let i = 2; i <= 6; i++) assert.equal((await conn.invoke(String(i), "Add", [i, 100])).status, 200);
    const done = await stream.waitFor((s) => {
        const cs = s.frames.filter((f) => f.type === 3);
        return cs.length >= 6 ? cs : undefined;
    }, 5000, "6 completions");
    assert.deepEqual(done.map((f) => f.invocationId), ["1", "2", "3", "4", "5", "6"]);
    assert.deepEqual(done.slice(1).map((f) => f.result), [102, 103, 104, 105, 106]);
    assert.ok(stream.open);
});

test("a second SSE GET on the same token is 409; the first stream keeps working", T, async (t) => {
    const { conn, stream } = await openSse(t, "Test");
    const second = await SseStream.open(conn.url);
    t.after(() => second.close());
    assert.equal(second.status, 409, `second GET: ${second.status} ${JSON.stringify(second.raw)}`);
    assert.ok(stream.open, "the first stream is untouched");
    assert.equal((await conn.invoke("1", "Echo", ["still"])).status, 200);
    await stream.frame((f) => f.type === 3 && f.invocationId === "1" && f.result === "still", 5000, "the completion");
});

test("DELETE on an SSE connection: 400 'Cannot terminate this connection using the DELETE endpoint.'", T, async (t) => {
    const { conn, stream } = await openSse(t, "Test");
    const r = await conn.delete();
    assert.equal(r.status, 400);
    assert.equal(r.body, "Cannot terminate this connection using the DELETE endpoint.");
    assert.ok(stream.open, "the stream is not ended by the refused DELETE");
    assert.equal((await conn.invoke("1", "Echo", ["after delete"])).status, 200);
    await stream.frame((f) => f.type === 3 && f.result === "after delete", 5000, "the completion");
});

test("a poll (GET without the event-stream Accept) on an SSE connection: 400 'Cannot change transports mid-connection'", T, async (t) => {
    const { conn, stream } = await openSse(t, "Test");
    const r = await conn.poll({ timeout: 10000 });
    assert.equal(r.status, 400);
    assert.equal(r.body, "Cannot change transports mid-connection");
    assert.ok(stream.open);
    // and the other way round: an SSE GET on a long-polling connection
    const lp = await RawConnection.open(t, "Test");
    const s = await SseStream.open(lp.url);
    t.after(() => s.close());
    assert.equal(s.status, 400);
    assert.equal(s.raw, "Cannot change transports mid-connection");
});

test("SSE GET validation: no id is 400, an unknown token 404", T, async () => {
    const none = await SseStream.open(hubUrl("Test"));
    assert.equal(none.status, 400);
    assert.equal(none.raw, "Connection ID required");
    const unknown = await SseStream.open(`${hubUrl("Test")}?id=AAAAAAAAAAAAAAAAAAAAAA`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.raw, "No Connection with that ID");
});

test(`Ping events {"type":6} every keep-alive interval after the handshake; no client timeout before the client's first Ping`, T, async (t) => {
    const { conn, stream } = await openSse(t, "Test");
    const handshakeAt = stream.events[0].at;
    const pings = () => stream.events.filter((e) => Array.isArray(e.frames) && e.frames.length === 1 && isPing(e.frames[0]));
    await stream.waitFor((s) => pings().length >= 1, KEEPALIVE_INTERVAL_MS + SLACK_MS,
        `a Ping within ${KEEPALIVE_INTERVAL_MS} ms + ${SLACK_MS} ms of the handshake`);
    assert.equal(pings()[0].data, `{"type":6}${RS}`);
    assert.ok(stream.raw.includes(`data: {"type":6}${RS}\r\n\r\n`), JSON.stringify(stream.raw));
    // They keep coming, about one per interval.  This client has not pinged, so its silence
    // (longer than the client timeout) is not held against it: the timeout is armed by a Ping.
    const watch = CLIENT_TIMEOUT_MS + SILENCE_CHECK_MS + SLACK_MS;
    await sleep(watch);
    assert.ok(stream.open, "the stream of a client that never pinged stays open");
    const n = pings().length;
    const elapsed = Date.now() - handshakeAt;
    assert.ok(n >= Math.floor(elapsed / (KEEPALIVE_INTERVAL_MS + 500)) && n <= Math.ceil(elapsed / KEEPALIVE_INTERVAL_MS) + 1,
        `${n} Pings in ${elapsed} ms (interval ${KEEPALIVE_INTERVAL_MS} ms)`);
    const gaps = pings().slice(1).map((e, i) => e.at - pings()[i].at);
    assert.ok(gaps.every((g) => g <= KEEPALIVE_INTERVAL_MS + SLACK_MS), `gaps between Pings: ${gaps}`);
    // (the JS client's 30 s server timeout is thus never reached)
    assert.equal((await conn.invoke("1", "Echo", ["alive"])).status, 200);
    await stream.frame((f) => f.type === 3 && f.result === "alive", 5000, "the completion");
});

// "At once" as far as the front end lets the worker know: lighttpd 1.4.69 sees the client's FIN
// (EPOLLRDHUP) but closes its backend connection only when the next write to the client fails —
// the next Ping at the latest.  So the bound is one keep-alive interval plus slack.
const DROP_NOTICED_MS = KEEPALIVE_INTERVAL_MS + SLACK_MS;

test("dropping the stream removes the connection at once: POST 404, the others get Disconnected(id)", T, async (t) => {
    const observer = await connect(t, "Test");
    const disconnected = new Inbox(observer, "Disconnected");
    const { conn, stream } = await openSse(t, "Test");
    assert.equal((await conn.invoke("1", "Echo", ["x"])).status, 200);
    await stream.frame((f) => f.type === 3, 5000, "the completion");
    assert.deepEqual(disconnected.matching((x) => x === conn.connectionId), []);

    const dropped = Date.now();
    stream.close();
    await disconnected.waitFor((x) => x === conn.connectionId, DROP_NOTICED_MS,
        `Disconnected(${conn.connectionId}) within ${DROP_NOTICED_MS} ms of the drop`);
    const heard = Date.now() - dropped;
    // the connection is gone: POSTs are refused as for an unknown token
    let r;
    const deadline = Date.now() + 3000;
    do {
        r = await conn.send(`{"type":6}${RS}`);
        if (r.status === 404) break;
        await sleep(100);
    } while (Date.now() < deadline);
    assert.equal(r.status, 404, `POST after the stream ended: ${r.status} ${r.body}`);
    assert.equal(r.body, "No Connection with that ID");
    assert.ok(heard < DROP_NOTICED_MS, `Disconnected after ${heard} ms`);
    await sleep(300);
    assert.equal(disconnected.matching((x) => x === conn.connectionId).length, 1, "exactly one Disconnected");
    // and the token cannot open a new stream
    const again = await SseStream.open(conn.url);
    assert.equal(again.status, 404);
});

test("client timeout: a Ping and then silence ends the stream with Close(allowReconnect)", T, async (t) => {
    const observer = await connect(t, "Test");
    const disconnected = new Inbox(observer, "Disconnected");
    const { conn, stream } = await openSse(t, "Test");
    assert.equal((await conn.send(`{"type":6}${RS}`)).status, 200);
    const pinged = Date.now();
    const end = await stream.waitEnd(CLIENT_TIMEOUT_MS + SILENCE_CHECK_MS + SLACK_MS + 2000,
        `the end of the stream ${CLIENT_TIMEOUT_MS} ms after the client's last message`);
    const ms = end.at - pinged;
    assert.ok(ms >= CLIENT_TIMEOUT_MS - 300, `ended ${ms} ms after the Ping, before the ${CLIENT_TIMEOUT_MS} ms timeout`);
    assert.ok(ms <= CLIENT_TIMEOUT_MS + SILENCE_CHECK_MS + SLACK_MS, `ended only ${ms} ms after the Ping`);
    const last = stream.events[stream.events.length - 1];
    assert.deepEqual(last.frames, [{ type: 7, error: "Connection closed with an error.", allowReconnect: true }],
        `last event: ${JSON.stringify(last.data)}`);
    assert.equal(last.data, `{"type":7,"error":"Connection closed with an error.","allowReconnect":true}${RS}`);
    assert.ok(stream.raw.endsWith("\r\n\r\n"), "the Close event is complete");
    // everything before it was a Ping (nothing else was asked for)
    assert.ok(stream.events.slice(1, -1).every((e) => e.frames.length === 1 && isPing(e.frames[0])),
        JSON.stringify(stream.events.map((e) => e.data)));
    await disconnected.waitFor((x) => x === conn.connectionId, 3000, `Disconnected(${conn.connectionId})`);
    const r = await conn.send(`{"type":6}${RS}`);
    assert.equal(r.status, 404, `POST after the timeout: ${r.status}`);
});

test("client timeout: a client that keeps sending (Pings) keeps its stream", T, async (t) => {
    const { conn, stream } = await openSse(t, "Test");
    const until = Date.now() + CLIENT_TIMEOUT_MS + SILENCE_CHECK_MS + SLACK_MS;
    while (Date.now() < until) {
        assert.equal((await conn.send(`{"type":6}${RS}`)).status, 200);
        await sleep(CLIENT_TIMEOUT_MS / 4);
    }
    assert.ok(stream.open, `stream ended: ${JSON.stringify(stream.raw.slice(-200))}`);
    assert.ok(!stream.frames.some((f) => f.type === 7), "no Close");
});
