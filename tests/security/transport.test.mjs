// transport.test.mjs — bad input on the transports (matrix rows I-01…I-10, I-13…I-19, I-21…I-24):
// every request the official client would never send, each answered with the status or hub-protocol
// message the matrix names, and never a crash: after each group a fresh connection works and the
// workers are the same processes as before (lighttpd's children, compared by pid).

import net from "node:net";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import {
    CLOSE_ERROR, Conn, DISCONNECT_TIMEOUT_MS, HANDSHAKE, HANDSHAKE_TIMEOUT_MS, HUB, RS, URLS,
    assertHealthy, assertNoLeaks, gap, http, openSse, parseFrames, sleep, snapshotWorkers, tag, workerPids,
} from "./lib.mjs";

let workers;
before(() => { workers = snapshotWorkers(); });
after(() => {
    assertNoLeaks();
    for (const name of ["stock", "conf"]) assert.deepEqual(workerPids(name), workers[name], `${name}: no worker may have died`);
});

const S = URLS.stock;
const hub = (q = "") => `${S}${HUB.stock}${q}`;
const NOT_FOUND = "No Connection with that ID";

function assertStatus(r, status, body, what) {
    assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status} ${r.body?.slice(0, 120)}`);
    if (body !== undefined) assert.equal(r.body, body, `${what}: body`);
}

/** opens a connection, sends `records` after the handshake and expects the generic Close */
async function expectClose(t, records, what) {
    const c = await Conn.open(t, S, HUB.stock);
    const r = await c.send(records);
    assert.equal(r.status, 200, `${what}: POST status`);
    const close = await c.closeFrame();
    assert.deepEqual(close, CLOSE_ERROR, `${what}: Close message`);
    assert.equal((await c.send(`{"type":6}${RS}`)).status, 404, `${what}: POST after the Close`);
    return c;
}

// ------------------------------------------------------------------------------------------------

describe("I-01 / I-02 / I-03 / I-21: the id parameter", () => {
    test("I-01: GET, POST, DELETE and SSE GET without id (or with an empty one) are 400 'Connection ID required'", async () => {
        for (const q of ["", "?", "?id=", "?id", "?ID=x", "?idx=1", "?_=1"]) {
            for (const m of ["GET", "POST", "DELETE"]) assertStatus(await http(m, hub(q)), 400, "Connection ID required", `${m} ${q}`);
            assertStatus(await http("GET", hub(q), { headers: { Accept: "text/event-stream" } }), 400, "Connection ID required", `SSE GET ${q}`);
        }
    });

    test("I-02: unknown, too long and disposed tokens are 404 'No Connection with that ID'", async (t) => {
        const ids = ["unknown", "A".repeat(22), "A".repeat(64), "A".repeat(65), "a".repeat(4000), "%41%42", "a+b", "é"];
        for (const id of ids) {
            for (const m of ["GET", "POST", "DELETE"]) assertStatus(await http(m, hub(`?id=${id}`)), 404, NOT_FOUND, `${m} id=${id.slice(0, 20)}`);
            assertStatus(await http("GET", hub(`?id=${id}`), { headers: { Accept: "text/event-stream" } }), 404, NOT_FOUND, `SSE id=${id.slice(0, 20)}`);
        }
        const c = await Conn.open(t, S, HUB.stock);
        assert.equal((await c.delete()).status, 202);
        assertStatus(await c.send(`{"type":6}${RS}`), 404, NOT_FOUND, "POST on a disposed token");
        assertStatus(await c.poll(), 404, NOT_FOUND, "poll on a disposed token");
        assertStatus(await c.delete(), 404, NOT_FOUND, "second DELETE");
        const s = await c.sse();
        assertStatus({ status: s.status, body: s.raw }, 404, NOT_FOUND, "SSE GET on a disposed token");
    });

    test("I-03: the public connection id where the token is expected is 404 for every request kind", async (t) => {
        const c = await Conn.open(t, S, HUB.stock);
        assert.notEqual(c.connectionId, c.token);
        const byId = hub(`?id=${c.connectionId}`);
        assertStatus(await http("GET", byId), 404, NOT_FOUND, "poll by id");
        assertStatus(await http("POST", byId, { body: `{"type":1,"invocationId":"evil","target":"Echo","arguments":[1]}${RS}` }), 404, NOT_FOUND, "POST by id");
        assertStatus(await http("DELETE", byId), 404, NOT_FOUND, "DELETE by id");
        assertStatus(await http("GET", byId, { headers: { Accept: "text/event-stream" } }), 404, NOT_FOUND, "SSE by id");
        assert.equal((await c.call("Echo", ["mine"])).result, "mine");
        assert.ok(!c.frames.some((f) => f.invocationId === "evil"));
    });

    test("I-21: %00 in the query is refused by lighttpd (400); well-formed escapes naming no connection are 404", async (t) => {
        const r = await http("GET", hub("?id=%00abc"));
        assert.equal(r.status, 400, "%00");
        for (const q of ["?id=%C3%28", "?id=a%20b"]) {
            assertStatus(await http("GET", hub(q)), 404, NOT_FOUND, q);
        }
        // a real token percent-encoded is the same token
        const c = await Conn.open(t, S, HUB.stock);
        const enc = [...c.token].map((ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, "0")}`).join("");
        assert.equal((await http("POST", hub(`?id=${enc}`), { body: `{"type":6}${RS}` })).status, 200, "percent-encoded token");
    });

    test("I-21: bad %-escapes and a duplicated id are 400", async (t) => {
        for (const q of ["?id=%zz", "?id=%4", "?id=%", "?id=abc%", "?x=%g1&id=abc"]) {
            assert.equal((await http("GET", hub(q))).status, 400, q);
        }
        const c = await Conn.open(t, S, HUB.stock);
        assert.equal((await http("POST", hub(`?id=${c.token}&id=other`), { body: `{"type":6}${RS}` })).status, 400, "duplicated id");
    });

    test("the workers survived", async (t) => { await assertHealthy(t, "stock", workers); });
});

