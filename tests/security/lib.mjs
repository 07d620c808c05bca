// lib.mjs — what the security suites share: the three servers run.sh starts (stock /Hubs/Test,
// the conformance server with /authorizedhub, the conformance server with an Ed25519 key), JWT
// minting (HS256 with the run's key, EdDSA with the run's Ed25519 key, and every malformed variant
// the tests need), raw HTTP with full control of headers and bodies (node:http), a LongPolling /
// Server-Sent Events connection driven by hand with optional bearer headers, the worker pids of
// each front end (children of its lighttpd), and two checks that run on every response: no
// internal detail in any body (A-07) and every secret recorded for run.sh's log grep (A-08).
//
// Every wait has a deadline.

import { createPrivateKey, createHmac, randomBytes, sign as cryptoSign } from "node:crypto";
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import nodeHttp from "node:http";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const clientRequire = createRequire(new URL("../client/package.json", import.meta.url));
export const signalR = clientRequire("@microsoft/signalr");

function need(name) {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run tests/security/run.sh`);
    return v;
}
const pairs = (s) => Object.fromEntries(s.split(",").map((p) => p.split(/:(.*)/s).slice(0, 2)));

export const URLS = {
    stock: need("SECURITY_STOCK_URL"),
    conf: need("SECURITY_CONF_URL"),
    ed: need("SECURITY_ED_URL"),
    fcgi: need("SECURITY_FCGI_URL"),
};
export const JWT_KEY = need("SECURITY_JWT_KEY");
export const ED_PUBLIC = need("SECURITY_ED_PUBLIC");
const ED_PRIVATE = createPrivateKey({ key: Buffer.from(need("SECURITY_ED_PRIVATE"), "base64"), format: "der", type: "pkcs8" });
export const PIDS = pairs(need("SECURITY_PIDS"));
export const SOCKDIRS = pairs(need("SECURITY_SOCKDIRS"));
export const RUNDIRS = pairs(need("SECURITY_RUNDIRS"));
export const STOCK_BIN = need("SECURITY_STOCK_BIN");
const SECRETS = need("SECURITY_SECRETS");
export const LEEWAY = Number(need("SECURITY_LEEWAY"));
export const ISSUER = need("SECURITY_ISSUER");
export const AUDIENCE = need("SECURITY_AUDIENCE");
export const MAX_GROUPS = Number(need("SECURITY_MAX_GROUPS"));
export const MAX_BODY = Number(need("SECURITY_MAX_BODY"));
export const MAX_CONN_PER_USER = Number(need("SECURITY_MAX_CONN_PER_USER"));
export const MAX_MESSAGE = Number(need("SECURITY_MAX_MESSAGE"));
export const CORS_ORIGIN = need("SECURITY_CORS_ORIGIN");
export const DISCONNECT_TIMEOUT_MS = Number(need("SECURITY_DISCONNECT_TIMEOUT")) * 1000;
export const POLL_TIMEOUT_MS = Number(need("SECURITY_POLL_TIMEOUT")) * 1000;
export const HANDSHAKE_TIMEOUT_MS = Number(need("SECURITY_HANDSHAKE_TIMEOUT")) * 1000;

/** the hub each front end is exercised on */
export const HUB = { stock: "/Hubs/Test", conf: "/testhub", ed: "/testhub", fcgi: "/Hubs/Test" };
export const AUTH_HUB = "/authorizedhub";

export const RS = "\x1e";
export const HANDSHAKE = `{"protocol":"json","version":1}${RS}`;
export const CLOSE_ERROR = { type: 7, error: "Connection closed with an error.", allowReconnect: true };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const tag = () => randomBytes(5).toString("hex");
export const now = () => Math.floor(Date.now() / 1000);

// ------------------------------------------------------------------------------------------------
// Secrets (A-08) and leak checks (A-07)

/** records a secret (connection token, access token, JWT) for run.sh's grep of the logs */
export function secret(s) {
    if (typeof s === "string" && s.length >= 16) appendFileSync(SECRETS, `${s}\n`);
    return s;
}

const LEAK_PATTERNS = [
    /ERROR:/, /SQLSTATE/, /libpq/i, /PGRES/, /\bsr_\w+\.[ch]\b/, /\b[\w/.-]+\.[ch]:\d+\b/,
    /duplicate key|violates|relation "|syntax error at/i,
];
/** every response body that showed an internal detail: [{ where, text }] (asserted empty) */
export const leaks = [];
export function checkLeak(where, text) {
    for (const re of LEAK_PATTERNS) {
        if (re.test(text)) {
            leaks.push({ where, pattern: String(re), text: text.slice(0, 300) });
            return;
        }
    }
}
export function assertNoLeaks() {
    assert.deepEqual(leaks, [], "response bodies must not show internals (libpq, SQL, file:line)");
}

// ------------------------------------------------------------------------------------------------
// JWT

export const b64u = (x) => Buffer.from(x).toString("base64url");
const enc = (part) => b64u(typeof part === "string" ? part : JSON.stringify(part));

/** standard claims for `user` on the conformance servers (iss/aud as configured), plus extra */
export function claims(user, extra = {}) {
    return { sub: user, iss: ISSUER, aud: AUDIENCE, exp: now() + 300, ...extra };
}

export function hmac(input, key = JWT_KEY) {
    return createHmac("sha256", key).update(input).digest();
}

/** header.payload.signature with HMAC-SHA-256 over the exact encoded bytes; header/payload are
 *  objects (JSON-encoded) or strings (used as the JSON text); `encode` may rewrite each segment */
export function hs256(payload, { header = { alg: "HS256", typ: "JWT" }, key = JWT_KEY } = {}) {
    const input = `${enc(header)}.${enc(payload)}`;
    return secret(`${input}.${b64u(hmac(input, key))}`);
}

/** signs already-encoded segments (for malformed encodings) */
export function hs256Raw(headerSeg, payloadSeg, key = JWT_KEY) {
    const input = `${headerSeg}.${payloadSeg}`;
    return secret(`${input}.${b64u(hmac(input, key))}`);
}

export function edSig(input) {
    return cryptoSign(null, Buffer.from(input), ED_PRIVATE);
}

export function eddsa(payload, { header = { alg: "EdDSA", typ: "JWT" } } = {}) {
    const input = `${enc(header)}.${enc(payload)}`;
    return secret(`${input}.${b64u(edSig(input))}`);
}

export const bearer = (token) => ({ Authorization: `Bearer ${token}` });

// ------------------------------------------------------------------------------------------------
// Raw HTTP

/**
 * One HTTP exchange with node:http (any method, any header, string/Buffer body, or `chunks` for a
 * chunked body).  Resolves { status, headers (lower-case names), body (text), raw (Buffer) }.
 */
export function http(method, url, { headers = {}, body, chunks, timeout = 20000 } = {}) {
    return new Promise((resolve, reject) => {
        const h = { ...headers };
        if (body !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === "content-length")) {
            h["Content-Length"] = Buffer.byteLength(body);
        }
        if (body === undefined && !chunks && ["POST", "PUT", "PATCH", "DELETE"].includes(method) &&
            !Object.keys(h).some((k) => k.toLowerCase() === "content-length")) {
            h["Content-Length"] = 0; // lighttpd answers 411 to a POST without a length
        }
        const req = nodeHttp.request(url, { method, headers: h, agent: false });
        const timer = setTimeout(() => req.destroy(new Error(`${method} ${url}: no answer within ${timeout} ms`)), timeout);
        req.on("error", (err) => { clearTimeout(timer); reject(err); });
        req.on("response", (res) => {
            const parts = [];
            res.on("data", (c) => parts.push(c));
            res.on("error", (err) => { clearTimeout(timer); reject(err); });
            res.on("end", () => {
                clearTimeout(timer);
                const raw = Buffer.concat(parts);
                const text = raw.toString("utf8");
                checkLeak(`${method} ${url.replace(/([?&](id|access_token)=)[^&]*/g, "$1…")}`, text);
                resolve({ status: res.statusCode, headers: res.headers, body: text, raw });
            });
        });
        if (chunks) {
            (async () => {
                for (const c of chunks) {
                    req.write(c);
                    await sleep(5);
                }
                req.end();
            })();
        } else {
            req.end(body);
        }
    });
}

/** splits a transport payload into parsed hub frames; every frame must end with RS */
export function parseFrames(payload) {
    if (payload === "") return [];
    if (!payload.endsWith(RS)) throw new Error(`payload does not end with RS: ${JSON.stringify(payload.slice(0, 300))}`);
    return payload.slice(0, -1).split(RS).map((f) => JSON.parse(f));
}

// ------------------------------------------------------------------------------------------------
// A connection driven by hand

export class Conn {
    /** @param headers sent on every request of this connection (e.g. bearer(token)) */
    constructor(base, hub, negotiated, headers = {}) {
        this.base = base;
        this.hub = hub;
        this.negotiated = negotiated;
        this.connectionId = negotiated.connectionId;
        this.token = secret(negotiated.connectionToken ?? negotiated.connectionId);
        this.headers = headers;
        this.frames = [];
    }

    static async negotiate(base, hub, { headers = {}, query = "?negotiateVersion=1" } = {}) {
        const r = await http("POST", `${base}${hub}/negotiate${query}`, { headers });
        if (r.status !== 200) throw new Error(`negotiate ${hub}: status ${r.status}: ${r.body}`);
        const body = JSON.parse(r.body);
        if (!body.connectionId) throw new Error(`negotiate ${hub}: ${r.body}`);
        return new Conn(base, hub, body, headers);
    }

    /** negotiate + first poll + handshake (+ its `{}` reply); deleted when `t` ends */
    static async open(t, base, hub, { headers = {}, handshake = true } = {}) {
        const c = await Conn.negotiate(base, hub, { headers });
        t?.after(() => c.delete().catch(() => {}));
        const first = await c.poll();
        if (first.status !== 200) throw new Error(`first poll: status ${first.status}`);
        if (handshake) {
            const hs = await c.send(HANDSHAKE);
            if (hs.status !== 200) throw new Error(`handshake POST: status ${hs.status}`);
            const r = await c.poll();
            if (r.status !== 200 || !r.body.startsWith(`{}${RS}`)) {
                throw new Error(`handshake reply: status ${r.status} body ${JSON.stringify(r.body)}`);
            }
            c.frames.push(...parseFrames(r.body).slice(1));
        }
        return c;
    }

    get url() {
        return `${this.base}${this.hub}?id=${encodeURIComponent(this.token)}`;
    }

    poll({ headers = this.headers, timeout = POLL_TIMEOUT_MS + 10000, query = "" } = {}) {
        return http("GET", `${this.url}&_=${Date.now()}${query}`, { headers, timeout });
    }

    send(body, { headers = this.headers, query = "" } = {}) {
        return http("POST", this.url + query, {
            body, headers: { "Content-Type": "text/plain;charset=UTF-8", ...headers },
        });
    }

    invoke(id, target, args, opts) {
        return this.send(JSON.stringify({ type: 1, invocationId: String(id), target, arguments: args }) + RS, opts);
    }

    delete({ headers = this.headers } = {}) {
        return http("DELETE", this.url, { headers });
    }

    /** polls until pred(frames) holds; fails on a non-200 poll or after `ms` */
    async pollUntil(pred, ms = 8000, what = "frames") {
        const deadline = Date.now() + ms;
        while (!pred(this.frames)) {
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 600)}`);
            let r;
            try {
                r = await this.poll({ timeout: left });
            } catch (err) {
                if (/no answer within/.test(err.message)) continue;
                throw err;
            }
            if (r.status !== 200) throw new Error(`poll returned ${r.status} while waiting for ${what} (frames: ${JSON.stringify(this.frames).slice(0, 300)})`);
            this.frames.push(...parseFrames(r.body));
        }
        return this.frames;
    }

    async completion(id, ms = 8000) {
        const find = (fs) => fs.find((f) => f.type === 3 && f.invocationId === String(id));
        await this.pollUntil((fs) => find(fs) !== undefined, ms, `completion of invocation ${id}`);
        return find(this.frames);
    }

    /** invoke + wait for the completion */
    async call(target, args, ms = 8000) {
        const id = tag();
        const r = await this.invoke(id, target, args);
        assert.equal(r.status, 200, `POST of ${target}: ${r.status} ${r.body}`);
        return this.completion(id, ms);
    }

    /** the Close frame (polling until it comes) */
    async closeFrame(ms = 8000) {
        await this.pollUntil((fs) => fs.some((f) => f.type === 7), ms, "a Close message");
        return this.frames.find((f) => f.type === 7);
    }

    sse({ headers = this.headers, query = "", timeout } = {}) {
        return SseStream.open(this.url + query, { headers, timeout });
    }
}

