// outside.test.mjs — pushing to clients from outside a hub (issue 7): the SQL functions of
// sql/migrations/0005_api.sql through psql, the REST API of src/sr_restapi.c (Azure SignalR
// Service's data-plane paths, hub-features.md §E–§F) with plain fetch, the command line
// `signalr-fcgi send|group|close|exists` (src/sr_cli.c), and the README's snippets — each time
// with the real @microsoft/signalr client on /Hubs/Test (or /Hubs/ChatRoom) receiving.
//
// Needs: SIGNALR_URL (the server, with SIGNALR_TEST_HUBS=1), the PG* variables of its database
// (scripts/test.sh and tests/outside/run.sh export them), SIGNALR_API_KEY (the workers' access
// key; the REST API is mounted at /api/ only when it is set, and the web server must route /api/
// to the workers), and the built binary (SIGNALR_BIN, default src/signalr-fcgi).  The SQL
// functions run over both transports (SIGNALR_TRANSPORT=LongPolling|ServerSentEvents restricts
// them to one); the REST and command-line tests mix the two transports among their clients.
//
// "Somebody did not get it" is checked without sleeping: after the send that must miss a
// connection, a marker is sent to that connection (send_connection) and awaited there; delivery
// to one connection follows the message log's order, so a message that had not arrived before
// the marker was never going to arrive.  Every wait has a deadline.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BASE, Inbox, connect, tag } from "./helpers.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const TOP = resolve(HERE, "../..");
const BIN = process.env.SIGNALR_BIN ?? join(TOP, "src/signalr-fcgi");
const API_KEY = process.env.SIGNALR_API_KEY ?? "";
const BOTH = ["ServerSentEvents", "LongPolling"];
const TRANSPORTS = BOTH.includes(process.env.SIGNALR_TRANSPORT) ? [process.env.SIGNALR_TRANSPORT] : BOTH;
/** a message sent now must arrive within this */
const WAIT = 10000;
const T = { timeout: 60000 };
const HUB = "Test";
const METHOD = "Outside"; // the client method every push here calls
const CLOSE_PREFIX = "Server returned an error on close: ";

// ------------------------------------------------------------------------------------------------
// Processes

/** runs a program; resolves with { code, stdout, stderr } (a non-zero exit is not an error) */
function run(file, args, { input, env, timeout = 20000 } = {}) {
    return new Promise((resolveRun, reject) => {
        const child = execFile(file, args, { timeout, maxBuffer: 4 << 20, env: env ?? process.env },
            (err, stdout, stderr) => {
                if (err && typeof err.code !== "number") {
                    err.message += `\n${file} ${args.join(" ")}\nstderr: ${stderr}`;
                    reject(err);
                    return;
                }
                resolveRun({ code: err ? err.code : 0, stdout, stderr });
            });
        /* A program that exits before reading its input (a usage error) closes the pipe first. */
        child.stdin.on("error", () => {});
        child.stdin.end(input ?? "");
    });
}

const PSQL = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"];

/** psql script (statements on stdin, in order); resolves with { code, stdout, stderr } */
const psqlRun = (sql) => run("psql", [...PSQL, "-f", "-"], { input: sql });

/** runs SQL that must succeed; resolves with its unaligned output */
async function sql(text) {
    const r = await psqlRun(text);
    if (r.code !== 0) throw new Error(`psql failed (${r.code}) on: ${text}\n${r.stderr}`);
    return r.stdout.trim();
}

/** runs SQL that must fail; resolves with psql's error text (verbose: "ERROR:  SQLSTATE: message") */
async function sqlError(text) {
    const r = await psqlRun(`\\set VERBOSITY verbose\n${text}`);
    assert.notEqual(r.code, 0, `expected an error from: ${text}; got output ${JSON.stringify(r.stdout)}`);
    return r.stderr;
}

/** SQL literals */
const lit = (s) => (s === null || s === undefined ? "NULL" : `'${String(s).replace(/'/g, "''")}'`);
const jsonb = (v) => `${lit(JSON.stringify(v))}::jsonb`;
const textArray = (a) => (a ? `ARRAY[${a.map(lit).join(", ")}]::text[]` : "NULL");

/** `signalr-fcgi ARGS...` with the suite's PG* environment */
const cli = (...args) => run(BIN, args);

// ------------------------------------------------------------------------------------------------
// Clients

/** a client on /Hubs/<hub> over `transport` (as user `user`, through the test hub's ?user=) with
 *  an Inbox on `method`; records its close in `closed` */
async function client(t, transport, { user, hub = HUB, method = METHOD } = {}) {
    const conn = await connect(t, hub, {}, {
        transport, query: user ? `?user=${encodeURIComponent(user)}` : "",
    });
    conn.id = conn.connectionId; // connectionId turns null once the connection is closed
    conn.inbox = new Inbox(conn, method);
    conn.closed = new Promise((r) => conn.onclose((err) => r(err ?? null)));
    conn.transport = transport;
    return conn;
}

/** clients over alternating transports (the REST and CLI tests cover both this way) */
let flip = 0;
const nextTransport = () => TRANSPORTS[flip++ % TRANSPORTS.length];

/** waits for Outside(label, id) on conn */
const got = (conn, label, id) => conn.inbox.waitFor((l, i) => l === label && i === id, WAIT,
    `${label} ${id} on ${conn.id} (${conn.transport})`);

/** how many Outside(label, id) conn received */
const count = (conn, label, id) => conn.inbox.matching((l, i) => l === label && i === id).length;

/**
 * The fence: a marker sent to each conn (send_connection) after whatever must have missed them,
 * and awaited there; then none of them may hold Outside(label, id).
 */
async function assertMissed(conns, label, id) {
    const m = tag();
    for (const c of conns) await sql(`SELECT signalr.send_connection('${HUB}', ${lit(c.id)}, '${METHOD}', ${jsonb(["marker", m])})`);
    for (const c of conns) {
        await got(c, "marker", m);
        assert.equal(count(c, label, id), 0, `${c.id} (${c.transport}) received ${label} ${id} but should not have`);
    }
}