// ------------------------------------------------------------------------------------------------

describe("I-04 / I-05: negotiate", () => {
    test("I-04: negotiate by GET, PUT, PATCH, DELETE, HEAD or TRACE is 405; other methods on the hub path are 405 too", async () => {
        for (const m of ["GET", "PUT", "PATCH", "DELETE", "HEAD", "TRACE"]) {
            assert.equal((await http(m, hub("/negotiate?negotiateVersion=1"))).status, 405, `${m} negotiate`);
        }
        for (const m of ["PUT", "PATCH", "HEAD", "TRACE"]) {
            assert.equal((await http(m, hub("?id=whatever"))).status, 405, `${m} on the hub`);
        }
        // a method lighttpd does not know never reaches the worker
        assert.equal((await http("FOO", hub("/negotiate"))).status, 501);
    });

    test("I-05: negotiateVersion abc, 1.5, empty, -1, huge: 200 with {error} and no connection id or token", async () => {
        const cases = [
            ["abc", "The client requested a non-integer protocol version."],
            ["1.5", "The client requested a non-integer protocol version."],
            ["", "The client requested a non-integer protocol version."],
            ["%00", null], // lighttpd refuses control characters in the URL
            ["1%20", "The client requested a non-integer protocol version."],
            ["99999999999", "The client requested a non-integer protocol version."],
            ["99999999999999999999999999", "The client requested a non-integer protocol version."],
            ["-1", "The client requested version '-1', but the server does not support this version."],
            ["-2147483648", "The client requested version '-2147483648', but the server does not support this version."],
        ];
        for (const [v, error] of cases) {
            const r = await http("POST", hub(`/negotiate?negotiateVersion=${v}`));
            if (error === null) { assert.equal(r.status, 400, `negotiateVersion=${v}`); continue; }
            assert.equal(r.status, 200, `negotiateVersion=${v}`);
            assert.deepEqual(JSON.parse(r.body), { error }, `negotiateVersion=${v}`);
        }
        // the key is matched without regard to case, as ASP.NET does
        assert.deepEqual(JSON.parse((await http("POST", hub("/negotiate?NEGOTIATEVERSION=abc"))).body), { error: "The client requested a non-integer protocol version." });
        // versions above 1 are answered as 1, with a token distinct from the id
        const two = JSON.parse((await http("POST", hub("/negotiate?negotiateVersion=2"))).body);
        assert.equal(two.negotiateVersion, 1);
        assert.ok(two.connectionToken && two.connectionToken !== two.connectionId);
    });

    test("I-05: negotiate without negotiateVersion (version 0, where the public id is the token) is refused", async () => {
        const r = await http("POST", hub("/negotiate"));
        assert.equal(r.status, 200);
        const body = JSON.parse(r.body);
        assert.ok(body.error, `expected {error}, got ${r.body}`);
    });

    test("the workers survived", async (t) => { await assertHealthy(t, "stock", workers); });
});