// ------------------------------------------------------------------------------------------------
// Server-Sent Events, by hand

export class SseStream {
    static open(url, { headers = {}, timeout = 10000 } = {}) {
        return new Promise((resolve, reject) => {
            const s = new SseStream();
            const req = nodeHttp.request(url, {
                method: "GET", agent: false,
                headers: { Accept: "text/event-stream", "Cache-Control": "no-cache", ...headers },
            });
            s.req = req;
            const timer = setTimeout(() => req.destroy(new Error(`no response head within ${timeout} ms`)), timeout);
            let endResolve;
            s.ended = new Promise((r) => { endResolve = r; });
            const finish = () => {
                if (s.open) {
                    s.open = false;
                    endResolve();
                    s.wake();
                }
            };
            req.on("error", (err) => {
                clearTimeout(timer);
                finish();
                if (s.status === undefined) reject(err);
            });
            req.on("response", async (res) => {
                clearTimeout(timer);
                s.status = res.statusCode;
                s.headers = res.headers;
                res.setEncoding("utf8");
                res.on("data", (chunk) => s.onChunk(chunk));
                res.on("end", finish);
                res.on("close", finish);
                if (s.status !== 200) {
                    let t2;
                    await Promise.race([s.ended, new Promise((r) => { t2 = setTimeout(r, timeout); })]);
                    clearTimeout(t2);
                    checkLeak(`SSE GET ${s.status}`, s.raw);
                }
                resolve(s);
            });
            req.end();
        });
    }

