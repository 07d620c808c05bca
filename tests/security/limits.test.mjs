// limits.test.mjs — every cap driven past its limit (matrix rows I-11, I-12, I-13, I-20, I-26;
// §1.6, §4.3): hub messages over SIGNALR_MAX_MESSAGE_SIZE (32 KiB) complete or split across POSTs,
// oversized handshakes, POST bodies over SIGNALR_MAX_BODY_SIZE (64 KiB here; declared and chunked),
// groups per connection (3 here), group names, 1,000 invocations in one POST.  Each: the defined
// answer, then the worker still serves and no worker process changed.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import {
    CLOSE_ERROR, Conn, HANDSHAKE, HUB, MAX_BODY, MAX_GROUPS, MAX_MESSAGE, RS, URLS, assertHealthy,
    assertNoLeaks, gap, http, openSse, parseFrames, snapshotWorkers, tag, workerPids,
} from "./lib.mjs";

let workers;
before(() => { workers = snapshotWorkers(); });
after(() => {
    assertNoLeaks();
    assert.deepEqual(workerPids("stock"), workers.stock, "stock: no worker may have died");
});

/** an Echo invocation record whose payload (without RS) is exactly `size` bytes */
function echoOfSize(size, id = "big") {
    const empty = JSON.stringify({ type: 1, invocationId: id, target: "Echo", arguments: [""] });
    assert.ok(size >= empty.length);
    return JSON.stringify({ type: 1, invocationId: id, target: "Echo", arguments: ["x".repeat(size - empty.length)] });
}

async function assertClosedWithError(c, what) {
    const close = await c.closeFrame();
    assert.deepEqual(close, CLOSE_ERROR, `${what}: the Close message`);
    // the session is over: sends are 404, the connection is gone
    const r = await c.send(`{"type":6}${RS}`);
    assert.equal(r.status, 404, `${what}: a POST after the Close`);
    const p = await c.poll();
    assert.ok([204, 404].includes(p.status), `${what}: a poll after the Close answered ${p.status}`);
}

// ------------------------------------------------------------------------------------------------

describe("I-12: one hub message larger than SIGNALR_MAX_MESSAGE_SIZE", () => {
    test(`a message of exactly ${MAX_MESSAGE} bytes is accepted`, async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const rec = echoOfSize(MAX_MESSAGE, "exact");
        assert.equal(Buffer.byteLength(rec), MAX_MESSAGE);
        assert.equal((await c.send(rec + RS)).status, 200);
        const done = await c.completion("exact");
        assert.equal(done.result.length, MAX_MESSAGE - JSON.stringify({ type: 1, invocationId: "exact", target: "Echo", arguments: [""] }).length);
    });

    test("one byte more, complete in one POST: Close with the generic error and allowReconnect; later requests 404", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const r = await c.send(echoOfSize(MAX_MESSAGE + 1) + RS);
        assert.equal(r.status, 200, "the POST itself succeeds; the connection is closed through a Close message");
        await assertClosedWithError(c, "complete oversized message");
        assert.ok(!c.frames.some((f) => f.invocationId === "big"), "the oversized invocation must not run");
    });

    test("a message split across POSTs without RS: closed as soon as the unterminated rest exceeds the limit", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const rec = echoOfSize(40000);
        assert.equal((await c.send(rec.slice(0, 20000))).status, 200);
        assert.equal((await c.send(rec.slice(20000, 30000))).status, 200);
        const r = await c.send(rec.slice(30000));
        assert.equal(r.status, 200);
        await assertClosedWithError(c, "split oversized message");
    });

    test("an unterminated rest of exactly the limit is kept; the next byte closes", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        assert.equal((await c.send("x".repeat(MAX_MESSAGE))).status, 200);
        const s = await c.send("y");
        assert.equal(s.status, 200);
        await assertClosedWithError(c, "unterminated rest over the limit");
    });

    test("over Server-Sent Events: the Close arrives on the stream, which then ends", async (t) => {
        const { conn, stream } = await openSse(t, URLS.stock, HUB.stock);
        assert.equal((await conn.send(echoOfSize(MAX_MESSAGE + 1000) + RS)).status, 200);
        const close = await stream.frame((f) => f.type === 7);
        assert.deepEqual(close, CLOSE_ERROR);
        await stream.waitEnd(5000);
        assert.ok(!stream.open, "the stream must end after the Close");
        assert.equal((await conn.send(`{"type":6}${RS}`)).status, 404);
    });

    test("a 60 KB string in one record of a body under the body cap is refused the same way (I-17)", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        // 60 KB body (under the body cap) holding one 60 KB record
        const r = await c.send(echoOfSize(60000) + RS);
        assert.equal(r.status, 200);
        await assertClosedWithError(c, "60 KB record");
    });

    test("after all that the worker serves", async (t) => {
        await assertHealthy(t, "stock", workers);
    });
});