/** the close of conn, with a deadline; resolves with the Error the client's onclose got */
async function closeOf(conn, what = "the close") {
    let timer;
    const deadline = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no onclose within ${WAIT} ms for ${what} of ${conn.id} (${conn.transport})`)), WAIT);
    });
    try {
        return await Promise.race([conn.closed, deadline]);
    } finally {
        clearTimeout(timer);
    }
}

/** asserts conn was closed with `reason` */
async function assertClosedWith(conn, reason) {
    const err = await closeOf(conn);
    assert.ok(err instanceof Error, `onclose got ${err} instead of an error`);
    assert.equal(err.message, CLOSE_PREFIX + reason);
}

/** polls a condition until it holds (the server's bookkeeping that follows a close), or fails */
async function eventually(what, fn, ms = WAIT) {
    const deadline = Date.now() + ms;
    let last;
    for (;;) {
        last = await fn();
        if (last === true) return;
        if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)} after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

const bool = async (q) => {
    const out = await sql(`SELECT ${q}`);
    assert.ok(out === "t" || out === "f", `${q} answered ${JSON.stringify(out)}`);
    return out === "t";
};

/** a connection id nobody has (valid format) */
const unknownId = () => randomBytes(16).toString("base64url");

function requirePg() {
    if (!process.env.PGHOST && !process.env.PGDATABASE && !process.env.PGPORT) {
        throw new Error("this suite runs psql and the command line against the server's database: " +
            "set the PG* variables (scripts/test.sh and tests/outside/run.sh export them)");
    }
}

// ------------------------------------------------------------------------------------------------
// 1. The SQL functions (0005_api.sql)

const S = (text) => sql(`SELECT ${text}`);

for (const transport of TRANSPORTS) {
    describe(`SQL functions, ${transport}`, () => {
        before(requirePg);

        test("send_all reaches every connection; excluded ones miss it", T, async (t) => {
            const a = await client(t, transport), b = await client(t, transport), c = await client(t, transport);
            const id = tag();
            await S(`signalr.send_all('${HUB}', '${METHOD}', ${jsonb(["all", id])})`);
            await Promise.all([a, b, c].map((x) => got(x, "all", id)));
            const id2 = tag();
            await S(`signalr.send_all('${HUB}', '${METHOD}', ${jsonb(["all-but", id2])}, ${textArray([a.id, b.id])})`);
            await got(c, "all-but", id2);
            await assertMissed([a, b], "all-but", id2);
            // by path too, and the arguments arrive as JSON values of any type
            const id3 = tag();
            await S(`signalr.send_all('/Hubs/${HUB}', '${METHOD}', ${jsonb(["typed", id3, 1.5, null, { k: [true] }])})`);
            const args = await got(a, "typed", id3);
            assert.deepEqual(args, ["typed", id3, 1.5, null, { k: [true] }]);
        });

        test("send_user reaches both connections of the user and nobody else", T, async (t) => {
            const user = `u-${tag()}`;
            const a1 = await client(t, transport, { user }), a2 = await client(t, transport, { user });
            const other = await client(t, transport, { user: `${user}-other` });
            const id = tag();
            await S(`signalr.send_user('test', ${lit(user)}, '${METHOD}', ${jsonb(["user", id])})`);
            await Promise.all([got(a1, "user", id), got(a2, "user", id)]);
            await assertMissed([other], "user", id);
        });

        test("send_group reaches the members; excluded members and non-members miss it", T, async (t) => {
            const g = `g-${tag()}`;
            const a = await client(t, transport), b = await client(t, transport), outsider = await client(t, transport);
            assert.equal(await S(`signalr.add_to_group('${HUB}', ${lit(a.id)}, ${lit(g)})`), "t");
            assert.equal(await S(`signalr.add_to_group('${HUB}', ${lit(b.id)}, ${lit(g)})`), "t");
            const id = tag();
            await S(`signalr.send_group('${HUB}', ${lit(g)}, '${METHOD}', ${jsonb(["group", id])})`);
            await Promise.all([got(a, "group", id), got(b, "group", id)]);
            await assertMissed([outsider], "group", id);
            const id2 = tag();
            await S(`signalr.send_group('${HUB}', ${lit(g)}, '${METHOD}', ${jsonb(["group-but", id2])}, ${textArray([b.id])})`);
            await got(a, "group-but", id2);
            await assertMissed([b, outsider], "group-but", id2);
        });

        test("send_connection reaches that connection only", T, async (t) => {
            const a = await client(t, transport), b = await client(t, transport);
            const id = tag();
            await S(`signalr.send_connection('${HUB}', ${lit(a.id)}, '${METHOD}', ${jsonb(["one", id])})`);
            await got(a, "one", id);
            await assertMissed([b], "one", id);
        });

        test("add_to_group / remove_from_group / remove_from_all_groups, then send_group", T, async (t) => {
            const g = `g-${tag()}`, g2 = `g2-${tag()}`;
            const a = await client(t, transport);
            assert.equal(await S(`signalr.add_to_group('${HUB}', ${lit(a.id)}, ${lit(g)})`), "t");
            assert.equal(await S(`signalr.group_exists('${HUB}', ${lit(g)})`), "t");
            const id = tag();
            await S(`signalr.send_group('${HUB}', ${lit(g)}, '${METHOD}', ${jsonb(["in", id])})`);
            await got(a, "in", id);

            assert.equal(await S(`signalr.remove_from_group('${HUB}', ${lit(a.id)}, ${lit(g)})`), "t");
            assert.equal(await S(`signalr.remove_from_group('${HUB}', ${lit(a.id)}, ${lit(g)})`), "f", "not a member any more");
            assert.equal(await S(`signalr.group_exists('${HUB}', ${lit(g)})`), "f");
            const id2 = tag();
            await S(`signalr.send_group('${HUB}', ${lit(g)}, '${METHOD}', ${jsonb(["out", id2])})`);
            await assertMissed([a], "out", id2);

            // two groups, then out of all of them at once
            await S(`signalr.add_to_group('${HUB}', ${lit(a.id)}, ${lit(g)})`);
            await S(`signalr.add_to_group('${HUB}', ${lit(a.id)}, ${lit(g2)})`);
            assert.equal(await S(`signalr.remove_from_all_groups('${HUB}', ${lit(a.id)})`), "2");
            const id3 = tag();
            await S(`signalr.send_group('${HUB}', ${lit(g)}, '${METHOD}', ${jsonb(["out", id3])})`);
            await S(`signalr.send_group('${HUB}', ${lit(g2)}, '${METHOD}', ${jsonb(["out", id3])})`);
            await assertMissed([a], "out", id3);

            assert.equal(await S(`signalr.add_to_group('${HUB}', ${lit(unknownId())}, ${lit(g)})`), "f", "an unknown connection");
        });

        test("add_user_to_group: the user's connections now and later are members; remove_user_from_group", T, async (t) => {
            const user = `u-${tag()}`, g = `g-${tag()}`;
            const early = await client(t, transport, { user });
            await S(`signalr.add_user_to_group('${HUB}', ${lit(user)}, ${lit(g)})`);
            assert.equal(await S(`signalr.user_in_group('${HUB}', ${lit(user)}, ${lit(g)})`), "t");
            const later = await client(t, transport, { user });
            const other = await client(t, transport, { user: `${user}-other` });
            const id = tag();
            await S(`signalr.send_group('${HUB}', ${lit(g)}, '${METHOD}', ${jsonb(["ug", id])})`);
            await Promise.all([got(early, "ug", id), got(later, "ug", id)]);
            await assertMissed([other], "ug", id);

            await S(`signalr.remove_user_from_group('${HUB}', ${lit(user)}, ${lit(g)})`);
            assert.equal(await S(`signalr.user_in_group('${HUB}', ${lit(user)}, ${lit(g)})`), "f");
            const id2 = tag();
            await S(`signalr.send_group('${HUB}', ${lit(g)}, '${METHOD}', ${jsonb(["ug-out", id2])})`);
            const last = await client(t, transport, { user }); // opened after the removal
            await S(`signalr.send_group('${HUB}', ${lit(g)}, '${METHOD}', ${jsonb(["ug-out", id2])})`);
            await assertMissed([early, later, last], "ug-out", id2);
        });

        test("remove_user_from_all_groups", T, async (t) => {
            const user = `u-${tag()}`, g1 = `g1-${tag()}`, g2 = `g2-${tag()}`;
            const a = await client(t, transport, { user });
            await S(`signalr.add_user_to_group('${HUB}', ${lit(user)}, ${lit(g1)})`);
            await S(`signalr.add_user_to_group('${HUB}', ${lit(user)}, ${lit(g2)})`);
            await S(`signalr.remove_user_from_all_groups('${HUB}', ${lit(user)})`);
            assert.equal(await S(`signalr.user_in_group('${HUB}', ${lit(user)}, ${lit(g1)})`), "f");
            assert.equal(await S(`signalr.user_in_group('${HUB}', ${lit(user)}, ${lit(g2)})`), "f");
            const later = await client(t, transport, { user });
            const id = tag();
            await S(`signalr.send_group('${HUB}', ${lit(g1)}, '${METHOD}', ${jsonb(["x", id])})`);
            await S(`signalr.send_group('${HUB}', ${lit(g2)}, '${METHOD}', ${jsonb(["x", id])})`);
            await assertMissed([a, later], "x", id);
        });

        test("close_connection: the client's onclose gets the reason; without a reason, no error", T, async (t) => {
            const a = await client(t, transport), b = await client(t, transport), c = await client(t, transport);
            const reason = `closed from psql ${tag()}`;
            assert.equal(await S(`signalr.close_connection('${HUB}', ${lit(a.id)}, ${lit(reason)})`), "t");
            await assertClosedWith(a, reason);
            assert.equal(await S(`signalr.close_connection('${HUB}', ${lit(c.id)})`), "t");
            assert.equal(await closeOf(c, "the reasonless close"), null, "a close without a reason is not an error");
            // the others stay connected
            const id = tag();
            await S(`signalr.send_connection('${HUB}', ${lit(b.id)}, '${METHOD}', ${jsonb(["still", id])})`);
            await got(b, "still", id);
            await eventually(`connection_exists(${a.id}) after the close`, () => bool(`signalr.connection_exists('${HUB}', ${lit(a.id)})`).then((v) => !v));
            assert.equal(await S(`signalr.close_connection('${HUB}', ${lit(a.id)}, 'again')`), "f", "closing a closed connection");
            assert.equal(await S(`signalr.close_connection('${HUB}', ${lit(unknownId())})`), "f", "closing an unknown connection");
        });

        test("connection_exists, user_exists, group_exists, user_in_group", T, async (t) => {
            const user = `u-${tag()}`, g = `g-${tag()}`;
            const a = await client(t, transport, { user });
            assert.equal(await bool(`signalr.connection_exists('${HUB}', ${lit(a.id)})`), true);
            assert.equal(await bool(`signalr.connection_exists('test', ${lit(a.id)})`), true, "by name, any case");
            assert.equal(await bool(`signalr.connection_exists('ChatRoom', ${lit(a.id)})`), false, "another hub");
            assert.equal(await bool(`signalr.connection_exists('${HUB}', ${lit(unknownId())})`), false);
            assert.equal(await bool(`signalr.user_exists('${HUB}', ${lit(user)})`), true);
            assert.equal(await bool(`signalr.user_exists('${HUB}', ${lit(`${user}-nobody`)})`), false);
            assert.equal(await bool(`signalr.group_exists('${HUB}', ${lit(g)})`), false);
            assert.equal(await bool(`signalr.user_in_group('${HUB}', ${lit(user)}, ${lit(g)})`), false);
            await S(`signalr.add_to_group('${HUB}', ${lit(a.id)}, ${lit(g)})`);
            assert.equal(await bool(`signalr.group_exists('${HUB}', ${lit(g)})`), true);
            assert.equal(await bool(`signalr.user_in_group('${HUB}', ${lit(user)}, ${lit(g)})`), true, "through the connection's membership");
            await a.stop();
            await eventually("connection_exists after stop()", () => bool(`signalr.connection_exists('${HUB}', ${lit(a.id)})`).then((v) => !v));
            assert.equal(await bool(`signalr.user_exists('${HUB}', ${lit(user)})`), false, "the user's only connection ended");
            assert.equal(await bool(`signalr.group_exists('${HUB}', ${lit(g)})`), false, "the group's only member ended");
        });

        test("a rolled-back send is never delivered; the committed one after it is", T, async (t) => {
            const a = await client(t, transport);
            const id = tag();
            await sql(`BEGIN;
SELECT signalr.send_all('${HUB}', '${METHOD}', ${jsonb(["rolled back", id])});
SELECT signalr.send_connection('${HUB}', ${lit(a.id)}, '${METHOD}', ${jsonb(["rolled back", id])});
ROLLBACK;
BEGIN;
SELECT signalr.send_all('${HUB}', '${METHOD}', ${jsonb(["committed", id])});
COMMIT;`);
            await got(a, "committed", id);
            assert.equal(count(a, "rolled back", id), 0, "a send of a rolled-back transaction arrived");
            // and the marker of the fence proves nothing was merely late
            await assertMissed([a], "rolled back", id);
        });
    });
}

describe("SQL functions: validation", () => {
    before(requirePg);
    const cases = [
        ["a bad hub name", `signalr.send_all('9bad', 'X', '[]')`,
            'signalr: invalid hub name "9bad": letters, digits and underscores, starting with a letter'],
        ["an empty hub name", `signalr.send_all('', 'X', '[]')`,
            "signalr: a hub name or path is required (1 to 256 characters)"],
        ["arguments that are an object", `signalr.send_all('${HUB}', 'X', '{"a":1}')`,
            "signalr: arguments must be a JSON array, not object"],
        ["arguments that are a string", `signalr.send_user('${HUB}', 'u', 'X', '"text"')`,
            "signalr: arguments must be a JSON array, not string"],
        ["an empty target", `signalr.send_all('${HUB}', '', '[]')`,
            "signalr: a client method name is required (1 to 256 characters)"],
        ["an empty group name", `signalr.send_group('${HUB}', '', 'X', '[]')`,
            "signalr: invalid group name: 1 to 256 bytes without control characters"],
        ["a group name with a control character", `signalr.add_to_group('${HUB}', '${"A".repeat(22)}', E'a\\nb')`,
            "signalr: invalid group name: 1 to 256 bytes without control characters"],
        ["a bad connection id", `signalr.send_connection('${HUB}', 'not-an-id', 'X', '[]')`,
            "signalr: invalid connection id"],
        ["an empty user id", `signalr.send_user('${HUB}', '', 'X', '[]')`, "signalr: a user id is required"],
        ["an empty user id (group)", `signalr.add_user_to_group('${HUB}', '', 'g')`, "signalr: a user id is required"],
    ];
    for (const [what, call, message] of cases) {
        test(`${what} raises: ${message}`, async () => {
            const err = await sqlError(`SELECT ${call}`);
            assert.ok(err.includes(`ERROR:  22023: ${message}\n`), `expected "22023: ${message}" in psql's error, got: ${err}`);
        });
    }
});

