// scaleout.test.mjs — two front ends without sticky sessions: SIGNALR_URL (front end A) and
// SIGNALR_URL_B (front end B: another lighttpd with its own 2 workers on the same database;
// scripts/test.sh starts it for this suite).  Connection state, queued messages and wake-ups live
// in PostgreSQL, so clients on either front end talk to each other, and one connection's
// negotiate, polls/stream and POSTs may each land on a different front end.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, Inbox, RS, RawConnection, SseStream, connect, sleep, tag } from "./helpers.mjs";

const B = process.env.SIGNALR_URL_B?.replace(/\/+$/, "");
const T = { timeout: 90000, skip: B ? false : "SIGNALR_URL_B (the second front end) is not set" };

test("chat messages cross between the front ends in both directions, over both transports", T, async (t) => {
    const places = [
        ["A/LongPolling", BASE, "LongPolling"],
        ["A/ServerSentEvents", BASE, "ServerSentEvents"],
        ["B/LongPolling", B, "LongPolling"],
        ["B/ServerSentEvents", B, "ServerSentEvents"],
    ];
    const conns = [];
    for (const [name, base, transport] of places) {
        const c = await connect(t, "ChatRoom", {}, { base, transport });
        conns.push({ name, c, inbox: new Inbox(c, "ReceivePublicMessage") });
    }
    const run = tag();
    const PER = 3;
    // everyone sends, interleaved
    for (let k = 0; k < PER; k++) {
        await Promise.all(conns.map(({ name, c }) => c.invoke("SendPublicMessage", `${run} ${name} ${k}`)));
    }
    const mine = (s) => typeof s === "string" && s.includes(`:${run} `);
    for (const { name, inbox } of conns) {
        await inbox.waitFor(mine, 20000, `${name} receiving all ${conns.length * PER} messages`, conns.length * PER);
    }
    await sleep(500); // room for duplicates to show
    for (const { name: receiver, inbox } of conns) {
        const got = inbox.matching(mine).map(([s]) => s);
        assert.equal(got.length, conns.length * PER, `${receiver}: ${JSON.stringify(got)}`);
        for (const { name: sender, c } of conns) {
            const fromSender = got.filter((s) => s.startsWith(`${c.connectionId}:`)).map((s) => s.slice(s.indexOf(`${run} `)));
            assert.deepEqual(fromSender, Array.from({ length: PER }, (_, k) => `${run} ${sender} ${k}`),
                `${receiver} receiving ${sender}'s messages once each, in order`);
        }
    }
});