describe("oversized handshake", () => {
    test("a complete handshake over the limit: HandshakeResponse 'Handshake was canceled.', then the connection ends", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock, { handshake: false });
        const hs = `{"protocol":"json","version":1,"pad":"${"a".repeat(MAX_MESSAGE)}"}${RS}`;
        assert.equal((await c.send(hs)).status, 200);
        const r = await c.poll();
        assert.equal(r.status, 200);
        assert.deepEqual(parseFrames(r.body), [{ error: "Handshake was canceled." }]);
        assert.equal((await c.send(HANDSHAKE)).status, 404, "no second handshake on the ended connection");
        assert.equal((await c.poll()).status, 204);
    });

    test("an unterminated handshake over the limit also gets 'Handshake was canceled.'", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock, { handshake: false });
        assert.equal((await c.send(`{"protocol":"json","version":1,"pad":"${"a".repeat(40000)}`)).status, 200);
        const r = await c.poll();
        assert.equal(r.status, 200);
        assert.deepEqual(parseFrames(r.body), [{ error: "Handshake was canceled." }]);
    });

    test("the unterminated oversized handshake at least ends the connection", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock, { handshake: false });
        assert.equal((await c.send(`{"protocol":"json","version":1,"pad":"${"a".repeat(40000)}`)).status, 200);
        assert.equal((await c.send(`"}${RS}`)).status, 404, "the rest of the handshake after the limit");
    });
});

// ------------------------------------------------------------------------------------------------

describe(`I-11: POST bodies over SIGNALR_MAX_BODY_SIZE (${MAX_BODY})`, () => {
    /** a body of exactly n bytes made of Ping records (and one padded one) */
    function pings(n) {
        const ping = `{"type":6}${RS}`;
        const count = Math.floor(n / ping.length) - 1;
        const rest = n - count * ping.length;
        const padded = `${" ".repeat(rest - ping.length)}${ping}`;
        const body = ping.repeat(count) + padded;
        assert.equal(Buffer.byteLength(body), n);
        return body;
    }

    test("a body of exactly the limit is accepted", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        assert.equal((await c.send(pings(MAX_BODY))).status, 200);
        assert.equal((await c.call("Echo", ["after"])).result, "after");
    });

    test("declared Content-Length one byte over: 413 before anything runs; the connection stays up", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const body = `${JSON.stringify({ type: 1, invocationId: "over", target: "Echo", arguments: ["o"] })}${RS}`;
        const r = await c.send(body + pings(MAX_BODY + 1 - Buffer.byteLength(body)));
        assert.equal(r.status, 413, `status ${r.status}`);
        assert.equal((await c.call("Echo", ["still"])).result, "still");
        assert.ok(!c.frames.some((f) => f.invocationId === "over"), "nothing of a refused body may run");
    });

    test("a chunked body over the limit (no Content-Length): 413 (or refused by lighttpd); the connection stays up", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const body = `${JSON.stringify({ type: 1, invocationId: "chunked", target: "Echo", arguments: ["o"] })}${RS}${pings(MAX_BODY * 2)}`;
        const chunks = [];
        for (let i = 0; i < body.length; i += 8192) chunks.push(body.slice(i, i + 8192));
        const r = await http("POST", c.url, { chunks, headers: { "Content-Type": "text/plain" } });
        assert.equal(r.status, 413, `status ${r.status}`);
        assert.equal((await c.call("Echo", ["still"])).result, "still");
        assert.ok(!c.frames.some((f) => f.invocationId === "chunked"));
    });

    test("a 1 MiB body on a Server-Sent Events connection: 413; the stream stays up", async (t) => {
        const { conn, stream } = await openSse(t, URLS.stock, HUB.stock);
        const r = await conn.send(pings(1 << 20));
        assert.equal(r.status, 413);
        assert.equal((await conn.invoke("s", "Echo", ["s"])).status, 200);
        assert.equal((await stream.frame((f) => f.invocationId === "s")).result, "s");
        assert.ok(stream.open);
    });
});

// ------------------------------------------------------------------------------------------------

