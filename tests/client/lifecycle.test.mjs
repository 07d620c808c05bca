// lifecycle.test.mjs — how connections end (protocol.md §5.5, §5.6, §6.6): stop() sends DELETE
// (202) and the others hear `Disconnected` at once; a connection that stops polling is reaped
// after the disconnect timeout (3 s in the tests); one that keeps polling is not.  The test hub
// sends Disconnected(connectionId) to all remaining /Hubs/Test connections when one ends.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
    DISCONNECT_TIMEOUT_MS, Inbox, RS, RawConnection, RecordingHttpClient, connect, hubUrl, sleep, tag,
} from "./helpers.mjs";

const T = { timeout: 60000 };
// Well below the disconnect timeout: an end noticed this fast was not a reap.
const PROMPT_MS = Math.min(2000, DISCONNECT_TIMEOUT_MS - 500);

test("stop() sends DELETE (202) and the others get Disconnected(id) promptly", T, async (t) => {
    const observer = await connect(t, "Test");
    const disconnected = new Inbox(observer, "Disconnected");
    const recorder = new RecordingHttpClient();
    const a = await connect(t, "Test", { httpClient: recorder });
    const id = a.connectionId;
    assert.equal(await a.invoke("Echo", "up"), "up");
    assert.equal(disconnected.matching((x) => x === id).length, 0, "no Disconnected before stop()");

    const sentBeforeStop = recorder.requests.length;
    const stopped = Date.now();
    await a.stop();
    await disconnected.waitFor((x) => x === id, PROMPT_MS, `Disconnected(${id}) within ${PROMPT_MS} ms of stop()`);
    const ms = Date.now() - stopped;

    const deletes = recorder.requests.filter((r) => r.method === "DELETE");
    assert.equal(deletes.length, 1, JSON.stringify(recorder.requests));
    assert.ok(deletes[0].url.startsWith(`${hubUrl("Test")}?id=`), deletes[0].url);
    assert.equal(deletes[0].status, 202, `DELETE answered ${deletes[0].status} ${deletes[0].error ?? ""}; ` +
        `requests made by stop(): ${JSON.stringify(recorder.requests.slice(sentBeforeStop))}`);
    // nothing was refused while the connection was up (aborted polls have no status).  Requests
    // made by stop() are left out: its Close-message POST races with the DELETE in the client.
    const refused = recorder.requests.slice(0, sentBeforeStop)
        .filter((r) => r.status !== undefined && (r.status < 200 || r.status > 299));
    assert.deepEqual(refused, [], "requests answered with a non-2xx status");
    assert.ok(ms < PROMPT_MS, `took ${ms} ms`);
    // exactly one notification
    await sleep(300);
    assert.equal(disconnected.matching((x) => x === id).length, 1);
});

test("a raw DELETE (no Close message) ends the connection for everyone at once", T, async (t) => {
    const observer = await connect(t, "Test");
    const disconnected = new Inbox(observer, "Disconnected");
    const c = await RawConnection.open(t, "Test");
    const held = c.poll();
    await sleep(300);
    const del = await c.delete();
    assert.equal(del.status, 202);
    await disconnected.waitFor((x) => x === c.connectionId, PROMPT_MS, `Disconnected(${c.connectionId}) after DELETE`);
    assert.equal((await held).status, 204);
});

test("a Close message ends the connection; the others get Disconnected(id)", T, async (t) => {
    const observer = await connect(t, "Test");
    const disconnected = new Inbox(observer, "Disconnected");
    const c = await RawConnection.open(t, "Test");
    assert.equal((await c.send(`{"type":7}${RS}`)).status, 200);
    await disconnected.waitFor((x) => x === c.connectionId, PROMPT_MS, `Disconnected(${c.connectionId}) after Close`);
    // what is left for the client: at most a Close frame, then the end (204) or an unknown id (404)
    const r = await c.poll({ timeout: 15000 });
    if (r.status === 200) {
        assert.ok(/^(\{"type":7[^\x1e]*\}\x1e)?$/.test(r.body), `after Close: ${JSON.stringify(r.body)}`);
    } else {
        assert.ok([204, 404].includes(r.status), `after Close: status ${r.status}`);
    }
});

test("an abandoned connection (no more polls) is reaped after the disconnect timeout", { timeout: 60000 }, async (t) => {
    const observer = await connect(t, "Test");
    const disconnected = new Inbox(observer, "Disconnected");
    // negotiate, first poll, handshake POST, then silence
    const c = await RawConnection.open(t, "Test", { readHandshake: false });
    const lastPoll = Date.now();
    await disconnected.waitFor((x) => x === c.connectionId, DISCONNECT_TIMEOUT_MS + 30000,
        `Disconnected(${c.connectionId}) of the abandoned connection`);
    const ms = Date.now() - lastPoll;
    assert.ok(ms >= DISCONNECT_TIMEOUT_MS - 500, `reaped after ${ms} ms, before the ${DISCONNECT_TIMEOUT_MS} ms disconnect timeout`);
    const r = await c.poll({ timeout: 15000 });
    assert.equal(r.status, 404, `poll on a reaped connection: ${r.status} ${JSON.stringify(r.body)}`);
});

test("a connection that keeps polling outlives the disconnect timeout", T, async (t) => {
    const observer = await connect(t, "Test");
    const disconnected = new Inbox(observer, "Disconnected");
    const c = await connect(t, "Test");
    await sleep(DISCONNECT_TIMEOUT_MS * 2);
    assert.equal(c.state, "Connected");
    assert.deepEqual(disconnected.matching((x) => x === c.connectionId), [], "idle but polling connection was ended");
    const text = `still alive ${tag()}`;
    assert.equal(await c.invoke("Echo", text), text);
});
