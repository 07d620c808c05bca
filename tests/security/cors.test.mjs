// cors.test.mjs — browser-facing security (matrix rows B-01, B-02, B-04; §1.4): the stock server
// runs with SIGNALR_CORS_ORIGINS=http://allowed.example.  That origin gets itself echoed in
// Access-Control-Allow-Origin with Access-Control-Allow-Credentials: true and Vary: Origin on
// every response of a connection (negotiate, poll, POST, DELETE, the SSE stream's head, error
// answers); a preflight allows GET, POST, DELETE and the requested headers.  Any other origin —
// random ones, "null", near-misses of the allowed one — gets no CORS header at all (never "*").
// The conformance server has no allow-list: no origin is allowed there.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import {
    CORS_ORIGIN, Conn, HANDSHAKE, HUB, RS, URLS, assertHealthy, assertNoLeaks, claims, gap, hs256, http,
    snapshotWorkers, tag, workerPids,
} from "./lib.mjs";

let workers;
before(() => { workers = snapshotWorkers(); });
after(() => {
    assertNoLeaks();
    assert.deepEqual(workerPids("stock"), workers.stock, "stock: no worker may have died");
});

const EVIL = "http://evil.example";
const CORS_HEADERS = ["access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods",
    "access-control-allow-headers", "access-control-max-age", "access-control-expose-headers"];

function assertAllowed(r, what, origin = CORS_ORIGIN) {
    assert.equal(r.headers["access-control-allow-origin"], origin, `${what}: Access-Control-Allow-Origin`);
    assert.equal(r.headers["access-control-allow-credentials"], "true", `${what}: Access-Control-Allow-Credentials`);
    assert.match(r.headers.vary ?? "", /(^|,\s*)Origin(\s*,|$)/i, `${what}: Vary: Origin`);
}

function assertNoCors(r, what) {
    for (const h of CORS_HEADERS) {
        assert.equal(r.headers[h], undefined, `${what}: ${h} must be absent, is ${JSON.stringify(r.headers[h])}`);
    }
}

const url = (path, base = URLS.stock) => `${base}${path}`;

// ------------------------------------------------------------------------------------------------