test("one LongPolling connection across both front ends: negotiate on A, polls alternating, POSTs on B", T, async (t) => {
    const c = await RawConnection.negotiate("Test", BASE);
    t.after(() => c.delete().catch(() => {}));
    const first = await c.poll({ base: B });
    assert.equal(first.status, 200, "first poll (on B)");
    assert.equal(first.body, "");
    assert.equal((await c.send(`{"protocol":"json","version":1}${RS}`, { base: BASE })).status, 200, "handshake POST (on A)");

    // polls alternate B, A, B, ... until `done`; every body is kept with the front end it came from
    const bodies = [];
    let stop = false;
    let polls = 0;
    let pollError;
    const poller = (async () => {
        const deadline = Date.now() + 40000;
        while (!stop && Date.now() < deadline) {
            const base = polls++ % 2 === 0 ? B : BASE;
            const r = await c.poll({ base, timeout: 20000 });
            if (stop) break;
            if (r.status !== 200) {
                pollError = new Error(`poll ${polls} on ${base === B ? "B" : "A"}: ${r.status} ${r.body}`);
                break;
            }
            bodies.push({ base, body: r.body });
        }
    })().catch((err) => { pollError = err; });
    const frames = () => bodies.flatMap(({ body }) => (body === "" ? [] : body.slice(0, -1).split(RS).map((f) => JSON.parse(f))));
    const waitFrames = async (pred, ms, what) => {
        const deadline = Date.now() + ms;
        while (!pred(frames())) {
            if (pollError) throw pollError;
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(frames())}`);
            await sleep(50);
        }
    };
    try {
        await waitFrames((fs) => fs.length >= 1, 10000, "the handshake reply");
        assert.deepEqual(frames()[0], {}, "the handshake reply comes first");

        // invocations, all POSTed to B, some back to back, some while a poll is held
        const N = 12;
        for (let i = 1; i <= N; i++) {
            assert.equal((await c.invoke(i, "Add", [i, 1000], { base: B })).status, 200, `invocation ${i} (on B)`);
            if (i % 3 === 0) await sleep(150);
        }
        // a last one marks the end: everything before it has arrived when it has
        assert.equal((await c.invoke("end", "Echo", ["end"], { base: B })).status, 200);
        await waitFrames((fs) => fs.some((f) => f.type === 3 && f.invocationId === "end"), 20000, "the last completion");
        stop = true;
        const completions = frames().filter((f) => f.type === 3);
        assert.deepEqual(completions.map((f) => f.invocationId),
            [...Array.from({ length: N }, (_, i) => String(i + 1)), "end"], "every completion exactly once, in order");
        for (const f of completions.slice(0, N)) assert.equal(f.result, Number(f.invocationId) + 1000);
        assert.equal(frames().filter((f) => Object.keys(f).length === 0).length, 1, "one handshake reply");
        const fromA = bodies.filter((b) => b.base === BASE && b.body !== "").length;
        const fromB = bodies.filter((b) => b.base === B && b.body !== "").length;
        assert.ok(fromA > 0 && fromB > 0, `data came by polls on both front ends (A ${fromA}, B ${fromB})`);
    } finally {
        stop = true;
        await c.delete().catch(() => {}); // ends the held poll (204)
        await poller;
    }
});

test("a stream id open on one front end's worker is in use on the other's; free again once cancelled", T, async (t) => {
    const c = await RawConnection.open(t, "Test");
    const invoke = (base) => c.send(`{"type":4,"invocationId":"s1","target":"Held","arguments":[]}${RS}`, { base });
    assert.equal((await invoke(BASE)).status, 200, "the stream starts on A");
    assert.equal((await invoke(B)).status, 200, "the same id, on B");
    const frames = await c.pollUntil((fs) => fs.some((f) => f.type === 3 && f.invocationId === "s1"), 10000, "the refusal");
    assert.equal(frames.find((f) => f.type === 3 && f.invocationId === "s1").error, "Invocation ID 's1' is already in use.");
    // cancelled (on B), the stream ends on A's worker (no Completion follows a cancel), and then
    // its id is free again on B: each attempt is followed by an Echo, so an attempt that drew no
    // refusal before its Echo came back was accepted
    assert.equal((await c.send(`{"type":5,"invocationId":"s1"}${RS}`, { base: B })).status, 200);
    const refusals = () => c.frames.filter((f) => f.type === 3 && f.invocationId === "s1").length;
    let accepted = false;
    for (let attempt = 0; attempt < 50 && !accepted; attempt++) {
        const before = refusals();
        assert.equal((await invoke(B)).status, 200);
        assert.equal((await c.invoke(`e${attempt}`, "Echo", [attempt], { base: B })).status, 200);
        await c.pollUntil((fs) => fs.some((f) => f.invocationId === `e${attempt}`), 10000, `echo ${attempt}`);
        accepted = refusals() === before;
    }
    assert.ok(accepted, "the id of the cancelled stream stayed in use");
});

test("one SSE connection across both front ends: negotiate on B, stream from A, POSTs alternating", T, async (t) => {
    const c = await RawConnection.negotiate("Test", B);
    const stream = await SseStream.open(c.urlAt(BASE));
    t.after(() => stream.close());
    assert.equal(stream.status, 200);
    assert.equal((await c.send(`{"protocol":"json","version":1}${RS}`, { base: B })).status, 200);
    await stream.waitFor((s) => s.events.length >= 1, 5000, "the handshake reply");
    assert.equal(stream.events[0].data, `{}${RS}`);
    const N = 10;
    for (let i = 1; i <= N; i++) {
        const base = i % 2 ? B : BASE;
        assert.equal((await c.invoke(i, "Echo", [`m${i}`], { base })).status, 200, `invocation ${i}`);
    }
    await stream.waitFor((s) => s.frames.filter((f) => f.type === 3).length >= N, 10000, `${N} completions`);
    await sleep(300);
    const completions = stream.frames.filter((f) => f.type === 3);
    assert.deepEqual(completions.map((f) => [f.invocationId, f.result]),
        Array.from({ length: N }, (_, i) => [String(i + 1), `m${i + 1}`]));
    // a second stream for it is refused on either front end
    for (const base of [BASE, B]) {
        const again = await SseStream.open(c.urlAt(base));
        assert.equal(again.status, 409, `second stream via ${base}`);
    }
    assert.ok(stream.open);
});
