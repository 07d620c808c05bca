// helpers.mjs — shared pieces of the client suites: the real @microsoft/signalr client over
// SIGNALR_TRANSPORT, an inbox that waits for hub calls with a deadline, and raw-HTTP helpers that
// speak the LongPolling (RawConnection) and Server-Sent Events (SseStream) transports by hand
// (protocol.md §1–§5, §7).
//
// The server under test is SIGNALR_URL (scripts/test.sh starts lighttpd + 2 workers with
// SIGNALR_TEST_HUBS=1, SIGNALR_DISCONNECT_TIMEOUT=3, SIGNALR_POLL_TIMEOUT=10,
// SIGNALR_KEEPALIVE_INTERVAL=2, SIGNALR_CLIENT_TIMEOUT=4 and passes the same values to the
// suites).  Every wait has a deadline, so a misbehaving server fails a test instead of hanging it.

import * as signalR from "@microsoft/signalr";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import nodeHttp from "node:http";

export { signalR };

export const BASE = (process.env.SIGNALR_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
export const RS = "\x1e";
/** base64url of 16 random bytes, as the stock server makes connection ids and tokens */
export const ID_RE = /^[A-Za-z0-9_-]{22}$/;
/** the test settings scripts/test.sh gives the workers */
export const DISCONNECT_TIMEOUT_MS = Number(process.env.SIGNALR_DISCONNECT_TIMEOUT ?? 3) * 1000;
export const POLL_TIMEOUT_MS = Number(process.env.SIGNALR_POLL_TIMEOUT ?? 10) * 1000;
/** server Pings on a stream (KeepAliveInterval) */
export const KEEPALIVE_INTERVAL_MS = Number(process.env.SIGNALR_KEEPALIVE_INTERVAL ?? 2) * 1000;
/** client silence (after its first Ping) that ends a stream (ClientTimeoutInterval) */
export const CLIENT_TIMEOUT_MS = Number(process.env.SIGNALR_CLIENT_TIMEOUT ?? 4) * 1000;
/**
 * The real client's keep-alive: over SSE it pings when it has sent nothing for this long (checked
 * whenever something arrives).  It must stay well below the server's client timeout, as ASP.NET
 * advises (ClientTimeoutInterval = 2 x the client's KeepAliveInterval); the client's default of
 * 15 s would have every idle SSE client of these short test settings closed.  Unused over LP.
 */
export const CLIENT_KEEPALIVE_MS = Number(process.env.SIGNALR_CLIENT_KEEPALIVE_MS ??
    Math.min(15000, Math.floor(CLIENT_TIMEOUT_MS / 4)));

export const hubUrl = (hub, base = BASE) => `${base.replace(/\/+$/, "")}/Hubs/${hub}`;
export const tag = () => randomBytes(6).toString("hex");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

const clientLogLevel = process.env.SIGNALR_CLIENT_LOG
    ? signalR.LogLevel[process.env.SIGNALR_CLIENT_LOG] ?? signalR.LogLevel.Debug
    : signalR.LogLevel.Error;

/** The transport the real-client suites run over: SIGNALR_TRANSPORT=LongPolling (default),
 *  ServerSentEvents, or auto (no transport option: the client's own choice and fallback). */
export const TRANSPORT = process.env.SIGNALR_TRANSPORT ?? "LongPolling";
if (!["LongPolling", "ServerSentEvents", "auto"].includes(TRANSPORT)) {
    throw new Error(`SIGNALR_TRANSPORT=${TRANSPORT}: expected LongPolling, ServerSentEvents or auto`);
}
/** what the server offers first and an unrestricted client must therefore pick */
export const AUTO_TRANSPORT = "ServerSentEvents";

// The EventSource implementation the client uses in Node: the `eventsource` package, resolved
// from the client library's own location exactly as the library requires it.
const clientRequire = createRequire(createRequire(import.meta.url).resolve("@microsoft/signalr"));
export const NodeEventSource = clientRequire("eventsource");

/**
 * The client's EventSource, recording what it does: every instance (url, whether it opened, the
 * HTTP status of a refused GET) is pushed to `log`.  Given to the client through its public
 * `EventSource` option; connect() closes leftover instances (the package retries a GET refused
 * with 5xx in the background, and the client does not close an EventSource that never opened).
 */
export function recordingEventSource(log) {
    // The package's onopen/onerror setters drop every other listener of the event, so the
    // recording wraps whatever handler the client installs instead of adding its own.
    return class RecordingEventSource extends NodeEventSource {
        constructor(url, init) {
            super(url, init);
            this.entry = { url, opened: false, status: undefined, errors: 0, instance: this };
            log.push(this.entry);
        }

        get onopen() { return super.onopen; }

        set onopen(fn) {
            super.onopen = (e) => {
                this.entry.opened = true;
                return fn?.(e);
            };
        }

        get onerror() { return super.onerror; }

        set onerror(fn) {
            super.onerror = (e) => {
                this.entry.errors++;
                if (e?.status !== undefined && this.entry.status === undefined) this.entry.status = e.status;
                return fn?.(e);
            };
        }
    };
}

/**
 * The transport a started HubConnection actually uses: "ServerSentEvents" or "LongPolling".
 * Reads the client's (private) transport object — the client version is pinned — and
 * cross-checks it with what the connection's recording EventSource saw when connect() made it.
 */
export function transportOf(conn) {
    const name = conn.connection?.transport?.constructor?.name;
    const byClass = { ServerSentEventsTransport: "ServerSentEvents", LongPollingTransport: "LongPolling" }[name];
    if (!byClass) throw new Error(`cannot tell the transport of the connection (transport class ${name})`);
    const sources = conn.eventSources;
    if (sources) {
        const open = sources.filter((e) => e.opened && e.instance.readyState === NodeEventSource.OPEN);
        const bySources = open.length > 0 ? "ServerSentEvents" : "LongPolling";
        if (bySources !== byClass) {
            throw new Error(`transport class ${name} but EventSources ${JSON.stringify(
                sources.map(({ url, opened, status }) => ({ url, opened, status })))}`);
        }
    }
    return byClass;
}

/**
 * Starts a HubConnection to /Hubs/<hub>; `t` (a node:test context) stops it.
 * `options` are the client's connection options (httpClient, headers, ...).  `how`:
 *   transport — LongPolling | ServerSentEvents | auto (default: SIGNALR_TRANSPORT);
 *   base      — the front end (default SIGNALR_URL); query — appended to the hub URL (e.g. "?nosse=1");
 *   reconnect — withAutomaticReconnect(): true (default delays) or an array of delays;
 *   protocol  — the hub protocol object (default: the client's JSON protocol);
 *   expect    — the transport the connection must end up on (checked after start); by default
 *               the requested one, and ServerSentEvents for auto (the server offers it first);
 *               null skips the check.
 * The connection gets `eventSources` (what its EventSource instances did) and `transportName`.
 */
export async function connect(t, hub, options = {}, how = {}) {
    const { transport = TRANSPORT, base = BASE, query = "", reconnect = false } = how;
    const expect = "expect" in how ? how.expect : (transport === "auto" ? AUTO_TRANSPORT : transport);
    const eventSources = [];
    const transportOption = transport === "auto" ? {} : { transport: signalR.HttpTransportType[transport] };
    let builder = new signalR.HubConnectionBuilder()
        .withUrl(hubUrl(hub, base) + query, {
            EventSource: recordingEventSource(eventSources), ...transportOption, ...options,
        })
        .withKeepAliveInterval(CLIENT_KEEPALIVE_MS)
        .configureLogging(clientLogLevel);
    if (how.protocol) builder = builder.withHubProtocol(how.protocol);
    if (reconnect) builder = Array.isArray(reconnect) ? builder.withAutomaticReconnect(reconnect) : builder.withAutomaticReconnect();
    const conn = builder.build();
    conn.eventSources = eventSources;
    t?.after(async () => {
        await conn.stop();
        for (const e of eventSources) e.instance.close();
    });
    await conn.start();
    conn.transportName = transportOf(conn);
    if (expect && conn.transportName !== expect) {
        throw new Error(`connection ${conn.connectionId} (transport option ${transport}) is on ` +
            `${conn.transportName}, expected ${expect}`);
    }
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
        const entry = {
            method: request.method, url: request.url, status: undefined, error: undefined,
            content: typeof request.content === "string" ? request.content : undefined,
        };
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

export const negotiate = (hub, query = "?negotiateVersion=1", base = BASE) =>
    http("POST", `${hubUrl(hub, base)}/negotiate${query}`);

/** splits a transport payload into parsed hub frames; every frame must end with RS */
export function parseFrames(payload) {
    if (payload === "") return [];
    if (!payload.endsWith(RS)) throw new Error(`payload does not end with RS: ${JSON.stringify(payload)}`);
    return payload.slice(0, -1).split(RS).map((f) => JSON.parse(f));
}

/**
 * A connection driven by hand over the LongPolling transport.  Every request goes to `base`
 * (default SIGNALR_URL) unless the call names another front end ({ base }).
 */
export class RawConnection {
    constructor(hub, negotiated, base = BASE) {
        this.hub = hub;
        this.base = base;
        this.connectionId = negotiated.connectionId;
        this.token = negotiated.connectionToken ?? negotiated.connectionId;
        this.url = this.urlAt(base);
        this.frames = []; // every hub frame received by poll()/pollUntil()
    }

    /** the connection URL on front end `base` */
    urlAt(base) {
        return `${hubUrl(this.hub, base)}?id=${this.token}`;
    }

    /** negotiate (v1) only */
    static async negotiate(hub, base = BASE) {
        const r = await negotiate(hub, "?negotiateVersion=1", base);
        if (r.status !== 200) throw new Error(`negotiate: status ${r.status}: ${r.body}`);
        return new RawConnection(hub, JSON.parse(r.body), base);
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

    poll({ timeout = POLL_TIMEOUT_MS + 20000, base = this.base } = {}) {
        return http("GET", `${this.urlAt(base)}&_=${Date.now()}`, { timeout });
    }

    send(text, { base = this.base } = {}) {
        return http("POST", this.urlAt(base), { body: text, headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    }

    invoke(id, target, args, { base = this.base } = {}) {
        return this.send(JSON.stringify({ type: 1, invocationId: String(id), target, arguments: args }) + RS, { base });
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

// ------------------------------------------------------------------------------------------------
// Raw Server-Sent Events (protocol.md §4), with node:http so that every byte and its arrival
// time are seen

/**
 * One SSE GET held open by hand.  `raw` is the response body as received (text), `chunks` the
 * pieces with their arrival times, `events` the parsed events ({ data, frames, at }: data lines
 * joined with LF as EventSource does; frames = the hub frames of data; at = arrival time).
 * Comment lines (":...") are kept in `raw` only.  `ended` resolves when the response ends or the
 * connection closes, with { at, how }.
 */
export class SseStream {
    /**
     * Sends GET `url` with Accept: text/event-stream and resolves once the response head is in
     * (or rejects after `timeout` ms).  A non-200 response is read to its end (body in `raw`).
     */
    static open(url, { headers = {}, timeout = 10000 } = {}) {
        return new Promise((resolve, reject) => {
            const s = new SseStream();
            s.sentAt = Date.now();
            const req = nodeHttp.request(url, {
                method: "GET",
                headers: { Accept: "text/event-stream", "Cache-Control": "no-cache", ...headers },
            });
            s.req = req;
            const timer = setTimeout(() => {
                req.destroy(new Error(`no response head within ${timeout} ms for GET ${url}`));
            }, timeout);
            let endResolve;
            s.ended = new Promise((r) => { endResolve = r; });
            const finish = (how) => {
                if (s.endedAt === undefined) {
                    s.endedAt = Date.now();
                    endResolve({ at: s.endedAt, how });
                    s.wake();
                }
            };
            req.on("error", (err) => {
                clearTimeout(timer);
                finish(`error: ${err.message}`);
                if (s.status === undefined) reject(err);
            });
            req.on("response", async (res) => {
                clearTimeout(timer);
                s.res = res;
                s.status = res.statusCode;
                s.headers = res.headers;
                s.headAt = Date.now();
                res.setEncoding("utf8");
                res.on("data", (chunk) => s.onChunk(chunk));
                res.on("end", () => finish("end"));
                res.on("close", () => finish("close"));
                if (s.status !== 200) {
                    await s.ended;
                }
                resolve(s);
            });
            req.end();
        });
    }

    constructor() {
        this.raw = "";
        this.chunks = [];
        this.events = [];
        this.pending = "";
        this.data = null;
        this.waiters = new Set();
        this.endedAt = undefined;
    }

    get open() {
        return this.endedAt === undefined;
    }

    onChunk(chunk) {
        const at = Date.now();
        this.raw += chunk;
        this.chunks.push({ text: chunk, at });
        this.pending += chunk;
        // lines end with CRLF, LF or CR (a CR at the very end may be the first half of a CRLF)
        for (;;) {
            const m = /\r\n|\n|\r(?=[^\n])/.exec(this.pending);
            if (!m) break;
            const line = this.pending.slice(0, m.index);
            this.pending = this.pending.slice(m.index + m[0].length);
            if (line === "") {
                if (this.data !== null) {
                    let frames;
                    try { frames = parseFrames(this.data); } catch (err) { frames = { error: err.message }; }
                    this.events.push({ data: this.data, frames, at });
                }
                this.data = null;
            } else if (line.startsWith(":")) {
                // comment
            } else {
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
        for (const w of this.waiters) w.check();
    }

    /** all hub frames received so far, in order */
    get frames() {
        return this.events.flatMap((e) => (Array.isArray(e.frames) ? e.frames : []));
    }

    /**
     * Resolves with pred's truthy result once pred(this) is truthy; rejects after `ms` or when the
     * stream ends first (unless `orEnd`, then resolves with undefined).
     */
    waitFor(pred, ms, what = "a matching event", { orEnd = false } = {}) {
        return new Promise((resolve, reject) => {
            const w = {
                check: () => {
                    const v = pred(this);
                    if (v) {
                        done();
                        resolve(v);
                    } else if (!this.open) {
                        done();
                        if (orEnd) resolve(undefined);
                        else reject(new Error(`stream ended (${this.endedAt - this.sentAt} ms after the GET) ` +
                            `while waiting for ${what}; received ${JSON.stringify(this.raw.slice(-600))}`));
                    }
                },
            };
            const done = () => {
                clearTimeout(w.timer);
                this.waiters.delete(w);
            };
            w.timer = setTimeout(() => {
                done();
                reject(new Error(`timed out after ${ms} ms waiting for ${what}; received ` +
                    JSON.stringify(this.raw.slice(-600))));
            }, ms);
            this.waiters.add(w);
            w.check();
        });
    }

    /** the first event with a frame matching pred (waiting at most `ms`) */
    frame(pred, ms, what = "a matching frame") {
        return this.waitFor((s) => s.frames.find(pred), ms, what);
    }

    /** resolves with { at, how } when the response ends; rejects after `ms` */
    waitEnd(ms, what = "the end of the stream") {
        return this.waitFor((s) => (s.open ? undefined : { at: s.endedAt }), ms, what, { orEnd: true })
            .then(() => ({ at: this.endedAt }));
    }

    /** drops the connection (the client leaves) */
    close() {
        this.req?.destroy();
    }
}

/**
 * negotiate + SSE GET (+ handshake POST and its `{}` reply, unless `handshake` is false) on
 * /Hubs/<hub> at `base`.  Resolves with { conn (a RawConnection for POSTs), stream }; the stream
 * is closed when `t` ends.
 */
export async function openSse(t, hub, { handshake = true, base = BASE } = {}) {
    const conn = await RawConnection.negotiate(hub, base);
    const stream = await SseStream.open(conn.url);
    t?.after(() => stream.close());
    if (stream.status !== 200) throw new Error(`SSE GET: status ${stream.status}: ${stream.raw}`);
    if (handshake) {
        await stream.waitFor((s) => s.raw.startsWith(":"), 5000, "the opening comment");
        const hs = await conn.send(`{"protocol":"json","version":1}${RS}`);
        if (hs.status !== 200) throw new Error(`handshake POST: status ${hs.status}: ${hs.body}`);
        await stream.waitFor((s) => s.events.length > 0, 5000, "the handshake reply");
        if (stream.events[0].data !== `{}${RS}`) {
            throw new Error(`handshake reply: ${JSON.stringify(stream.events[0].data)}`);
        }
    }
    return { conn, stream };
}