// ------------------------------------------------------------------------------------------------
// 2. The REST API

/** base64url JSON */
const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** an HS256 JWT: aud = url, exp in `ttl` seconds (negative: expired) */
function jwt(aud, { key = API_KEY, ttl = 300, claims = {} } = {}) {
    const head = b64({ alg: "HS256", typ: "JWT" });
    const body = b64({ aud, exp: Math.floor(Date.now() / 1000) + ttl, ...claims });
    const sig = createHmac("sha256", key).update(`${head}.${body}`).digest("base64url");
    return `${head}.${body}.${sig}`;
}

/**
 * One REST call: `path` below BASE (e.g. /api/hubs/test/:send), `query` a string or object,
 * `body` JSON (or a string sent as is).  The token is made for the URL without the query unless
 * `token` is given (null: no Authorization header).  Resolves with { status, body, json, headers }.
 */
async function api(method, path, { query, body, token, headers = {} } = {}) {
    const url = BASE + path;
    const q = typeof query === "string" ? query : query ? new URLSearchParams(query).toString() : "";
    const auth = token === undefined ? jwt(url) : token;
    const res = await fetch(q ? `${url}?${q}` : url, {
        method,
        headers: {
            ...(auth === null ? {} : { Authorization: `Bearer ${auth}` }),
            ...(body === undefined ? {} : { "Content-Type": "application/json" }),
            ...headers,
        },
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(WAIT),
    });
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, body: text, json, headers: res.headers };
}

