// fastcgi.test.mjs — matrix row I-27: malformed FastCGI records sent straight to the workers'
// sockets (the ones lighttpd spawned them on: <sockdir>/fcgi.sock-0 and -1).  Name/value lengths
// near 2^31 (the CVE-2025-23016 shape), lengths whose sum overflows, truncated records, wrong
// versions, unknown record types, management records, 20,000 parameters, random bytes.  Each time
// the worker must close the FastCGI connection (or answer it) and stay alive: the same worker
// processes serve a normal request through lighttpd afterwards.  These run against their own front
// end (fcgi: the stock binary, 2 workers), so that a crash found here cuts no other suite's
// connections; each case checks the workers it started with, and waits for lighttpd to have 2
// live workers again before the next case.

import net from "node:net";
import { existsSync } from "node:fs";
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";

import { Conn, HUB, SOCKDIRS, URLS, assertNoLeaks, gap, http, pidAlive, sleep, workerPids } from "./lib.mjs";

after(() => { assertNoLeaks(); });

const SOCKETS = [0, 1].map((i) => `${SOCKDIRS.fcgi}/fcgi.sock-${i}`);

/** the 2 live workers of the fcgi front end (asking lighttpd to respawn a dead one if needed) */
async function liveWorkers() {
    const deadline = Date.now() + 15000;
    for (;;) {
        const pids = workerPids("fcgi").filter(pidAlive);
        if (pids.length === 2 && SOCKETS.every(existsSync)) return pids;
        if (Date.now() > deadline) throw new Error(`the fcgi front end has no 2 live workers: ${JSON.stringify(workerPids("fcgi"))}`);
        await http("POST", `${URLS.fcgi}${HUB.fcgi}/negotiate?negotiateVersion=1`).catch(() => {});
        await sleep(200);
    }
}

/** runs `body` and asserts that the workers alive before it are alive after it */
async function survives(what, body) {
    const before = await liveWorkers();
    await body();
    await sleep(300);
    const dead = before.filter((p) => !pidAlive(p));
    assert.deepEqual(dead, [], `${what}: worker(s) ${dead} died (see lighttpd-error.log: "child signalled")`);
}

/** the front end serves a fresh connection */
async function serves(t) {
    const c = await Conn.open(t, URLS.fcgi, HUB.fcgi);
    assert.equal((await c.call("Echo", ["ok"])).result, "ok");
}
const T = { BEGIN: 1, ABORT: 2, END: 3, PARAMS: 4, STDIN: 5, STDOUT: 6, STDERR: 7, DATA: 8, GET_VALUES: 9, UNKNOWN: 11 };

/** one record: header (version, type, request id, content length, padding) + content + padding */
function rec(type, id, content = Buffer.alloc(0), { version = 1, padding = 0, length } = {}) {
    const c = Buffer.from(content);
    const h = Buffer.alloc(8);
    h[0] = version;
    h[1] = type;
    h.writeUInt16BE(id, 2);
    h.writeUInt16BE(length ?? c.length, 4);
    h[6] = padding;
    return Buffer.concat([h, c, Buffer.alloc(padding)]);
}

const len = (n) => (n < 128 ? Buffer.from([n]) : (() => { const b = Buffer.alloc(4); b.writeUInt32BE((n | 0x80000000) >>> 0); return b; })());
const nv = (name, value) => Buffer.concat([len(Buffer.byteLength(name)), len(Buffer.byteLength(value)), Buffer.from(name), Buffer.from(value)]);
const begin = (id = 1, flags = 0) => rec(T.BEGIN, id, Buffer.from([0, 1, flags, 0, 0, 0, 0, 0]));

/** the parameters of a negotiate through lighttpd */
function negotiateParams() {
    return Buffer.concat([
        nv("REQUEST_METHOD", "POST"), nv("SCRIPT_NAME", "/Hubs/Test/negotiate"), nv("QUERY_STRING", "negotiateVersion=1"),
        nv("REQUEST_URI", "/Hubs/Test/negotiate?negotiateVersion=1"), nv("CONTENT_LENGTH", "0"), nv("SERVER_PROTOCOL", "HTTP/1.1"),
    ]);
}

function validRequest(id = 1) {
    return Buffer.concat([begin(id), rec(T.PARAMS, id, negotiateParams()), rec(T.PARAMS, id), rec(T.STDIN, id)]);
}

/**
 * Connects to a worker socket, writes `bytes` (a Buffer or a list written with small pauses),
 * half-closes unless `keepOpen`, and resolves { data, closedByPeer } when the worker closes the
 * connection or `ms` pass.
 */
