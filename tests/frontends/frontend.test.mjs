// frontend.test.mjs — what a web server in front of signalr-fcgi must get right, checked through
// it (tests/frontends/run.sh runs this once per transport against every front end, next to the
// client suites chat and hub of tests/client):
//   * the three URL prefixes reach the workers: /Hubs/ (the hubs), /signalr/ (health, metrics)
//     and /api/ (the REST API);
//   * request headers the workers need arrive: Authorization (mod_fcgid and CGI withhold it
//     unless told otherwise) and the Host the caller used (the REST API token's aud);
//   * responses are not buffered: messages reach clients at once over the transport under test;
//     over Server-Sent Events every keep-alive Ping arrives on its own;
//   * a long poll that has nothing to send is held for the whole poll timeout and answered 200
//     (no front-end timeout cuts it first).
//
// Environment: SIGNALR_URL (the front end), SIGNALR_TRANSPORT (LongPolling | ServerSentEvents),
// SIGNALR_API_KEY (the workers' REST API key), SIGNALR_POLL_TIMEOUT and
// SIGNALR_KEEPALIVE_INTERVAL (the workers' settings: 10 and 2 in the tests),
// FRONTEND_MAX_LATENCY_MS (default 1500: the slowest delivery accepted), FRONTEND_CGI=1 (the
// workers run as plain CGI: see the health test) and FRONTEND_SLOW=0 (leave out the held poll
// and the Ping test).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import {
    BASE, Inbox, KEEPALIVE_INTERVAL_MS, POLL_TIMEOUT_MS, RS, RawConnection, SseStream, TRANSPORT,
    connect, http, sleep, tag,
} from "../client/helpers.mjs";

const T = { timeout: 60000 };
const API_KEY = process.env.SIGNALR_API_KEY ?? "";
const MAX_LATENCY_MS = Number(process.env.FRONTEND_MAX_LATENCY_MS ?? 1500);

const b64url = (b) => Buffer.from(b).toString("base64url");

/** an HS256 token for the REST API: aud is the URL called (without the query) */
function apiToken(aud, key = API_KEY, lifetime = 300) {
    const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const claims = b64url(JSON.stringify({ aud, exp: Math.floor(Date.now() / 1000) + lifetime }));
    const sig = createHmac("sha256", key).update(`${head}.${claims}`).digest("base64url");
    return `${head}.${claims}.${sig}`;
}

// The slow checks (a poll held for the whole poll timeout, Pings that come every keep-alive
// interval) start before the first test and are judged by the last one, so that the waiting
// overlaps the other tests.  FRONTEND_SLOW=0 leaves them out.
const SLOW = process.env.FRONTEND_SLOW !== "0";
let held; // LongPolling: the held poll's answer
let opened; // ServerSentEvents: { conn, stream } once the handshake is done
let sseStream; // ...and the stream as soon as it has a response head

if (SLOW && TRANSPORT === "LongPolling") {
    before(() => {
        held = (async () => {
            const c = await RawConnection.open(null, "Test");
            try {
                return await c.poll();
            } finally {
                await c.delete().catch(() => {});
            }
        })();
        held.catch(() => {}); // judged below
    });
}

if (SLOW && TRANSPORT === "ServerSentEvents") {
    before(() => {
        // openSse of helpers.mjs, with shorter waits: a front end that holds the stream back
        // fails here within seconds (the trap demonstrations of run.sh rely on it)
        opened = (async () => {
            const conn = await RawConnection.negotiate("Test");
            const stream = sseStream = await SseStream.open(conn.url, { timeout: 5000 });
            if (stream.status !== 200) throw new Error(`SSE GET: status ${stream.status}: ${stream.raw}`);
            await stream.waitFor((s) => s.raw.startsWith(":"), 4000, "the opening comment");
            const hs = await conn.send(`{"protocol":"json","version":1}${RS}`);
            if (hs.status !== 200) throw new Error(`handshake POST: status ${hs.status}: ${hs.body}`);
            await stream.waitFor((s) => s.events.length > 0, 4000, "the handshake reply");
            if (stream.events[0].data !== `{}${RS}`) throw new Error(`handshake reply: ${JSON.stringify(stream.events[0].data)}`);
            return { conn, stream };
        })();
        opened.catch(() => {}); // judged below
    });
    after(async () => {
        await opened?.catch(() => null);
        sseStream?.close();
    });
}

