// longpolling-raw.test.mjs — the negotiate endpoint and the LongPolling transport spoken by hand
// with fetch (no client library): protocol.md §1 (negotiate), §2 (validation), §3 (POST),
// §5 (polls, DELETE), §7.1 (handshake).  Needs SIGNALR_TEST_HUBS=1 and SIGNALR_POLL_TIMEOUT=10.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ID_RE, POLL_TIMEOUT_MS, RS, RawConnection, http, hubUrl, negotiate, parseFrames, sleep } from "./helpers.mjs";

const T = { timeout: 60000 };

function assertNoCache(headers, what) {
    const cc = headers.get("cache-control") ?? "";
    assert.match(cc, /no-cache/, `${what}: Cache-Control ${cc}`);
    assert.match(cc, /no-store/, `${what}: Cache-Control ${cc}`);
    assert.equal(headers.get("pragma"), "no-cache", `${what}: Pragma`);
    assert.equal(headers.get("expires"), "Thu, 01 Jan 1970 00:00:00 GMT", `${what}: Expires`);
}

// ------------------------------------------------------------------------------------------------
// §1 negotiate

test("negotiate v1: JSON with distinct 22-char connectionId and connectionToken, LongPolling Text+Binary", T, async () => {
    const r = await negotiate("ChatRoom");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
    const body = JSON.parse(r.body);
    assert.equal(body.negotiateVersion, 1);
    assert.match(body.connectionId, ID_RE);
    assert.match(body.connectionToken, ID_RE);
    assert.notEqual(body.connectionId, body.connectionToken);
    assert.equal(body.error, undefined);
    assert.equal(body.useStatefulReconnect, undefined, "never offer stateful reconnect");
    assert.ok(Array.isArray(body.availableTransports), "availableTransports is an array");
    const lp = body.availableTransports.filter((x) => x.transport === "LongPolling");
    assert.equal(lp.length, 1, JSON.stringify(body.availableTransports));
    assert.deepEqual(lp[0].transferFormats, ["Text", "Binary"]);
    for (const x of body.availableTransports) {
        assert.ok(["ServerSentEvents", "LongPolling"].includes(x.transport), `unexpected transport ${x.transport}`);
    }
    // a second negotiate makes a new connection
    const again = JSON.parse((await negotiate("ChatRoom")).body);
    assert.notEqual(again.connectionId, body.connectionId);
    assert.notEqual(again.connectionToken, body.connectionToken);
});

test("negotiate: the negotiateVersion query key is matched case-insensitively", T, async () => {
    const body = JSON.parse((await negotiate("ChatRoom", "?NegotiateVersion=1")).body);
    assert.equal(body.negotiateVersion, 1);
    assert.match(body.connectionToken, ID_RE);
});

test("negotiate: a version above 1 is answered as version 1", T, async () => {
    const r = await negotiate("ChatRoom", "?negotiateVersion=5");
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body);
    assert.equal(body.negotiateVersion, 1);
    assert.match(body.connectionToken, ID_RE);
});

test("negotiate without a version (v0: the id would be the token) is refused by default", T, async () => {
    for (const q of ["", "?negotiateVersion=0"]) {
        const r = await negotiate("ChatRoom", q);
        assert.equal(r.status, 200, q);
        assert.deepEqual(JSON.parse(r.body), { error: "The client requested version '0', but the server does not support this version." }, q);
    }
});

test("negotiate with a non-integer version: 200 with the error JSON", T, async () => {
    const r = await negotiate("ChatRoom", "?negotiateVersion=abc");
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { error: "The client requested a non-integer protocol version." });
});

test("negotiate with GET: 405", T, async () => {
    const r = await http("GET", `${hubUrl("ChatRoom")}/negotiate?negotiateVersion=1`);
    assert.equal(r.status, 405);
});

// ------------------------------------------------------------------------------------------------
// §2 request validation

test("poll without id: 400 'Connection ID required'", T, async () => {
    for (const url of [`${hubUrl("ChatRoom")}?_=1`, `${hubUrl("ChatRoom")}?id=&_=1`]) {
        const r = await http("GET", url);
        assert.equal(r.status, 400, url);
        assert.equal(r.body, "Connection ID required", url);
    }
});

