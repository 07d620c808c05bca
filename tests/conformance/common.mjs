// common.mjs — what the conformance suites share: the pinned official client (loaded from
// tests/client/node_modules), the server URL from SERVER_URL (upstream Common.ts convention), a
// recording logger (upstream TestLogger.ts), the connection builder with upstream's common
// options, and deadline helpers.
//
// Every case of docs/conformance-server.md §5 that is covered carries its id (HC-01, CN-07, ...)
// at the start of its test name.  Waits have deadlines well below upstream's 40 s per test; a
// test that fails prints the client log it recorded (t.diagnostic), CONFORMANCE_LOG=1 echoes every
// line as it is logged (upstream echoes at trace level).

import { createRequire } from "node:module";
import { test } from "node:test";

// The client is installed once, in tests/client (npm ci); resolve it from there.  The package has
// no "exports" map, so the deep paths the upstream specs import (dist/*/HttpConnection, Utils,
// FetchHttpClient) are reachable; the CommonJS build is used so that every module is one instance.
const clientRequire = createRequire(new URL("../client/package.json", import.meta.url));
export const signalR = clientRequire("@microsoft/signalr");
export const { HttpConnection } = clientRequire("@microsoft/signalr/dist/cjs/HttpConnection");
export const { FetchHttpClient } = clientRequire("@microsoft/signalr/dist/cjs/FetchHttpClient");
export const { getUserAgentHeader, Platform, ConsoleLogger } =
    clientRequire("@microsoft/signalr/dist/cjs/Utils");
export const CLIENT_VERSION = clientRequire("@microsoft/signalr/package.json").version;
export const { MessagePackHubProtocol } = clientRequire("@microsoft/signalr-protocol-msgpack");

export const { HttpTransportType, TransferFormat, LogLevel, HubConnectionBuilder, JsonHubProtocol } = signalR;

// SERVER_URL="<https base>;<http base>" (upstream Common.ts, Node branch)
function serverUrls() {
    const v = process.env.SERVER_URL;
    if (!v) throw new Error("The server could not be found.");
    const [https, http] = v.split(";").map((s) => (s ?? "").trim().replace(/\/+$/, ""));
    if (!http) throw new Error(`SERVER_URL=${v}: no HTTP base after ';'`);
    return { https, http };
}
const urls = serverUrls();
export const ENDPOINT_BASE_URL = urls.http;
export const ENDPOINT_BASE_HTTPS_URL = urls.https || undefined;
export const TESTHUBENDPOINT_URL = `${ENDPOINT_BASE_URL}/testhub`;
export const TESTHUB_REDIRECT_ENDPOINT_URL =
    `${ENDPOINT_BASE_URL}/redirect?numRedirects=0&baseUrl=${ENDPOINT_BASE_URL}`;
export const ECHOENDPOINT_URL = `${ENDPOINT_BASE_URL}/echo`;

/** the transports of an SSE/LP server, in upstream's order (WebSockets is out of scope) */
export const TRANSPORTS = [HttpTransportType.ServerSentEvents, HttpTransportType.LongPolling];
export const transportName = (t) => HttpTransportType[t];

/** upstream's protocol × transport combinations (the pair messagepack × SSE is never generated) */
export const PROTOCOL_VARIANTS = [
    ...TRANSPORTS.map((transportType) => ({ protocol: "json", transportType })),
    { protocol: "messagepack", transportType: HttpTransportType.LongPolling },
];
export const hubProtocol = (name) => name === "json" ? new JsonHubProtocol() : new MessagePackHubProtocol();

/** deadlines (ms): one wait, and one test (node:test backstop) */
export const WAIT_MS = 10000;
export const TEST_MS = 20000;

// ------------------------------------------------------------------------------------------------
// Logging (upstream TestLogger): every line is recorded as [Date, LogLevel, message]

const echoLogger = process.env.CONFORMANCE_LOG ? new ConsoleLogger(LogLevel.Trace) : null;

export class TestLogger {
    constructor() {
        this.messages = [];
    }

    log(logLevel, message) {
        this.messages.push([new Date(), logLevel, message]);
        echoLogger?.log(logLevel, message);
    }

    getLog() {
        return this.messages.map(([d, l, m]) => `[${d.toISOString()}] ${LogLevel[l]}: ${m}`).join("\n");
    }
}

// ------------------------------------------------------------------------------------------------
// Deadlines