describe("I-26: groups", () => {
    test(`more than ${MAX_GROUPS} groups per connection: the join fails with an error Completion; the connection continues`, async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const g = Array.from({ length: MAX_GROUPS + 1 }, () => `g-${tag()}`);
        for (let i = 0; i < MAX_GROUPS; i++) assert.equal((await c.call("JoinGroup", [g[i]])).error, undefined, `join ${i + 1}`);
        assert.equal((await c.call("JoinGroup", [g[0]])).error, undefined, "joining a group again does not count");
        const over = await c.call("JoinGroup", [g[MAX_GROUPS]]);
        // sr_hub.c's text is "The connection is in 3 groups already, the most allowed."; /Hubs/Test's
        // JoinGroup answers every SR_ERR_INVALID from sr_group_add with its own hub error
        assert.equal(over.error, "An unexpected error occurred invoking 'JoinGroup' on the server. HubException: invalid group name");
        // the refused join really did not happen: a send to that group does not reach us
        const other = await Conn.open(t, URLS.stock, HUB.stock);
        assert.equal((await other.call("SendTo", ["Group", [g[MAX_GROUPS]], [], "nope"])).error, undefined);
        assert.equal((await other.call("SendTo", ["Group", [g[0]], [], "yes"])).error, undefined);
        await c.pollUntil((fs) => fs.some((f) => f.target === "Target" && f.arguments[1] === "yes"), 5000, "the send to a joined group");
        assert.ok(!c.frames.some((f) => f.target === "Target" && f.arguments[1] === "nope"), "a send to the refused group arrived");
        // leaving one makes room
        assert.equal((await c.call("LeaveGroup", [g[1]])).error, undefined);
        assert.equal((await c.call("JoinGroup", [g[MAX_GROUPS]])).error, undefined, "join after a leave");
        // another connection adding this one is limited the same way
        const more = await other.call("AddToGroup", [c.connectionId, `g-${tag()}`]);
        assert.equal(more.error, "An unexpected error occurred invoking 'AddToGroup' on the server. HubException: invalid group name or connection id");
        assert.equal((await c.call("Echo", [1])).result, 1);
    });

    test("group names: 256 bytes pass; 257 bytes, 10 KB, empty, and control characters fail with an error Completion", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const invalid = "An unexpected error occurred invoking 'JoinGroup' on the server. HubException: invalid group name";
        assert.equal((await c.call("JoinGroup", ["n".repeat(256)])).error, undefined, "256 bytes");
        assert.equal((await c.call("LeaveGroup", ["n".repeat(256)])).error, undefined);
        assert.equal((await c.call("JoinGroup", ["é".repeat(128)])).error, undefined, "256 bytes of 2-byte UTF-8");
        assert.equal((await c.call("LeaveGroup", ["é".repeat(128)])).error, undefined);
        for (const [name, what] of [["n".repeat(257), "257 bytes"], ["n".repeat(10240), "10 KB"], ["", "empty"],
            ["a\nb", "LF"], ["a\rb", "CR"], ["a\tb", "TAB"], ["a\u001bb", "ESC"], ["a\u007fb", "DEL"], ["é".repeat(129), "258 bytes of UTF-8"]]) {
            assert.equal((await c.call("JoinGroup", [name])).error, invalid, what);
        }
        assert.equal((await c.call("Echo", ["alive"])).result, "alive");
    });

    test("a group name with NUL is refused (not truncated at the NUL)", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const g = `g-${tag()}`;
        // a string with U+0000 does not bind to a C string parameter: the binding error, with
        // no group joined under the name cut at the NUL
        assert.equal((await c.call("JoinGroup", [`${g}\u0000x`])).error, "Failed to invoke 'JoinGroup' due to an error on the server.");
        assert.equal((await c.call("SendTo", ["Group", [g], [], "to the cut name"])).error, undefined);
        assert.equal((await c.call("Echo", ["after"])).result, "after");
        assert.ok(!c.frames.some((f) => f.type === 1 && f.target === "Target"), "the connection joined the group named up to the NUL");
    });
});

// ------------------------------------------------------------------------------------------------

describe("I-20: 1,000 invocations in one POST", () => {
    test("all run, one at a time, in order; the connection continues", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        let body = "";
        for (let i = 0; i < 1000; i++) body += `${JSON.stringify({ type: 1, invocationId: `i${i}`, target: "Count", arguments: [] })}${RS}`;
        assert.ok(Buffer.byteLength(body) <= MAX_BODY);
        const r = await c.send(body);
        assert.equal(r.status, 200);
        await c.pollUntil((fs) => fs.filter((f) => f.type === 3).length >= 1000, 20000, "1000 completions");
        const done = c.frames.filter((f) => f.type === 3);
        assert.deepEqual(done.map((f) => f.invocationId), Array.from({ length: 1000 }, (_, i) => `i${i}`), "completion order");
        assert.deepEqual(done.map((f) => f.result), Array.from({ length: 1000 }, (_, i) => i + 1), "one at a time (Count)");
        assert.equal((await c.call("Count", [])).result, 1001);
    });
});

test("the workers survived", async (t) => {
    await assertHealthy(t, "stock", workers);
});
