// delivery.test.mjs — delivery guarantees against the real PostgreSQL (design: sql/migrations/
// 0001_init.sql, src/sr_feed.c): messages are rows in signalr.messages, ordered by a commit-time
// sequence (signalr.commits); NOTIFY is only a wake-up; each worker follows the log on one LISTEN
// session (application_name 'signalr-fcgi loop').  Every client below receives every message
// exactly once and in commit order while the database and the workers are disturbed:
//   * a transaction that commits after a later one (commit order, nothing skipped);
//   * pg_terminate_backend on the LISTEN sessions, also while messages are in flight;
//   * a worker killed with SIGKILL (lighttpd respawns it): only its clients reconnect;
//   * a PostgreSQL restart while SSE streams and polls are held (503 + Retry-After meanwhile).
// Needs what scripts/test.sh passes: PG* (psql), SR_TEST_LIB + SR_TEST_PGDATA (pg_pause/
// pg_resume of the test cluster), SR_TEST_LIGHTTPD_PID (whose worker children may be killed).
// The restart tests run last: after a restart, each request thread's first request may still
// fail once (src/sr_db.c; the last test shows it), which would disturb a test that follows.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Inbox, KEEPALIVE_INTERVAL_MS, RS, RawConnection, connect, parseFrames, negotiate, openSse, sleep, tag } from "./helpers.mjs";
import {
    PsqlSession, haveCluster, havePg, insertAllSql, lighttpdPid, loopSessions, pgPause, pgResume, pgUp, psql,
    terminateLoopSessions, workerPids,
} from "./pg.mjs";

const HUB = "/Hubs/ChatRoom";
const T = { timeout: 120000, skip: havePg ? false : "no PG* environment (run through scripts/test.sh)" };

/** text of a ReceivePublicMessage argument: hub sends are "<id>:<time>:<text>", raw inserts plain */
const textOf = (s) => (typeof s === "string" ? s.slice(s.lastIndexOf(":") + 1) : s);

/** sends `text` to every /Hubs/ChatRoom connection by a row committed straight into the log */
const insert = (text) => psql(insertAllSql(HUB, "ReceivePublicMessage", [text]));

/**
 * Clients on /Hubs/ChatRoom: `spec` is a list of transports.  Each gets an inbox of this run's
 * message texts (in arrival order) and a record of its reconnect/close events.
 */
let clientCount = 0;
async function clients(t, spec, run, how = {}) {
    const out = [];
    for (const transport of spec) {
        const c = await connect(t, "ChatRoom", {}, { transport, ...how });
        const e = { name: `${transport}#${clientCount++}`, transport, c, texts: [], events: [], firstId: c.connectionId };
        // first: the client awaits each handler before it calls the next, so `texts` is complete
        // by the time a waiter of the inbox resumes
        c.on("ReceivePublicMessage", (s) => {
            const x = textOf(s);
            if (typeof x === "string" && x.startsWith(`${run} `)) e.texts.push(x.slice(run.length + 1));
        });
        const inbox = new Inbox(c, "ReceivePublicMessage");
        c.onreconnecting((err) => e.events.push({ at: Date.now(), what: "reconnecting", error: err?.message?.slice(0, 200) }));
        c.onreconnected((id) => e.events.push({ at: Date.now(), what: "reconnected", id }));
        c.onclose((err) => e.events.push({ at: Date.now(), what: "closed", error: err?.message?.slice(0, 200) }));
        e.inbox = inbox;
        out.push(e);
    }
    return out;
}