// ------------------------------------------------------------------------------------------------

describe("I-06 … I-10: concurrent and conflicting requests on one token", () => {
    test("I-06: a second SSE stream on a token is 409; the first is unaffected", async (t) => {
        const { conn, stream } = await openSse(t, S, HUB.stock);
        const second = await conn.sse();
        t.after(() => second.close());
        assert.equal(second.status, 409);
        assert.equal((await conn.invoke("a", "Echo", ["first"])).status, 200);
        assert.equal((await stream.frame((f) => f.invocationId === "a")).result, "first");
        assert.ok(stream.open);
    });

    test("I-07: a second concurrent POST is 409; the first runs whole, the connection stays up", async (t) => {
        const c = await Conn.open(t, S, HUB.stock);
        const body = (p, n) => Array.from({ length: n }, (_, i) => `${JSON.stringify({ type: 1, invocationId: `${p}${i}`, target: "Count", arguments: [] })}${RS}`).join("");
        // small POSTs one after another while a big one is outstanding: whichever overlaps
        // another's processing is refused (usually the small ones; the big one if a small one
        // got the lock first), and only the POSTs answered 200 run
        const sends = [{ prefix: "a", n: 800, reply: c.send(body("a", 800)) }];
        let bigDone = false;
        sends[0].reply.then(() => { bigDone = true; });
        for (let i = 0; !bigDone && i < 500; i++) {
            const s = { prefix: `b${i}-`, n: 1 };
            s.reply = c.send(body(s.prefix, 1));
            await s.reply;
            sends.push(s);
        }
        for (const s of sends) s.status = (await s.reply).status;
        assert.ok(sends.every((s) => [200, 409].includes(s.status)), JSON.stringify(sends.map((s) => s.status)));
        assert.ok(sends.some((s) => s.status === 409), "no POST overlapped another");
        const ran = sends.filter((s) => s.status === 200);
        const want = ran.reduce((n, s) => n + s.n, 0);
        await c.pollUntil((fs) => fs.filter((f) => f.type === 3).length >= want, 15000, `${want} completions`);
        const ids = c.frames.filter((f) => f.type === 3).map((f) => f.invocationId);
        for (const s of sends) {
            const mine = ids.filter((id) => id.startsWith(s.prefix) && /^\d+$/.test(id.slice(s.prefix.length)));
            if (s.status === 200) assert.deepEqual(mine, Array.from({ length: s.n }, (_, i) => `${s.prefix}${i}`), `${s.prefix}: ran whole, in order`);
            else assert.deepEqual(mine, [], `${s.prefix}: refused, so it must not have run`);
        }
        assert.equal((await c.invoke("after", "Echo", ["still up"])).status, 200);
        assert.equal((await c.pollUntil((fs) => fs.some((f) => f.invocationId === "after"), 5000, "echo")).find((f) => f.invocationId === "after").result, "still up");
    });

    test("I-08: a new poll while one is held: the old one ends with 204", async (t) => {
        // "old" is the one the server saw first: on a loaded machine that need not be the one
        // sent first, so the test waits for whichever ends and checks the other one is newest
        const c = await Conn.open(t, S, HUB.stock);
        const polls = [c.poll(), c.poll()].map((p, i) => p.then((r) => ({ i, r })));
        const ended = await Promise.race(polls);
        assert.equal(ended.r.status, 204, "the superseded poll");
        assert.equal((await c.invoke("n", "Echo", ["new"])).status, 200);
        const held = (await polls[1 - ended.i]).r;
        assert.equal(held.status, 200);
        assert.ok(parseFrames(held.body).some((f) => f.invocationId === "n"));
    });

    test("I-09: a long poll on a Server-Sent Events connection is 400; the stream stays", async (t) => {
        const { conn, stream } = await openSse(t, S, HUB.stock);
        assertStatus(await conn.poll(), 400, "Cannot change transports mid-connection", "poll on a stream");
        assert.equal((await conn.invoke("k", "Echo", ["kept"])).status, 200);
        assert.equal((await stream.frame((f) => f.invocationId === "k")).result, "kept");
        // and the other way round: a stream GET on a long-polling connection
        const c = await Conn.open(t, S, HUB.stock);
        const s = await c.sse();
        assertStatus({ status: s.status, body: s.raw }, 400, "Cannot change transports mid-connection", "SSE GET on a long-polling connection");
        assert.equal((await c.call("Echo", [1])).result, 1);
    });

    test("I-10: DELETE on a stream is 400; on long polling 202 and the held poll ends with 204", async (t) => {
        const { conn, stream } = await openSse(t, S, HUB.stock);
        assertStatus(await conn.delete(), 400, "Cannot terminate this connection using the DELETE endpoint.", "DELETE on SSE");
        assert.ok(stream.open);
        assert.equal((await conn.invoke("d", "Echo", ["d"])).status, 200);
        await stream.frame((f) => f.invocationId === "d");
        const c = await Conn.open(t, S, HUB.stock);
        const held = c.poll();
        await sleep(200);
        assert.equal((await c.delete()).status, 202);
        assert.equal((await held).status, 204);
    });

    test("the workers survived", async (t) => { await assertHealthy(t, "stock", workers); });
});