test("unknown id: 404 'No Connection with that ID' for poll, POST and DELETE", T, async () => {
    const url = `${hubUrl("ChatRoom")}?id=AAAAAAAAAAAAAAAAAAAAAA`;
    const poll = await http("GET", `${url}&_=1`);
    assert.equal(poll.status, 404);
    assert.equal(poll.body, "No Connection with that ID");
    const post = await http("POST", url, { body: `{"protocol":"json","version":1}${RS}` });
    assert.equal(post.status, 404);
    const del = await http("DELETE", url);
    assert.equal(del.status, 404);
});

test("a token is not its connectionId: polling with the public id is 404", T, async (t) => {
    const c = await RawConnection.negotiate("ChatRoom");
    t.after(() => c.delete().catch(() => {}));
    const r = await http("GET", `${hubUrl("ChatRoom")}?id=${c.connectionId}&_=1`);
    assert.equal(r.status, 404);
});

// ------------------------------------------------------------------------------------------------
// §5.2 first poll, §3 POST, §7.1 handshake

test("first poll: 200 at once, empty application/octet-stream, no-cache headers", T, async (t) => {
    const c = await RawConnection.negotiate("ChatRoom");
    t.after(() => c.delete().catch(() => {}));
    const r = await c.poll();
    assert.equal(r.status, 200);
    assert.equal(r.body, "");
    assert.equal(r.headers.get("content-length"), "0");
    assert.match(r.headers.get("content-type") ?? "", /^application\/octet-stream/);
    assertNoCache(r.headers, "first poll");
    assert.ok(r.ms < 5000, `first poll took ${r.ms} ms`);
});

test("handshake POST: 200 empty text/plain; the next poll returns {}RS", T, async (t) => {
    const c = await RawConnection.negotiate("ChatRoom");
    t.after(() => c.delete().catch(() => {}));
    assert.equal((await c.poll()).status, 200);
    const hs = await c.send(`{"protocol":"json","version":1}${RS}`);
    assert.equal(hs.status, 200);
    assert.equal(hs.body, "");
    assert.match(hs.headers.get("content-type") ?? "", /^text\/plain/);
    const r = await c.poll();
    assert.equal(r.status, 200);
    assert.ok(r.body.startsWith(`{}${RS}`), `handshake reply ${JSON.stringify(r.body)}`);
    assert.match(r.headers.get("content-type") ?? "", /^application\/octet-stream/);
    assert.equal(r.headers.get("content-length"), String(Buffer.byteLength(r.body)));
    assertNoCache(r.headers, "data poll");
    parseFrames(r.body); // anything after the handshake reply is complete frames
});

test("bad handshake protocol: the next poll returns the handshake error, then the connection ends", T, async (t) => {
    const c = await RawConnection.negotiate("ChatRoom");
    t.after(() => c.delete().catch(() => {}));
    assert.equal((await c.poll()).status, 200);
    assert.equal((await c.send(`{"protocol":"foo","version":1}${RS}`)).status, 200);
    const r = await c.poll();
    assert.equal(r.status, 200);
    assert.equal(r.body, `{"error":"The protocol 'foo' is not supported."}${RS}`);
    const after = await c.poll({ timeout: POLL_TIMEOUT_MS + 10000 });
    assert.ok([204, 404].includes(after.status), `poll after a failed handshake: ${after.status} ${JSON.stringify(after.body)}`);
});

test("a held poll returns as soon as data arrives", T, async (t) => {
    const c = await RawConnection.open(t, "Test");
    const pending = c.poll();
    await sleep(500);
    assert.equal((await c.invoke(1, "Echo", ["wake"])).status, 200);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.ok(r.ms < 5000, `poll held ${r.ms} ms after data was queued`);
    c.frames.push(...parseFrames(r.body));
    const done = await c.completion(1);
    assert.equal(done.result, "wake");
});