    constructor() {
        this.raw = "";
        this.events = [];
        this.pending = "";
        this.data = null;
        this.open = true;
        this.waiters = new Set();
    }

    onChunk(chunk) {
        this.raw += chunk;
        this.pending += chunk;
        for (;;) {
            const m = /\r\n|\n|\r(?=[^\n])/.exec(this.pending);
            if (!m) break;
            const line = this.pending.slice(0, m.index);
            this.pending = this.pending.slice(m.index + m[0].length);
            if (line === "") {
                if (this.data !== null) {
                    checkLeak("SSE event", this.data);
                    let frames;
                    try { frames = parseFrames(this.data); } catch (err) { frames = []; this.badEvent = this.data; }
                    this.events.push({ data: this.data, frames });
                }
                this.data = null;
            } else if (!line.startsWith(":")) {
                const colon = line.indexOf(":");
                const field = colon < 0 ? line : line.slice(0, colon);
                let value = colon < 0 ? "" : line.slice(colon + 1);
                if (value.startsWith(" ")) value = value.slice(1);
                if (field === "data") this.data = this.data === null ? value : `${this.data}\n${value}`;
            }
        }
        this.wake();
    }

    wake() {
        for (const w of this.waiters) w();
    }

    get frames() {
        return this.events.flatMap((e) => e.frames);
    }

