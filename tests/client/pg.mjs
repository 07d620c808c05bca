// pg.mjs — what the delivery suite needs besides HTTP: psql against the test database (the PG*
// variables scripts/test.sh exports), a psql session kept open across awaits (an open
// transaction), the test cluster's stop/start through scripts/lib.sh (SR_TEST_LIB,
// SR_TEST_PGDATA), and the worker processes of the test's lighttpd (SR_TEST_LIGHTTPD_PID).
// Every call has a deadline.

import { execFile, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

const PSQL_ARGS = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"];

/** true when the suite was given what it needs to reach and restart the database */
export const havePg = Boolean(process.env.PGHOST && process.env.PGDATABASE);
export const haveCluster = havePg && Boolean(process.env.SR_TEST_LIB && process.env.SR_TEST_PGDATA);
export const lighttpdPid = Number(process.env.SR_TEST_LIGHTTPD_PID) || undefined;

function run(file, args, { timeout = 15000, input } = {}) {
    return new Promise((resolve, reject) => {
        const child = execFile(file, args, { timeout, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
            if (err) {
                err.message += `\n${file} ${args.join(" ")}\nstderr: ${stderr}`;
                reject(err);
            } else {
                resolve(stdout);
            }
        });
        if (input !== undefined) child.stdin.end(input);
    });
}

/** runs SQL (one or more statements) in its own session; resolves with psql's unaligned output */
export async function psql(sql, opts = {}) {
    return (await run("psql", [...PSQL_ARGS, "-c", sql], opts)).trim();
}

/** SQL text literal */
export const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;

/** INSERT of a hub message for every connection of `hub`: target(...args) */
export function insertAllSql(hub, target, args) {
    const frame = JSON.stringify({ type: 1, target, arguments: args });
    return `INSERT INTO signalr.messages (hub, kind, body) VALUES (${lit(hub)}, 'all', ${lit(frame)} || chr(30))`;
}

/**
 * One psql process kept open: run() sends statements and resolves once psql has executed them
 * (a \echo marker after them comes back), so a transaction can be left open between awaits.
 */
export class PsqlSession {
    constructor() {
        this.out = "";
        this.err = "";
        this.seq = 0;
        this.exited = null;
        this.waiters = new Set();
        this.child = spawn("psql", PSQL_ARGS, { stdio: ["pipe", "pipe", "pipe"] });
        this.child.stdout.setEncoding("utf8").on("data", (d) => { this.out += d; this.wake(); });
        this.child.stderr.setEncoding("utf8").on("data", (d) => { this.err += d; });
        this.child.on("exit", (code, signal) => { this.exited = { code, signal }; this.wake(); });
        this.child.on("error", (err) => { this.exited = { error: err.message }; this.wake(); });
    }

    wake() {
        for (const w of this.waiters) w();
    }

    /** executes `sql`; resolves with the output it produced */
    run(sql, ms = 15000) {
        const mark = `__psql_done_${++this.seq}__`;
        const start = this.out.length;
        this.child.stdin.write(`${sql.trim().replace(/;?$/, ";")}\n\\echo ${mark}\n`);
        return new Promise((resolve, reject) => {
            const check = () => {
                const i = this.out.indexOf(mark, start);
                if (i >= 0) {
                    done();
                    resolve(this.out.slice(start, i).trim());
                } else if (this.exited) {
                    done();
                    reject(new Error(`psql exited (${JSON.stringify(this.exited)}) running ${sql}: ${this.err}`));
                }
            };
            const timer = setTimeout(() => {
                done();
                reject(new Error(`psql did not finish within ${ms} ms: ${sql}; stderr: ${this.err}`));
            }, ms);
            const done = () => {
                clearTimeout(timer);
                this.waiters.delete(check);
            };
            this.waiters.add(check);
            check();
        });
    }

    /** ends the session (an open transaction is rolled back by the server) */
    async close() {
        if (this.exited) return;
        this.child.stdin.end("\\q\n");
        const deadline = Date.now() + 5000;
        while (!this.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        if (!this.exited) this.child.kill("SIGKILL"); // our own child, by its handle
    }
}

/** pids of the workers' LISTEN sessions (application_name 'signalr-fcgi loop') */
export async function loopSessions() {
    const out = await psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'signalr-fcgi loop' ORDER BY pid");
    return out === "" ? [] : out.split("\n").map(Number);
}

/** pg_terminate_backend on every LISTEN session of the workers; resolves with the pids */
export async function terminateLoopSessions() {
    // the CTE is evaluated first, so pg_terminate_backend only ever sees those sessions
    const out = await psql("WITH s AS MATERIALIZED (SELECT pid FROM pg_stat_activity " +
        "WHERE application_name = 'signalr-fcgi loop') SELECT pid FROM s WHERE pg_terminate_backend(pid) ORDER BY pid");
    return out === "" ? [] : out.split("\n").map(Number);
}

function libsh(fn, timeout) {
    return run("bash", ["-c", '. "$1" && pg_attach "$2" && "$3"', "bash",
        process.env.SR_TEST_LIB, process.env.SR_TEST_PGDATA, fn], { timeout });
}

/** stops the test cluster (fast shutdown; data, port and socket kept): lib.sh pg_pause */
export const pgPause = () => libsh("pg_pause", 40000);
/** starts it again: lib.sh pg_resume */
export const pgResume = () => libsh("pg_resume", 70000);

/** true while the cluster accepts connections */
export async function pgUp() {
    try {
        await run("psql", [...PSQL_ARGS, "-c", "SELECT 1"], { timeout: 5000 });
        return true;
    } catch {
        return false;
    }
}

/** the direct children of `pid` (from /proc) */
export function childPids(pid) {
    const kids = [];
    let tasks = [];
    try {
        tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
        return kids;
    }
    for (const task of tasks) {
        try {
            kids.push(...readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").split(/\s+/).filter(Boolean).map(Number));
        } catch { /* task ended */ }
    }
    return kids;
}

/** the signalr-fcgi workers lighttpd (SR_TEST_LIGHTTPD_PID) spawned */
export function workerPids() {
    if (!lighttpdPid) return [];
    return childPids(lighttpdPid).filter((p) => {
        try {
            return readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")[0].endsWith("signalr-fcgi");
        } catch {
            return false;
        }
    });
}
