// msgpack.test.mjs — the MessagePack hub protocol (issue 11; protocol.md §7.7) with the real
// @microsoft/signalr + @microsoft/signalr-protocol-msgpack clients: JSON and MessagePack clients
// in one chat room, typed values (bin, timestamps) crossing between the protocols, pushes from
// outside the hubs (SQL functions, REST API) reaching MessagePack clients, the client's transport
// choice (LongPolling, since SSE carries text only), and the wire by hand: binary poll bodies, a
// frame split across POSTs, a malformed frame, and the handshake refused over SSE.
// Streams in both directions and client results over MessagePack are covered by the conformance
// suite (tests/conformance, HC-05..HC-11, HC-18..HC-22 in the messagepack block).
//
// Needs SIGNALR_URL (with SIGNALR_TEST_HUBS=1); the outside-push tests also the PG* variables,
// SIGNALR_API_KEY and the built binary (SIGNALR_BIN; scripts/test.sh provides all of them) and
// are skipped without the first two.

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { BASE, Inbox, RS, RawConnection, connect, escapeRe, openSse, signalR, tag } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const { MessagePackHubProtocol } = require("@microsoft/signalr-protocol-msgpack");

const T = { timeout: 60000 };
const WAIT = 10000;
const HUB = "Test";
const API_KEY = process.env.SIGNALR_API_KEY ?? "";
const HAVE_PG = Boolean(process.env.PGHOST && process.env.PGDATABASE);

/** a MessagePack client; `transport` auto = the client's own choice */
const mpClient = (t, hub, transport = "LongPolling", query = "") => connect(t, hub, {}, {
    transport, query, protocol: new MessagePackHubProtocol(),
    expect: "LongPolling",
});
/** a JSON client over long polling */
const jsonClient = (t, hub) => connect(t, hub, {}, { transport: "LongPolling" });

// ------------------------------------------------------------------------------------------------
// The real clients

test("the client's default transport choice with MessagePack ends on LongPolling (HX-06)", T, async (t) => {
    const conn = await mpClient(t, HUB, "auto");
    assert.equal(conn.transportName, "LongPolling");
    assert.equal(conn.eventSources.length, 0, "no EventSource was even tried");
    assert.equal(await conn.invoke("Echo", "über"), "über");
});

test("JSON and MessagePack clients chat in one room, each in its own protocol", T, async (t) => {
    const json = await jsonClient(t, "ChatRoom");
    const mp = await mpClient(t, "ChatRoom");
    const inJson = new Inbox(json, "ReceivePublicMessage");
    const inMp = new Inbox(mp, "ReceivePublicMessage");
    const fromMp = `from msgpack ${tag()} 你好`;
    const fromJson = `from json ${tag()}`;
    await mp.invoke("SendPublicMessage", fromMp);
    await json.invoke("SendPublicMessage", fromJson);
    for (const [who, inbox] of [["JSON", inJson], ["MessagePack", inMp]]) {
        for (const [sender, text] of [[mp, fromMp], [json, fromJson]]) {
            const [s] = await inbox.waitFor((m) => m.endsWith(`:${text}`), WAIT, `${who} getting "${text}"`);
            assert.match(s, new RegExp(`^${escapeRe(sender.connectionId)}:.*:${escapeRe(text)}$`));
        }
    }
});

test("Echo returns every kind of MessagePack value unchanged", T, async (t) => {
    const mp = await mpClient(t, HUB);
    const values = [
        null, true, false, 0, 127, 128, -1, -33, 65536, -2147483649, 2 ** 40, 1.5, -0.25,
        "", "a".repeat(40), "x".repeat(70000 >> 4), "€ \u0000 nul inside",
        [], Array.from({ length: 20 }, (_, i) => i), { a: { b: [null, { c: "d" }] } },
        Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])),
    ];
    for (const v of values) {
        assert.deepEqual(await mp.invoke("Echo", v), v, `Echo(${JSON.stringify(v).slice(0, 60)})`);
    }
});

test("bin and timestamps a MessagePack client sends reach MessagePack clients typed and JSON clients as strings", T, async (t) => {
    const sender = await mpClient(t, HUB);
    const mp = await mpClient(t, HUB);
    const json = await jsonClient(t, HUB);
    const inMp = new Inbox(mp, "Relay");
    const inJson = new Inbox(json, "Relay");
    const id = tag();
    const value = {
        id,
        bytes: new Uint8Array([0, 1, 2, 253, 254, 255]),
        when: new Date(Date.UTC(2002, 3, 1, 10, 20, 15, 500)),
        before1970: new Date(Date.UTC(1969, 6, 20, 20, 17, 40)),
        list: [new Uint8Array([104, 105])],
    };
    await sender.invoke("Relay", value);
    const [got] = await inMp.waitFor((v) => v?.id === id, WAIT, "the MessagePack receiver");
    assert.deepEqual(got, value);
    const [text, from] = await inJson.waitFor((v) => v?.id === id, WAIT, "the JSON receiver");
    assert.equal(from, sender.connectionId);
    assert.deepEqual(text, {
        id,
        bytes: "AAEC/f7/",
        when: "2002-04-01T10:20:15.5Z",
        before1970: "1969-07-20T20:17:40Z",
        list: ["aGk="],
    });
});