    /** resolves with pred's truthy value; rejects after `ms` or when the stream ends first
     *  (with `orEnd`: resolves undefined then) */
    waitFor(pred, ms, what = "a matching event", { orEnd = false } = {}) {
        return new Promise((resolve, reject) => {
            let timer;
            const check = () => {
                const v = pred(this);
                if (v) { done(); resolve(v); } else if (!this.open) {
                    done();
                    if (orEnd) resolve(undefined);
                    else reject(new Error(`stream ended while waiting for ${what}; received ${JSON.stringify(this.raw.slice(-400))}`));
                }
            };
            const done = () => { clearTimeout(timer); this.waiters.delete(check); };
            timer = setTimeout(() => { done(); reject(new Error(`timed out after ${ms} ms waiting for ${what}; received ${JSON.stringify(this.raw.slice(-400))}`)); }, ms);
            this.waiters.add(check);
            check();
        });
    }

    frame(pred, ms = 8000, what = "a matching frame") {
        return this.waitFor((s) => s.frames.find(pred), ms, what);
    }

    waitEnd(ms = 8000) {
        return this.waitFor((s) => !s.open, ms, "the end of the stream", { orEnd: true });
    }

    close() {
        this.req?.destroy();
    }
}

/** negotiate + SSE GET + handshake; resolves { conn, stream } (stream closed when `t` ends) */
export async function openSse(t, base, hub, { headers = {} } = {}) {
    const conn = await Conn.negotiate(base, hub, { headers });
    const stream = await conn.sse();
    t?.after(() => stream.close());
    if (stream.status !== 200) throw new Error(`SSE GET: status ${stream.status}: ${stream.raw}`);
    await stream.waitFor((s) => s.raw.startsWith(":"), 5000, "the opening comment");
    const hs = await conn.send(HANDSHAKE);
    if (hs.status !== 200) throw new Error(`handshake POST: status ${hs.status}: ${hs.body}`);
    await stream.waitFor((s) => s.events.length > 0, 5000, "the handshake reply");
    if (stream.events[0].data !== `{}${RS}`) throw new Error(`handshake reply: ${JSON.stringify(stream.events[0].data)}`);
    return { conn, stream };
}

