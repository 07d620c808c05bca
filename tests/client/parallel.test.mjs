// parallel.test.mjs — MaximumParallelInvocationsPerClient above 1 (hub-features.md C38), through
// the real client: /Hubs/Parallel (src/hubs/parallelhub.c) allows two invocations at a time per
// connection.  A method awaits a client result from its own caller; a slow method does not hold
// up a quick one; never more than two run at once, even when the connection's POSTs land on both
// workers; Context.Items written by two overlapping invocations keeps both.  /Hubs/Test (the
// default, one at a time) keeps running invocations strictly in turn.
//
// Overlap is judged from the [start, end] wall-clock times the hub's Delay reports (the workers
// are on this machine), never from how long the test took.  Each test runs over both transports.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "./helpers.mjs";

const BOTH = ["LongPolling", "ServerSentEvents"];
const TRANSPORTS = BOTH.includes(process.env.SIGNALR_TRANSPORT) ? [process.env.SIGNALR_TRANSPORT] : BOTH;

/** the largest number of [start, end] intervals that overlap at one instant */
function maxOverlap(intervals) {
    const edges = intervals.flatMap(([s, e]) => [[s, 1], [e, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let now = 0, most = 0;
    for (const [, d] of edges) { now += d; most = Math.max(most, now); }
    return most;
}

for (const transport of TRANSPORTS) {
    describe(`parallel invocations over ${transport}`, () => {
        test("a hub method awaits a client result from its own caller", async (t) => {
            const conn = await connect(t, "Parallel", {}, { transport });
            conn.on("Question", (x) => x * 2);
            assert.equal(await conn.invoke("AskCaller", 21), 42);
            // an error from the caller's handler reaches the method
            conn.off("Question");
            conn.on("Question", () => { throw new Error("no"); });
            await assert.rejects(conn.invoke("AskCaller", 1), /the caller answered with an error/);
        });

        test("a quick invocation completes while a slow one of the same connection runs", async (t) => {
            const conn = await connect(t, "Parallel", {}, { transport });
            const order = [];
            const slow = conn.invoke("Delay", 1500).then((r) => { order.push("slow"); return r; });
            const quick = conn.invoke("Delay", 300).then((r) => { order.push("quick"); return r; });
            const [s, q] = await Promise.all([slow, quick]);
            assert.deepEqual(order, ["quick", "slow"]);
            assert.ok(q[1] <= s[1] && maxOverlap([s, q]) === 2, `the quick one ran while the slow one ran: ${JSON.stringify({ s, q })}`);
        });

        test("at most two run at once, whichever workers take the POSTs", async (t) => {
            const conn = await connect(t, "Parallel", {}, { transport });
            const runs = await Promise.all(Array.from({ length: 6 }, () => conn.invoke("Delay", 400)));
            assert.equal(maxOverlap(runs), 2, JSON.stringify(runs));
        });

        test("Context.Items set by two overlapping invocations keeps both", async (t) => {
            const conn = await connect(t, "Parallel", {}, { transport });
            await Promise.all([conn.invoke("SetItemAfter", "a", 1, 600), conn.invoke("SetItemAfter", "b", 2, 0)]);
            assert.deepEqual(await conn.invoke("GetItems"), { a: 1, b: 2 });
        });

        test("the default hub still runs one invocation at a time, in order", async (t) => {
            const conn = await connect(t, "Test", {}, { transport });
            const counts = await Promise.all(Array.from({ length: 20 }, () => conn.invoke("Count")));
            assert.deepEqual(counts, Array.from({ length: 20 }, (_, i) => i + 1));
        });
    });
}