function exchange(path, bytes, { ms = 5000, keepOpen = false } = {}) {
    return new Promise((resolve, reject) => {
        const s = net.connect(path);
        const parts = [];
        let closed = false;
        const timer = setTimeout(() => { s.destroy(); resolve({ data: Buffer.concat(parts), closedByPeer: false }); }, ms);
        s.on("data", (d) => parts.push(d));
        s.on("error", (err) => { if (err.code !== "EPIPE" && err.code !== "ECONNRESET") { clearTimeout(timer); reject(err); } });
        s.on("close", () => { if (!closed) { closed = true; clearTimeout(timer); resolve({ data: Buffer.concat(parts), closedByPeer: true }); } });
        s.on("connect", async () => {
            for (const b of Array.isArray(bytes) ? bytes : [bytes]) {
                if (s.destroyed) break;
                s.write(b);
                if (Array.isArray(bytes)) await sleep(5);
            }
            if (!keepOpen && !s.destroyed) s.end();
        });
    });
}

/** the STDOUT content of a response */
function stdout(buf) {
    const out = [];
    for (let i = 0; i + 8 <= buf.length;) {
        const type = buf[i + 1], n = buf.readUInt16BE(i + 4), pad = buf[i + 6];
        if (type === T.STDOUT) out.push(buf.subarray(i + 8, i + 8 + n));
        i += 8 + n + pad;
    }
    return Buffer.concat(out).toString("utf8");
}