// ------------------------------------------------------------------------------------------------
// Workers

/** the pids of the workers of front end `name` (lighttpd's children), sorted */
export function workerPids(name) {
    const pid = PIDS[name];
    let out = "";
    try {
        for (const t of readdirSync(`/proc/${pid}/task`)) out += readFileSync(`/proc/${pid}/task/${t}/children`, "utf8");
    } catch (err) {
        throw new Error(`lighttpd ${name} (pid ${pid}) is gone: ${err.message}`);
    }
    return out.split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
}

/** true while `pid` runs (not a zombie) */
export function pidAlive(pid) {
    try {
        const st = readFileSync(`/proc/${pid}/stat`, "utf8");
        return st.slice(st.lastIndexOf(")") + 2, st.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return false;
    }
}

/** a snapshot of the workers of the front ends the suites share (not fcgi: the FastCGI fuzz may
 *  kill its workers) */
export function snapshotWorkers(names = ["stock", "conf", "ed"]) {
    const snap = {};
    for (const name of names) snap[name] = workerPids(name);
    for (const [name, pids] of Object.entries(snap)) {
        assert.equal(pids.length, 2, `front end ${name} should have 2 workers, has ${JSON.stringify(pids)}`);
    }
    return snap;
}

/** the front end still serves: a new connection completes Echo; and its workers are the same
 *  processes as in `before` (no worker died and was respawned) */
export async function assertHealthy(t, name, before) {
    const c = await Conn.open(t, URLS[name], HUB[name]);
    const done = await c.call("Echo", ["still here"]);
    assert.deepEqual(done.result, "still here", `${name}: Echo after the bad input`);
    if (before) assert.deepEqual(workerPids(name), before[name], `${name}: the workers must be the same processes (none crashed)`);
}

/**
 * Options for a test that asserts a matrix goal (or a brief's requirement) the server does not
 * meet yet: node reports it as TODO, with its failure, without failing the run.  SECURITY_STRICT=1
 * makes such tests ordinary tests (then the run fails while the gap is open).
 */
export function gap(why) {
    return process.env.SECURITY_STRICT === "1" ? {} : { todo: why };
}
