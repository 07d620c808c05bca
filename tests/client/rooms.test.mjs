// rooms.test.mjs — the example hub /Hubs/Rooms (src/hubs/rooms.c) through the real client: rooms
// are groups, the user is ?name=... (the hub's identify hook; at most 64 bytes, else anonymous,
// and an anonymous connection is known by its connection id).  Client methods:
// RoomMessage(room, who, text), PrivateMessage(from, to, text), UserJoined(room, who),
// UserLeft(room, who).
//
// The suite runs every test over both transports itself (LongPolling and ServerSentEvents), so
// scripts/test.sh runs it once; SIGNALR_TRANSPORT=LongPolling|ServerSentEvents restricts it to
// one.  "Nobody else got it" is checked without sleeping: every connection of a test is in a
// sync room, and after the action under test one of them talks to that room; delivery to one
// connection is in commit order, so whatever did not arrive before that marker never will.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { BASE, Inbox, signalR, tag } from "./helpers.mjs";

const BOTH = ["LongPolling", "ServerSentEvents"];
const TRANSPORTS = BOTH.includes(process.env.SIGNALR_TRANSPORT) ? [process.env.SIGNALR_TRANSPORT] : BOTH;
const CLIENT_TIMEOUT_MS = Number(process.env.SIGNALR_CLIENT_TIMEOUT ?? 4) * 1000;
const KEEPALIVE_MS = Math.max(250, Math.min(15000, Math.floor(CLIENT_TIMEOUT_MS / 4)));
const DELIVERY_MS = 10000;
const LOG = process.env.SIGNALR_CLIENT_LOG
    ? signalR.LogLevel[process.env.SIGNALR_CLIENT_LOG] ?? signalR.LogLevel.Debug
    : signalR.LogLevel.Error;
const T = { timeout: 60000 };

const hubError = (method, text) => `An unexpected error occurred invoking '${method}' on the server. HubException: ${text}`;

async function rejectsWith(promise, message) {
    await assert.rejects(promise, (err) => {
        assert.equal(err.message, message);
        return true;
    });
}

/**
 * One Rooms connection over `transport`: `label` names it in messages, `who` is how the hub
 * names it (its ?name=, else its connection id); it records every client method.
 */
async function member(t, transport, label, name) {
    const query = name === undefined ? "" : `?name=${encodeURIComponent(name)}`;
    const conn = new signalR.HubConnectionBuilder()
        .withUrl(`${BASE}/Hubs/Rooms${query}`, { transport: signalR.HttpTransportType[transport] })
        .withKeepAliveInterval(KEEPALIVE_MS)
        .configureLogging(LOG)
        .build();
    const m = {
        label, conn,
        joined: new Inbox(conn, "UserJoined"),
        left: new Inbox(conn, "UserLeft"),
        says: new Inbox(conn, "RoomMessage"),
        private: new Inbox(conn, "PrivateMessage"),
    };
    t.after(() => conn.stop());
    await conn.start();
    m.id = conn.connectionId;
    m.who = name !== undefined && name !== "" && Buffer.byteLength(name) <= 64 ? name : m.id;
    return m;
}

/** A test's connections, all in one sync room (see the header). */
async function roster(t, transport, specs) {
    const sync = `sync-${tag()}`;
    const members = [];
    for (const [label, name] of specs) {
        const m = await member(t, transport, label, name);
        assert.equal(await m.conn.invoke("JoinRoom", sync), null, `${label} joining the sync room`);
        members.push(m);
    }
    /** one of `among` talks to the sync room; resolves once all of `among` heard it */
    const settle = async (among = members) => {
        const marker = `marker ${tag()}`;
        assert.equal(await among[0].conn.invoke("SendToRoom", sync, marker), null);
        await Promise.all(among.map((m) =>
            m.says.waitFor((room, _who, text) => room === sync && text === marker, DELIVERY_MS, `${m.label} hearing ${marker}`)));
    };
    return { members, settle, sync };
}

/** labels of the members whose `inbox` got a call with exactly `args`, once per call */
const heard = (members, inbox, args) => members
    .flatMap((m) => m[inbox].matching((...got) => JSON.stringify(got) === JSON.stringify(args)).map(() => m.label))
    .sort();