test("hub errors and a Close reach a MessagePack client with their texts", T, async (t) => {
    const mp = await mpClient(t, HUB);
    await assert.rejects(mp.invoke("Fail", "boom"), (e) => {
        assert.match(e.message, /boom/);
        return true;
    });
    await assert.rejects(mp.invoke("NoSuchMethod"), (e) => {
        assert.equal(e.message, "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method does not exist.");
        return true;
    });
    const closed = new Promise((r) => mp.onclose((err) => r(err ?? null)));
    await mp.invoke("Abort");
    const err = await Promise.race([closed, new Promise((_, j) => setTimeout(() => j(new Error("no close")), WAIT))]);
    assert.equal(err, null, "Context.Abort() closes without an error");
});

// ------------------------------------------------------------------------------------------------
// Pushes from outside the hubs

function psql(sql) {
    return new Promise((resolve, reject) => {
        execFile("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], { timeout: 15000 },
            (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
}
const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

test("SQL functions reach MessagePack and JSON clients (bin wrappers included)", { ...T, skip: !HAVE_PG && "no PG* variables" }, async (t) => {
    const mp = await mpClient(t, HUB);
    const json = await jsonClient(t, HUB);
    const inMp = new Inbox(mp, "Outside");
    const inJson = new Inbox(json, "Outside");
    const id = tag();
    const args = JSON.stringify(["sql", id, { "$sr:binary": "AQID" }, 2.5, { n: [1, null] }]);
    await psql(`SELECT signalr.send_all('${HUB}', 'Outside', ${lit(args)}::jsonb)`);
    const got = await inMp.waitFor((l, i) => i === id, WAIT, "the push on the MessagePack client");
    assert.deepEqual(got, ["sql", id, new Uint8Array([1, 2, 3]), 2.5, { n: [1, null] }]);
    const text = await inJson.waitFor((l, i) => i === id, WAIT, "the push on the JSON client");
    assert.deepEqual(text, ["sql", id, "AQID", 2.5, { n: [1, null] }]);
    const id2 = tag();
    await psql(`SELECT signalr.send_connection('${HUB}', ${lit(mp.connectionId)}, 'Outside', ${lit(JSON.stringify(["one", id2]))}::jsonb)`);
    await inMp.waitFor((l, i) => i === id2, WAIT, "send_connection on the MessagePack client");
});

test("the REST API reaches a MessagePack client", { ...T, skip: !API_KEY && "no SIGNALR_API_KEY" }, async (t) => {
    const mp = await mpClient(t, HUB);
    const inMp = new Inbox(mp, "Outside");
    const id = tag();
    const url = `${BASE}/api/v1/hubs/test/connections/${mp.connectionId}`;
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const head = b64({ alg: "HS256", typ: "JWT" });
    const body = b64({ aud: url, exp: Math.floor(Date.now() / 1000) + 300 });
    const token = `${head}.${body}.${createHmac("sha256", API_KEY).update(`${head}.${body}`).digest("base64url")}`;
    const res = await fetch(url, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ target: "Outside", arguments: ["rest", id, -7] }),
        signal: AbortSignal.timeout(WAIT),
    });
    assert.equal(res.status, 202, await res.text());
    assert.deepEqual(await inMp.waitFor((l, i) => i === id, WAIT, "the REST push"), ["rest", id, -7]);
});

const BIN = process.env.SIGNALR_BIN ?? new URL("../../src/signalr-fcgi", import.meta.url).pathname;

function cli(...args) {
    return new Promise((resolve, reject) => {
        execFile(BIN, args, { timeout: 15000 },
            (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
}

test("the command line reaches a MessagePack client, and its close ends it with the reason", { ...T, skip: !HAVE_PG && "no PG* variables" }, async (t) => {
    const mp = await mpClient(t, HUB);
    const inMp = new Inbox(mp, "Outside");
    const id = tag();
    await cli("send", "--hub", HUB, "--connection", mp.connectionId, "--target", "Outside",
        "--args", JSON.stringify(["cli", id, { "$sr:timestamp": "2000-01-01T00:00:00Z" }]));
    assert.deepEqual(await inMp.waitFor((l, i) => i === id, WAIT, "the CLI push"),
        ["cli", id, new Date(Date.UTC(2000, 0, 1))]);
    const closed = new Promise((r) => mp.onclose((err) => r(err ?? null)));
    await cli("close", "--hub", HUB, "--connection", mp.connectionId, "--reason", "bye");
    const err = await Promise.race([closed, new Promise((_, j) => setTimeout(() => j(new Error("no close")), WAIT))]);
    assert.match(String(err?.message), /bye/, "the Close frame carried the reason");
});

// ------------------------------------------------------------------------------------------------
// The wire by hand (long polling with binary bodies)

const protocol = new MessagePackHubProtocol();
const logger = signalR.NullLogger.instance;
/** one frame as the official client writes it */
const frame = (message) => Buffer.from(protocol.writeMessage(message));

class RawMp {
    static async open(t, hub) {
        const c = await RawConnection.negotiate(hub);
        t.after(() => c.delete().catch(() => {}));
        const raw = new RawMp(c);
        const first = await raw.poll();
        assert.equal(first.status, 200);
        return raw;
    }

    constructor(c) {
        this.c = c;
        this.messages = [];
    }

    /** GET; parses a 200 body that follows the handshake with the official client's parser */
    async poll() {
        const res = await fetch(`${this.c.url}&_=${Date.now()}`, { signal: AbortSignal.timeout(30000) });
        const body = Buffer.from(await res.arrayBuffer());
        return { status: res.status, type: res.headers.get("content-type"), body };
    }

    post(bytes) {
        return fetch(this.c.url, {
            method: "POST", body: bytes, headers: { "Content-Type": "application/octet-stream" },
            signal: AbortSignal.timeout(WAIT),
        }).then((r) => r.status);
    }

    /** polls until pred(messages); the first body must start with the JSON handshake answer */
    async until(pred, what) {
        const deadline = Date.now() + WAIT;
        while (!pred(this.messages)) {
            assert.ok(Date.now() < deadline, `timed out waiting for ${what}: ${JSON.stringify(this.messages)}`);
            const r = await this.poll();
            assert.equal(r.status, 200, `poll status while waiting for ${what}`);
            let body = r.body;
            if (!this.handshaken && body.length) {
                assert.equal(body.subarray(0, 3).toString("latin1"), `{}${RS}`, "the handshake answer is JSON");
                this.handshaken = true;
                body = body.subarray(3);
            }
            if (body.length) {
                assert.equal(r.type, "application/octet-stream");
                this.messages.push(...protocol.parseMessages(body.buffer.slice(body.byteOffset, body.byteOffset + body.length), logger));
            }
        }
        return this.messages;
    }
}

const HANDSHAKE = Buffer.from(`{"protocol":"messagepack","version":1}${RS}`);

test("frames split across POSTs and several frames in one POST are all understood", T, async (t) => {
    const raw = await RawMp.open(t, HUB);
    const invoke = (id, arg) => frame({ type: 1, invocationId: id, target: "Echo", arguments: [arg], headers: {} });
    const one = invoke("1", "split");
    // POST 1: the handshake and the first 5 bytes of a frame; POST 2: the rest and two more frames
    assert.equal(await raw.post(Buffer.concat([HANDSHAKE, one.subarray(0, 5)])), 200);
    assert.equal(await raw.post(Buffer.concat([one.subarray(5), invoke("2", 2), invoke("3", [3])])), 200);
    const ms = await raw.until((m) => m.filter((x) => x.type === 3).length >= 3, "three completions");
    assert.deepEqual(ms.filter((x) => x.type === 3).map((x) => [x.invocationId, x.result]),
        [["1", "split"], ["2", 2], ["3", [3]]]);
});

test("a malformed frame ends the connection with a Close the client can read", T, async (t) => {
    const raw = await RawMp.open(t, HUB);
    // a map with an integer key: MessagePack, but not a hub message the server accepts
    assert.equal(await raw.post(Buffer.concat([HANDSHAKE, Buffer.from([3, 0x81, 0x01, 0x02])])), 200);
    const ms = await raw.until((m) => m.some((x) => x.type === 7), "the Close");
    const close = ms.find((x) => x.type === 7);
    assert.equal(close.error, "Connection closed with an error.");
    assert.equal(close.allowReconnect, true);
    const after = await raw.poll();
    assert.equal(after.status, 204, "nothing after the Close");
});

test("a MessagePack handshake over Server-Sent Events gets ASP.NET's error", T, async (t) => {
    const { conn, stream } = await openSse(t, HUB, { handshake: false });
    await stream.waitFor((s) => s.raw.startsWith(":"), 5000, "the opening comment");
    const hs = await conn.send(`{"protocol":"messagepack","version":1}${RS}`);
    assert.equal(hs.status, 200);
    await stream.waitFor((s) => s.events.length > 0, 5000, "the handshake reply");
    assert.equal(stream.events[0].data,
        `{"error":"Cannot use the 'messagepack' protocol on the current transport. ` +
        `The transport does not support 'Binary' transfer format."}${RS}`);
});
