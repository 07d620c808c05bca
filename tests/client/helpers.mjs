// helpers.mjs — shared pieces of the client suites: the real @microsoft/signalr client over
// LongPolling, an inbox that waits for hub calls with a deadline, and raw-HTTP helpers that speak
// the LongPolling transport by hand (protocol.md §1–§5, §7).
//
// The server under test is SIGNALR_URL (scripts/test.sh starts lighttpd + 2 workers with
// SIGNALR_TEST_HUBS=1, SIGNALR_DISCONNECT_TIMEOUT=3, SIGNALR_POLL_TIMEOUT=10).  Every wait has a
// deadline, so a misbehaving server fails a test instead of hanging it.

import * as signalR from "@microsoft/signalr";
import { randomBytes } from "node:crypto";

export { signalR };

export const BASE = (process.env.SIGNALR_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
export const RS = "\x1e";
/** base64url of 16 random bytes, as the stock server makes connection ids and tokens */
export const ID_RE = /^[A-Za-z0-9_-]{22}$/;
/** the test settings scripts/test.sh gives the workers */
export const DISCONNECT_TIMEOUT_MS = Number(process.env.SIGNALR_DISCONNECT_TIMEOUT ?? 3) * 1000;
export const POLL_TIMEOUT_MS = Number(process.env.SIGNALR_POLL_TIMEOUT ?? 10) * 1000;

export const hubUrl = (hub) => `${BASE}/Hubs/${hub}`;
export const tag = () => randomBytes(6).toString("hex");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

const clientLogLevel = process.env.SIGNALR_CLIENT_LOG
    ? signalR.LogLevel[process.env.SIGNALR_CLIENT_LOG] ?? signalR.LogLevel.Debug
    : signalR.LogLevel.Error;

/** The transport the real-client suites run over: SIGNALR_TRANSPORT=LongPolling (default),
 *  ServerSentEvents, or auto (no transport option: the client's own choice and fallback). */
export const TRANSPORT = process.env.SIGNALR_TRANSPORT ?? "LongPolling";
const transportOption = TRANSPORT === "auto" ? {} : { transport: signalR.HttpTransportType[TRANSPORT] };

/** Starts a HubConnection to /Hubs/<hub> over TRANSPORT; `t` (a node:test context) stops it. */
export async function connect(t, hub, options = {}) {
    const conn = new signalR.HubConnectionBuilder()
        .withUrl(hubUrl(hub), { ...transportOption, ...options })
        .configureLogging(clientLogLevel)
        .build();
    await conn.start();
    t?.after(() => conn.stop());
    return conn;
}

/**
 * Records every call of one client method (`conn.on(method)`); waitFor() resolves with the
 * arguments of the first call matching a predicate, already received or still to come.
 */
export class Inbox {
    constructor(conn, method) {
        this.method = method;
        this.calls = [];
        this.waiters = new Set();
        conn.on(method, (...args) => {
            this.calls.push(args);
            for (const w of this.waiters) w.check();
        });
    }

    /** all recorded argument lists matching pred */
    matching(pred) {
        return this.calls.filter((args) => pred(...args));
    }

    /** resolves with the arguments once `count` calls match pred; rejects after `ms` */
    waitFor(pred, ms, what = "a matching call", count = 1) {
        return new Promise((resolve, reject) => {
            const w = {
                check: () => {
                    const found = this.matching(pred);
                    if (found.length >= count) {
                        clearTimeout(w.timer);
                        this.waiters.delete(w);
                        resolve(count === 1 ? found[0] : found);
                    }
                },
            };
            w.timer = setTimeout(() => {
                this.waiters.delete(w);
                const last = JSON.stringify(this.calls.slice(-5));
                reject(new Error(`timed out after ${ms} ms waiting for ${what} on '${this.method}'` +
                    ` (${this.matching(pred).length}/${count} matched; last calls: ${last})`));
            }, ms);
            this.waiters.add(w);
            w.check();
        });
    }
}

/** HttpClient that records method, url and status of every request the client makes */
export class RecordingHttpClient extends signalR.HttpClient {
    constructor() {
        super();
        this.inner = new signalR.DefaultHttpClient(signalR.NullLogger.instance);
        this.requests = [];
    }

    async send(request) {
        const entry = { method: request.method, url: request.url, status: undefined, error: undefined };
        this.requests.push(entry);
        try {
            const response = await this.inner.send(request);
            entry.status = response.statusCode;
            return response;
        } catch (err) {
            entry.status = err.statusCode;
            entry.error = `${err.name}: ${err.message}`;
            throw err;
        }
    }

    getCookieString(url) {
        return this.inner.getCookieString(url);
    }
}

// ------------------------------------------------------------------------------------------------
// Raw HTTP (no client library)

/** one HTTP exchange: { status, headers, body (text), ms } */
export async function http(method, url, { body, headers, timeout = 30000 } = {}) {
    const started = Date.now();
    const res = await fetch(url, {
        method,
        body,
        headers,
        signal: AbortSignal.timeout(timeout),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text, ms: Date.now() - started };
}

export const negotiate = (hub, query = "?negotiateVersion=1") =>
    http("POST", `${hubUrl(hub)}/negotiate${query}`);

/** splits a transport payload into parsed hub frames; every frame must end with RS */
export function parseFrames(payload) {
    if (payload === "") return [];
    if (!payload.endsWith(RS)) throw new Error(`payload does not end with RS: ${JSON.stringify(payload)}`);
    return payload.slice(0, -1).split(RS).map((f) => JSON.parse(f));
}

/** A connection driven by hand over the LongPolling transport. */
export class RawConnection {
    constructor(hub, negotiated) {
        this.hub = hub;
        this.connectionId = negotiated.connectionId;
        this.token = negotiated.connectionToken ?? negotiated.connectionId;
        this.url = `${hubUrl(hub)}?id=${this.token}`;
        this.frames = []; // every hub frame received by poll()/pollUntil()
    }

    /** negotiate (v1) only */
    static async negotiate(hub) {
        const r = await negotiate(hub);
        if (r.status !== 200) throw new Error(`negotiate: status ${r.status}: ${r.body}`);
        return new RawConnection(hub, JSON.parse(r.body));
    }

    /**
     * negotiate + first poll + handshake; with `readHandshake` also polls for the `{}` reply.
     * Registers a DELETE with `t` so that nothing is left behind.
     */
    static async open(t, hub, { readHandshake = true } = {}) {
        const c = await RawConnection.negotiate(hub);
        t?.after(() => c.delete().catch(() => {}));
        const first = await c.poll();
        if (first.status !== 200) throw new Error(`first poll: status ${first.status}`);
        const hs = await c.send(`{"protocol":"json","version":1}${RS}`);
        if (hs.status !== 200) throw new Error(`handshake POST: status ${hs.status}`);
        if (readHandshake) {
            const r = await c.poll();
            if (r.status !== 200 || !r.body.startsWith(`{}${RS}`)) {
                throw new Error(`handshake reply: status ${r.status} body ${JSON.stringify(r.body)}`);
            }
            c.frames.push(...parseFrames(r.body).slice(1));
        }
        return c;
    }

    poll({ timeout = POLL_TIMEOUT_MS + 20000 } = {}) {
        return http("GET", `${this.url}&_=${Date.now()}`, { timeout });
    }

    send(text) {
        return http("POST", this.url, { body: text, headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    }

    invoke(id, target, args) {
        return this.send(JSON.stringify({ type: 1, invocationId: String(id), target, arguments: args }) + RS);
    }

    delete() {
        return http("DELETE", this.url);
    }

    /**
     * Polls until pred(this.frames) is true; every 200 body is parsed into this.frames.  Fails on
     * any other status, or when `ms` pass.
     */
    async pollUntil(pred, ms, what = "frames") {
        const deadline = Date.now() + ms;
        while (!pred(this.frames)) {
            const left = deadline - Date.now();
            if (left <= 0) {
                throw new Error(`timed out after ${ms} ms waiting for ${what}; frames so far: ` +
                    JSON.stringify(this.frames));
            }
            let r;
            try {
                r = await this.poll({ timeout: left });
            } catch (err) {
                if (err.name === "TimeoutError") continue; // deadline reached mid-poll
                throw err;
            }
            if (r.status !== 200) throw new Error(`poll returned ${r.status} while waiting for ${what}`);
            this.frames.push(...parseFrames(r.body));
        }
        return this.frames;
    }

    /** the Completion frame for invocation `id`, polling for it for at most `ms` */
    async completion(id, ms = 10000) {
        const find = (fs) => fs.find((f) => f.type === 3 && f.invocationId === String(id));
        await this.pollUntil((fs) => find(fs) !== undefined, ms, `completion of invocation ${id}`);
        return find(this.frames);
    }
}
