// checker.mjs — judges a fault-suite history (docs/delivery.md defines every term used here).
//
// Usage: node checker.mjs HISTORY_DIR      (writes HISTORY_DIR/report.json and report.txt)
// Reads  history.jsonl (workload.mjs: connection epochs, receipts, publish attempts, observer
//        Pings), faults.jsonl (faults.sh: every fault with its timestamps, the slow-commit and
//        rolled-back publishes, resource samples, settings), and table.txt (faults.sh: every
//        committed message of the run from signalr.messages JOIN signalr.commits, as
//        "tag|messages.id|commits.seq|committed_at ms").
// The order of the log is the position (commits.seq, messages.id); `ord` below is a message's
// index in that order.  An epoch is one SignalR connection of one client: from the moment it is
// up (start() resolved / onreconnected) until its transport breaks (onreconnecting / onclose) or
// the run ends it gracefully.  A reconnected client is a new epoch.
// Per epoch:
//   duplicated   — a message received twice;
//   out-of-order — a message received after one with a later position;
//   unexpected   — a message that is not committed in the table (rolled back, never sent), or
//                  one committed more than SLACK before the epoch began to connect;
//   lost         — a required message never received.  Required: every message from the
//                  epoch's start position — the earlier of its first receipt and the first
//                  message committed after it was up — up to: the end of the log for an epoch
//                  that was never broken, the last message it received for one that broke (a hole
//                  before that is a loss while the transport was unbroken).  Messages after the
//                  last receipt of a broken epoch are "undelivered at break", not losses (G1).
// Publishes: an acknowledged publish must be in the table; a failed one must have failed with an
// explicit error (no hang); failed-but-committed ones are reported (indeterminate, like Jepsen's
// "recovered").  Faults: recovery times (LISTEN back, backlog delivered), transport breaks
// attributed to the fault in whose window they fall, held requests across the long outage, and
// descriptor/RSS growth of the workers.  Every check prints "CHECK ok|FAIL <name> — <detail>";
// the exit status is 1 if any failed.

import { readFileSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";

const dir = process.argv[2];
if (!dir) {
    console.error("usage: node checker.mjs HISTORY_DIR");
    process.exit(2);
}

const readJsonl = (f) => (existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean).map((l, i) => {
    try { return JSON.parse(l); } catch { return { e: "bad-line", file: f, line: i + 1 }; }
}) : []);
const history = readJsonl(path.join(dir, "history.jsonl"));
const faults = readJsonl(path.join(dir, "faults.jsonl"));
const tableFile = path.join(dir, "table.txt");
const settings = Object.assign({}, ...faults.filter((f) => f.type === "settings"));

const SLACK_MS = 2000;
const BREAK_WINDOW_MS = Number(settings.break_window_ms ?? 10000);
const LISTEN_BUDGET_MS = Number(settings.listen_budget_ms ?? 2000);
const BACKLOG_BUDGET_MS = Number(settings.backlog_budget_ms ?? 5000);
const KEEPALIVE_MS = Number(settings.keepalive_s ?? 15) * 1000;
const FD_TOL = Number(settings.fd_tolerance ?? 2);
const RSS_TOL_PCT = Number(settings.rss_tolerance_pct ?? 10);
const FE_RECONNECT_MS = Number(settings.fe_reconnect_ms ?? 45000);