/** asserts the status (with the body in the message) */
async function expectStatus(p, status, what) {
    const r = await p;
    assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status} ${r.body}`);
    return r;
}

/** fails with a clear message unless the REST API answers with the key this suite has */
async function requireApi() {
    requirePg();
    if (!API_KEY) {
        throw new Error("SIGNALR_API_KEY is not set: the suite signs its REST calls with the workers' access key " +
            "(give the workers and the suite the same SIGNALR_API_KEY)");
    }
    let r;
    try {
        r = await fetch(`${BASE}/api/health`, { method: "HEAD", signal: AbortSignal.timeout(WAIT) });
    } catch (err) {
        throw new Error(`the REST API is not reachable: HEAD ${BASE}/api/health failed: ${err.message}`);
    }
    if (r.status !== 200) {
        throw new Error(`the REST API is not reachable: HEAD ${BASE}/api/health answered ${r.status}, not 200 ` +
            "(is /api/ routed to the workers in the web server's configuration, and SIGNALR_API_KEY set for them?)");
    }
}

const V = "?api-version=2022-06-01";
const hubPath = (rest = "", hub = "test") => `/api/hubs/${hub}${rest}`;
const v1Path = (rest = "", hub = "test") => `/api/v1/hubs/${hub}${rest}`;
const msg = (label, id, extra = []) => ({ target: METHOD, arguments: [label, id, ...extra] });

describe("REST API", () => {
    before(requireApi);

    test("HEAD and GET /api/health answer 200 without a token", async () => {
        await expectStatus(api("HEAD", "/api/health", { token: null }), 200, "HEAD /api/health");
        await expectStatus(api("GET", "/api/health", { token: null }), 200, "GET /api/health");
        await expectStatus(api("HEAD", "/api/v1/health", { token: null }), 200, "HEAD /api/v1/health");
    });

    describe("tokens", () => {
        const path = hubPath("/:send");
        const url = BASE + path;
        const body = msg("never", "x");
        const unauthorized = async (what, opts) => {
            const r = await expectStatus(api("POST", path, { body, ...opts }), 401, what);
            assert.equal(r.json?.code, "Unauthorized", `${what}: body ${r.body}`);
            assert.equal(r.headers.get("www-authenticate"), "Bearer");
        };
        test("no token: 401", () => unauthorized("no Authorization header", { token: null }));
        test("not a bearer token: 401", () => unauthorized("Basic auth", { token: null, headers: { Authorization: "Basic dTpw" } }));
        test("garbage token: 401", () => unauthorized("garbage", { token: "not.a.jwt" }));
        test("signed with another key: 401", () => unauthorized("wrong key", { token: jwt(url, { key: `${API_KEY}x` }) }));
        test("aud of another URL: 401", () => unauthorized("wrong aud", { token: jwt(BASE + hubPath("/users/x/:send")) }));
        test("aud of another host: 401", () => unauthorized("wrong host", { token: jwt(url.replace("127.0.0.1", "localhost")) }));
        test("expired token (beyond the leeway): 401", () => unauthorized("expired", { token: jwt(url, { ttl: -3600 }) }));
        test("no exp: 401", () => unauthorized("no exp", {
            token: (() => {
                const head = b64({ alg: "HS256", typ: "JWT" }), claims = b64({ aud: url });
                return `${head}.${claims}.${createHmac("sha256", API_KEY).update(`${head}.${claims}`).digest("base64url")}`;
            })(),
        }));
        test("every path needs the token, also HEAD and DELETE", async () => {
            for (const [m, p] of [["HEAD", hubPath("/connections/x")], ["DELETE", hubPath("/connections/x")],
                ["PUT", hubPath("/groups/g/connections/x")], ["POST", hubPath("/:closeConnections")],
                ["HEAD", hubPath("/users/x")], ["POST", v1Path()]]) {
                await expectStatus(api(m, p, { token: null }), 401, `${m} ${p} without a token`);
            }
        });
        test("a good token: 202; aud with the query string is accepted too", async (t) => {
            const a = await client(t, nextTransport());
            const id = tag();
            await expectStatus(api("POST", path, { body: msg("tok", id), query: "api-version=2022-06-01" }), 202, "aud = URL without query");
            await got(a, "tok", id);
            const id2 = tag();
            await expectStatus(api("POST", path, {
                body: msg("tok2", id2), query: "api-version=2022-06-01",
                token: jwt(`${url}?api-version=2022-06-01`),
            }), 202, "aud = URL with query");
            await got(a, "tok2", id2);
        });
    });

    describe("v1 paths (POST = send)", () => {
        test("POST /api/v1/hubs/{hub}: everyone", T, async (t) => {
            const a = await client(t, nextTransport()), b = await client(t, nextTransport());
            const id = tag();
            await expectStatus(api("POST", v1Path(), { body: msg("v1-all", id) }), 202, "send all");
            await Promise.all([got(a, "v1-all", id), got(b, "v1-all", id)]);
            // the hub by any case
            const id2 = tag();
            await expectStatus(api("POST", v1Path("", "TEST"), { body: msg("v1-all", id2) }), 202, "send all, hub TEST");
            await got(a, "v1-all", id2);
        });

        test("POST /api/v1/hubs/{hub}/users/{user}", T, async (t) => {
            const user = `u-${tag()}`;
            const a1 = await client(t, "ServerSentEvents", { user }), a2 = await client(t, "LongPolling", { user });
            const other = await client(t, nextTransport());
            const id = tag();
            await expectStatus(api("POST", v1Path(`/users/${user}`), { body: msg("v1-user", id) }), 202, "send user");
            await Promise.all([got(a1, "v1-user", id), got(a2, "v1-user", id)]);
            await assertMissed([other], "v1-user", id);
        });

        test("POST /api/v1/hubs/{hub}/connections/{id}", T, async (t) => {
            const a = await client(t, nextTransport()), b = await client(t, nextTransport());
            const id = tag();
            await expectStatus(api("POST", v1Path(`/connections/${a.id}`), { body: msg("v1-conn", id) }), 202, "send connection");
            await got(a, "v1-conn", id);
            await assertMissed([b], "v1-conn", id);
        });

        test("PUT/DELETE /api/v1/hubs/{hub}/groups/{g}/connections/{id}, POST /groups/{g}", T, async (t) => {
            const g = `g-${tag()}`;
            const a = await client(t, nextTransport()), b = await client(t, nextTransport());
            await expectStatus(api("PUT", v1Path(`/groups/${g}/connections/${a.id}`)), 200, "add to group");
            await expectStatus(api("PUT", v1Path(`/groups/${g}/connections/${unknownId()}`)), 404, "add an unknown connection");
            const id = tag();
            await expectStatus(api("POST", v1Path(`/groups/${g}`), { body: msg("v1-group", id) }), 202, "send group");
            await got(a, "v1-group", id);
            await assertMissed([b], "v1-group", id);
            await expectStatus(api("DELETE", v1Path(`/groups/${g}/connections/${a.id}`)), 200, "remove from group");
            const id2 = tag();
            await expectStatus(api("POST", v1Path(`/groups/${g}`), { body: msg("v1-group", id2) }), 202, "send group");
            await assertMissed([a, b], "v1-group", id2);
            await expectStatus(api("GET", v1Path(`/groups/${g}/connections/${a.id}`)), 405, "GET on a membership");
        });

        test("PUT/DELETE /api/v1/hubs/{hub}/groups/{g}/users/{user}", T, async (t) => {
            const g = `g-${tag()}`, user = `u-${tag()}`;
            const a = await client(t, nextTransport(), { user });
            await expectStatus(api("PUT", v1Path(`/groups/${g}/users/${user}`)), 200, "add user to group");
            const later = await client(t, nextTransport(), { user });
            const id = tag();
            await expectStatus(api("POST", v1Path(`/groups/${g}`), { body: msg("v1-ug", id) }), 202, "send group");
            await Promise.all([got(a, "v1-ug", id), got(later, "v1-ug", id)]);
            await expectStatus(api("DELETE", v1Path(`/groups/${g}/users/${user}`)), 200, "remove user from group");
            const id2 = tag();
            await expectStatus(api("POST", v1Path(`/groups/${g}`), { body: msg("v1-ug", id2) }), 202, "send group");
            await assertMissed([a, later], "v1-ug", id2);
        });
    });

    describe("versioned paths", () => {
        test("POST /api/hubs/{hub}/:send, with excluded", T, async (t) => {
            const a = await client(t, nextTransport()), b = await client(t, nextTransport()), c = await client(t, nextTransport());
            const id = tag();
            await expectStatus(api("POST", hubPath("/:send"), { query: "api-version=2022-06-01", body: msg("send", id, [{ n: 1 }]) }), 202, ":send");
            for (const x of [a, b, c]) assert.deepEqual(await got(x, "send", id), ["send", id, { n: 1 }]);
            const id2 = tag();
            await expectStatus(api("POST", hubPath("/:send"), {
                query: `api-version=2024-12-01&excluded=${a.id}&excluded=${b.id}`, body: msg("send-but", id2),
            }), 202, ":send excluded");
            await got(c, "send-but", id2);
            await assertMissed([a, b], "send-but", id2);
        });

        test("POST /api/hubs/{hub}/users/{user}/:send", T, async (t) => {
            const user = `u-${tag()}`;
            const a1 = await client(t, "LongPolling", { user }), a2 = await client(t, "ServerSentEvents", { user });
            const other = await client(t, nextTransport());
            const id = tag();
            await expectStatus(api("POST", hubPath(`/users/${user}/:send`), { query: V.slice(1), body: msg("user", id) }), 202, "users/:send");
            await Promise.all([got(a1, "user", id), got(a2, "user", id)]);
            await assertMissed([other], "user", id);
        });

        test("POST /api/hubs/{hub}/groups/{g}/:send, with excluded", T, async (t) => {
            const g = `g-${tag()}`;
            const a = await client(t, nextTransport()), b = await client(t, nextTransport()), c = await client(t, nextTransport());
            await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${a.id}`)), 200, "add a");
            await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${b.id}`)), 200, "add b");
            const id = tag();
            await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg("grp", id) }), 202, "groups/:send");
            await Promise.all([got(a, "grp", id), got(b, "grp", id)]);
            await assertMissed([c], "grp", id);
            const id2 = tag();
            await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { query: `excluded=${b.id}`, body: msg("grp-but", id2) }), 202, "groups/:send excluded");
            await got(a, "grp-but", id2);
            await assertMissed([b, c], "grp-but", id2);
        });

        test("POST /api/hubs/{hub}/connections/{id}/:send", T, async (t) => {
            const a = await client(t, nextTransport()), b = await client(t, nextTransport());
            const id = tag();
            await expectStatus(api("POST", hubPath(`/connections/${a.id}/:send`), { body: msg("conn", id) }), 202, "connections/:send");
            await got(a, "conn", id);
            await assertMissed([b], "conn", id);
        });

        test("HEAD /api/hubs/{hub}/connections/{id}: 200 / 404", T, async (t) => {
            const a = await client(t, nextTransport());
            await expectStatus(api("HEAD", hubPath(`/connections/${a.id}`)), 200, "HEAD live connection");
            await expectStatus(api("HEAD", hubPath(`/connections/${unknownId()}`)), 404, "HEAD unknown connection");
            await expectStatus(api("HEAD", hubPath(`/connections/${a.id}`, "chatroom")), 404, "HEAD on another hub");
        });

        test("DELETE /api/hubs/{hub}/connections/{id}?reason=: the client closes with the reason", T, async (t) => {
            const a = await client(t, nextTransport()), b = await client(t, nextTransport()), c = await client(t, nextTransport());
            const reason = `kicked out ${tag()}`;
            await expectStatus(api("DELETE", hubPath(`/connections/${a.id}`), { query: { reason } }), 204, "DELETE connection");
            await assertClosedWith(a, reason);
            await expectStatus(api("DELETE", hubPath(`/connections/${c.id}`)), 204, "DELETE connection without a reason");
            assert.equal(await closeOf(c), null, "a close without a reason is not an error");
            const id = tag();
            await expectStatus(api("POST", hubPath(`/connections/${b.id}/:send`), { body: msg("alive", id) }), 202, "send b");
            await got(b, "alive", id);
            await eventually("HEAD of the closed connection", async () => (await api("HEAD", hubPath(`/connections/${a.id}`))).status === 404);
        });

        test("POST /api/hubs/{hub}/:closeConnections?excluded=&reason=", T, async (t) => {
            const a = await client(t, nextTransport()), b = await client(t, nextTransport()), keep = await client(t, nextTransport());
            const reason = `maintenance ${tag()}`;
            await expectStatus(api("POST", hubPath("/:closeConnections"), { query: { excluded: keep.id, reason } }), 204, ":closeConnections");
            await Promise.all([assertClosedWith(a, reason), assertClosedWith(b, reason)]);
            const id = tag();
            await expectStatus(api("POST", hubPath(`/connections/${keep.id}/:send`), { body: msg("kept", id) }), 202, "send keep");
            await got(keep, "kept", id);
            assert.equal(keep.state, "Connected");
        });

        test("POST /api/hubs/{hub}/groups/{g}/:closeConnections", T, async (t) => {
            const g = `g-${tag()}`;
            const a = await client(t, nextTransport()), b = await client(t, nextTransport()), outsider = await client(t, nextTransport());
            await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${a.id}`)), 200, "add a");
            await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${b.id}`)), 200, "add b");
            const reason = `group closed ${tag()}`;
            await expectStatus(api("POST", hubPath(`/groups/${g}/:closeConnections`), { query: { excluded: b.id, reason } }), 204, "groups/:closeConnections");
            await assertClosedWith(a, reason);
            const id = tag();
            await expectStatus(api("POST", v1Path(), { body: msg("after", id) }), 202, "send all");
            await Promise.all([got(b, "after", id), got(outsider, "after", id)]);
            assert.equal(b.state, "Connected", "the excluded member stays");
            assert.equal(outsider.state, "Connected", "a non-member stays");
        });

        test("POST /api/hubs/{hub}/users/{user}/:closeConnections", T, async (t) => {
            const user = `u-${tag()}`;
            const a1 = await client(t, "LongPolling", { user }), a2 = await client(t, "ServerSentEvents", { user });
            const other = await client(t, nextTransport(), { user: `${user}-other` });
            const reason = `user closed ${tag()}`;
            await expectStatus(api("POST", hubPath(`/users/${user}/:closeConnections`), { query: { reason } }), 204, "users/:closeConnections");
            await Promise.all([assertClosedWith(a1, reason), assertClosedWith(a2, reason)]);
            const id = tag();
            await expectStatus(api("POST", hubPath(`/connections/${other.id}/:send`), { body: msg("after", id) }), 202, "send other");
            await got(other, "after", id);
            assert.equal(other.state, "Connected");
            await eventually("HEAD users/{user} after the close", async () => (await api("HEAD", hubPath(`/users/${user}`))).status === 404);
        });

        test("HEAD /api/hubs/{hub}/groups/{g} and /users/{user}: 200 / 404", T, async (t) => {
            const user = `u-${tag()}`, g = `g-${tag()}`;
            const a = await client(t, nextTransport(), { user });
            await expectStatus(api("HEAD", hubPath(`/users/${user}`)), 200, "HEAD user");
            await expectStatus(api("HEAD", hubPath(`/users/${user}-nobody`)), 404, "HEAD unknown user");
            await expectStatus(api("HEAD", hubPath(`/groups/${g}`)), 404, "HEAD empty group");
            await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${a.id}`)), 200, "add");
            await expectStatus(api("HEAD", hubPath(`/groups/${g}`)), 200, "HEAD group");
            await expectStatus(api("DELETE", hubPath(`/groups/${g}/connections/${a.id}`)), 200, "remove");
            await expectStatus(api("HEAD", hubPath(`/groups/${g}`)), 404, "HEAD group after the removal");
        });

        test("PUT/DELETE /api/hubs/{hub}/groups/{g}/connections/{id}", T, async (t) => {
            const g = `g-${tag()}`;
            const a = await client(t, nextTransport());
            await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${a.id}`), { query: V.slice(1) }), 200, "PUT membership");
            const r = await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${unknownId()}`)), 404, "PUT unknown connection");
            assert.equal(r.json?.code, "NotFound");
            const id = tag();
            await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg("m", id) }), 202, "send");
            await got(a, "m", id);
            await expectStatus(api("DELETE", hubPath(`/groups/${g}/connections/${a.id}`)), 200, "DELETE membership");
            const id2 = tag();
            await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg("m", id2) }), 202, "send");
            await assertMissed([a], "m", id2);
            await expectStatus(api("PATCH", hubPath(`/groups/${g}/connections/${a.id}`)), 405, "PATCH membership");
        });

        test("DELETE /api/hubs/{hub}/connections/{id}/groups", T, async (t) => {
            const g1 = `g1-${tag()}`, g2 = `g2-${tag()}`;
            const a = await client(t, nextTransport()), b = await client(t, nextTransport());
            for (const g of [g1, g2]) {
                await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${a.id}`)), 200, `add a to ${g}`);
                await expectStatus(api("PUT", hubPath(`/groups/${g}/connections/${b.id}`)), 200, `add b to ${g}`);
            }
            await expectStatus(api("DELETE", hubPath(`/connections/${a.id}/groups`)), 204, "DELETE all groups");
            const id = tag();
            for (const g of [g1, g2]) await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg(g, id) }), 202, "send");
            await Promise.all([got(b, g1, id), got(b, g2, id)]);
            await assertMissed([a], g1, id);
            await assertMissed([a], g2, id);
        });

        test("PUT/HEAD/DELETE /api/hubs/{hub}/users/{user}/groups/{g}", T, async (t) => {
            const user = `u-${tag()}`, g = `g-${tag()}`;
            const a = await client(t, nextTransport(), { user });
            await expectStatus(api("HEAD", hubPath(`/users/${user}/groups/${g}`)), 404, "HEAD before");
            await expectStatus(api("PUT", hubPath(`/users/${user}/groups/${g}`), { query: "ttl=3600" }), 200, "PUT ttl=3600");
            await expectStatus(api("HEAD", hubPath(`/users/${user}/groups/${g}`)), 200, "HEAD after PUT");
            const later = await client(t, nextTransport(), { user });
            const id = tag();
            await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg("ug", id) }), 202, "send");
            await Promise.all([got(a, "ug", id), got(later, "ug", id)]);
            await expectStatus(api("DELETE", hubPath(`/users/${user}/groups/${g}`)), 204, "DELETE");
            await expectStatus(api("HEAD", hubPath(`/users/${user}/groups/${g}`)), 404, "HEAD after DELETE");
            const id2 = tag();
            await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg("ug", id2) }), 202, "send");
            await assertMissed([a, later], "ug", id2);
            await expectStatus(api("GET", hubPath(`/users/${user}/groups/${g}`)), 405, "GET");
        });

        test("PUT /api/hubs/{hub}/users/{user}/groups/{g}?ttl=0 affects only the connections open now", T, async (t) => {
            const user = `u-${tag()}`, g = `g-${tag()}`;
            const now = await client(t, nextTransport(), { user });
            await expectStatus(api("PUT", hubPath(`/users/${user}/groups/${g}`), { query: "ttl=0" }), 200, "PUT ttl=0");
            const later = await client(t, nextTransport(), { user });
            const id = tag();
            await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg("ttl0", id) }), 202, "send");
            await got(now, "ttl0", id);
            await assertMissed([later], "ttl0", id);
        });

        test("a user's group membership expires after its ttl", T, async (t) => {
            const user = `u-${tag()}`, g = `g-${tag()}`;
            await expectStatus(api("PUT", hubPath(`/users/${user}/groups/${g}`), { query: "ttl=2" }), 200, "PUT ttl=2");
            await expectStatus(api("HEAD", hubPath(`/users/${user}/groups/${g}`)), 200, "HEAD within the ttl");
            await eventually("HEAD users/{user}/groups/{g} after the ttl", async () =>
                (await api("HEAD", hubPath(`/users/${user}/groups/${g}`))).status === 404, 6000);
            const later = await client(t, nextTransport(), { user });
            const id = tag();
            await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg("expired", id) }), 202, "send");
            await assertMissed([later], "expired", id);
        });

        test("DELETE /api/hubs/{hub}/users/{user}/groups", T, async (t) => {
            const user = `u-${tag()}`, g1 = `g1-${tag()}`, g2 = `g2-${tag()}`;
            const a = await client(t, nextTransport(), { user });
            for (const g of [g1, g2]) await expectStatus(api("PUT", hubPath(`/users/${user}/groups/${g}`)), 200, `PUT ${g}`);
            await expectStatus(api("DELETE", hubPath(`/users/${user}/groups`)), 204, "DELETE all groups of the user");
            for (const g of [g1, g2]) await expectStatus(api("HEAD", hubPath(`/users/${user}/groups/${g}`)), 404, `HEAD ${g}`);
            const later = await client(t, nextTransport(), { user });
            const id = tag();
            for (const g of [g1, g2]) await expectStatus(api("POST", hubPath(`/groups/${g}/:send`), { body: msg("gone", id) }), 202, "send");
            await assertMissed([a, later], "gone", id);
        });
    });

    describe("errors", () => {
        test("400 for a body that is not {target, arguments[]}", async () => {
            for (const body of ["not json", "[1]", JSON.stringify({ arguments: [] }), JSON.stringify({ target: 5 }),
                JSON.stringify({ target: METHOD, arguments: { a: 1 } })]) {
                const r = await expectStatus(api("POST", hubPath("/:send"), { body }), 400, `body ${body}`);
                assert.equal(r.json?.code, "InvalidArgument", r.body);
                assert.match(r.json?.message ?? "", /'target'.*'arguments'/);
            }
        });

        test("400 with the SQL function's message for bad arguments", async () => {
            let r = await expectStatus(api("POST", hubPath("/connections/not-an-id/:send"), { body: msg("x", "y") }), 400, "bad connection id");
            assert.deepEqual(r.json, { code: "InvalidArgument", message: "invalid connection id" });
            r = await expectStatus(api("POST", hubPath("/:send"), { body: { target: "", arguments: [] } }), 400, "empty target");
            assert.deepEqual(r.json, { code: "InvalidArgument", message: "a client method name is required (1 to 256 characters)" });
            r = await expectStatus(api("PUT", hubPath("/users/u/groups/g"), { query: "ttl=soon" }), 400, "ttl not a number");
            assert.equal(r.json?.code, "InvalidArgument", r.body);
        });

        test("404 for an unknown hub or path", async () => {
            let r = await expectStatus(api("POST", hubPath("/:send", "nohub"), { body: msg("x", "y") }), 404, "unknown hub");
            assert.deepEqual(r.json, { code: "NotFound", message: "No such hub." });
            r = await expectStatus(api("POST", "/api/things/test"), 404, "unknown path");
            assert.deepEqual(r.json, { code: "NotFound", message: "No such API path." });
            await expectStatus(api("POST", hubPath("/users/u/:frobnicate")), 404, "unknown action");
            await expectStatus(api("GET", hubPath("/connections/x/y/z")), 404, "unknown connection path");
            await expectStatus(api("POST", hubPath("/groups/g/:invent")), 404, "unknown group action");
        });

        test("405 for a wrong verb on a membership", async () => {
            let r = await expectStatus(api("GET", hubPath("/groups/g/connections/x")), 405, "GET membership");
            assert.equal(r.json?.code, "MethodNotAllowed");
            r = await expectStatus(api("POST", hubPath("/users/u/groups/g")), 405, "POST user group");
            assert.equal(r.json?.code, "MethodNotAllowed");
        });
    });
});

// ------------------------------------------------------------------------------------------------
// 3. The command line

describe("command line", () => {
    before(() => {
        requirePg();
        if (!existsSync(BIN)) throw new Error(`${BIN} is not built (set SIGNALR_BIN to the binary)`);
    });

    /** runs the CLI and asserts its exit status; resolves with { code, stdout, stderr } */
    async function expectExit(code, ...args) {
        const r = await cli(...args);
        assert.equal(r.code, code, `signalr-fcgi ${args.join(" ")}: exit ${r.code}, expected ${code}; stdout ${r.stdout} stderr ${r.stderr}`);
        return r;
    }
    const argsOf = (label, id) => JSON.stringify([label, id]);

    test("send --all, with --exclude", T, async (t) => {
        const a = await client(t, nextTransport()), b = await client(t, nextTransport()), c = await client(t, nextTransport());
        const id = tag();
        await expectExit(0, "send", "--hub", HUB, "--all", "--target", METHOD, "--args", argsOf("cli-all", id));
        await Promise.all([a, b, c].map((x) => got(x, "cli-all", id)));
        const id2 = tag();
        await expectExit(0, "send", "--hub", "test", "--all", "--target", METHOD, "--args", argsOf("cli-but", id2),
            "--exclude", a.id, "--exclude", b.id);
        await got(c, "cli-but", id2);
        await assertMissed([a, b], "cli-but", id2);
    });

    test("send --user", T, async (t) => {
        const user = `u-${tag()}`;
        const a1 = await client(t, "ServerSentEvents", { user }), a2 = await client(t, "LongPolling", { user });
        const other = await client(t, nextTransport());
        const id = tag();
        await expectExit(0, "send", "--hub", HUB, "--user", user, "--target", METHOD, "--args", argsOf("cli-user", id));
        await Promise.all([got(a1, "cli-user", id), got(a2, "cli-user", id)]);
        await assertMissed([other], "cli-user", id);
    });

    test("group add|remove --connection, send --group (with --exclude)", T, async (t) => {
        const g = `g-${tag()}`;
        const a = await client(t, nextTransport()), b = await client(t, nextTransport()), c = await client(t, nextTransport());
        await expectExit(0, "group", "add", "--hub", HUB, "--group", g, "--connection", a.id);
        await expectExit(0, "group", "add", "--hub", HUB, "--group", g, "--connection", b.id);
        const id = tag();
        await expectExit(0, "send", "--hub", HUB, "--group", g, "--target", METHOD, "--args", argsOf("cli-group", id));
        await Promise.all([got(a, "cli-group", id), got(b, "cli-group", id)]);
        await assertMissed([c], "cli-group", id);
        const id2 = tag();
        await expectExit(0, "send", "--hub", HUB, "--group", g, "--target", METHOD, "--args", argsOf("cli-group-but", id2), "--exclude", a.id);
        await got(b, "cli-group-but", id2);
        await assertMissed([a, c], "cli-group-but", id2);

        await expectExit(0, "group", "remove", "--hub", HUB, "--group", g, "--connection", a.id);
        let r = await expectExit(1, "group", "remove", "--hub", HUB, "--group", g, "--connection", a.id);
        assert.match(r.stderr, /the connection was not in that group/);
        r = await expectExit(1, "group", "add", "--hub", HUB, "--group", g, "--connection", unknownId());
        assert.match(r.stderr, /no such connection/);
        const id3 = tag();
        await expectExit(0, "send", "--hub", HUB, "--group", g, "--target", METHOD, "--args", argsOf("cli-group", id3));
        await got(b, "cli-group", id3);
        await assertMissed([a], "cli-group", id3);
    });

    test("group add|remove --user: later connections of the user too", T, async (t) => {
        const g = `g-${tag()}`, user = `u-${tag()}`;
        const a = await client(t, nextTransport(), { user });
        await expectExit(0, "group", "add", "--hub", HUB, "--group", g, "--user", user);
        const later = await client(t, nextTransport(), { user });
        const id = tag();
        await expectExit(0, "send", "--hub", HUB, "--group", g, "--target", METHOD, "--args", argsOf("cli-ug", id));
        await Promise.all([got(a, "cli-ug", id), got(later, "cli-ug", id)]);
        await expectExit(0, "group", "remove", "--hub", HUB, "--group", g, "--user", user);
        const id2 = tag();
        await expectExit(0, "send", "--hub", HUB, "--group", g, "--target", METHOD, "--args", argsOf("cli-ug", id2));
        await assertMissed([a, later], "cli-ug", id2);
    });

    test("send --connection", T, async (t) => {
        const a = await client(t, nextTransport()), b = await client(t, nextTransport());
        const id = tag();
        await expectExit(0, "send", "--hub", `/Hubs/${HUB}`, "--connection", a.id, "--target", METHOD, "--args", argsOf("cli-conn", id));
        await got(a, "cli-conn", id);
        await assertMissed([b], "cli-conn", id);
        // --args defaults to []
        await expectExit(0, "send", "--hub", HUB, "--connection", a.id, "--target", "NoArgs");
    });

    test("close --connection --reason", T, async (t) => {
        const a = await client(t, nextTransport()), b = await client(t, nextTransport());
        const reason = `closed by the command line ${tag()}`;
        await expectExit(0, "close", "--hub", HUB, "--connection", a.id, "--reason", reason);
        await assertClosedWith(a, reason);
        await expectExit(0, "close", "--hub", HUB, "--connection", b.id);
        assert.equal(await closeOf(b), null, "a close without --reason is not an error");
        await eventually("exists --connection after the close", async () => (await cli("exists", "--hub", HUB, "--connection", a.id)).code === 1);
        const r = await expectExit(1, "close", "--hub", HUB, "--connection", a.id);
        assert.match(r.stderr, /no such connection/);
    });

    test("exists --connection|--user|--group: exit 0 yes, 1 no", T, async (t) => {
        const user = `u-${tag()}`, g = `g-${tag()}`;
        const a = await client(t, nextTransport(), { user });
        const yes = async (...args) => assert.equal((await expectExit(0, "exists", "--hub", HUB, ...args)).stdout, "yes\n");
        const no = async (...args) => assert.equal((await expectExit(1, "exists", "--hub", HUB, ...args)).stdout, "no\n");
        await yes("--connection", a.id);
        await no("--connection", unknownId());
        await yes("--user", user);
        await no("--user", `${user}-nobody`);
        await no("--group", g);
        await expectExit(0, "group", "add", "--hub", HUB, "--group", g, "--connection", a.id);
        await yes("--group", g);
    });

    test("usage errors exit 2; the SQL functions' validation errors exit 1 with their message", async () => {
        let r = await expectExit(2, "send", "--all", "--target", "X");
        assert.match(r.stderr, /--hub is required/);
        r = await expectExit(2, "send", "--hub", HUB, "--all", "--user", "u", "--target", "X");
        assert.match(r.stderr, /exactly one of --all, --user, --group, --connection/);
        r = await expectExit(2, "send", "--hub", HUB, "--all");
        assert.match(r.stderr, /send needs --target/);
        r = await expectExit(2, "group", "join", "--hub", HUB);
        assert.match(r.stderr, /group needs add or remove/);
        r = await expectExit(2, "group", "add", "--hub", HUB, "--group", "g");
        assert.match(r.stderr, /one of --connection, --user/);
        r = await expectExit(2, "close", "--hub", HUB);
        assert.match(r.stderr, /close needs --connection/);
        r = await expectExit(2, "exists", "--hub", HUB, "--all");
        assert.match(r.stderr, /exists needs one of/);
        r = await expectExit(2, "send", "--hub", HUB, "--bogus");
        assert.match(r.stderr, /unexpected argument '--bogus'/);

        r = await expectExit(1, "send", "--hub", "9bad", "--all", "--target", "X");
        assert.match(r.stderr, /signalr: invalid hub name "9bad"/);
        r = await expectExit(1, "send", "--hub", HUB, "--all", "--target", "X", "--args", '{"a":1}');
        assert.match(r.stderr, /signalr: arguments must be a JSON array, not object/);
        r = await expectExit(1, "send", "--hub", HUB, "--group", "", "--target", "X");
        assert.match(r.stderr, /signalr: invalid group name/);
        r = await expectExit(1, "send", "--hub", HUB, "--connection", "nope", "--target", "X");
        assert.match(r.stderr, /signalr: invalid connection id/);
        r = await expectExit(1, "send", "--hub", HUB, "--all", "--target", "X", "--args", "[not json");
        assert.match(r.stderr, /invalid input syntax for type json/);
    });
});

// ------------------------------------------------------------------------------------------------
// 4. The README's snippets, run for real against this server

describe("README: Pushing from outside a hub", () => {
    const readme = readFileSync(join(TOP, "README.md"), "utf8");
    const start = readme.indexOf("## Pushing from outside a hub");
    const end = start < 0 ? -1 : readme.indexOf("\n## ", start + 1);
    const section = start < 0 ? "" : readme.slice(start, end < 0 ? undefined : end);
    const blocks = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], code: m[2] }));
    const block = (pred, what) => {
        const b = blocks.find(pred);
        if (!b) throw new Error(`README.md's section "Pushing from outside a hub" has no ${what}`);
        return b.code.replaceAll("http://127.0.0.1:8080", BASE);
    };
    const chat = (t) => client(t, nextTransport(), { hub: "ChatRoom", method: "ReceivePublicMessage" });
    const env = { ...process.env, SIGNALR_API_KEY: API_KEY };
    let dir;
    before(() => { dir = mkdtempSync(join(tmpdir(), "outside-readme-")); });
    after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

    test("the shell snippet (curl + openssl) reaches a chat room client", T, async (t) => {
        await requireApi();
        const code = block((b) => b.lang === "sh" && b.code.includes("openssl"), "sh block with curl + openssl");
        const c = await chat(t);
        const r = await run("bash", ["-euo", "pipefail", "-c", code], { env });
        assert.equal(r.code, 0, `the snippet failed: ${r.stderr}`);
        const [text] = await c.inbox.waitFor((s) => /^cron:\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d:backup finished$/.test(s), WAIT, "the snippet's message");
        assert.ok(text);
    });

    test("the psql one-liner reaches a chat room client", T, async (t) => {
        const code = block((b) => b.lang === "sh" && /^psql /m.test(b.code), "sh block with a psql one-liner");
        const c = await chat(t);
        const r = await run("bash", ["-euo", "pipefail", "-c", code], { env });
        assert.equal(r.code, 0, `the one-liner failed: ${r.stderr}`);
        await c.inbox.waitFor((s) => /^db:\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d:maintenance at noon$/.test(s), WAIT, "the one-liner's message");
    });

    test("the command-line example reaches a chat room client", T, async (t) => {
        const code = block((b) => /^signalr-fcgi send --hub ChatRoom /m.test(b.code), "block with `signalr-fcgi send --hub ChatRoom`");
        const line = code.split("\n").find((l) => l.startsWith("signalr-fcgi send --hub ChatRoom "));
        const c = await chat(t);
        const r = await run("bash", ["-euo", "pipefail", "-c", `"$SIGNALR_BIN" ${line.slice("signalr-fcgi ".length)}`],
            { env: { ...env, SIGNALR_BIN: BIN } });
        assert.equal(r.code, 0, `the example failed: ${r.stderr}`);
        await c.inbox.waitFor((s) => s === "cli:01/01/2026 12:00:00:hello", WAIT, "the example's message");
    });

    test("the PHP snippet (curl extension, hash_hmac) reaches a chat room client", T, async (t) => {
        const php = await run("php", ["-r", "echo function_exists('curl_init') ? 'curl' : 'nocurl';"]).catch(() => null);
        if (!php || php.code !== 0 || php.stdout !== "curl") {
            t.skip("php with the curl extension is not installed (apt-get install php-cli php-curl)");
            return;
        }
        await requireApi();
        const code = block((b) => b.lang === "php", "php block");
        const file = join(dir, "push.php");
        writeFileSync(file, code);
        const c = await chat(t);
        const r = await run("php", [file], { env });
        assert.equal(r.code, 0, `the PHP snippet failed: ${r.stdout} ${r.stderr}`);
        await c.inbox.waitFor((s) => /^shop:\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d:order 1042 shipped$/.test(s), WAIT, "the PHP snippet's message");
    });
});