describe("I-27: malformed FastCGI records", () => {
    test("the harness: a well-formed negotiate straight to each worker socket is answered", async () => {
        await liveWorkers();
        for (const p of SOCKETS) {
            assert.ok(existsSync(p), `${p} exists`);
            const r = await exchange(p, validRequest());
            assert.ok(r.closedByPeer, "the worker ends the connection after the response");
            const out = stdout(r.data);
            assert.match(out, /^Status: 200/, out.slice(0, 200));
            assert.match(out, /"connectionToken"/);
        }
    });

    const cases = [
        ["name and value lengths of 0x7fffffff (CVE-2025-23016 shape)", () => {
            const p = Buffer.concat([len(0x7fffffff), len(0x7fffffff), Buffer.from("AAAAAAAA")]);
            return Buffer.concat([begin(), rec(T.PARAMS, 1, p), rec(T.PARAMS, 1), rec(T.STDIN, 1)]);
        }],
        ["lengths whose sum overflows 32 bits", () => {
            const p = Buffer.concat([len(0x7ffffff0), len(0x7ffffff0), Buffer.alloc(64, 0x41)]);
            return Buffer.concat([begin(), rec(T.PARAMS, 1, p), rec(T.PARAMS, 1)]);
        }],
        ["a name length of 0xffffffff (all bits set)", () => {
            const p = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([1]), Buffer.from("xy")]);
            return Buffer.concat([begin(), rec(T.PARAMS, 1, p), rec(T.PARAMS, 1)]);
        }],
        ["a 4-byte length cut after 2 bytes at the end of the record", () => {
            return Buffer.concat([begin(), rec(T.PARAMS, 1, Buffer.from([0x80, 0x00])), rec(T.PARAMS, 1)]);
        }],
        ["a name/value pair longer than its record, continued in the next", () => {
            const p = nv("REQUEST_METHOD", "POST");
            return Buffer.concat([begin(), rec(T.PARAMS, 1, p.subarray(0, 5)), rec(T.PARAMS, 1, p.subarray(5)), rec(T.PARAMS, 1, negotiateParams()), rec(T.PARAMS, 1), rec(T.STDIN, 1)]);
        }],
        ["a record that declares 65535 bytes and ends after 100", () => {
            return Buffer.concat([begin(), rec(T.PARAMS, 1, Buffer.alloc(100, 0x41), { length: 65535 })]);
        }],
        ["a header cut after 5 bytes", () => begin().subarray(0, 5)],
        ["BEGIN_REQUEST with a 3-byte body", () => rec(T.BEGIN, 1, Buffer.from([0, 1, 0]))],
        ["version 0", () => Buffer.concat([rec(T.BEGIN, 1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]), { version: 0 }), rec(T.PARAMS, 1, negotiateParams())])],
        ["version 2", () => Buffer.concat([rec(T.BEGIN, 1, Buffer.from([0, 1, 0, 0, 0, 0, 0, 0]), { version: 2 }), rec(T.PARAMS, 1)])],
        ["an unknown role (9)", () => Buffer.concat([rec(T.BEGIN, 1, Buffer.from([0, 9, 0, 0, 0, 0, 0, 0])), rec(T.PARAMS, 1), rec(T.STDIN, 1)])],
        ["unknown record types (99 and 255) on the request and on id 0", () => Buffer.concat([
            rec(99, 0, Buffer.from("x")), begin(), rec(99, 1, Buffer.from("junk")), rec(255, 1, Buffer.alloc(300)),
            rec(T.PARAMS, 1, negotiateParams()), rec(T.PARAMS, 1), rec(T.STDIN, 1)])],
        ["FCGI_GET_VALUES and an ABORT before anything", () => Buffer.concat([
            rec(T.GET_VALUES, 0, Buffer.concat([nv("FCGI_MAX_CONNS", ""), nv("FCGI_MPXS_CONNS", "")])), rec(T.ABORT, 1)])],
        ["STDIN and DATA before the parameters end", () => Buffer.concat([begin(), rec(T.STDIN, 1, Buffer.from("body")), rec(T.DATA, 1, Buffer.from("d")), rec(T.PARAMS, 1)])],
        ["records of another request id in the middle", () => Buffer.concat([begin(1), rec(T.PARAMS, 7, negotiateParams()), begin(2), rec(T.PARAMS, 1), rec(T.STDIN, 2)])],
        ["maximal padding and empty content", () => Buffer.concat([begin(), rec(T.PARAMS, 1, Buffer.alloc(0), { padding: 255 }), rec(T.PARAMS, 1), rec(T.STDIN, 1, Buffer.alloc(0), { padding: 255 })])],
        ["no REQUEST_METHOD, a name with '=', a 60 KB value", () => Buffer.concat([begin(),
            rec(T.PARAMS, 1, Buffer.concat([nv("SCRIPT_NAME", "/Hubs/Test"), nv("REQUEST_METHOD=GET", "x"), nv("QUERY_STRING", "id=" + "a".repeat(60000).slice(0, 60000))]).subarray(0, 65535)),
            rec(T.PARAMS, 1), rec(T.STDIN, 1)])],
        ["CONTENT_LENGTH of -1 and of 10^20 with a 4-byte body", () => Buffer.concat([begin(),
            rec(T.PARAMS, 1, Buffer.concat([nv("REQUEST_METHOD", "POST"), nv("SCRIPT_NAME", "/Hubs/Test"), nv("QUERY_STRING", "id=x"), nv("CONTENT_LENGTH", "-1"), nv("CONTENT_LENGTH", "100000000000000000000")])),
            rec(T.PARAMS, 1), rec(T.STDIN, 1, Buffer.from("abcd")), rec(T.STDIN, 1)])],
    ];

    const CRASHES = {
        "lengths whose sum overflows 32 bits": "BUG: the worker aborts (SIGABRT, libfcgi fcgiapp.c:75 'Malloc: Assertion ... failed'): libfcgi 2.4.2-2+deb12u1's ReadParams allocates nameLen + valueLen + 2 (about 4 GiB here) and asserts on failure; every connection the worker held is lost",
    };
    for (const [what, make] of cases) {
        test(`${what}: the connection ends, the worker lives`, CRASHES[what] ? gap(CRASHES[what]) : {}, async () => {
            await survives(what, async () => {
                for (const p of SOCKETS) {
                    const r = await exchange(p, make());
                    assert.ok(r.closedByPeer, `${what}: the worker must close the connection once the peer is done (${p})`);
                }
            });
        });
    }

    test("20,000 parameters (about 600 KB) are read and the request answered", async () => {
        const many = [];
        for (let i = 0; i < 20000; i++) many.push(nv(`HTTP_X_H${i}`, "v".repeat(20)));
        const params = Buffer.concat([negotiateParams(), ...many]);
        const records = [];
        for (let i = 0; i < params.length; i += 65535) records.push(rec(T.PARAMS, 1, params.subarray(i, i + 65535)));
        await survives("20,000 parameters", async () => {
            const r = await exchange(SOCKETS[0], Buffer.concat([begin(), ...records, rec(T.PARAMS, 1), rec(T.STDIN, 1)]), { ms: 10000 });
            assert.ok(r.closedByPeer);
            assert.match(stdout(r.data), /^Status: (200|4\d\d|503)/);
        });
    });

    test("200 buffers of random bytes (seeded), each behind a valid BEGIN_REQUEST half the time", async () => {
        let seed = 0x5eed;
        const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
        for (let batch = 0; batch < 10; batch++) {
            const sent = [];
            await survives(`random cases ${batch * 20}..${batch * 20 + 19} (${sent.length} sent)`, async () => {
                for (let i = batch * 20; i < batch * 20 + 20; i++) {
                    const n = Math.floor(rnd() * 600);
                    const junk = Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
                    // make some of them look like records: version 1 and a small type
                    if (n > 8 && rnd() < 0.5) { junk[0] = 1; junk[1] = 1 + Math.floor(rnd() * 11); }
                    const bytes = rnd() < 0.5 ? Buffer.concat([begin(), junk]) : junk;
                    sent.push(bytes.toString("hex"));
                    const r = await exchange(SOCKETS[i % 2], bytes, { ms: 3000 });
                    assert.ok(r.closedByPeer, `random case ${i} (${bytes.toString("hex").slice(0, 80)}...) left the connection open`);
                }
            });
        }
    });

    test("a peer that stalls mid-record pins one request thread only; lighttpd's requests are still served", async (t) => {
        const stalled = [];
        const holds = SOCKETS.flatMap((p) => [p, p]).map((p) => {
            const s = net.connect(p);
            s.on("error", () => {});
            s.on("connect", () => s.write(Buffer.concat([begin(), rec(T.PARAMS, 1, negotiateParams()).subarray(0, 20)])));
            stalled.push(s);
            return s;
        });
        t.after(() => { for (const s of holds) s.destroy(); });
        await survives("stalled peers", async () => {
            await sleep(300);
            await serves(t);
        });
    });

    test("the front end serves afterwards", async (t) => {
        await liveWorkers();
        await serves(t);
    });
});