test("one POST carrying two invocations gets both completions, in order", T, async (t) => {
    const c = await RawConnection.open(t, "Test");
    const body =
        JSON.stringify({ type: 1, invocationId: "1", target: "Add", arguments: [20, 22] }) + RS +
        JSON.stringify({ type: 1, invocationId: "2", target: "Echo", arguments: ["second"] }) + RS;
    const r = await c.send(body);
    assert.equal(r.status, 200);
    const one = await c.completion(1);
    const two = await c.completion(2);
    assert.equal(one.result, 42);
    assert.equal(two.result, "second");
    assert.ok(c.frames.indexOf(one) < c.frames.indexOf(two), "completion 1 before completion 2");
});

test("an invocation split across two POSTs is reassembled", T, async (t) => {
    const c = await RawConnection.open(t, "Test");
    const frame = JSON.stringify({ type: 1, invocationId: "7", target: "Echo", arguments: ["split ✓"] }) + RS;
    const cut = frame.indexOf("Echo") + 2;
    assert.equal((await c.send(frame.slice(0, cut))).status, 200);
    await sleep(200);
    assert.equal((await c.send(frame.slice(cut))).status, 200);
    const done = await c.completion(7);
    assert.equal(done.result, "split ✓");
    assert.equal(done.error, undefined);
    assert.equal(c.frames.some((f) => f.type === 7), false, "no Close frame");
});

// ------------------------------------------------------------------------------------------------
// §5.3–§5.6 held polls, supersede, DELETE, timeout

test("a second poll while one is held ends the first with 204", T, async (t) => {
    const c = await RawConnection.open(t, "ChatRoom");
    const first = c.poll();
    await sleep(500); // let the first poll reach the server and park
    const second = c.poll();
    const r1 = await first;
    assert.equal(r1.status, 204);
    assert.ok(r1.ms < 5000, `superseded poll answered after ${r1.ms} ms`);
    // the second poll is now the held one: DELETE releases it
    assert.equal((await c.delete()).status, 202);
    assert.equal((await second).status, 204);
});

test("DELETE: 202, a held poll ends with 204, and the id is gone afterwards (404)", T, async (t) => {
    const c = await RawConnection.open(t, "ChatRoom");
    const held = c.poll();
    await sleep(500);
    const del = await c.delete();
    assert.equal(del.status, 202);
    assert.match(del.headers.get("content-type") ?? "text/plain", /^text\/plain/);
    const r = await held;
    assert.equal(r.status, 204);
    assert.ok(r.ms < 5000, `held poll answered ${r.ms} ms after DELETE`);
    // disposal may be asynchronous; the token must be unknown soon, and never poll again
    const deadline = Date.now() + 5000;
    let last;
    for (;;) {
        last = await c.poll({ timeout: 15000 });
        assert.notEqual(last.status, 200, "poll after DELETE must not succeed");
        if (last.status === 404 || Date.now() > deadline) break;
        await sleep(200);
    }
    assert.equal(last.status, 404);
    assert.equal(last.body, "No Connection with that ID");
});

test(`poll timeout: a poll with nothing to send ends after the poll timeout with 200 and no body`, { timeout: POLL_TIMEOUT_MS + 40000 }, async (t) => {
    const c = await RawConnection.open(t, "ChatRoom");
    const r = await c.poll({ timeout: POLL_TIMEOUT_MS + 30000 });
    assert.equal(r.status, 200);
    assert.equal(r.body, "");
    assert.match(r.headers.get("content-type") ?? "", /^text\/plain/);
    assertNoCache(r.headers, "timed-out poll");
    assert.ok(r.ms >= POLL_TIMEOUT_MS - 2000, `poll returned after ${r.ms} ms, before the ${POLL_TIMEOUT_MS} ms poll timeout`);
    assert.ok(r.ms <= POLL_TIMEOUT_MS + 10000, `poll held ${r.ms} ms`);
    // the connection survives a timed-out poll
    const next = c.poll();
    await sleep(300);
    assert.equal((await c.delete()).status, 202);
    assert.equal((await next).status, 204);
});