// ------------------------------------------------------------------------------------------------

describe("I-13 … I-19: the hub protocol", () => {
    test("I-13: a handshake and an invocation split across two POSTs at every offset are reassembled", async (t) => {
        for (let k = 1; k < HANDSHAKE.length; k++) {
            const h = await Conn.open(t, S, HUB.stock, { handshake: false });
            assert.equal((await h.send(HANDSHAKE.slice(0, k))).status, 200, `handshake first part at ${k}`);
            assert.equal((await h.send(HANDSHAKE.slice(k))).status, 200, `handshake second part at ${k}`);
            const r = await h.poll();
            assert.ok(r.body.startsWith(`{}${RS}`), `handshake split at ${k}: ${JSON.stringify(r.body.slice(0, 80))}`);
            await h.delete();
        }
        const c = await Conn.open(t, S, HUB.stock);
        const rec = `${JSON.stringify({ type: 1, invocationId: "ID", target: "Echo", arguments: ["héllo\u2028"] })}${RS}`;
        const bytes = Buffer.from(rec);
        for (let k = 1; k < bytes.length; k++) {
            const mine = Buffer.from(rec.replace('"ID"', `"s${String(k).padStart(3, "0")}"`));
            assert.equal((await c.send(mine.subarray(0, k))).status, 200, `first part at ${k}`);
            assert.equal((await c.send(mine.subarray(k))).status, 200, `second part at ${k}`);
        }
        const n = bytes.length - 1;
        await c.pollUntil((fs) => fs.filter((f) => f.type === 3).length >= n, 10000, `${n} completions`);
        const done = c.frames.filter((f) => f.type === 3);
        assert.deepEqual(done.map((f) => f.invocationId), Array.from({ length: n }, (_, i) => `s${String(i + 1).padStart(3, "0")}`));
        assert.ok(done.every((f) => f.result === "héllo\u2028"), "every split (also inside a UTF-8 character) decodes the same");
    });

    test("I-14: malformed JSON, wrong types, missing fields, invalid UTF-8, raw NUL: Close with the generic error", async (t) => {
        const cases = [
            [`{"type":1,`, "truncated JSON"],
            ["not json", "not JSON"],
            ["[1,2]", "an array"],
            ["{}", "no type"],
            [`{"type":"1","target":"Echo","arguments":[]}`, "type as a string"],
            [`{"type":1.5,"target":"Echo","arguments":[]}`, "type as a float"],
            [`{"type":1,"target":5,"arguments":[]}`, "target as a number"],
            [`{"type":1,"target":"Echo","arguments":{}}`, "arguments as an object"],
            [`{"type":1,"target":"Echo"}`, "no arguments"],
            [`{"type":1,"arguments":[]}`, "no target"],
            [`{"type":1,"invocationId":5,"target":"Echo","arguments":[1]}`, "invocationId as a number"],
            [`{"type":1,"target":"Echo","arguments":[1],"type":1}`, "duplicate key"],
            [`{"type":1,"target":"Ec\\u0000ho","arguments":[1]}`, "NUL (escaped) in target"],
            [`{"type":1,"target":"\\ud800","arguments":[1]}`, "a lone surrogate"],
            [`{"type":3}`, "Completion without invocationId"],
            [`{"type":5}`, "CancelInvocation without invocationId"],
        ];
        for (const [rec, what] of cases) await expectClose(t, rec + RS, what);
        await expectClose(t, Buffer.concat([Buffer.from(`{"type":1,"target":"Echo","arguments":["`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(`"]}${RS}`)]), "invalid UTF-8");
        await expectClose(t, Buffer.concat([Buffer.from(`{"type":1,"target":"Echo","arguments":["a`), Buffer.from([0]), Buffer.from(`b"]}${RS}`)]), "a raw NUL byte");
        await expectClose(t, Buffer.concat([Buffer.from([0]), Buffer.from(`{"type":6}${RS}`)]), "a NUL before the record");
        await expectClose(t, Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from(`{"type":6}${RS}`)]), "a UTF-8 BOM");
    });

    test("I-14: unknown message types, Ack and Sequence are ignored; unknown properties are skipped", async (t) => {
        const c = await Conn.open(t, S, HUB.stock);
        for (const rec of [`{"type":99}`, `{"type":0}`, `{"type":-1}`, `{"type":8,"sequenceId":1}`, `{"type":9,"sequenceId":1}`, `{"type":1000000}`,
            `{"type":6,"extra":{"deep":[1,2,3]}}`, `{"type":1,"invocationId":"u","target":"Echo","arguments":[7],"x":"y","headers":{"a":"b"}}`]) {
            assert.equal((await c.send(rec + RS)).status, 200, rec);
        }
        assert.equal((await c.completion("u")).result, 7);
        assert.equal((await c.call("Echo", ["alive"])).result, "alive");
        assert.ok(!c.frames.some((f) => f.type === 7), "no Close");
    });

    test("I-15: first message not a handshake, unsupported protocol, unsupported version: HandshakeResponse error, then the end", async (t) => {
        const generic = "An unexpected error occurred during connection handshake.";
        const cases = [
            [`{"type":1,"invocationId":"1","target":"Echo","arguments":[1]}`, generic],
            ["garbage", generic],
            ["", generic],
            ["{}", generic],
            [`{"protocol":"json"}`, generic],
            [`{"protocol":5,"version":1}`, generic],
            [`{"protocol":"json","version":"1"}`, generic],
            [`{"protocol":"messagepack","version":99}`, "The server does not support version 99 of the 'messagepack' protocol."],
            [`{"protocol":"blazorpack","version":1}`, "The protocol 'blazorpack' is not supported."],
            [`{"protocol":"json","version":99}`, "The server does not support version 99 of the 'json' protocol."],
        ];
        for (const [hs, error] of cases) {
            const c = await Conn.open(t, S, HUB.stock, { handshake: false });
            assert.equal((await c.send(hs + RS)).status, 200);
            const r = await c.poll();
            assert.equal(r.status, 200, hs);
            assert.deepEqual(parseFrames(r.body), [{ error }], `handshake ${hs}`);
            assert.equal((await c.send(HANDSHAKE)).status, 404, `${hs}: a handshake after the failed one`);
            assert.equal((await c.poll()).status, 204, `${hs}: the next poll ends the transport`);
        }
        // garbage before the handshake in the same POST
        const g = await Conn.open(t, S, HUB.stock, { handshake: false });
        assert.equal((await g.send(`\x00\x01garbage${RS}${HANDSHAKE}`)).status, 200);
        assert.deepEqual(parseFrames((await g.poll()).body), [{ error: generic }]);
    });

    test("I-15 over Server-Sent Events: the HandshakeResponse error arrives on the stream, which ends", async (t) => {
        const c = await Conn.negotiate(S, HUB.stock);
        const s = await c.sse();
        t.after(() => s.close());
        await s.waitFor((x) => x.raw.startsWith(":"), 5000, "the opening comment");
        assert.equal((await c.send(`{"protocol":"messagepack","version":1}${RS}`)).status, 200);
        const e = await s.waitFor((x) => x.events[0], 5000, "the handshake response");
        assert.deepEqual(e.frames, [{ error: "Cannot use the 'messagepack' protocol on the current transport. " +
            "The transport does not support 'Binary' transfer format." }]);
        await s.waitEnd(5000);
        assert.ok(!s.open);
    });

    test("I-16: no handshake within SIGNALR_HANDSHAKE_TIMEOUT: 'Handshake was canceled.', then the end", async (t) => {
        const c = await Conn.open(t, S, HUB.stock, { handshake: false });
        const started = Date.now();
        const r = await c.poll({ timeout: HANDSHAKE_TIMEOUT_MS + 8000 });
        assert.equal(r.status, 200);
        assert.deepEqual(parseFrames(r.body), [{ error: "Handshake was canceled." }]);
        const took = Date.now() - started;
        assert.ok(took >= HANDSHAKE_TIMEOUT_MS - 1500 && took < HANDSHAKE_TIMEOUT_MS + 6000, `ended after ${took} ms`);
        assert.equal((await c.send(HANDSHAKE)).status, 404);
    });

    test("I-17: nesting deeper than 64, 10,000 deep, numbers beyond double and int64: Close; 64 deep passes", async (t) => {
        const nest = (n) => `${"[".repeat(n)}${"]".repeat(n)}`;
        // object (1) + arguments (2) + n arrays
        const c = await Conn.open(t, S, HUB.stock);
        assert.equal((await c.send(`{"type":1,"invocationId":"d","target":"Echo","arguments":[${nest(62)}]}${RS}`)).status, 200);
        assert.ok((await c.completion("d")).result !== undefined, "64 levels in all");
        await expectClose(t, `{"type":1,"invocationId":"d","target":"Echo","arguments":[${nest(63)}]}${RS}`, "65 levels");
        await expectClose(t, `{"type":1,"invocationId":"d","target":"Echo","arguments":[${nest(10000)}]}${RS}`, "10,000 levels");
        await expectClose(t, `{"type":1,"invocationId":"d","target":"Echo","arguments":[${"{\"a\":".repeat(5000)}1${"}".repeat(5000)}]}${RS}`, "5,000 nested objects");
        await expectClose(t, `{"type":1,"invocationId":"d","target":"Echo","arguments":[${"[".repeat(20000)}]}${RS}`, "20,000 unclosed brackets");
        await expectClose(t, `{"type":1,"invocationId":"n","target":"Echo","arguments":[1e400]}${RS}`, "1e400");
        await expectClose(t, `{"type":1,"invocationId":"n","target":"Echo","arguments":[-1e400]}${RS}`, "-1e400");
        await expectClose(t, `{"type":1,"invocationId":"n","target":"Add","arguments":[18446744073709551616,1]}${RS}`, "2^64");
        // inside the range: fine
        const d = await Conn.open(t, S, HUB.stock);
        assert.equal((await d.call("Add", [9007199254740991, 0])).result, 9007199254740991);
        assert.equal((await d.call("Echo", [1e308])).result, 1e308);
        const big = await d.send(`{"type":1,"invocationId":"i64","target":"Add","arguments":[9223372036854775807,1]}${RS}`);
        assert.equal(big.status, 200, "int64 overflow inside a method must not crash");
        const r = await d.completion("i64");
        assert.ok(r.result !== undefined || r.error !== undefined);
        assert.equal((await d.call("Echo", ["alive"])).result, "alive");
    });

    test("I-18: target with control bytes, duplicate invocation ids: error Completions, the connection continues", async (t) => {
        const c = await Conn.open(t, S, HUB.stock);
        const weird = await c.call("Ec\u0001h\no\u001b[31m", []);
        assert.equal(weird.error, "Failed to invoke 'Ec\u0001h\no\u001b[31m' due to an error on the server. HubException: Method does not exist.");
        const long = await c.call("X".repeat(10000), []);
        assert.match(long.error, /^Failed to invoke 'X+' due to an error on the server\. HubException: Method does not exist\.$/);
        // two plain invocations with the same id both complete (the id is the client's business)
        assert.equal((await c.send(`{"type":1,"invocationId":"dup","target":"Echo","arguments":[1]}${RS}{"type":1,"invocationId":"dup","target":"Echo","arguments":[2]}${RS}`)).status, 200);
        await c.pollUntil((fs) => fs.filter((f) => f.invocationId === "dup").length >= 2, 5000, "two completions of dup");
        assert.equal((await c.call("Echo", ["alive"])).result, "alive");
        // a stream id in use is refused with the protocol's text
        const d = await Conn.open(t, URLS.conf, HUB.conf);
        assert.equal((await d.send(`{"type":4,"invocationId":"s1","target":"InfiniteStream","arguments":[]}${RS}`)).status, 200);
        assert.equal((await d.send(`{"type":4,"invocationId":"s1","target":"InfiniteStream","arguments":[]}${RS}`)).status, 200);
        const err = await d.completion("s1");
        assert.equal(err.error, "Invocation ID 's1' is already in use.");
        assert.equal((await d.send(`{"type":5,"invocationId":"s1"}${RS}`)).status, 200);
        assert.equal((await d.call("Echo", ["alive"])).result, "alive");
    });

    test("I-18: an invocationId of 10 KB closes the connection", async (t) => {
        const c = await Conn.open(t, S, HUB.stock);
        assert.equal((await c.send(`{"type":1,"invocationId":"${"i".repeat(10240)}","target":"Echo","arguments":[1]}${RS}`)).status, 200);
        await c.pollUntil((fs) => fs.some((f) => f.type === 7 || f.type === 3), 5000, "a Close or a Completion");
        const first = c.frames.find((f) => f.type === 7 || f.type === 3);
        assert.deepEqual(first.type === 7 ? first : { type: 3, invocationId: `${first.invocationId.length} bytes` }, CLOSE_ERROR);
    });

    test("I-19: unknown method, wrong argument count or types: error Completion; the connection continues", async (t) => {
        const c = await Conn.open(t, S, HUB.stock);
        assert.equal((await c.call("NoSuchMethod", [])).error, "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist.");
        assert.equal((await c.call("Add", [])).error, "Failed to invoke 'Add' due to an error on the server.");
        assert.equal((await c.call("Add", [1, 2, 3])).error, "Failed to invoke 'Add' due to an error on the server.");
        assert.equal((await c.call("Add", ["1", 2])).error, "Failed to invoke 'Add' due to an error on the server.");
        assert.equal((await c.call("Add", [1.5, 2])).error, "Failed to invoke 'Add' due to an error on the server.");
        assert.equal((await c.call("JoinGroup", [null])).error, "Failed to invoke 'JoinGroup' due to an error on the server.");
        assert.equal((await c.call("SendTo", ["Group", "notarray", [], "x"])).error, "Failed to invoke 'SendTo' due to an error on the server.");
        const s = `{"type":4,"invocationId":"st","target":"Echo","arguments":[1]}${RS}`;
        assert.equal((await c.send(s)).status, 200);
        assert.equal((await c.completion("st")).error, "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.");
        assert.equal((await c.call("Add", [2, 3])).result, 5);
    });

    test("the workers survived", async (t) => {
        await assertHealthy(t, "stock", workers);
        await assertHealthy(t, "conf", workers);
    });
});

