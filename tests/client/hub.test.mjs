// hub.test.mjs — the test hub (/Hubs/Test, SIGNALR_TEST_HUBS=1) through the real client over
// SIGNALR_TRANSPORT (LongPolling, ServerSentEvents or auto): results, hub errors with the exact
// texts of protocol.md §7.5, send() without an invocation id, and invocations spread over both
// worker processes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Inbox, TRANSPORT, connect, tag } from "./helpers.mjs";
import { havePg, psql } from "./pg.mjs";

const T = { timeout: 60000 };

test("Echo returns any JSON value unchanged", T, async (t) => {
    const c = await connect(t, "Test");
    const values = [
        "plain",
        "",
        "héllo wörld — 你好 — 🎉 — \u001e\u0001\n\t\"\\ </script>",
        null,
        0,
        -42,
        3.5,
        true,
        false,
        [1, "two", 3.5, null, [], {}],
        { a: 1, b: [true, false, null], c: { d: "é", e: { f: [] } } },
        { "key with spaces": "v", ünïcødé: "✓" },
        "x".repeat(16 * 1024),
    ];
    for (const v of values) {
        assert.deepEqual(await c.invoke("Echo", v), v, `Echo(${JSON.stringify(v).slice(0, 60)})`);
    }
});

test("Echo keeps U+0000 inside strings (valid JSON)", T, async (t) => {
    const c = await connect(t, "Test");
    assert.equal(await c.invoke("Echo", "a\u0000b"), "a\u0000b");
});

test("concurrent invocations each get their own result", T, async (t) => {
    const c = await connect(t, "Test");
    const inputs = Array.from({ length: 12 }, (_, i) => ({ i, s: `v${i}` }));
    const results = await Promise.all(inputs.map((v) => c.invoke("Echo", v)));
    assert.deepEqual(results, inputs);
});

test("Add adds integers", T, async (t) => {
    const c = await connect(t, "Test");
    assert.equal(await c.invoke("Add", 2, 3), 5);
    assert.equal(await c.invoke("Add", -7, 4), -3);
    assert.equal(await c.invoke("Add", 0, 0), 0);
    assert.equal(await c.invoke("Add", 1000000, 2345678), 3345678);
});

async function rejectsWith(promise, message) {
    await assert.rejects(promise, (err) => {
        assert.equal(err.message, message);
        return true;
    });
}

test("hub errors reach the client with the exact server texts", T, async (t) => {
    const c = await connect(t, "Test");
    await rejectsWith(c.invoke("Fail", "boom"),
        "An unexpected error occurred invoking 'Fail' on the server. HubException: boom");
    await rejectsWith(c.invoke("Crash"),
        "An unexpected error occurred invoking 'Crash' on the server.");
    await rejectsWith(c.invoke("Nope"),
        "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.");
    await rejectsWith(c.invoke("Add", 1),
        "Failed to invoke 'Add' due to an error on the server.");
    await rejectsWith(c.invoke("Add", 1, 2, 3),
        "Failed to invoke 'Add' due to an error on the server.");
    // errors are per invocation: the connection keeps working
    assert.equal(await c.invoke("Echo", "still here"), "still here");
    assert.equal(c.state, "Connected");
});

test("send() (no invocation id) of Broadcast reaches every connection, with the caller's id", T, async (t) => {
    const a = await connect(t, "Test");
    const b = await connect(t, "Test");
    const inA = new Inbox(a, "Broadcast");
    const inB = new Inbox(b, "Broadcast");
    const text = `broadcast ${tag()}`;
    await a.send("Broadcast", text);
    for (const [who, inbox] of [["B", inB], ["A", inA]]) {
        const args = await inbox.waitFor((s) => s === text, 10000, `${who} receiving the broadcast`);
        assert.deepEqual(args, [text, a.connectionId], who);
    }
});

// Over LongPolling every poll and POST is a new request, so the invocations land on both workers.
// Over SSE each stream stays on the worker that took its GET, and lighttpd hands every other
// request to the least busy worker — the one holding fewer streams — so the invocations may
// all land on one worker; then it is the streams, held elsewhere, that make the broadcasts cross.
// Which worker holds a stream is in signalr.connections.holder ("host:pid:random").
const TWO_WORKERS = TRANSPORT === "LongPolling"
    ? "two workers: invocations land on both, and broadcasts cross between them"
    : "two workers: invocations and held streams span both, and broadcasts cross between them";

test(TWO_WORKERS, { timeout: 90000 }, async (t) => {
    const N = 4;
    const PER = 8;
    const conns = [];
    for (let i = 0; i < N; i++) conns.push(await connect(t, "Test"));
    const inboxes = conns.map((c) => new Inbox(c, "Broadcast"));
    const run = tag();

    const pids = new Set();
    await Promise.all(conns.map(async (c, i) => {
        for (let k = 0; k < PER; k++) {
            const pid = await c.invoke("WorkerPid");
            assert.ok(Number.isInteger(pid) && pid > 1, `WorkerPid returned ${JSON.stringify(pid)}`);
            pids.add(pid);
            await c.invoke("Broadcast", `${run} ${i} ${k}`);
        }
    }));
    if (conns[0].transportName === "LongPolling") {
        assert.ok(pids.size >= 2, `expected invocations on at least 2 worker processes, saw pids ${[...pids]}`);
    } else if (havePg) {
        const ids = conns.map((c) => `'${c.connectionId}'`).join(",");
        const holders = (await psql(`SELECT holder FROM signalr.connections WHERE id IN (${ids})`))
            .split("\n").filter(Boolean).map((h) => Number(h.split(":").at(-2)));
        assert.equal(holders.length, N, `stream holders: ${holders}`);
        const all = new Set([...pids, ...holders]);
        assert.ok(all.size >= 2, `invocations on ${[...pids]}, streams held by ${holders}: one worker only`);
    }

    // every connection sees all N*PER broadcasts, each sender's in send order
    const mine = (s) => typeof s === "string" && s.startsWith(`${run} `);
    await Promise.all(inboxes.map((inbox, j) =>
        inbox.waitFor(mine, 20000, `connection ${j} receiving all broadcasts`, N * PER)));
    for (const inbox of inboxes) {
        const got = inbox.matching(mine);
        assert.equal(got.length, N * PER);
        for (let i = 0; i < N; i++) {
            const fromI = got.filter(([s]) => s.split(" ")[1] === String(i));
            assert.deepEqual(fromI.map(([s]) => s), Array.from({ length: PER }, (_, k) => `${run} ${i} ${k}`));
            assert.ok(fromI.every(([, id]) => id === conns[i].connectionId), "caller id on each broadcast");
        }
    }
});