test("health and metrics are served under /signalr/", T, async (t) => {
    // A worker process answers 200 once its LISTEN session is up: a process that mod_fcgid (or
    // lighttpd) has just started may say 503 for its first moments, so this asks for a while.
    // A plain CGI process never LISTENs (it reads the message log on a timer): it always says
    // 503 with "listen":false, which FRONTEND_CGI=1 (run.sh sets it for apache-cgi) accepts.
    let h;
    for (const deadline = Date.now() + 5000; ;) {
        h = await http("GET", `${BASE}/signalr/health`);
        if (h.status === 200 || Date.now() > deadline) break;
        await sleep(250);
    }
    const health = JSON.parse(h.body);
    if (process.env.FRONTEND_CGI === "1" && h.status === 503 && health.database === true && health.listen === false) {
        t.diagnostic(`plain CGI: /signalr/health says 503 ${h.body}`);
    } else {
        assert.equal(h.status, 200, `GET /signalr/health: ${h.status} ${h.body}`);
        assert.equal(health.database, true, h.body);
    }
    const m = await http("GET", `${BASE}/signalr/metrics`);
    assert.equal(m.status, 200, `GET /signalr/metrics: ${m.status}`);
    assert.match(m.body, /^signalr_negotiates_total\{/m);
});

test("the REST API under /api/ gets the Authorization header and the caller's Host", T, async (t) => {
    assert.ok(API_KEY, "SIGNALR_API_KEY is not set");
    const c = await connect(t, "ChatRoom");
    const inbox = new Inbox(c, "ReceivePublicMessage");
    const url = `${BASE}/api/v1/hubs/chatroom`;
    const text = `api:01/01/2026 12:00:00:through the front end ${tag()}`;
    const body = JSON.stringify({ target: "ReceivePublicMessage", arguments: [text] });
    const json = { "Content-Type": "application/json" };

    const none = await http("POST", url, { body, headers: json });
    assert.equal(none.status, 401, `without a token: ${none.status} ${none.body}`);
    const wrongAud = await http("POST", url, {
        body, headers: { ...json, Authorization: `Bearer ${apiToken(`${BASE}/api/v1/hubs/other`)}` },
    });
    assert.equal(wrongAud.status, 401, `token for another URL: ${wrongAud.status} ${wrongAud.body}`);
    const ok = await http("POST", url, { body, headers: { ...json, Authorization: `Bearer ${apiToken(url)}` } });
    assert.equal(ok.status, 202,
        `with a valid token: ${ok.status} ${ok.body} (401 here means the front end dropped the ` +
        "Authorization header or changed the Host header)");
    await inbox.waitFor((s) => s === text, 10000, "the message pushed through the REST API");
});

test(`messages reach a ${TRANSPORT} client at once (nothing buffers them)`, T, async (t) => {
    const a = await connect(t, "ChatRoom");
    const b = await connect(t, "ChatRoom");
    const inB = new Inbox(b, "ReceivePublicMessage");
    const run = tag();
    const latencies = [];
    await sleep(300); // b's first poll or stream is in place
    for (let i = 0; i < 5; i++) {
        const text = `${run} ${i}`;
        const sent = Date.now();
        await a.send("SendPublicMessage", text);
        await inB.waitFor((s) => s.endsWith(`:${text}`), 10000, `message ${i}`);
        latencies.push(Date.now() - sent);
        await sleep(200);
    }
    const max = Math.max(...latencies);
    t.diagnostic(`delivery latencies (ms): ${latencies.join(" ")}`);
    assert.ok(max <= MAX_LATENCY_MS,
        `slowest delivery ${max} ms > ${MAX_LATENCY_MS} ms (latencies ${latencies.join(", ")}): ` +
        "the front end holds responses back (buffering)");
});

if (SLOW && TRANSPORT === "LongPolling") {
    test("a long poll with nothing to send is held for the poll timeout and answered 200", { timeout: POLL_TIMEOUT_MS + 40000 }, async (t) => {
        const r = await held;
        assert.equal(r.status, 200, `held poll: status ${r.status} after ${r.ms} ms: ${r.body.slice(0, 300)}`);
        assert.equal(r.body, "", `held poll body: ${JSON.stringify(r.body.slice(0, 300))}`);
        assert.ok(r.ms >= POLL_TIMEOUT_MS - 1500,
            `the poll came back after ${r.ms} ms, before the poll timeout (${POLL_TIMEOUT_MS} ms)`);
        t.diagnostic(`held for ${r.ms} ms`);
    });
}

if (SLOW && TRANSPORT === "ServerSentEvents") {
    test("an event stream delivers every keep-alive Ping on its own", T, async (t) => {
        const { stream } = await opened;
        const pings = () => stream.events.filter((e) => Array.isArray(e.frames) && e.frames.some((f) => f.type === 6));
        await stream.waitFor(() => pings().length >= 3, KEEPALIVE_INTERVAL_MS * 3 + 5000, "three Pings");
        const at = pings().slice(0, 3).map((e) => e.at);
        const gaps = [at[1] - at[0], at[2] - at[1]];
        t.diagnostic(`Ping gaps (ms): ${gaps.join(" ")}`);
        for (const g of gaps) {
            assert.ok(g >= KEEPALIVE_INTERVAL_MS / 2,
                `two Pings arrived ${g} ms apart (sent ${KEEPALIVE_INTERVAL_MS} ms apart): the front end ` +
                "collects the stream and passes it on in batches");
        }
        assert.ok(stream.open, "the stream was closed");
    });
}
