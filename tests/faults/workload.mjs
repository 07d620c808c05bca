// workload.mjs — the clients and publishers of the fault suite, recording a history.
//
// DESIGN: Jepsen-style (reliability-security.md §3.4): the workload only acts and records; it
// judges nothing (checker.mjs does, from the history and the message table).  It runs, against
// every front end in FAULTS_URLS (two lighttpd instances on one database):
//   * receivers: the official @microsoft/signalr client (pinned in tests/client) on /Hubs/ChatRoom,
//     FAULTS_CLIENTS per front end and transport (LongPolling, ServerSentEvents), with automatic
//     reconnect that never gives up (and a fresh start() if a connection ever closes);
//   * hub publishers: one more such client per front end and transport that also invokes
//     SendPublicMessage("fz.<run>.<publisher>.<seq>") FAULTS_HUB_RATE times a second, one
//     invocation at a time (it receives like any other client, so it is checked too);
//   * SQL publishers: FAULTS_SQL_PUBLISHERS loops calling signalr.send_all('ChatRoom', ...)
//     through psql (a session each) FAULTS_SQL_RATE times a second;
//   * observers: one raw Server-Sent-Events stream per front end on /Hubs/Test (handshake done,
//     never sending a Ping, so the server's client timeout never ends it) recording the time of
//     every server Ping — the proof that held streams keep pinging during a database outage.
// History (FAULTS_HISTORY/history.jsonl, one JSON object a line, times in ms since the epoch):
//   {e:"open",  c, k, id, fe, tr, tq, t}   connection epoch k of client c is up: its connection id,
//                                           front end, transport; tq = when it started connecting
//                                           (start() or onreconnecting), t = when it was up
//   {e:"break", c, k, t, why}               its transport broke (onreconnecting / onclose)
//   {e:"end",   c, k, t}                    graceful end at the close of the run (still unbroken)
//   {e:"r",     c, k, id, m, t}             client c received message m ("<publisher>.<seq>")
//   {e:"x",     c, k, t, s}                 it received something that is not this run's tag
//   {e:"pub",   p, s, via, t0, t1, ok, err} publish attempt seq s of publisher p: ok = the
//                                           publisher got success; err = the explicit error text;
//                                           hang = no answer within FAULTS_PUBLISH_TIMEOUT_MS
//   {e:"ping",  o, n, t} / {e:"obs", o, n, t, what}   observer pings / stream opened, ended
//   {e:"ready", t} {e:"stopping", t} {e:"done", t}
// Control: SIGUSR2 = stop publishing, wait FAULTS_DRAIN_MS, record "end" for every client that
// is still connected, stop the clients, exit 0.  SIGTERM/SIGINT = the same without the drain.
// Message texts: "fz.<run>.<publisher>.<seq>"; ChatRoom prefixes hub sends with "<id>:<time>:".

import { createRequire } from "node:module";
import { execFile } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import nodeHttp from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const requireClient = createRequire(path.join(here, "..", "client", "package.json"));
const signalR = requireClient("@microsoft/signalr");

const env = process.env;
const RUN = env.FAULTS_RUN ?? "r0";
const URLS = (env.FAULTS_URLS ?? "http://127.0.0.1:8080").split(",").map((u) => u.replace(/\/+$/, ""));
const FE_NAMES = (env.FAULTS_FE_NAMES ?? URLS.map((_, i) => String.fromCharCode(65 + i)).join(",")).split(",");
const CLIENTS = Number(env.FAULTS_CLIENTS ?? 2);
const HUB_RATE = Number(env.FAULTS_HUB_RATE ?? 2);
const SQL_PUBLISHERS = Number(env.FAULTS_SQL_PUBLISHERS ?? 2);
const SQL_RATE = Number(env.FAULTS_SQL_RATE ?? 3);
const DRAIN_MS = Number(env.FAULTS_DRAIN_MS ?? 10000);
const PUBLISH_TIMEOUT_MS = Number(env.FAULTS_PUBLISH_TIMEOUT_MS ?? 30000);
const HISTORY = env.FAULTS_HISTORY ?? path.join(here, "history");
const TRANSPORTS = ["LongPolling", "ServerSentEvents"];
const TR_SHORT = { LongPolling: "LP", ServerSentEvents: "SSE" };
const RE_TAG = new RegExp(`fz\\.${RUN}\\.([A-Za-z0-9-]+\\.\\d+)$`);