/** resolves/rejects as `promise` does, or rejects after `ms` with a message naming `what` */
export function within(promise, ms, what) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** upstream PromiseSource: a promise with its resolve/reject exposed */
export function deferred() {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
}

/**
 * Every call of conn.onclose, in order, as { error }; `next(n)` resolves with the n-th (1-based)
 * close once it has happened.
 */
export function closeRecorder(conn) {
    const closes = [];
    const waiters = [];
    const rec = {
        closes,
        next(n = 1, ms = WAIT_MS) {
            if (closes.length >= n) return Promise.resolve(closes[n - 1]);
            const d = deferred();
            waiters.push({ n, d });
            return within(d.promise, ms, `close #${n} of the connection`);
        },
        record(error) {
            closes.push({ error });
            for (const w of waiters.splice(0)) {
                if (closes.length >= w.n) w.d.resolve(closes[w.n - 1]);
                else waiters.push(w);
            }
        },
    };
    return rec;
}

// ------------------------------------------------------------------------------------------------
// Tests

/**
 * A node:test case with a recording logger and a cleanup list.  fn receives
 * { t, logger, cleanup(fn) }; cleanups run after the body (each with a deadline), the failing
 * case's client log goes to the test's diagnostics.  opts: node:test options (todo, skip, ...).
 */
export function ctest(name, fn, opts = {}) {
    return test(name, { timeout: TEST_MS, ...opts }, async (t) => {
        const logger = new TestLogger();
        const cleanups = [];
        const cleanup = (f) => cleanups.push(f);
        try {
            await fn({ t, logger, cleanup });
        } catch (err) {
            const log = logger.getLog();
            if (log) t.diagnostic(`client log:\n${log}`);
            throw err;
        } finally {
            for (const f of cleanups.reverse()) {
                try {
                    await within(Promise.resolve().then(f), WAIT_MS, "a cleanup step");
                } catch (err) {
                    t.diagnostic(`cleanup: ${err.message}`);
                }
            }
        }
    });
}

/** upstream getConnectionBuilder: options + { logMessageContent: true }, the test's logger */
export function getConnectionBuilder(logger, transportType, url, options = {}) {
    let actual = { ...options };
    if (transportType) actual.transport = transportType;
    actual = { ...actual, logMessageContent: true };
    return new HubConnectionBuilder()
        .configureLogging(logger)
        .withUrl(url ?? TESTHUBENDPOINT_URL, actual);
}

/**
 * Builds (and registers for cleanup) a HubConnection like upstream: the builder from
 * getConnectionBuilder, then `configure(builder)` (withAutomaticReconnect ...).  Returns
 * { conn, closed } where closed is a closeRecorder attached before start.
 */
export function hubConnection({ logger, cleanup }, transportType, url, options, configure) {
    let builder = getConnectionBuilder(logger, transportType, url, options);
    if (configure) builder = configure(builder);
    const conn = builder.build();
    const closed = closeRecorder(conn);
    conn.onclose((error) => closed.record(error));
    cleanup(() => conn.stop());
    return { conn, closed };
}

/** GET url with the client's own HTTP client, as upstream's getJwtToken does */
export async function getText(url, logger) {
    const client = new signalR.DefaultHttpClient(logger ?? signalR.NullLogger.instance);
    const response = await within(client.get(url), WAIT_MS, `GET ${url}`);
    if (response.statusCode < 200 || response.statusCode >= 300) {
        throw new Error(`GET ${url}: ${response.statusCode} ${response.statusText}`);
    }
    return response.content;
}

/** upstream getJwtToken */
export const getJwtToken = (url, logger) => getText(url, logger);

/** the HubConnection's underlying HttpConnection's connectionId (private, as upstream reads it) */
export const innerConnectionId = (conn) => conn.connection.connectionId;

/**
 * Forces a reconnect as upstream does: the HubConnection's private serverTimeout() (present in
 * the pinned client; checked, so that a client upgrade that drops it fails loudly).
 */
export function induceReconnect(conn) {
    if (typeof conn.serverTimeout !== "function") {
        throw new Error(`HubConnection.serverTimeout() (private) is missing in @microsoft/signalr ${CLIENT_VERSION}`);
    }
    conn.serverTimeout();
}

/** the transport class the started connection uses, checked against what was asked for */
export function activeTransportClass(conn) {
    return conn.connection?.transport?.constructor?.name;
}
