// backlog.test.mjs — matrix row I-25: a Server-Sent Events client that never reads.  The stream is
// opened over a raw socket that stops reading after the handshake; the same connection then sends
// itself 30 KB messages (InvokeWithString on the conformance /testhub) until the worker gives up on
// the stream (its per-stream backlog cap, 4 MiB, behind lighttpd's and the kernel's buffers).
// Expected: the connection is aborted (later POSTs 404, the response ends once the client reads
// again), the publishing POSTs are never blocked, the worker's memory stays bounded, and another
// connection on the same worker is not disturbed.  Runs on the Ed25519 front end (ed), which the
// other suites barely load.

import net from "node:net";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";

import { Conn, HANDSHAKE, HUB, URLS, assertHealthy, assertNoLeaks, openSse, sleep, snapshotWorkers, workerPids } from "./lib.mjs";

let workers;
before(() => { workers = snapshotWorkers(["ed"]); });
after(() => {
    assertNoLeaks();
    assert.deepEqual(workerPids("ed"), workers.ed, "ed: no worker may have died");
});

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);

test("I-25: an SSE client that never reads is cut off at the backlog cap; publishers are not blocked; memory stays bounded", async (t) => {
    const base = URLS.ed, hub = HUB.ed;
    // a well-behaved neighbour on the same front end
    const { conn: other, stream: otherStream } = await openSse(t, base, hub);

    const c = await Conn.negotiate(base, hub);
    const sock = net.connect(Number(new URL(base).port), "127.0.0.1");
    t.after(() => sock.destroy());
    let received = 0, head = "", ended = false;
    sock.on("data", (d) => { received += d.length; if (head.length < 1000) head += d.toString("latin1"); });
    sock.on("end", () => { ended = true; });
    sock.on("close", () => { ended = true; });
    sock.on("error", () => {});
    await new Promise((r) => sock.once("connect", r));
    sock.write(`GET ${hub}?id=${c.token} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    for (let i = 0; i < 50 && !head.includes("\r\n\r\n"); i++) await sleep(50);
    assert.match(head, /^HTTP\/1\.1 200/, "the stream opened");
    assert.equal((await c.send(HANDSHAKE)).status, 200);
    await sleep(200);
    sock.pause(); // from now on nothing is read

    const rssBefore = Object.fromEntries(workerPids("ed").map((p) => [p, rssKiB(p)]));
    const text = "m".repeat(30000);
    let slowest = 0, sent = 0, cutAt = -1;
    for (let i = 0; i < 1000; i++) {
        const started = Date.now();
        const r = await c.invoke(`m${i}`, "InvokeWithString", [text]);
        slowest = Math.max(slowest, Date.now() - started);
        if (r.status === 404) { cutAt = i; break; }
        assert.equal(r.status, 200, `POST ${i}: ${r.status}`);
        sent++;
        if (i % 25 === 0) {
            // the neighbour is served meanwhile
            assert.equal((await other.invoke(`o${i}`, "Echo", [i])).status, 200);
        }
    }
    assert.ok(cutAt > 0, `the stream was not cut after ${sent} messages (${Math.round(sent * 30 / 1024)} MB)`);
    assert.ok(slowest < 2000, `a publishing POST took ${slowest} ms: publishers must not wait for a slow reader`);
    for (const [pid, before] of Object.entries(rssBefore)) {
        const grown = rssKiB(pid) - before;
        assert.ok(grown < 64 * 1024, `worker ${pid} grew by ${grown} KiB`);
    }
    // the neighbour got every answer, in order
    await otherStream.waitFor((s) => s.frames.filter((f) => f.type === 3).length >= Math.ceil(cutAt / 25), 10000, "the neighbour's completions");
    const ids = otherStream.frames.filter((f) => f.type === 3).map((f) => f.invocationId);
    assert.deepEqual(ids, Array.from({ length: ids.length }, (_, k) => `o${k * 25}`));
    // the reader wakes up: it gets what was buffered, then the end of the response
    sock.resume();
    for (let i = 0; i < 300 && !ended; i++) await sleep(50);
    assert.ok(ended, `the aborted stream's response never ended (read ${received} bytes)`);
    assert.ok(received < (sent + 1) * 30100 + 100000, `read ${received} bytes for ${sent} messages`);
    assert.equal((await c.invoke("late", "Echo", [1])).status, 404, "the aborted connection is gone");
    await assertHealthy(t, "ed", workers);
});