mkdirSync(HISTORY, { recursive: true });
const out = createWriteStream(path.join(HISTORY, "history.jsonl"), { flags: "a" });
const rec = (o) => out.write(JSON.stringify(o) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const short = (e) => String(e?.message ?? e ?? "").replace(/\s+/g, " ").slice(0, 300);

let publishing = true;
let stopping = false;

// ------------------------------------------------------------------------------------------------
// Clients

/** retries forever: 0, 1, 2 s, then every 3 s (the database may be away for 30 s and more) */
const retryPolicy = { nextRetryDelayInMilliseconds: (ctx) => [0, 1000, 2000][ctx.previousRetryCount] ?? 3000 };

class Client {
    constructor(index, fe, base, transport, name) {
        Object.assign(this, { index, fe, base, transport, name });
        this.epoch = -1;        // index of the current (or last) epoch
        this.up = false;        // the current epoch is open
        this.tq = 0;            // when the current attempt to connect began
        this.received = 0;
    }

    build() {
        const conn = new signalR.HubConnectionBuilder()
            .withUrl(`${this.base}/Hubs/ChatRoom`, { transport: signalR.HttpTransportType[this.transport] })
            .withAutomaticReconnect(retryPolicy)
            .configureLogging(signalR.LogLevel.None)
            .build();
        conn.on("ReceivePublicMessage", (s) => {
            const t = Date.now();
            const m = typeof s === "string" ? RE_TAG.exec(s) : null;
            if (m) {
                this.received++;
                rec({ e: "r", c: this.index, k: this.up ? this.epoch : -1, id: conn.connectionId, m: m[1], t });
            } else {
                rec({ e: "x", c: this.index, k: this.up ? this.epoch : -1, t, s: String(s).slice(0, 200) });
            }
        });
        conn.onreconnecting((err) => this.broke(`reconnecting: ${short(err)}`));
        conn.onreconnected(() => this.opened());
        conn.onclose((err) => {
            this.broke(`closed: ${short(err)}`);
            if (!stopping) setTimeout(() => this.start(), 1000);
        });
        this.conn = conn;
    }

    opened() {
        this.epoch++;
        this.up = true;
        rec({ e: "open", c: this.index, k: this.epoch, id: this.conn.connectionId, fe: this.fe,
            tr: this.transport, name: this.name, tq: this.tq, t: Date.now() });
    }

    broke(why) {
        const t = Date.now();
        if (this.up) {
            this.up = false;
            rec({ e: "break", c: this.index, k: this.epoch, t, why });
        }
        this.tq = t;
    }

    async start() {
        while (!stopping) {
            this.build();
            this.tq = Date.now();
            try {
                await this.conn.start();
                if (stopping) return;
                this.opened();
                return;
            } catch (err) {
                rec({ e: "start-failed", c: this.index, t: Date.now(), why: short(err) });
                await sleep(1000);
            }
        }
    }

    async stop() {
        if (this.up) {
            this.up = false;
            rec({ e: "end", c: this.index, k: this.epoch, t: Date.now() });
        }
        try { await this.conn?.stop(); } catch { /* stopping anyway */ }
    }
}

/** with a deadline: resolves { ok, err, hang } */
function withDeadline(promise, ms) {
    let timer;
    return Promise.race([
        promise.then(() => ({ ok: true }), (err) => ({ ok: false, err: short(err) || "error without text" })),
        new Promise((r) => { timer = setTimeout(() => r({ ok: false, hang: true, err: `no answer within ${ms} ms` }), ms); }),
    ]).finally(() => clearTimeout(timer));
}

/** calls `once(seq)` `rate` times a second, one at a time, while publishing */
async function publishLoop(name, rate, ready, once) {
    const interval = 1000 / rate;
    let seq = 0;
    let next = Date.now();
    while (publishing) {
        next += interval;
        if (ready()) {
            const s = ++seq;
            const t0 = Date.now();
            const r = await withDeadline(once(`fz.${RUN}.${name}.${s}`), PUBLISH_TIMEOUT_MS);
            rec({ e: "pub", p: name, s, via: once.via, t0, t1: Date.now(), ok: r.ok, ...(r.err ? { err: r.err } : {}), ...(r.hang ? { hang: true } : {}) });
        }
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
        else next = Date.now(); // late: no burst to catch up
    }
}

function psqlSend(text) {
    const sql = `SELECT signalr.send_all('ChatRoom', 'ReceivePublicMessage', jsonb_build_array('${text}'))`;
    return new Promise((resolve, reject) => {
        execFile("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            { timeout: PUBLISH_TIMEOUT_MS + 5000, killSignal: "SIGKILL" },
            (err, _stdout, stderr) => (err ? reject(new Error(`${stderr.trim() || err.message}`)) : resolve()));
    });
}

// ------------------------------------------------------------------------------------------------
// Observers: raw SSE streams that record the server's Pings

class Observer {
    constructor(fe, base) {
        Object.assign(this, { fe, base, n: -1 });
    }

    async run() {
        while (!stopping) {
            try {
                await this.once();
            } catch (err) {
                rec({ e: "obs", o: this.fe, n: this.n, t: Date.now(), what: `error: ${short(err)}` });
            }
            if (!stopping) await sleep(1000);
        }
    }

    async once() {
        const hub = `${this.base}/Hubs/Test`;
        const neg = await fetch(`${hub}/negotiate?negotiateVersion=1`, { method: "POST", signal: AbortSignal.timeout(10000) });
        if (neg.status !== 200) throw new Error(`negotiate ${neg.status}`);
        const { connectionToken } = await neg.json();
        const url = `${hub}?id=${connectionToken}`;
        this.n++;
        const n = this.n;
        await new Promise((resolve, reject) => {
            const req = nodeHttp.get(url, { headers: { Accept: "text/event-stream" } }, (res) => {
                if (res.statusCode !== 200) {
                    res.resume();
                    reject(new Error(`stream GET ${res.statusCode}`));
                    return;
                }
                rec({ e: "obs", o: this.fe, n, t: Date.now(), what: "open" });
                this.req = req;
                res.setEncoding("utf8");
                let buf = "";
                let handshaken = false;
                res.on("data", (chunk) => {
                    buf += chunk;
                    let i;
                    while ((i = buf.indexOf("\n")) >= 0) {
                        const line = buf.slice(0, i).replace(/\r$/, "");
                        buf = buf.slice(i + 1);
                        if (line.startsWith(":") && !handshaken) {
                            handshaken = true;
                            fetch(url, { method: "POST", body: `{"protocol":"json","version":1}\x1e`,
                                headers: { "Content-Type": "text/plain;charset=UTF-8" }, signal: AbortSignal.timeout(10000) })
                                .then((r) => { if (r.status !== 200) req.destroy(new Error(`handshake POST ${r.status}`)); },
                                    (err) => req.destroy(err));
                        } else if (line.startsWith("data:") && line.includes('{"type":6}')) {
                            rec({ e: "ping", o: this.fe, n, t: Date.now() });
                        }
                    }
                });
                res.on("end", () => resolve());
                res.on("error", reject);
            });
            req.on("error", reject);
            req.on("close", () => resolve());
        });
        rec({ e: "obs", o: this.fe, n, t: Date.now(), what: "end" });
    }

    stop() {
        this.req?.destroy();
    }
}

// ------------------------------------------------------------------------------------------------

const clients = [];
const publishers = [];
for (let f = 0; f < URLS.length; f++) {
    for (const tr of TRANSPORTS) {
        for (let i = 0; i < CLIENTS; i++) {
            clients.push(new Client(clients.length, FE_NAMES[f], URLS[f], tr, `${FE_NAMES[f]}-${TR_SHORT[tr]}-${i}`));
        }
        const p = new Client(clients.length, FE_NAMES[f], URLS[f], tr, `h${FE_NAMES[f]}-${TR_SHORT[tr]}`);
        clients.push(p);
        publishers.push(p);
    }
}
rec({ e: "config", t: Date.now(), run: RUN, urls: URLS, fe: FE_NAMES, clients: clients.map((c) => ({ c: c.index, name: c.name, fe: c.fe, tr: c.transport })),
    hubRate: HUB_RATE, sqlPublishers: SQL_PUBLISHERS, sqlRate: SQL_RATE });

const observers = URLS.map((u, f) => new Observer(FE_NAMES[f], u));
const observerRuns = observers.map((o) => o.run());

await Promise.all(clients.map((c) => c.start()));
rec({ e: "ready", t: Date.now() });
console.log(`workload ready: ${clients.length} clients, ${publishers.length} hub publishers, ${SQL_PUBLISHERS} SQL publishers`);

const loops = [];
for (const p of publishers) {
    const once = (text) => p.conn.invoke("SendPublicMessage", text);
    once.via = "hub";
    loops.push(publishLoop(p.name, HUB_RATE, () => p.up && p.conn.state === "Connected", once));
}
for (let i = 0; i < SQL_PUBLISHERS; i++) {
    const once = (text) => psqlSend(text);
    once.via = "sql";
    loops.push(publishLoop(`sql${i + 1}`, SQL_RATE, () => true, once));
}

let finishing = null;
async function finish(drain) {
    if (finishing) return finishing;
    finishing = (async () => {
        publishing = false;
        await Promise.all(loops);
        rec({ e: "stopping", t: Date.now() });
        if (drain) await sleep(DRAIN_MS);
        stopping = true;
        await Promise.all(clients.map((c) => c.stop()));
        for (const o of observers) o.stop();
        await Promise.race([Promise.all(observerRuns), sleep(3000)]);
        rec({ e: "done", t: Date.now(), received: clients.reduce((a, c) => a + c.received, 0) });
        await new Promise((r) => out.end(r));
        process.exit(0);
    })();
    return finishing;
}
process.on("SIGUSR2", () => finish(true));
process.on("SIGTERM", () => finish(false));
process.on("SIGINT", () => finish(false));