// ------------------------------------------------------------------------------------------------

describe("I-22 / I-23: the front end's limits", () => {
    test("I-22: a request line or a header over 8 KiB is refused by lighttpd (414/431); the worker never sees it", async () => {
        const r1 = await http("GET", hub(`?id=${"a".repeat(9000)}`));
        assert.ok([414, 431].includes(r1.status), `long URL: ${r1.status}`);
        const r2 = await http("POST", hub("/negotiate?negotiateVersion=1"), { headers: { "X-Big": "b".repeat(9000) } });
        assert.ok([431, 400].includes(r2.status), `big header: ${r2.status}`);
        const r3 = await http("POST", hub("/negotiate?negotiateVersion=1"), { headers: { Authorization: `Bearer ${"c".repeat(9000)}` } });
        assert.ok([431, 400].includes(r3.status), `big Authorization: ${r3.status}`);
    });

    test("I-23: slow-drip POST bodies do not pin the workers (lighttpd buffers the body)", async (t) => {
        const c = await Conn.open(t, S, HUB.stock);
        const port = Number(new URL(S).port);
        const sockets = [];
        t.after(() => { for (const s of sockets) s.destroy(); });
        // more slow requests than the 2 workers have request threads (4 each)
        for (let i = 0; i < 12; i++) {
            const s = net.connect(port, "127.0.0.1");
            s.on("error", () => {});
            await new Promise((r) => s.once("connect", r));
            s.write(`POST ${HUB.stock}?id=${c.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{`);
            sockets.push(s);
        }
        await sleep(300);
        const started = Date.now();
        const other = await Conn.open(t, S, HUB.stock);
        assert.equal((await other.call("Echo", ["fast"])).result, "fast");
        assert.equal((await c.call("Echo", ["same connection"])).result, "same connection");
        assert.ok(Date.now() - started < 3000, `served in ${Date.now() - started} ms while 12 bodies drip`);
        for (const s of sockets) s.write(" ");
        await sleep(100);
    });
});