/** waits until every client in `list` has received at least `n` texts of the run */
async function allReceive(list, n, ms, what) {
    const deadline = Date.now() + ms;
    for (;;) {
        const short = list.filter((e) => e.texts.length < n);
        if (short.length === 0) return;
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${ms} ms waiting for ${what}: ` + JSON.stringify(short.map((e) => ({
                name: e.name, state: e.c.state, got: e.texts, events: e.events,
            }))));
        }
        await sleep(50);
    }
}

const describe = (list) => JSON.stringify(list.map((e) => ({ name: e.name, state: e.c.state, events: e.events })));

// ------------------------------------------------------------------------------------------------

test("out-of-order commit: a message committed later is delivered later, none skipped, each once", T, async (t) => {
    const run = tag();
    const cs = await clients(t, ["LongPolling", "ServerSentEvents"], run);
    const slow = new PsqlSession();
    const ghost = new PsqlSession();
    t.after(() => Promise.all([slow.close(), ghost.close()]));

    // 'slow' is inserted first (lower messages.id) but its transaction stays open
    await slow.run(`BEGIN; ${insertAllSql(HUB, "ReceivePublicMessage", [`${run} slow`])}`);
    await ghost.run(`BEGIN; ${insertAllSql(HUB, "ReceivePublicMessage", [`${run} ghost`])}`);
    // a second publisher commits 'fast' meanwhile, and the workers deliver it
    await insert(`${run} fast`);
    await allReceive(cs, 1, 10000, "'fast'");
    await insert(`${run} fast2`);
    await allReceive(cs, 2, 10000, "'fast2'");
    // the workers have certainly read past 'fast' and 'fast2'; now the old transaction commits
    await sleep(300);
    for (const e of cs) assert.deepEqual(e.texts, ["fast", "fast2"], `${e.name} before the commit`);
    await slow.run("COMMIT");
    await ghost.run("ROLLBACK");
    await allReceive(cs, 3, 10000, "'slow' after its commit");
    await insert(`${run} last`);
    await allReceive(cs, 4, 10000, "'last'");
    await sleep(500); // room for duplicates or the rolled-back row to show
    for (const e of cs) {
        assert.deepEqual(e.texts, ["fast", "fast2", "slow", "last"], `${e.name}: commit order, exactly once, no rolled-back row`);
        assert.deepEqual(e.events, [], `${e.name}: no reconnect`);
    }
});

test("pg_terminate_backend on the LISTEN sessions: the workers reconnect and catch up, nothing lost", T, async (t) => {
    const run = tag();
    const cs = await clients(t, ["LongPolling", "ServerSentEvents", "LongPolling", "ServerSentEvents"], run);
    const sender = cs[0].c;
    const before = await loopSessions();
    assert.ok(before.length >= 2, `LISTEN sessions of the workers: ${before}`);

    // sequential sends, alternately a raw insert and a hub invocation: one total order
    let k = 0;
    const send = async () => {
        const text = `${run} ${k}`;
        if (k % 2 === 0) await insert(text);
        else await sender.invoke("SendPublicMessage", text);
        k++;
    };

    // 1. kill the sessions, then send
    const killed1 = await terminateLoopSessions();
    assert.deepEqual(killed1, before, "every LISTEN session was terminated");
    for (let i = 0; i < 10; i++) await send();
    await allReceive(cs, 10, 20000, "10 messages sent after the LISTEN sessions were killed");

    // 2. kill them while messages are in flight (twice, a few messages apart)
    const killedLater = [];
    for (let i = 0; i < 30; i++) {
        if (i === 8 || i === 19) killedLater.push(...await terminateLoopSessions());
        await send();
    }
    await allReceive(cs, 40, 30000, "40 messages with LISTEN sessions killed in flight");
    assert.ok(killedLater.length >= 2, `sessions terminated while sending: ${killedLater}`);

    await sleep(500);
    const expected = Array.from({ length: 40 }, (_, i) => String(i));
    for (const e of cs) {
        assert.deepEqual(e.texts, expected, `${e.name}: every message once, in order`);
        assert.deepEqual(e.events, [], `${e.name}: the clients did not notice`);
        assert.equal(e.c.state, "Connected");
    }
    // the workers are listening again, on new sessions
    const deadline = Date.now() + 15000;
    let now;
    do {
        now = await loopSessions();
        if (now.length === before.length) break;
        await sleep(250);
    } while (Date.now() < deadline);
    assert.equal(now.length, before.length, `LISTEN sessions after: ${now} (before: ${before})`);
    assert.ok(now.every((p) => !before.includes(p) && !killedLater.includes(p)), `new sessions: ${now}`);
});

test("a worker killed with SIGKILL: only its clients reconnect; the others lose nothing", {
    ...T, skip: T.skip || (lighttpdPid ? false : "SR_TEST_LIGHTTPD_PID not set"),
}, async (t) => {
    const run = tag();
    const workers = workerPids();
    assert.equal(workers.length, 2, `worker children of lighttpd ${lighttpdPid}: ${workers}`);
    // clients on both transports, until both workers hold streams or polls
    const cs = [];
    let holders;
    const readHolders = async () => {
        const ids = cs.map((e) => `'${e.c.connectionId}'`).join(",");
        const rows = await psql(`SELECT id, transport, holder FROM signalr.connections WHERE id IN (${ids})`);
        const map = new Map();
        for (const line of rows.split("\n").filter(Boolean)) {
            const [id, transport, holder] = line.split("|");
            map.set(id, { transport, pid: holder ? Number(holder.split(":").at(-2)) : undefined });
        }
        return map;
    };
    for (let round = 0; round < 5; round++) {
        cs.push(...await clients(t, ["ServerSentEvents", "LongPolling", "ServerSentEvents", "LongPolling"], run,
            { reconnect: [0, 500, 1000, 2000, 5000] }));
        await sleep(300); // the LP clients' polls are held by now
        holders = await readHolders();
        const ssePids = new Set([...holders.values()].filter((h) => h.transport === "ServerSentEvents").map((h) => h.pid));
        if (ssePids.size === 2) break;
    }
    const byPid = (pid) => cs.filter((e) => holders.get(e.c.connectionId)?.pid === pid);
    // the victim: a worker holding at least one SSE stream, while the other one holds some too
    const victim = workers.find((p) => byPid(p).some((e) => e.transport === "ServerSentEvents"));
    const survivor = workers.find((p) => p !== victim);
    assert.ok(victim && byPid(survivor).length > 0, `holders: ${JSON.stringify([...holders])}, workers ${workers}`);
    for (const h of holders.values()) {
        // (a long poll between two requests has no holder)
        if (h.pid !== undefined) assert.ok(workers.includes(h.pid), `holder pid ${h.pid} is one of the workers ${workers}`);
    }

    // keep sending (straight into the log: the senders must not depend on the workers) before,
    // during and after the kill
    let k = 0;
    let sending = true;
    const sender = (async () => {
        while (sending && k < 200) {
            await insert(`${run} ${k++}`);
            await sleep(40);
        }
    })();
    t.after(() => { sending = false; return sender.catch(() => {}); });
    await sleep(400);
    // only a pid found as a child of the lighttpd this run started
    assert.ok(workerPids().includes(victim));
    const killedAt = Date.now();
    process.kill(victim, "SIGKILL");
    await sleep(2500);
    sending = false;
    await sender;
    const sent = k;
    const expected = Array.from({ length: sent }, (_, i) => String(i));

    // lighttpd replaces the worker
    let now = workerPids();
    const deadline = Date.now() + 10000;
    while ((now.length < 2 || now.includes(victim)) && Date.now() < deadline) {
        await sleep(200);
        now = workerPids();
    }
    assert.ok(!now.includes(victim) && now.includes(survivor), `workers after the kill: ${now}`);

    // who reconnected
    await sleep(1500);
    const reconnected = cs.filter((e) => e.events.some((x) => x.what === "reconnecting"));
    const untouched = cs.filter((e) => e.events.length === 0);
    assert.ok(reconnected.length > 0 && untouched.length > 0, `both kinds: ${describe(cs)}`);
    // SSE streams are pinned to the worker that served the GET: exactly its streams reconnect
    for (const e of cs.filter((x) => x.transport === "ServerSentEvents")) {
        const onVictim = holders.get(e.firstId).pid === victim;
        assert.equal(reconnected.includes(e), onVictim,
            `${e.name} (stream held by ${holders.get(e.firstId).pid}, killed ${victim}): ${JSON.stringify(e.events)}`);
    }
    // a long poll can be on either worker at the moment of the kill; only the held ones fail
    for (const e of reconnected) {
        assert.ok(holders.get(e.firstId).transport === "LongPolling" || holders.get(e.firstId).pid === victim, e.name);
        assert.ok(e.events.every((x) => x.at >= killedAt), `${e.name}: nothing before the kill`);
    }
    // the untouched ones lost nothing: every message, once, in order
    await allReceive(untouched, sent, 15000, `all ${sent} messages on the untouched clients`);
    await sleep(300);
    for (const e of untouched) {
        assert.deepEqual(e.texts, expected, `${e.name}: every message once, in order`);
        assert.equal(e.c.state, "Connected");
    }
    // the reconnected ones work again (new connection ids): they send, and everyone receives
    const reconnectDeadline = Date.now() + 20000;
    while (reconnected.some((e) => e.c.state !== "Connected") && Date.now() < reconnectDeadline) await sleep(200);
    for (const e of reconnected) {
        assert.equal(e.c.state, "Connected", `${e.name} reconnected: ${JSON.stringify(e.events)}`);
        assert.notEqual(e.c.connectionId, e.firstId, `${e.name} has a new connection`);
        await e.c.invoke("SendPublicMessage", `${run} back ${e.name}`);
    }
    await insert(`${run} final`);
    const tail = [...reconnected.map((e) => `back ${e.name}`), "final"];
    for (const e of cs) {
        await e.inbox.waitFor((s) => textOf(s) === `${run} final`, 10000, `${e.name} receiving the final message`);
        assert.deepEqual(e.texts.slice(-tail.length), tail, `${e.name}: the messages sent after the reconnects`);
    }
    // and what the reconnected ones got is in order too (no duplicates, no reordering)
    for (const e of reconnected) {
        const nums = e.texts.filter((x) => /^\d+$/.test(x)).map(Number);
        assert.deepEqual(nums, [...nums].sort((a, b) => a - b), `${e.name}: in order`);
        assert.equal(new Set(nums).size, nums.length, `${e.name}: no duplicates`);
    }
    t.diagnostic(`killed worker ${victim}; ${sent} messages; reconnected: ${reconnected.map((e) => e.name).join(", ")}; ` +
        `untouched: ${untouched.map((e) => e.name).join(", ")}`);
});

test("PostgreSQL restart while streams and polls are held: 503 + Retry-After meanwhile, Pings go on, delivery resumes", {
    ...T, skip: T.skip || (haveCluster ? false : "SR_TEST_LIB/SR_TEST_PGDATA not set"),
}, async (t) => {
    const run = tag();
    const cs = await clients(t, ["LongPolling", "ServerSentEvents", "LongPolling", "ServerSentEvents"], run,
        { reconnect: [0, 1000, 2000, 2000, 5000, 5000, 5000] });
    // a raw stream (handshaken, never pings: its client timeout is not armed) to watch the Pings
    const { conn: raw, stream } = await openSse(t, "Test");
    await insert(`${run} before`);
    await allReceive(cs, 1, 10000, "'before'");

    // whatever happens below, the database is started again
    let down = false;
    t.after(async () => {
        if (down || !(await pgUp())) await pgResume();
    });
    const pingsBefore = stream.events.length;
    const stoppedAt = Date.now();
    down = true;
    await pgPause();
    assert.equal(await pgUp(), false, "the database is down");

    // while it is down: negotiate and POST answer 503 with Retry-After
    const n = await negotiate("ChatRoom");
    assert.equal(n.status, 503, `negotiate: ${n.status} ${n.body}`);
    assert.match(n.headers.get("retry-after") ?? "", /^\d+$/, "negotiate: Retry-After");
    const p = await raw.send(`{"type":1,"invocationId":"1","target":"Echo","arguments":["x"]}${RS}`);
    assert.equal(p.status, 503, `POST: ${p.status} ${p.body}`);
    assert.match(p.headers.get("retry-after") ?? "", /^\d+$/, "POST: Retry-After");

    // the held stream stays open and keeps getting Pings
    const OUTAGE_MS = 2 * KEEPALIVE_INTERVAL_MS + 1000;
    await sleep(Math.max(0, stoppedAt + OUTAGE_MS - Date.now()));
    const during = stream.events.slice(pingsBefore).filter((e) => e.data === `{"type":6}${RS}`);
    assert.ok(stream.open, "the stream stayed open");
    assert.ok(during.length >= 2, `${during.length} Pings in ${Date.now() - stoppedAt} ms of outage`);
    const sseDuring = cs.filter((e) => e.transport === "ServerSentEvents" && e.events.length > 0);
    assert.deepEqual(sseDuring.map((e) => e.name), [], `SSE clients disturbed by the outage: ${describe(cs)}`);

    await pgResume();
    down = false;
    const upAt = Date.now();

    // after it is back, messages reach every client still connected
    await insert(`${run} after1`);
    // a hub send too; a request thread's first query after the restart may still fail once
    // (src/sr_db.c: 503, the client sees a failed invocation), so retry within a deadline
    const sender = cs.find((e) => e.transport === "ServerSentEvents").c;
    const sendDeadline = Date.now() + 20000;
    for (;;) {
        try {
            await sender.invoke("SendPublicMessage", `${run} after2`);
            break;
        } catch (err) {
            if (Date.now() > sendDeadline) throw err;
            await sleep(200);
        }
    }
    const steady = cs.filter((e) => e.events.length === 0);
    await allReceive(steady, 3, 20000, "'after1' and 'after2' after the restart");
    await sleep(500);
    for (const e of steady) {
        assert.deepEqual(e.texts, ["before", "after1", "after2"], `${e.name}: exactly once, in order`);
    }
    // the SSE clients held their streams through it all
    for (const e of cs.filter((x) => x.transport === "ServerSentEvents")) {
        assert.deepEqual(e.events, [], `${e.name} kept its stream: ${JSON.stringify(e.events)}`);
        assert.equal(e.c.connectionId, e.firstId);
    }
    // A long-polling client may have lost its connection to a 503: a poll that ended during the
    // outage, or one that met a request thread's stale database connection afterwards (see the
    // next test).  With automatic reconnect it comes back; once all are connected, what is sent
    // reaches each of them, unless it is just then reconnecting again.
    const connectDeadline = Date.now() + 30000;
    while (cs.some((e) => e.c.state !== "Connected") && Date.now() < connectDeadline) await sleep(100);
    assert.deepEqual(cs.filter((e) => e.c.state !== "Connected").map((e) => e.name), [], `not connected: ${describe(cs)}`);
    const final = `${run} final`;
    const eventsBefore = cs.map((e) => e.events.length);
    await insert(final);
    const excused = [];
    await Promise.all(cs.map(async (e, i) => {
        try {
            await e.inbox.waitFor((s) => textOf(s) === final, 15000, `${e.name} receiving the last message`);
        } catch (err) {
            if (e.events.length === eventsBefore[i]) throw new Error(`${err.message}; events ${JSON.stringify(e.events)}`);
            excused.push(e.name); // it lost its connection (again) meanwhile
        }
    }));
    assert.ok(excused.every((n) => n.startsWith("LongPolling")), `excused: ${excused}`);
    assert.ok(stream.open, "the raw stream is still open");
    t.diagnostic(`outage ${upAt - stoppedAt} ms; reconnected: ${cs.filter((e) => e.events.length).map((e) => e.name).join(", ") || "none"}` +
        `${excused.length ? `; reconnecting again while the last message was sent: ${excused}` : ""}`);
});

// Every request thread keeps its database connection; one broken by a restart is replaced before
// use (docs/delivery.md BUG-1), so requests succeed once the database accepts connections again.
test("after a PostgreSQL restart, requests succeed once the database is back", {
    ...T, skip: T.skip || (haveCluster ? false : "SR_TEST_LIB/SR_TEST_PGDATA not set"),
}, async (t) => {
    // make every worker thread hold a database connection: many requests at once
    await Promise.all(Array.from({ length: 32 }, () => negotiate("ChatRoom")));
    let down = false;
    t.after(async () => {
        if (down || !(await pgUp())) await pgResume();
    });
    down = true;
    await pgPause();
    await pgResume();
    down = false;
    const upAt = Date.now();
    // the first request may come any time later; here 2 s
    await sleep(2000);
    const statuses = [];
    for (let round = 0; round < 3; round++) {
        const rs = await Promise.all(Array.from({ length: 16 }, () => negotiate("ChatRoom")));
        statuses.push(...rs.map((r) => r.status));
    }
    const failed = statuses.filter((s) => s !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${statuses.length} negotiates ${Date.now() - upAt} ms after ` +
        `the restart failed: ${failed}`);
});

// A poll that reaches a worker while PostgreSQL restarts waits (up to 5 s) for it to come back
// instead of answering 503, which would make the official long-polling client drop the
// connection (the fault suite's "pg-restart: no client transport broke").
test("a poll sent while PostgreSQL restarts is held until it is back, not refused", {
    ...T, skip: T.skip || (haveCluster ? false : "SR_TEST_LIB/SR_TEST_PGDATA not set"),
}, async (t) => {
    const c = await RawConnection.open(t, "Test");
    let down = false;
    t.after(async () => {
        if (down || !(await pgUp())) await pgResume();
    });
    down = true;
    await pgPause();
    const poll = c.poll(); // reaches a worker while the database is down
    await pgResume();
    down = false;
    assert.equal((await c.invoke("p", "Echo", ["back"])).status, 200, "an invocation once the database is back");
    const r = await poll;
    assert.equal(r.status, 200, `the poll sent during the restart: ${r.status} ${r.body}`);
    c.frames.push(...parseFrames(r.body));
    const frames = await c.pollUntil((fs) => fs.some((f) => f.invocationId === "p"), 10000, "the echo");
    assert.equal(frames.find((f) => f.invocationId === "p").result, "back");
});
