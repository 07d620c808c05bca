// lifecycle.test.mjs — how connections end (protocol.md §4.4, §5.5, §5.6, §6.6): stop() over
// LongPolling sends DELETE (202), over ServerSentEvents it POSTs a Close message and drops the
// stream, and either way the others hear `Disconnected` at once; a connection that stops polling
// is reaped after the disconnect timeout (3 s in the tests); one that keeps polling is not.  The
// test hub sends Disconnected(connectionId) to all remaining /Hubs/Test connections when one
// ends.  The real clients run over SIGNALR_TRANSPORT; the raw connections are LongPolling.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
    CLIENT_TIMEOUT_MS, DISCONNECT_TIMEOUT_MS, Inbox, KEEPALIVE_INTERVAL_MS, NodeEventSource, RS, RawConnection,
    RecordingHttpClient, TRANSPORT, connect, hubUrl, sleep, tag,
} from "./helpers.mjs";

const T = { timeout: 60000 };
// Well below the disconnect timeout: an end noticed this fast was not a reap.
const PROMPT_MS = Math.min(2000, DISCONNECT_TIMEOUT_MS - 500);

// LongPolling: stop() aborts the poll and sends DELETE (202).  ServerSentEvents (also what auto
// picks): there is no DELETE for a stream; stop() POSTs a Close message (fire-and-forget) and
// closes the EventSource, and the server ends the connection when the stream goes (§4.4).
const STOP_TEST = TRANSPORT === "LongPolling"
    ? "stop() sends DELETE (202) and the others get Disconnected(id) promptly"
    : "stop() POSTs a Close message and drops the stream (no DELETE); the others get Disconnected(id) promptly";

test(STOP_TEST, T, async (t) => {
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
    // Over SSE the Close POST ends the connection at once; if the client drops it (it goes out
    // only if the send loop runs before the EventSource is closed), the worker learns that the
    // stream is gone when lighttpd fails to write the next Ping to it (sse-raw.test.mjs).
    const prompt = a.transportName === "LongPolling" ? PROMPT_MS : KEEPALIVE_INTERVAL_MS + PROMPT_MS;
    const byStop = recorder.requests.slice(sentBeforeStop);
    await disconnected.waitFor((x) => x === id, prompt,
        `Disconnected(${id}) within ${prompt} ms of stop() (requests made by stop(): ${JSON.stringify(byStop)})`);
    const ms = Date.now() - stopped;

    const deletes = recorder.requests.filter((r) => r.method === "DELETE");
    if (a.transportName === "LongPolling") {
        assert.equal(deletes.length, 1, JSON.stringify(recorder.requests));
        assert.ok(deletes[0].url.startsWith(`${hubUrl("Test")}?id=`), deletes[0].url);
        assert.equal(deletes[0].status, 202, `DELETE answered ${deletes[0].status} ${deletes[0].error ?? ""}; ` +
            `requests made by stop(): ${JSON.stringify(byStop)}`);
    } else {
        assert.equal(a.transportName, "ServerSentEvents");
        assert.deepEqual(deletes, [], "no DELETE for a stream");
        const closes = byStop.filter((r) => r.method === "POST" && r.content === `{"type":7}${RS}`);
        assert.ok(closes.length <= 1, `at most one Close message POST by stop(): ${JSON.stringify(byStop)}`);
        if (closes.length === 1) {
            assert.ok(closes[0].url.startsWith(`${hubUrl("Test")}?id=`), closes[0].url);
            // it races with the end of the stream: accepted (200), already gone (404) or still out
            assert.ok([undefined, 200, 404].includes(closes[0].status),
                `Close POST answered ${closes[0].status} ${closes[0].error ?? ""}`);
        }
        const streams = a.eventSources.filter((e) => e.opened);
        assert.equal(streams.length, 1, "one EventSource was opened");
        assert.equal(streams[0].instance.readyState, NodeEventSource.CLOSED, "stop() closed the EventSource");
    }
    // nothing was refused while the connection was up (aborted polls have no status).  Requests
    // made by stop() are left out: its Close-message POST races with the DELETE/stream end.
    const refused = recorder.requests.slice(0, sentBeforeStop)
        .filter((r) => r.status !== undefined && (r.status < 200 || r.status > 299));
    assert.deepEqual(refused, [], "requests answered with a non-2xx status");
    assert.ok(ms < prompt, `took ${ms} ms`);
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

// Over SSE: a held stream (and the client's pings, helpers.mjs) keeps the connection.
test("a connection that keeps polling (or holds its stream) outlives the disconnect timeout", T, async (t) => {
    const observer = await connect(t, "Test");
    const disconnected = new Inbox(observer, "Disconnected");
    const c = await connect(t, "Test");
    // past the disconnect timeout, and over SSE past the client timeout plus its 2 s check
    await sleep(Math.max(DISCONNECT_TIMEOUT_MS * 2, CLIENT_TIMEOUT_MS + 3000));
    assert.equal(c.state, "Connected");
    assert.deepEqual(disconnected.matching((x) => x === c.connectionId), [], "idle but polling connection was ended");
    const text = `still alive ${tag()}`;
    assert.equal(await c.invoke("Echo", text), text);
});