// ------------------------------------------------------------------------------------------------

describe("I-24: a client that stops polling", () => {
    test("disposed after the disconnect timeout: later requests 404, memberships gone, OnDisconnected once", async (t) => {
        const watcher = await Conn.open(t, S, HUB.stock);
        const c = await Conn.open(t, S, HUB.stock);
        const g = `g-${tag()}`;
        assert.equal((await c.call("JoinGroup", [g])).error, undefined);
        // c stops polling now; the watcher keeps polling and sees the disconnect hook's broadcast
        const deadline = DISCONNECT_TIMEOUT_MS + 9000;
        try {
            await watcher.pollUntil((fs) => fs.some((f) => f.target === "Disconnected" && f.arguments[0] === c.connectionId), deadline, "the Disconnected broadcast");
        } catch (err) {
            const row = execFileSync("psql", ["-XAtq", "-c", `SELECT transport, holder, ended, handshake_done, round(extract(epoch FROM now() - last_active)) AS idle_s, (SELECT count(*) FROM signalr.connections) AS rows, (SELECT string_agg(id || ' ' || round(extract(epoch FROM now() - heartbeat_at)), ', ') FROM signalr.workers) AS workers FROM signalr.connections WHERE id = '${c.connectionId}'`], { encoding: "utf8", timeout: 10000 }).trim();
            throw new Error(`${err.message.slice(0, 200)}; the connection's row: ${row || "(gone)"}`);
        }
        assertStatus(await c.send(`{"type":6}${RS}`), 404, NOT_FOUND, "POST after disposal");
        assertStatus(await c.poll(), 404, NOT_FOUND, "poll after disposal");
        const exists = execFileSync("psql", ["-XAtq", "-c", `SELECT signalr.group_exists('Test', '${g}'), signalr.connection_exists('Test', '${c.connectionId}')`], { encoding: "utf8", timeout: 10000 }).trim();
        assert.equal(exists, "f|f", "the group and the connection are gone");
        // exactly once: keep polling a little longer
        await sleep(1500);
        await watcher.call("Echo", [1]);
        assert.equal(watcher.frames.filter((f) => f.target === "Disconnected" && f.arguments[0] === c.connectionId).length, 1, "OnDisconnected ran once");
    });
});

test("the workers survived", async (t) => {
    await assertHealthy(t, "stock", workers);
});