describe("the allowed origin", () => {
    test("negotiate, first poll, handshake POST, held poll, DELETE: the origin is echoed with credentials", async (t) => {
        const o = { Origin: CORS_ORIGIN };
        const neg = await http("POST", url(`${HUB.stock}/negotiate?negotiateVersion=1`), { headers: o });
        assert.equal(neg.status, 200);
        assertAllowed(neg, "negotiate");
        const c = new Conn(URLS.stock, HUB.stock, JSON.parse(neg.body), o);
        t.after(() => c.delete().catch(() => {}));
        const first = await c.poll();
        assert.equal(first.status, 200);
        assertAllowed(first, "first poll");
        const hs = await c.send(HANDSHAKE);
        assert.equal(hs.status, 200);
        assertAllowed(hs, "POST");
        const reply = await c.poll();
        // (other frames may follow: /Hubs/Test tells every connection about disconnects)
        assert.ok(reply.body.startsWith(`{}${RS}`), `handshake reply: ${JSON.stringify(reply.body.slice(0, 80))}`);
        assertAllowed(reply, "poll with data (answered from the event loop)");
        const held = c.poll();
        assert.equal((await c.invoke("1", "Echo", ["x"])).status, 200);
        assertAllowed(await held, "a held poll answered later");
        const del = await c.delete();
        assert.equal(del.status, 202);
        assertAllowed(del, "DELETE");
    });

    test("the SSE stream's head carries the CORS headers", async (t) => {
        const o = { Origin: CORS_ORIGIN };
        const c = await Conn.negotiate(URLS.stock, HUB.stock, { headers: o });
        const s = await c.sse();
        t.after(() => s.close());
        assert.equal(s.status, 200);
        assertAllowed(s, "SSE GET");
        await s.waitFor((x) => x.raw.startsWith(":"), 5000, "the opening comment");
        assertAllowed(await c.send(HANDSHAKE), "POST on the stream's connection");
        await s.waitFor((x) => x.events.length > 0, 5000, "the handshake reply");
    });

    test("error answers carry them too (404, 400, 405, 403), so a page can read the status", async (t) => {
        const o = { Origin: CORS_ORIGIN };
        assertAllowed(await http("GET", url(`${HUB.stock}?id=nope`), { headers: o }), "404 unknown id");
        assertAllowed(await http("POST", url(HUB.stock), { headers: o }), "400 missing id");
        assertAllowed(await http("GET", url(`${HUB.stock}/negotiate`), { headers: o }), "405 negotiate via GET");
        const c = await Conn.open(t, URLS.stock, HUB.stock, { headers: o });
        const r = await c.send(`{"type":6}${RS}`, { headers: { ...o, Authorization: "Bearer x.y.z" } });
        // a bad token is anonymous on a stock hub: the same (anonymous) user, so this POST is fine
        assert.equal(r.status, 200);
        assertAllowed(r, "POST with a bad token");
        const d = await Conn.open(t, URLS.stock, HUB.stock, { headers: { Authorization: `Bearer ${hs256(claims("cors-user"))}` } });
        const f = await d.send(`{"type":6}${RS}`, { headers: o });
        assert.equal(f.status, 403, "another user's (here: no user's) POST");
        assertAllowed(f, "403");
    });

    test("a preflight allows GET, POST, DELETE and the requested headers", async () => {
        const asked = "authorization, x-requested-with, x-signalr-user-agent, content-type";
        for (const path of [`${HUB.stock}/negotiate?negotiateVersion=1`, `${HUB.stock}?id=whatever`]) {
            const r = await http("OPTIONS", url(path), {
                headers: { Origin: CORS_ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": asked },
            });
            assert.ok(r.status === 204 || r.status === 200, `preflight ${path}: ${r.status}`);
            assertAllowed(r, `preflight ${path}`);
            const methods = (r.headers["access-control-allow-methods"] ?? "").split(/\s*,\s*/);
            for (const m of ["GET", "POST", "DELETE"]) assert.ok(methods.includes(m), `Allow-Methods ${methods} lacks ${m}`);
            const allowed = (r.headers["access-control-allow-headers"] ?? "").toLowerCase().split(/\s*,\s*/);
            for (const h of asked.split(/\s*,\s*/)) assert.ok(allowed.includes(h), `Allow-Headers ${allowed} lacks ${h}`);
            assert.equal(r.body, "");
        }
    });

    test("a preflight without Access-Control-Request-Headers allows the client's headers; an odd list is not reflected", async () => {
        const r = await http("OPTIONS", url(`${HUB.stock}/negotiate`), { headers: { Origin: CORS_ORIGIN, "Access-Control-Request-Method": "POST" } });
        assertAllowed(r, "preflight");
        const allowed = (r.headers["access-control-allow-headers"] ?? "").toLowerCase();
        for (const h of ["authorization", "x-requested-with", "x-signalr-user-agent", "content-type"]) assert.ok(allowed.includes(h), `lacks ${h}`);
        for (const odd of ["x-a;b", "x-a\"b", "x-a: b", "x-<script>", "é"]) {
            const q = await http("OPTIONS", url(`${HUB.stock}/negotiate`), {
                headers: { Origin: CORS_ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": odd },
            });
            assertAllowed(q, `preflight asking ${odd}`);
            assert.ok(!(q.headers["access-control-allow-headers"] ?? "").includes(odd), `the odd list ${odd} was reflected`);
        }
    });
});

// ------------------------------------------------------------------------------------------------

describe("B-01 / B-02: any other origin gets no CORS header", () => {
    test("B-01: evil origin: negotiate, poll, POST, DELETE, SSE head and the preflight carry no CORS header", async (t) => {
        const o = { Origin: EVIL };
        const neg = await http("POST", url(`${HUB.stock}/negotiate?negotiateVersion=1`), { headers: o });
        assert.equal(neg.status, 200, "the request itself is served (CORS is the browser's check)");
        assertNoCors(neg, "negotiate");
        const c = new Conn(URLS.stock, HUB.stock, JSON.parse(neg.body), o);
        t.after(() => c.delete().catch(() => {}));
        assertNoCors(await c.poll(), "poll");
        assertNoCors(await c.send(HANDSHAKE), "POST");
        const s = await Conn.negotiate(URLS.stock, HUB.stock, { headers: o }).then((x) => x.sse());
        t.after(() => s.close());
        assert.equal(s.status, 200);
        assertNoCors(s, "SSE head");
        assertNoCors(await c.delete(), "DELETE");
        const pre = await http("OPTIONS", url(`${HUB.stock}/negotiate`), {
            headers: { ...o, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
        });
        assertNoCors(pre, "preflight");
        assert.equal(pre.body, "");
        assertNoCors(await http("GET", url(`${HUB.stock}?id=nope`), { headers: o }), "404");
    });

    test("B-02: 100 random origins, null, and near-misses of the allowed origin are never reflected, never *", async () => {
        const near = [
            "null", "", "*", `${CORS_ORIGIN}/`, `${CORS_ORIGIN}:80`, CORS_ORIGIN.replace("http:", "https:"),
            CORS_ORIGIN.toUpperCase(), `${CORS_ORIGIN}.evil.com`, CORS_ORIGIN.replace("//", "//evil."), `${CORS_ORIGIN}x`,
            `${CORS_ORIGIN},${EVIL}`, `${CORS_ORIGIN} ${EVIL}`, `${EVIL},${CORS_ORIGIN}`,
            `${CORS_ORIGIN}%00`, `${CORS_ORIGIN}\\`, "http://allowed", "allowed.example", "file://", "http://127.0.0.1",
        ];
        const random = Array.from({ length: 100 }, () => {
            const b = randomBytes(8);
            return `${b[0] & 1 ? "https" : "http"}://${b.toString("hex").slice(0, 4 + (b[1] % 10))}.${["com", "example", "net", "io"][b[2] % 4]}${b[3] & 1 ? `:${1024 + (b.readUInt16BE(4) % 60000)}` : ""}`;
        });
        const paths = [`${HUB.stock}/negotiate?negotiateVersion=1`, `${HUB.stock}?id=nope`];
        let n = 0;
        for (const origin of [...near, ...random]) {
            for (const [method, path] of [["POST", paths[0]], ["OPTIONS", paths[0]], ["GET", paths[1]]]) {
                let r;
                try {
                    r = await http(method, url(path), { headers: { Origin: origin, "Access-Control-Request-Method": "POST" } });
                } catch (err) {
                    if (/Invalid character/.test(err.message)) continue; // node refuses to send it
                    throw err;
                }
                n++;
                assertNoCors(r, `${method} with Origin ${JSON.stringify(origin)} (status ${r.status})`);
                if (method === "POST" && r.status === 200) {
                    // negotiated connections of this loop are left to the disconnect timeout
                }
            }
        }
        assert.ok(n >= 350, `only ${n} requests were sent`);
    });

    test("two Origin headers (allowed + evil) are not taken as the allowed one", async () => {
        const r = await http("POST", url(`${HUB.stock}/negotiate?negotiateVersion=1`), { headers: { Origin: [CORS_ORIGIN, EVIL] } });
        assert.notEqual(r.headers["access-control-allow-origin"], CORS_ORIGIN);
        assert.notEqual(r.headers["access-control-allow-origin"], "*");
    });

    test("a server without SIGNALR_CORS_ORIGINS allows no origin", async () => {
        for (const origin of [CORS_ORIGIN, EVIL, "null"]) {
            assertNoCors(await http("POST", url(`${HUB.conf}/negotiate?negotiateVersion=1`, URLS.conf), { headers: { Origin: origin } }), `conf, ${origin}`);
            assertNoCors(await http("OPTIONS", url(`${HUB.conf}/negotiate`, URLS.conf), { headers: { Origin: origin, "Access-Control-Request-Method": "POST" } }), `conf preflight, ${origin}`);
        }
    });
});

// ------------------------------------------------------------------------------------------------

describe("B-04: response headers of negotiate, poll and the SSE stream", () => {
    test("negotiate and polls are not cacheable; the stream is text/event-stream, uncompressed, and opens with ':\\r\\n'", async (t) => {
        const neg = await http("POST", url(`${HUB.stock}/negotiate?negotiateVersion=1`));
        assert.match(neg.headers["cache-control"] ?? "", /no-store/, "negotiate Cache-Control");
        assert.match(neg.headers["content-type"] ?? "", /^application\/json/);
        const c = new Conn(URLS.stock, HUB.stock, JSON.parse(neg.body));
        t.after(() => c.delete().catch(() => {}));
        const p = await c.poll();
        assert.match(p.headers["cache-control"] ?? "", /no-store/, "poll Cache-Control");
        assert.equal(p.headers.expires, "Thu, 01 Jan 1970 00:00:00 GMT");
        assert.equal(p.headers.pragma, "no-cache");
        const c2 = await Conn.negotiate(URLS.stock, HUB.stock);
        const s = await c2.sse({ headers: { "Accept-Encoding": "gzip, deflate, br" } });
        t.after(() => s.close());
        assert.equal(s.status, 200);
        assert.match(s.headers["content-type"] ?? "", /^text\/event-stream/);
        assert.match(s.headers["cache-control"] ?? "", /no-store/);
        assert.ok([undefined, "identity"].includes(s.headers["content-encoding"]), `Content-Encoding ${s.headers["content-encoding"]}`);
        await s.waitFor((x) => x.raw.length >= 3, 5000, "the preamble");
        assert.ok(s.raw.startsWith(":\r\n"), `the stream must open with ":\\r\\n", got ${JSON.stringify(s.raw.slice(0, 10))}`);
    });

    test("X-Content-Type-Options: nosniff on negotiate, poll and the stream", async (t) => {
        const neg = await http("POST", url(`${HUB.stock}/negotiate?negotiateVersion=1`));
        assert.equal(neg.headers["x-content-type-options"], "nosniff", "negotiate");
        const c = new Conn(URLS.stock, HUB.stock, JSON.parse(neg.body));
        t.after(() => c.delete().catch(() => {}));
        assert.equal((await c.poll()).headers["x-content-type-options"], "nosniff", "poll");
    });
});

test("the workers survived", async (t) => {
    await assertHealthy(t, "stock", workers);
    tag();
});