const checks = [];
const check = (name, ok, detail = "") => checks.push({ name, ok: Boolean(ok), detail });
const fmt = (t) => (t ? new Date(t).toISOString().slice(11, 23) : "-");
/** the largest element (no spread: arrays here can be far longer than the call stack allows) */
const maxOf = (arr, none = "-") => (arr.length ? arr.reduce((a, b) => (b > a ? b : a)) : none);
const pct = (arr, p) => {
    if (arr.length === 0) return null;
    const s = [...arr].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// ------------------------------------------------------------------------------------------------
// The log

const table = new Map(); // tag -> { id, seq, cat, ord }
const tableDup = [];
if (existsSync(tableFile)) {
    for (const line of readFileSync(tableFile, "utf8").split("\n")) {
        if (!line.trim()) continue;
        const [tag, id, seq, cat] = line.split("|");
        if (table.has(tag)) tableDup.push(tag);
        else table.set(tag, { tag, id: Number(id), seq: Number(seq), cat: Number(cat) });
    }
}
const log = [...table.values()].sort((a, b) => a.seq - b.seq || a.id - b.id);
log.forEach((m, i) => { m.ord = i; });
check("table read", existsSync(tableFile) && log.length > 0, `${log.length} committed messages of the run in signalr.messages ⋈ signalr.commits`);
check("no message twice in the table", tableDup.length === 0, tableDup.slice(0, 5).join(", "));

// ------------------------------------------------------------------------------------------------
// Faults and their windows

const faultList = faults.filter((f) => f.type && !["res", "settings", "pub", "phase", "note"].includes(f.type))
    .sort((a, b) => a.t - b.t);
const faultEnd = (f) => Math.max(f.t, f.end_t ?? 0, f.up_t ?? 0, f.listen_t ?? 0, f.respawn_t ?? 0);
const INVISIBLE = new Set(["listen-kill", "pg-restart", "pg-pause", "pg-outage"]);
/** the latest fault whose window [t, end + BREAK_WINDOW_MS] contains time t */
function faultAt(t) {
    let found = null;
    for (const f of faultList) {
        if (f.t <= t && t <= faultEnd(f) + BREAK_WINDOW_MS) found = f;
    }
    return found;
}
const quietAround = (a, b) => !faultList.some((f) => ["pg-pause", "pg-restart", "pg-outage"].includes(f.type) &&
    f.t <= b && faultEnd(f) >= a);

// ------------------------------------------------------------------------------------------------
// Epochs and receipts

const config = history.find((h) => h.e === "config") ?? { clients: [] };
const clientInfo = new Map(config.clients.map((c) => [c.c, c]));
const epochs = new Map(); // `${c}/${id}` -> epoch
const byClient = new Map(); // c -> [epochs in order]
let lastT = 0;
for (const h of history) {
    if (h.t) lastT = Math.max(lastT, h.t);
    if (h.e === "open") {
        const ep = { c: h.c, k: h.k, id: h.id, fe: h.fe, tr: h.tr, name: h.name, tq: h.tq, t0: h.t, t1: null, how: "open", why: null, recv: [] };
        epochs.set(`${h.c}/${h.id}`, ep);
        if (!byClient.has(h.c)) byClient.set(h.c, []);
        byClient.get(h.c).push(ep);
    }
}
const orphans = [];
for (const h of history) {
    if (h.e === "break" || h.e === "end") {
        const ep = (byClient.get(h.c) ?? []).find((x) => x.k === h.k);
        if (ep) { ep.t1 = h.t; ep.how = h.e; ep.why = h.why ?? null; }
    } else if (h.e === "r") {
        let ep = epochs.get(`${h.c}/${h.id}`);
        if (!ep) {
            // A connection that received messages during its (re)connect handshake and failed
            // before the client reported it up: an epoch of its own that never came up, judged
            // like a broken one (holes, duplicates, order), with no tail requirement.
            const info = clientInfo.get(h.c) ?? {};
            ep = { c: h.c, k: -1, id: h.id, fe: info.fe, tr: info.tr, name: info.name ?? `c${h.c}`, tq: h.t, t0: h.t, t1: h.t,
                how: "never-up", why: "failed before it was up", recv: [] };
            epochs.set(`${h.c}/${h.id}`, ep);
            orphans.push(h);
        }
        ep.recv.push({ m: h.m, t: h.t });
        if (ep.how === "never-up") ep.t1 = h.t;
    }
}
for (const ep of epochs.values()) {
    if (ep.how === "open") { ep.how = "unfinished"; ep.t1 = lastT; }
}
const foreign = history.filter((h) => h.e === "x");

const totals = { epochs: 0, unbroken: 0, broken: 0, received: 0, lost: 0, duplicated: 0, reordered: 0, unexpected: 0,
    unexpectedEarly: 0, undeliveredAtBreak: 0, required: 0 };
const problems = []; // per epoch with a violation
const stalls = [];
const latencies = [];
const latenciesQuiet = [];
for (const ep of epochs.values()) {
    totals.epochs++;
    const broken = ep.how !== "end";
    if (broken) totals.broken++; else totals.unbroken++;
    const seen = new Map();
    const dups = [];
    const reorders = [];
    const unexpected = [];
    const early = [];
    let maxOrd = -1;
    let firstOrd = Infinity;
    for (const r of ep.recv) {
        totals.received++;
        const m = table.get(r.m);
        if (seen.has(r.m)) { dups.push(r.m); continue; }
        seen.set(r.m, r.t);
        if (!m) { unexpected.push(r.m); continue; }
        latencies.push(r.t - m.cat);
        if (!faultAt(m.cat) && !faultAt(r.t)) latenciesQuiet.push(r.t - m.cat);
        if (m.ord < maxOrd) reorders.push(`${r.m} after ${log[maxOrd].tag}`);
        maxOrd = Math.max(maxOrd, m.ord);
        firstOrd = Math.min(firstOrd, m.ord);
        if (m.cat < ep.tq - SLACK_MS && quietAround(m.cat, ep.tq)) early.push(r.m);
    }
    // start position: first receipt, or the first message committed after the epoch was up
    let firstAfter = log.findIndex((m) => m.cat > ep.t0);
    if (firstAfter < 0) firstAfter = Infinity;
    const lower = Math.min(firstOrd, firstAfter);
    let upper;
    if (!broken) {
        upper = -1;
        for (const m of log) if (m.cat < ep.t1) upper = Math.max(upper, m.ord);
    } else {
        upper = maxOrd;
    }
    const lost = [];
    for (let o = lower; o <= upper && o < log.length; o++) {
        totals.required++;
        if (!seen.has(log[o].tag)) lost.push(log[o]);
    }
    let undelivered = [];
    if (broken) {
        for (let o = Math.max(lower, maxOrd + 1); o < log.length && log[o].cat < ep.t1; o++) {
            if (Number.isFinite(o) && !seen.has(log[o].tag)) undelivered.push(log[o]);
        }
        if (undelivered.length) {
            const oldest = undelivered[0];
            const age = ep.t1 - oldest.cat;
            const excused = faultList.some((f) => ["pg-pause", "pg-outage"].includes(f.type) && f.t <= ep.t1 && faultEnd(f) >= oldest.cat);
            if (age > 5000 && !excused) stalls.push({ epoch: `${ep.name}#${ep.k}`, id: ep.id, oldest: oldest.tag, age_ms: age, why: ep.why, fault: faultAt(ep.t1)?.type ?? null });
        }
    }
    totals.lost += lost.length;
    totals.duplicated += dups.length;
    totals.reordered += reorders.length;
    totals.unexpected += unexpected.length;
    totals.unexpectedEarly += early.length;
    totals.undeliveredAtBreak += undelivered.length;
    ep.stats = { received: ep.recv.length, lost: lost.length, dup: dups.length, reorder: reorders.length, unexpected: unexpected.length, early: early.length, undelivered: undelivered.length };
    if (lost.length || dups.length || reorders.length || unexpected.length || early.length) {
        problems.push({
            epoch: `${ep.name}#${ep.k}`, connectionId: ep.id, frontEnd: ep.fe, transport: ep.tr, from: fmt(ep.t0), to: fmt(ep.t1),
            ended: ep.how, why: ep.why,
            lost: lost.length, lostExamples: lost.slice(0, 8).map((m) => ({ tag: m.tag, committed: fmt(m.cat), seq: m.seq, id: m.id, fault: faultAt(m.cat)?.type ?? null })),
            duplicated: dups.slice(0, 8), outOfOrder: reorders.slice(0, 8), unexpected: unexpected.slice(0, 8), committedBeforeConnecting: early.slice(0, 8),
        });
    }
}

check("no delivery stalled for more than 5 s on a connection before it broke", stalls.length === 0,
    `${totals.undeliveredAtBreak} messages undelivered when a transport broke; ${stalls.length} of those breaks had one older than 5 s` +
    `${stalls.length ? `: ${JSON.stringify(stalls.slice(0, 3))}` : ""}`);
const neverUp = [...epochs.values()].filter((ep) => ep.how === "never-up");
check("connection epochs recorded", epochs.size > 0,
    `${epochs.size} epochs; ${neverUp.length} connections received messages during a (re)connect that then failed ` +
    `(${orphans.length} receipts; judged as broken epochs)${neverUp.length ? `: ${neverUp.slice(0, 3).map((ep) => `${ep.name} ${ep.id}`).join(", ")}` : ""}`);
check("lost = 0 while the transport was unbroken", totals.lost === 0,
    `${totals.lost} lost of ${totals.required} required deliveries`);
check("duplicated = 0", totals.duplicated === 0, `${totals.duplicated}`);
check("out-of-order = 0 (commit order)", totals.reordered === 0, `${totals.reordered}`);
check("unexpected = 0 (nothing uncommitted or rolled back, nothing from before the connection)",
    totals.unexpected + totals.unexpectedEarly + foreign.length === 0,
    `${totals.unexpected} not in the table, ${totals.unexpectedEarly} committed before the connection began, ${foreign.length} foreign texts`);

// ------------------------------------------------------------------------------------------------
// Publishes

const pubs = [...history.filter((h) => h.e === "pub"), ...faults.filter((f) => f.type === "pub").map((f) => ({ ...f, e: "pub" }))];
const pubTags = new Set();
const pubStats = { attempts: 0, acked: 0, failed: 0, hung: 0, ackedMissing: [], failedCommitted: 0, failedAbsent: 0, rolledBack: 0, rolledBackVisible: [], errors: {} };
const byVia = {};
for (const p of pubs) {
    const tag = `${p.p}.${p.s}`;
    pubTags.add(tag);
    pubStats.attempts++;
    const v = (byVia[p.via] ??= { attempts: 0, acked: 0, failed: 0 });
    v.attempts++;
    const inTable = table.has(tag);
    if (p.rolledback) {
        pubStats.rolledBack++;
        if (inTable) pubStats.rolledBackVisible.push(tag);
        continue;
    }
    if (p.ok) {
        pubStats.acked++; v.acked++;
        if (!inTable) pubStats.ackedMissing.push({ tag, via: p.via, at: fmt(p.t1), fault: faultAt(p.t1)?.type ?? null });
    } else {
        pubStats.failed++; v.failed++;
        if (p.hang) pubStats.hung++;
        if (inTable) pubStats.failedCommitted++; else pubStats.failedAbsent++;
        const key = `${p.via}: ${(p.err ?? "").replace(/[0-9a-f]{8,}|\d+/g, "N").slice(0, 120)}`;
        pubStats.errors[key] = (pubStats.errors[key] ?? 0) + 1;
    }
}
pubStats.byVia = byVia;
const unknownInTable = log.filter((m) => !pubTags.has(m.tag)).map((m) => m.tag);
check("every acknowledged publish is in the table", pubStats.ackedMissing.length === 0,
    `${pubStats.acked} acknowledged, ${pubStats.ackedMissing.length} missing ${JSON.stringify(pubStats.ackedMissing.slice(0, 5))}`);
check("every failed publish failed with an explicit error (none hung)", pubStats.hung === 0,
    `${pubStats.failed} failed (${pubStats.failedCommitted} of them committed anyway), ${pubStats.hung} without an answer`);
check("rolled-back publishes never committed", pubStats.rolledBackVisible.length === 0, `${pubStats.rolledBack} rolled back`);
check("every committed message was published by the run", unknownInTable.length === 0, unknownInTable.slice(0, 5).join(", "));

// The slow-commit case (F-12): the held transaction's message has a lower messages.id than
// messages that committed before it; it must be delivered after them, and none of them skipped.
const slowReport = [];
for (const m of log.filter((x) => x.tag.startsWith("slow."))) {
    const overtaken = log.filter((x) => x.id > m.id && x.ord < m.ord).length;
    const got = [...epochs.values()].filter((ep) => ep.recv.some((r) => r.m === m.tag)).length;
    slowReport.push({ tag: m.tag, id: m.id, seq: m.seq, overtaken_by: overtaken, received_by_epochs: got });
}
if (faults.some((f) => f.type === "slow-commit")) {
    check("slow commit: the held transaction was overtaken by later ids and still delivered in commit order",
        slowReport.length > 0 && slowReport.every((r) => r.overtaken_by > 0 && r.received_by_epochs > 0),
        slowReport.map((r) => `${r.tag} (messages.id ${r.id}, commit seq ${r.seq}) overtaken by ${r.overtaken_by} commits, received by ${r.received_by_epochs} connections`).join("; "));
}

// ------------------------------------------------------------------------------------------------
// Breaks, by fault

const allEpochs = [...epochs.values()];
const breaks = allEpochs.filter((ep) => ep.how === "break");
const faultBreaks = new Map(faultList.map((f) => [f, []]));
const spontaneous = [];
for (const ep of breaks) {
    const f = faultAt(ep.t1);
    if (f) faultBreaks.get(f).push(ep);
    else spontaneous.push(ep);
}
const describeBreak = (ep) => `${ep.name}#${ep.k} ${ep.id} at ${fmt(ep.t1)} (${ep.why})`;
for (const type of INVISIBLE) {
    const fs = faultList.filter((f) => f.type === type);
    if (fs.length === 0) continue;
    const bad = fs.flatMap((f) => faultBreaks.get(f).map((ep) => `${describeBreak(ep)} after ${type}${f.mode ? ` ${f.mode}` : ""} at ${fmt(f.t)}`));
    check(`${type}: no client transport broke (${fs.length} injected)`, bad.length === 0,
        `${bad.length} breaks${bad.length ? `: ${bad.slice(0, 6).join("; ")}` : ""}`);
}
for (const f of faultList.filter((x) => x.type === "kill")) {
    f.broke = faultBreaks.get(f).map(describeBreak);
}
{
    const kills = faultList.filter((f) => f.type === "kill");
    if (kills.length) {
        const cross = kills.flatMap((f) => faultBreaks.get(f).filter((ep) => ep.fe !== f.fe).map((ep) => `${describeBreak(ep)} after kill of ${f.pid} (${f.fe})`));
        check(`worker SIGKILL: only clients of that front end broke (${kills.length} kills)`, cross.length === 0, cross.slice(0, 6).join("; "));
        const respawned = kills.filter((f) => f.respawn_t);
        check("worker SIGKILL: the worker was replaced", respawned.length === kills.length,
            `${respawned.length}/${kills.length} replaced; ${kills.filter((f) => !f.respawn_t).map((f) => f.pid).join(", ")}`);
    }
}
for (const f of faultList.filter((x) => x.type === "fe-restart")) {
    const mine = faultBreaks.get(f);
    const other = mine.filter((ep) => ep.fe !== f.fe);
    check(`front-end restart ${f.fe}: the other front end's clients kept their transports`, other.length === 0, other.map(describeBreak).join("; "));
    // every client of that front end that broke is connected again within FE_RECONNECT_MS
    const late = [];
    for (const ep of mine.filter((x) => x.fe === f.fe)) {
        const next = (byClient.get(ep.c) ?? []).find((x) => x.k === ep.k + 1);
        if (!next || next.t0 - f.t > FE_RECONNECT_MS) late.push(`${ep.name} ${next ? `${next.t0 - f.t} ms` : "never"}`);
    }
    f.broke = mine.length;
    f.reconnected_ms = Math.max(0, ...mine.map((ep) => {
        const next = (byClient.get(ep.c) ?? []).find((x) => x.k === ep.k + 1);
        return next ? next.t0 - f.t : Infinity;
    }));
    check(`front-end restart ${f.fe}: its clients are back within ${FE_RECONNECT_MS / 1000} s`, late.length === 0,
        `${mine.length} broke, all back after ${f.reconnected_ms} ms${late.length ? `; late: ${late.join(", ")}` : ""}`);
}
check("no transport broke outside a fault window", spontaneous.length === 0,
    `${spontaneous.length}${spontaneous.length ? `: ${spontaneous.slice(0, 6).map(describeBreak).join("; ")}` : ""}`);

// ------------------------------------------------------------------------------------------------
// Recovery times

/** for the messages of `gap`: first and last receipt by the epochs up across [from, to] */
function deliveryOf(gap, from, to) {
    const witnesses = allEpochs.filter((ep) => ep.t0 <= from && (ep.how === "end" || ep.t1 >= to));
    let first = Infinity;
    let last = -Infinity;
    let missing = 0;
    for (const ep of witnesses) {
        const at = new Map(ep.recv.map((r) => [r.m, r.t]));
        for (const m of gap) {
            const t = at.get(m.tag);
            if (t === undefined) { missing++; continue; }
            first = Math.min(first, t);
            last = Math.max(last, t);
        }
    }
    return { witnesses: witnesses.length, first, last, missing };
}
const recovery = [];
for (const f of faultList.filter((x) => ["pg-restart", "pg-outage", "listen-kill", "pg-pause"].includes(x.type))) {
    const from = f.type === "listen-kill" ? f.t : f.type === "pg-pause" ? f.end_t : f.up_t;
    if (!from) { recovery.push({ fault: f, error: "no recovery time recorded" }); continue; }
    const listenAt = f.listen_t ?? null;
    const listenMs = listenAt ? listenAt - from : null;
    let gap = log.filter((m) => m.cat >= from && listenAt && m.cat <= listenAt);
    if (gap.length === 0) {
        const next = log.find((m) => m.cat >= from);
        gap = next ? [next] : [];
    }
    const d = deliveryOf(gap, f.t, from + BACKLOG_BUDGET_MS + 1000);
    const r = {
        type: f.type, mode: f.mode ?? null, at: fmt(f.t), down_ms: f.up_t ? f.up_t - f.t : (f.end_t ? f.end_t - f.t : null),
        listen_ms: listenMs, gap_messages: gap.length, witnesses: d.witnesses,
        first_delivery_ms: Number.isFinite(d.first) ? d.first - from : null,
        backlog_ms: d.missing === 0 && Number.isFinite(d.last) ? d.last - from : null, missing: d.missing,
    };
    recovery.push(r);
}
for (const type of ["pg-restart", "pg-outage", "listen-kill", "pg-pause"]) {
    const rs = recovery.filter((r) => r.type === type);
    if (rs.length === 0) continue;
    if (type !== "pg-pause") {
        const slow = rs.filter((r) => r.listen_ms === null || r.listen_ms > LISTEN_BUDGET_MS);
        const ls = rs.map((r) => r.listen_ms).filter((x) => x !== null);
        check(`${type}: every LISTEN session back within ${LISTEN_BUDGET_MS} ms`, slow.length === 0,
            `n=${rs.length}, p50 ${pct(ls, 50)} ms, p99 ${pct(ls, 99)} ms, max ${maxOf(ls)} ms${slow.length ? `; over: ${slow.map((r) => `${r.at} ${r.listen_ms}`).join(", ")}` : ""}`);
    }
    const measurable = rs.filter((r) => r.witnesses > 0 && r.gap_messages > 0);
    const slowB = measurable.filter((r) => r.backlog_ms === null || r.backlog_ms > BACKLOG_BUDGET_MS);
    const bs = measurable.map((r) => r.backlog_ms).filter((x) => x !== null);
    const fs = measurable.map((r) => r.first_delivery_ms).filter((x) => x !== null);
    check(`${type}: backlog delivered within ${BACKLOG_BUDGET_MS} ms of ${type === "listen-kill" ? "the kill" : type === "pg-pause" ? "SIGCONT" : "PostgreSQL accepting"}`,
        slowB.length === 0 && measurable.length > 0,
        `measured ${measurable.length}/${rs.length}; first delivery p50 ${pct(fs, 50)} ms max ${maxOf(fs, "-")} ms; ` +
        `all delivered p50 ${pct(bs, 50)} ms p99 ${pct(bs, 99)} ms max ${maxOf(bs, "-")} ms` +
        `${slowB.length ? `; over: ${slowB.slice(0, 5).map((r) => `${r.at} ${r.backlog_ms ?? `${r.missing} missing`}`).join(", ")}` : ""}`);
}

// ------------------------------------------------------------------------------------------------
// Held requests across the long outage (SSE observers' Pings; no transport broke: checked above)

const pings = history.filter((h) => h.e === "ping");
const obsEvents = history.filter((h) => h.e === "obs");
const outages = faultList.filter((f) => f.type === "pg-outage");
const heldReport = [];
for (const f of outages) {
    const until = f.up_t ?? f.t;
    const issues = [];
    for (const o of [...new Set(obsEvents.map((x) => x.o))]) {
        const opened = obsEvents.filter((x) => x.o === o && x.what === "open" && x.t < f.t).at(-1);
        if (!opened) { issues.push(`observer ${o}: no stream open at the outage`); continue; }
        const ended = obsEvents.find((x) => x.o === o && x.n === opened.n && x.what === "end" && x.t <= until + 8000);
        if (ended) issues.push(`observer ${o}: stream ended at ${fmt(ended.t)}`);
        const ts = [f.t, ...pings.filter((p) => p.o === o && p.n === opened.n && p.t >= f.t && p.t <= until).map((p) => p.t), until];
        let maxGap = 0;
        for (let i = 1; i < ts.length; i++) maxGap = Math.max(maxGap, ts[i] - ts[i - 1]);
        const n = ts.length - 2;
        heldReport.push({ outage_s: Math.round((until - f.t) / 1000), observer: o, pings: n, max_gap_ms: maxGap });
        if (maxGap > KEEPALIVE_MS + 2000) issues.push(`observer ${o}: ${n} Pings, longest silence ${maxGap} ms`);
    }
    const heldEpochs = allEpochs.filter((ep) => ep.t0 < f.t && ep.t1 > until);
    const brokeIn = allEpochs.filter((ep) => ep.t0 < f.t && ep.how === "break" && ep.t1 >= f.t && ep.t1 <= until + 8000);
    check(`outage of ${Math.round((until - f.t) / 1000)} s: SSE streams stay open and keep pinging, no client transport breaks`,
        issues.length === 0 && brokeIn.length === 0,
        `${heldEpochs.length} client connections held through it; ${brokeIn.length} broke${brokeIn.length ? `: ${brokeIn.slice(0, 6).map(describeBreak).join("; ")}` : ""}` +
        `; pings ${JSON.stringify(heldReport.filter((h) => h.outage_s === Math.round((until - f.t) / 1000)))}${issues.length ? `; ${issues.join("; ")}` : ""}`);
}

// ------------------------------------------------------------------------------------------------
// Resources

const res = faults.filter((f) => f.type === "res");
const resReport = [];
for (const pair of (settings.res_pairs ?? [["res-before", "res-after"]])) {
    const [a, b] = pair;
    const before = new Map(res.filter((r) => r.phase === a).map((r) => [r.pid, r]));
    const after = res.filter((r) => r.phase === b);
    const rows = after.filter((r) => before.has(r.pid)).map((r) => {
        const x = before.get(r.pid);
        return { pid: r.pid, fe: r.fe, fds_before: x.fds, fds_after: r.fds, fds_all_before: x.fds_all ?? null, fds_all_after: r.fds_all ?? null,
            rss_kb_before: x.rss_kb, rss_kb_after: r.rss_kb,
            rss_growth_pct: Math.round(((r.rss_kb - x.rss_kb) / x.rss_kb) * 1000) / 10 };
    });
    resReport.push({ from: a, to: b, cycles: settings[`cycles_${b}`] ?? null, workers: rows });
    if (rows.length === 0) {
        check(`no descriptor or memory growth (${a} → ${b})`, false, "no worker lived through the whole phase");
        continue;
    }
    const fdBad = rows.filter((r) => r.fds_after > r.fds_before + FD_TOL);
    const rssBad = rows.filter((r) => r.rss_growth_pct > RSS_TOL_PCT);
    check(`no descriptor growth over ${settings[`cycles_${b}`] ?? "the"} restart cycles (tolerance +${FD_TOL})`, fdBad.length === 0,
        "descriptors other than request connections: " + rows.map((r) => `${r.fe}/${r.pid} ${r.fds_before}→${r.fds_after}` +
            `${r.fds_all_before !== null ? ` (all ${r.fds_all_before}→${r.fds_all_after})` : ""}`).join(", "));
    check(`no memory growth over ${settings[`cycles_${b}`] ?? "the"} restart cycles (RSS ≤ +${RSS_TOL_PCT}%)`, rssBad.length === 0,
        rows.map((r) => `${r.fe}/${r.pid} ${r.rss_kb_before}→${r.rss_kb_after} kB (${r.rss_growth_pct}%)`).join(", "));
}

// ------------------------------------------------------------------------------------------------
// Report

const faultCounts = {};
for (const f of faultList) {
    const k = f.type + (f.mode ? ` ${f.mode}` : "");
    faultCounts[k] = (faultCounts[k] ?? 0) + 1;
}
const breakCounts = {};
for (const [f, eps] of faultBreaks) {
    const k = f.type + (f.mode ? ` ${f.mode}` : "");
    breakCounts[k] = (breakCounts[k] ?? 0) + eps.length;
}
const stat = (arr) => ({ n: arr.length, p50: pct(arr, 50), p99: pct(arr, 99), max: maxOf(arr, null) });
const report = {
    run: config.run, duration_s: history.length ? Math.round((lastT - history[0].t) / 1000) : 0,
    faults: faultCounts, breaks_by_fault: breakCounts, spontaneous_breaks: spontaneous.length,
    messages: { committed: log.length, deliveries_checked: totals.received, required: totals.required },
    totals, publishes: pubStats, latency_ms: { all: stat(latencies), outside_faults: stat(latenciesQuiet) },
    recovery, held: heldReport, resources: resReport, slow_commits: slowReport,
    stalls_before_break: stalls.slice(0, 20), stalls_count: stalls.length,
    problems: problems.slice(0, 50), problem_epochs: problems.length,
    fe_restarts: faultList.filter((f) => f.type === "fe-restart").map((f) => ({ fe: f.fe, at: fmt(f.t), down_ms: f.up_t - f.t, broke: f.broke, all_back_ms: f.reconnected_ms })),
    kills: faultList.filter((f) => f.type === "kill").map((f) => ({ fe: f.fe, pid: f.pid, at: fmt(f.t), respawn_ms: f.respawn_t ? f.respawn_t - f.t : null, broke: f.broke?.length ?? 0 })),
    checks,
};
writeFileSync(path.join(dir, "report.json"), JSON.stringify(report, null, 2));

const lines = [];
lines.push(`fault-suite report, run ${config.run}, ${report.duration_s} s of history`);
lines.push(`faults injected: ${Object.entries(faultCounts).map(([k, v]) => `${k} ×${v}`).join(", ") || "none"}`);
lines.push(`messages: ${log.length} committed; ${pubStats.attempts} publish attempts (${Object.entries(byVia).map(([k, v]) => `${k}: ${v.acked} acked / ${v.failed} failed`).join(", ")}); ` +
    `${pubStats.failedCommitted} failed-but-committed`);
lines.push(`deliveries checked: ${totals.received} in ${totals.epochs} connection epochs (${totals.unbroken} unbroken to the end, ${totals.broken} broken); ` +
    `required ${totals.required}`);
lines.push(`lost ${totals.lost}, duplicated ${totals.duplicated}, out-of-order ${totals.reordered}, unexpected ${totals.unexpected + totals.unexpectedEarly}; ` +
    `undelivered at a break ${totals.undeliveredAtBreak} (not losses under G1; ${stalls.length} breaks with an undelivered message older than 5 s)`);
lines.push(`transport breaks by fault: ${Object.entries(breakCounts).map(([k, v]) => `${k}: ${v}`).join(", ")}; outside any fault: ${spontaneous.length}`);
lines.push(`latency commit→receipt: all ${JSON.stringify(report.latency_ms.all)}; outside faults ${JSON.stringify(report.latency_ms.outside_faults)}`);
for (const type of ["pg-restart", "pg-outage", "listen-kill", "pg-pause"]) {
    const rs = recovery.filter((r) => r.type === type);
    if (!rs.length) continue;
    const l = rs.map((r) => r.listen_ms).filter((x) => x !== null);
    const b = rs.map((r) => r.backlog_ms).filter((x) => x !== null);
    const f1 = rs.map((r) => r.first_delivery_ms).filter((x) => x !== null);
    const d = rs.map((r) => r.down_ms).filter((x) => x !== null);
    lines.push(`recovery ${type} (n=${rs.length}): down p50 ${pct(d, 50)} max ${maxOf(d, "-")} ms; LISTEN back p50 ${pct(l, 50)} p99 ${pct(l, 99)} max ${maxOf(l, "-")} ms; ` +
        `first gap delivery p50 ${pct(f1, 50)} max ${maxOf(f1, "-")} ms; backlog delivered p50 ${pct(b, 50)} p99 ${pct(b, 99)} max ${maxOf(b, "-")} ms`);
}
if (report.kills.length) {
    const rs = report.kills.map((k) => k.respawn_ms).filter((x) => x !== null);
    lines.push(`worker kills: ${report.kills.length}, replaced after p50 ${pct(rs, 50)} max ${maxOf(rs, "-")} ms; clients that reconnected per kill: ${report.kills.map((k) => k.broke).join(" ")}`);
}
for (const f of report.fe_restarts) lines.push(`front-end restart ${f.fe} at ${f.at}: down ${f.down_ms} ms, ${f.broke} connections broke, all back after ${f.all_back_ms} ms`);
{
    const phases = [...new Set(res.map((r) => r.phase))];
    for (const pid of [...new Set(res.map((r) => r.pid))]) {
        const rows = phases.map((ph) => res.find((r) => r.pid === pid && r.phase === ph)).filter(Boolean);
        if (rows.length > 2) lines.push(`worker ${rows[0].fe}/${pid} samples: ${rows.map((r) => `${r.phase} ${r.fds} fds (all ${r.fds_all ?? "?"}) ${r.rss_kb} kB`).join("; ")}`);
    }
}
for (const r of resReport) {
    for (const w of r.workers) lines.push(`worker ${w.fe}/${w.pid} over ${r.cycles ?? "?"} restart cycles: own fds ${w.fds_before}→${w.fds_after} (all ${w.fds_all_before ?? "?"}→${w.fds_all_after ?? "?"}), RSS ${w.rss_kb_before}→${w.rss_kb_after} kB (${w.rss_growth_pct}%)`);
}
if (Object.keys(pubStats.errors).length) {
    lines.push("publish errors:");
    for (const [k, v] of Object.entries(pubStats.errors).sort((a, b) => b[1] - a[1]).slice(0, 12)) lines.push(`  ${v} × ${k}`);
}
if (problems.length) {
    lines.push(`epochs with violations (${problems.length}, first 10):`);
    for (const p of problems.slice(0, 10)) lines.push(`  ${JSON.stringify(p)}`);
}
if (stalls.length) {
    lines.push(`breaks with an undelivered message older than 5 s (${stalls.length}, first 5):`);
    for (const s of stalls.slice(0, 5)) lines.push(`  ${JSON.stringify(s)}`);
}
lines.push("");
for (const c of checks) lines.push(`CHECK ${c.ok ? "ok  " : "FAIL"} ${c.name}${c.detail ? ` — ${c.detail}` : ""}`);
const failed = checks.filter((c) => !c.ok).length;
lines.push(`checker: ${checks.length - failed} passed, ${failed} failed`);
const text = lines.join("\n");
writeFileSync(path.join(dir, "report.txt"), text + "\n");
console.log(text);
process.exit(failed ? 1 : 0);