for (const TR of TRANSPORTS) {
    describe(`Rooms hub over ${TR}`, () => {
        test("JoinRoom/LeaveRoom: UserJoined to the room with the joiner, UserLeft to the others and the leaver", T, async (t) => {
            const run = tag();
            const { members, settle } = await roster(t, TR, [
                ["alice", `alice-${run}`], ["bob", `bob-${run}`], ["carol", `carol-${run}`], ["anon", undefined],
            ]);
            const [alice, bob, carol, anon] = members;
            const R = `room ${run}`;

            assert.equal(await alice.conn.invoke("JoinRoom", R), null);
            await settle();
            assert.deepEqual(heard(members, "joined", [R, alice.who]), ["alice"], "alice joined");

            assert.equal(await bob.conn.invoke("JoinRoom", R), null);
            await settle();
            assert.deepEqual(heard(members, "joined", [R, bob.who]), ["alice", "bob"], "bob joined");

            assert.equal(await anon.conn.invoke("JoinRoom", R), null);
            await settle();
            assert.deepEqual(heard(members, "joined", [R, anon.id]), ["alice", "anon", "bob"], "anonymous joined (by id)");

            assert.equal(await alice.conn.invoke("LeaveRoom", R), null);
            await settle();
            assert.deepEqual(heard(members, "left", [R, alice.who]), ["alice", "anon", "bob"], "alice left");

            assert.equal(await anon.conn.invoke("LeaveRoom", R), null);
            await settle();
            assert.deepEqual(heard(members, "left", [R, anon.id]), ["anon", "bob"], "anonymous left");
            // carol was never in R and heard nothing of it
            for (const inbox of ["joined", "left", "says"]) {
                assert.deepEqual(carol[inbox].matching((room) => room === R), [], `carol's ${inbox}`);
            }
        });

        test("RoomMessage reaches the room's members only; talking before joining is refused", T, async (t) => {
            const run = tag();
            const { members, settle } = await roster(t, TR, [
                ["alice", `alice-${run}`], ["bob", `bob-${run}`], ["carol", `carol-${run}`], ["anon", undefined],
            ]);
            const [alice, bob, carol, anon] = members;
            const R = `talk-${run}`, other = `other-${run}`;
            for (const m of [alice, bob, anon]) assert.equal(await m.conn.invoke("JoinRoom", R), null);
            assert.equal(await carol.conn.invoke("JoinRoom", other), null);

            assert.equal(await alice.conn.invoke("SendToRoom", R, "hello room"), null);
            await settle();
            assert.deepEqual(heard(members, "says", [R, alice.who, "hello room"]), ["alice", "anon", "bob"]);

            assert.equal(await anon.conn.invoke("SendToRoom", R, "from nobody"), null);
            await settle();
            assert.deepEqual(heard(members, "says", [R, anon.id, "from nobody"]), ["alice", "anon", "bob"]);

            await rejectsWith(carol.conn.invoke("SendToRoom", R, "let me in"), hubError("SendToRoom", `Join '${R}' before talking to it.`));
            await rejectsWith(alice.conn.invoke("SendToRoom", other, "x"), hubError("SendToRoom", `Join '${other}' before talking to it.`));

            assert.equal(await bob.conn.invoke("LeaveRoom", R), null);
            await rejectsWith(bob.conn.invoke("SendToRoom", R, "still here?"), hubError("SendToRoom", `Join '${R}' before talking to it.`));
            assert.equal(await alice.conn.invoke("SendToRoom", R, "after bob left"), null);
            await settle();
            assert.deepEqual(heard(members, "says", [R, alice.who, "after bob left"]), ["alice", "anon"]);
            assert.deepEqual(carol.says.matching((room) => room === R), [], "carol heard nothing of the room");
            assert.deepEqual(heard(members, "says", [R, carol.who, "let me in"]), [], "a refused message is not sent");
            for (const m of members) assert.equal(m.conn.state, "Connected", m.label);
        });

        test("invalid room names are refused", T, async (t) => {
            const m = await member(t, TR, "alice", `alice-${tag()}`);
            for (const name of ["", "x".repeat(257), "a\u0001b", "line\nbreak"]) {
                await rejectsWith(m.conn.invoke("JoinRoom", name), hubError("JoinRoom", `'${name}' is not a valid room name.`));
                await rejectsWith(m.conn.invoke("LeaveRoom", name), hubError("LeaveRoom", `'${name}' is not a valid room name.`));
            }
            assert.equal(m.conn.state, "Connected");
        });

        test("PrivateMessage: every connection of the named user plus the sender's own", T, async (t) => {
            const run = tag();
            const A = `Alice ${run}`, B = `bob-${run}`;
            const { members, settle } = await roster(t, TR, [
                ["alice1", A], ["alice2", A], ["bob1", B], ["bob2", B], ["carol", `carol-${run}`], ["anon", undefined],
                ["long", "n".repeat(65)], // over 64 bytes: anonymous
            ]);
            const [alice1, alice2, bob1, , carol, anon, long] = members;
            assert.equal(long.who, long.id);

            assert.equal(await bob1.conn.invoke("SendPrivate", A, "psst"), null);
            await settle();
            assert.deepEqual(heard(members, "private", [B, A, "psst"]), ["alice1", "alice2", "bob1", "bob2"]);

            assert.equal(await alice2.conn.invoke("SendPrivate", A, "note to self"), null);
            await settle();
            assert.deepEqual(heard(members, "private", [A, A, "note to self"]), ["alice1", "alice2"], "to oneself: once each");

            assert.equal(await carol.conn.invoke("SendPrivate", `nobody-${run}`, "anyone?"), null);
            await settle();
            assert.deepEqual(heard(members, "private", [carol.who, `nobody-${run}`, "anyone?"]), ["carol"], "only the sender's copy");

            assert.equal(await alice1.conn.invoke("SendPrivate", B.toUpperCase(), "wrong case"), null);
            await settle();
            assert.deepEqual(heard(members, "private", [A, B.toUpperCase(), "wrong case"]), ["alice1", "alice2"], "names are case-sensitive");

            for (const m of [anon, long]) {
                await rejectsWith(m.conn.invoke("SendPrivate", A, "hi"), hubError("SendPrivate", "Give yourself a name to send private messages."));
            }
            await settle();
            for (const m of members) {
                assert.deepEqual(m.private.matching((_from, _to, text) => text === "hi"), [], `${m.label}: refused message delivered`);
            }
        });

        test("a member that disconnects is announced with UserLeft to its rooms", T, async (t) => {
            const run = tag();
            const { members, settle } = await roster(t, TR, [
                ["alice", `alice-${run}`], ["bob", `bob-${run}`], ["carol", `carol-${run}`], ["anon", undefined],
            ]);
            const [alice, bob, carol, anon] = members;
            const R1 = `one-${run}`, R2 = `two-${run}`, R3 = `three-${run}`;
            for (const m of [alice, bob, anon]) assert.equal(await m.conn.invoke("JoinRoom", R1), null);
            assert.equal(await bob.conn.invoke("JoinRoom", R2), null);
            assert.equal(await alice.conn.invoke("JoinRoom", R2), null);
            assert.equal(await bob.conn.invoke("JoinRoom", R3), null);
            assert.equal(await alice.conn.invoke("JoinRoom", R3), null);
            assert.equal(await bob.conn.invoke("LeaveRoom", R3), null); // announced now, not again later

            await bob.conn.stop();
            const rest = [alice, carol, anon];
            await alice.left.waitFor((room, who) => room === R1 && who === bob.who, DELIVERY_MS, "UserLeft(R1, bob) after stop()");
            await settle(rest);
            assert.deepEqual(heard(rest, "left", [R1, bob.who]), ["alice", "anon"], "R1: bob left");
            assert.deepEqual(heard(rest, "left", [R2, bob.who]), ["alice"], "R2: bob left");
            assert.deepEqual(heard(rest, "left", [R3, bob.who]), ["alice"], "R3: only LeaveRoom's notice");

            await anon.conn.stop();
            await alice.left.waitFor((room, who) => room === R1 && who === anon.id, DELIVERY_MS, "UserLeft(R1, anon id) after stop()");
            await settle([alice, carol]);
            assert.deepEqual(heard([alice, carol], "left", [R1, anon.id]), ["alice"], "R1: the anonymous member left");
            assert.deepEqual(carol.left.matching((room) => room.endsWith(run)), [], "carol is in none of those rooms");
        });
    });
}
