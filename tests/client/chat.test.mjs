// chat.test.mjs — /Hubs/ChatRoom through the real client over SIGNALR_TRANSPORT (LongPolling,
// ServerSentEvents, or auto = the client's own choice, which must be ServerSentEvents): every
// connection gets ReceivePublicMessage("<connectionId>:<MM/dd/yyyy HH:mm:ss local time>:<message>"),
// and messages arrive in the order each sender sent them.

import { test } from "node:test";
import assert from "node:assert/strict";
import { ID_RE, Inbox, connect, escapeRe, tag } from "./helpers.mjs";

const T = { timeout: 60000 };

// parses "MM/dd/yyyy HH:mm:ss" as local time
function localTime(mm, dd, yyyy, HH, MM, SS) {
    return new Date(+yyyy, +mm - 1, +dd, +HH, +MM, +SS).getTime();
}

test("SendPublicMessage reaches every connection as <id>:<local time>:<message>", T, async (t) => {
    const a = await connect(t, "ChatRoom");
    const b = await connect(t, "ChatRoom");
    assert.match(a.connectionId, ID_RE);
    assert.match(b.connectionId, ID_RE);
    assert.notEqual(a.connectionId, b.connectionId);
    const inA = new Inbox(a, "ReceivePublicMessage");
    const inB = new Inbox(b, "ReceivePublicMessage");

    const text = `hello ${tag()}`;
    const sent = Date.now();
    await a.invoke("SendPublicMessage", text);
    const re = new RegExp(`^${escapeRe(a.connectionId)}:(\\d{2})/(\\d{2})/(\\d{4}) (\\d{2}):(\\d{2}):(\\d{2}):${escapeRe(text)}$`);
    for (const [who, inbox] of [["B", inB], ["A", inA]]) {
        const args = await inbox.waitFor((s) => typeof s === "string" && s.endsWith(`:${text}`), 10000, `${who} receiving the message`);
        assert.equal(args.length, 1, `one argument, got ${JSON.stringify(args)}`);
        const m = re.exec(args[0]);
        assert.ok(m, `${who}: ${JSON.stringify(args[0])} does not match ${re}`);
        const stamp = localTime(...m.slice(1));
        assert.ok(Math.abs(stamp - sent) < 5 * 60 * 1000,
            `${who}: timestamp ${m.slice(1, 7).join(",")} is not the local time now (${new Date(sent).toString()})`);
    }
    // exactly one delivery per connection
    assert.equal(inA.matching((s) => s.endsWith(`:${text}`)).length, 1);
    assert.equal(inB.matching((s) => s.endsWith(`:${text}`)).length, 1);
});

test("many messages from both sides arrive in send order", T, async (t) => {
    const N = 20;
    const a = await connect(t, "ChatRoom");
    const b = await connect(t, "ChatRoom");
    const inA = new Inbox(a, "ReceivePublicMessage");
    const inB = new Inbox(b, "ReceivePublicMessage");
    const run = tag();

    // queue everything at once: the client batches queued invocations into shared POSTs
    const calls = [];
    for (let i = 0; i < N; i++) {
        calls.push(a.invoke("SendPublicMessage", `${run} A ${i}`));
        calls.push(b.invoke("SendPublicMessage", `${run} B ${i}`));
    }
    await Promise.all(calls);

    const expected = (from) => Array.from({ length: N }, (_, i) => `${run} ${from} ${i}`);
    const texts = (inbox, sender, from) =>
        inbox.matching((s) => s.startsWith(`${sender.connectionId}:`) && s.includes(`:${run} ${from} `))
            .map(([s]) => s.slice(s.indexOf(`${run} `)));
    for (const [who, inbox] of [["A", inA], ["B", inB]]) {
        await inbox.waitFor((s) => s.includes(`:${run} `), 20000, `${who} receiving all ${2 * N} messages`, 2 * N);
        assert.deepEqual(texts(inbox, a, "A"), expected("A"), `${who}: A's messages in order`);
        assert.deepEqual(texts(inbox, b, "B"), expected("B"), `${who}: B's messages in order`);
    }
});

test("a message sent with send() (no invocation id) is delivered too", T, async (t) => {
    const a = await connect(t, "ChatRoom");
    const b = await connect(t, "ChatRoom");
    const inB = new Inbox(b, "ReceivePublicMessage");
    const text = `fire and forget ${tag()}`;
    await a.send("SendPublicMessage", text);
    const [s] = await inB.waitFor((x) => x.endsWith(`:${text}`), 10000, "B receiving the message");
    assert.ok(s.startsWith(`${a.connectionId}:`), s);
});
