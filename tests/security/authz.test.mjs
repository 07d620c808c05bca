// authz.test.mjs — who may use a connection (matrix rows A-01, A-03/J17, A-06, A-07, §1.4 limits):
// 401 with `WWW-Authenticate: Bearer` and an empty body on every request kind of /authorizedhub
// (negotiate, SSE GET, poll, POST, DELETE); the same-user rule (a connection negotiated by user A
// refuses requests of user B, of anonymous callers and of A's own connection token with another
// identity, with 403, and stays A's); stock hubs treating a bad token as anonymous; connections per
// user (429); error texts with detailed errors off.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import {
    AUTH_HUB, Conn, HANDSHAKE, HUB, MAX_CONN_PER_USER, RS, URLS, assertHealthy, assertNoLeaks,
    bearer, claims, hs256, http, now, openSse, secret, snapshotWorkers, tag, workerPids,
} from "./lib.mjs";

let workers;
before(() => { workers = snapshotWorkers(); });
after(() => {
    assertNoLeaks();
    for (const name of ["stock", "conf"]) assert.deepEqual(workerPids(name), workers[name], `${name}: no worker may have died`);
});

const user = () => `u-${tag()}`;
/** a token for the stock server (no issuer/audience configured there; these are ignored) */
const tokenFor = (who) => hs256(claims(who));

function assert401(r, what) {
    assert.equal(r.status, 401, `${what}: expected 401, got ${r.status} ${String(r.body ?? r.raw).slice(0, 200)}`);
    assert.equal(r.headers["www-authenticate"], "Bearer", `${what}: WWW-Authenticate`);
    assert.equal(r.body ?? r.raw, "", `${what}: the body must be empty`);
}

function assert403(r, what) {
    assert.equal(r.status, 403, `${what}: expected 403, got ${r.status} ${String(r.body ?? r.raw).slice(0, 200)}`);
    assert.equal(r.body ?? r.raw, "", `${what}: the body must be empty`);
}

// ------------------------------------------------------------------------------------------------

describe("A-01: 401 on every request kind of an authorized hub", () => {
    for (const [label, headers] of [
        ["no token", {}],
        ["an invalid token", bearer("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
        ["an expired token", null],
        ["another scheme", { Authorization: "Basic dXNlcjpwYXNz" }],
    ]) {
        test(`${label}: negotiate, SSE GET, poll, POST and DELETE are 401 with WWW-Authenticate: Bearer and no body`, async (t) => {
            const h = headers ?? bearer(hs256(claims(user(), { exp: now() - 60 })));
            const who = user();
            // a real connection of a real user, so that the requests name a token that exists
            const c = await Conn.open(t, URLS.conf, AUTH_HUB, { headers: bearer(tokenFor(who)) });
            assert401(await http("POST", `${URLS.conf}${AUTH_HUB}/negotiate?negotiateVersion=1`, { headers: h }), "negotiate");
            const s = await c.sse({ headers: h });
            t.after(() => s.close());
            assert401(s, "SSE GET");
            assert401(await c.poll({ headers: h }), "poll");
            assert401(await c.invoke("evil", "Echo", ["evil"], { headers: h }), "POST");
            assert401(await c.delete({ headers: h }), "DELETE");
            // the connection did not notice
            assert.equal((await c.call("Echo", ["ok"])).result, "ok");
            assert.ok(!c.frames.some((f) => f.invocationId === "evil"), "a refused POST must not run");
            // unknown and missing ids are 401 too: authentication comes before the id lookup
            assert401(await http("GET", `${URLS.conf}${AUTH_HUB}?id=unknown`, { headers: h }), "poll of an unknown id");
            assert401(await http("GET", `${URLS.conf}${AUTH_HUB}`, { headers: h }), "poll without id");
        });
    }
});

// ------------------------------------------------------------------------------------------------

describe("A-03 / J17: the same user on every request of a connection", () => {
    test("long polling on /authorizedhub: B's poll, POST and DELETE are 403; A's connection is unaffected", async (t) => {
        const a = user(), b = user();
        const tokA = tokenFor(a), tokB = tokenFor(b);
        const c = await Conn.open(t, URLS.conf, AUTH_HUB, { headers: bearer(tokA) });
        // a poll of A is held while B tries
        const held = c.poll();
        assert403(await c.poll({ headers: bearer(tokB) }), "B's poll");
        assert403(await c.invoke("evil", "GetUserNameIdentifier", [], { headers: bearer(tokB) }), "B's POST");
        assert403(await c.delete({ headers: bearer(tokB) }), "B's DELETE");
        const s = await c.sse({ headers: bearer(tokB) });
        t.after(() => s.close());
        assert403(s, "B's SSE GET (header)");
        const s2 = await c.sse({ headers: {}, query: `&access_token=${tokB}` });
        t.after(() => s2.close());
        assert403(s2, "B's SSE GET (?access_token=)");
        // A goes on: the held poll is still the newest (B's poll did not displace it) and gets A's result
        assert.equal((await c.invoke("mine", "GetUserNameIdentifier", [])).status, 200);
        const r = await held;
        assert.equal(r.status, 200, "A's held poll");
        c.frames.push(...r.body.split(RS).filter(Boolean).map((x) => JSON.parse(x)));
        const done = await c.completion("mine");
        assert.equal(done.result, a);
        assert.ok(!c.frames.some((f) => f.invocationId === "evil"), "B's invocation must not have run");
        assert.equal((await c.delete()).status, 202, "A's DELETE");
    });

    test("before activation: B's SSE GET is 403 and does not take the connection; A's stream then works", async (t) => {
        const a = user(), b = user();
        const c = await Conn.negotiate(URLS.conf, AUTH_HUB, { headers: bearer(tokenFor(a)) });
        const sb = await c.sse({ headers: bearer(tokenFor(b)) });
        t.after(() => sb.close());
        assert403(sb, "B's SSE GET on A's new connection");
        assert403(await c.poll({ headers: bearer(tokenFor(b)) }), "B's first poll on A's new connection");
        const stream = await c.sse();
        t.after(() => stream.close());
        assert.equal(stream.status, 200, "A's SSE GET");
        await stream.waitFor((s) => s.raw.startsWith(":"), 5000, "the opening comment");
        assert.equal((await c.send(HANDSHAKE)).status, 200);
        await stream.waitFor((s) => s.events.length > 0, 5000, "the handshake reply");
        // on the stream, B's POST / DELETE / poll are 403 too, and the stream stays up
        assert403(await c.invoke("evil", "Echo", ["evil"], { headers: bearer(tokenFor(b)) }), "B's POST on A's stream");
        assert403(await c.delete({ headers: bearer(tokenFor(b)) }), "B's DELETE on A's stream");
        assert403(await c.poll({ headers: bearer(tokenFor(b)) }), "B's poll on A's stream");
        assert.equal((await c.invoke("mine", "GetUserNameIdentifier", [])).status, 200);
        assert.equal((await stream.frame((f) => f.invocationId === "mine")).result, a);
        assert.ok(stream.open);
        assert.ok(!stream.frames.some((f) => f.invocationId === "evil"));
    });

    test("a stock hub (/Hubs/Test): A's connection refuses B, anonymous callers and bad tokens with 403", async (t) => {
        const a = user(), b = user();
        const c = await Conn.open(t, URLS.stock, HUB.stock, { headers: bearer(tokenFor(a)) });
        const bad = bearer(`${tokenFor(a).slice(0, -3)}AAA`);
        for (const [label, h] of [["B's token", bearer(tokenFor(b))], ["no token", {}], ["an invalid token (anonymous on a stock hub)", bad]]) {
            assert403(await c.poll({ headers: h }), `${label}: poll`);
            assert403(await c.invoke("evil", "Echo", ["evil"], { headers: h }), `${label}: POST`);
            assert403(await c.delete({ headers: h }), `${label}: DELETE`);
            const s = await c.sse({ headers: h });
            t.after(() => s.close());
            assert403(s, `${label}: SSE GET`);
        }
        assert.equal((await c.call("Echo", ["mine"])).result, "mine");
        assert.ok(!c.frames.some((f) => f.invocationId === "evil"));
    });

    test("a stock hub: an anonymous connection refuses an authenticated caller (anonymous → user is a change)", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        const h = bearer(tokenFor(user()));
        assert403(await c.poll({ headers: h }), "poll with a token");
        assert403(await c.invoke("evil", "Echo", ["evil"], { headers: h }), "POST with a token");
        assert403(await c.delete({ headers: h }), "DELETE with a token");
        assert.equal((await c.call("Echo", ["anon"])).result, "anon");
    });

    test("a stock hub treats a bad token as anonymous (200, no user), not as an error", async (t) => {
        const bad = bearer(`${tokenFor(user()).slice(0, -3)}AAA`);
        const c = await Conn.open(t, URLS.stock, HUB.stock, { headers: bad });
        const ctx = (await c.call("GetContext", [])).result;
        assert.equal(ctx.userId, null);
        // and the same connection is then usable without any token (both anonymous)
        c.headers = {};
        assert.equal((await c.call("Echo", [1])).result, 1);
    });
});

// ------------------------------------------------------------------------------------------------

describe("connections per user (SIGNALR_MAX_CONNECTIONS_PER_USER)", () => {
    test(`the ${MAX_CONN_PER_USER + 1}th open connection of a user is 429 with Retry-After; others are not affected`, async (t) => {
        const who = user();
        const conns = [];
        for (let i = 0; i < MAX_CONN_PER_USER; i++) {
            conns.push(await Conn.open(t, URLS.conf, AUTH_HUB, { headers: bearer(tokenFor(who)) }));
        }
        const r = await http("POST", `${URLS.conf}${AUTH_HUB}/negotiate?negotiateVersion=1`, { headers: bearer(tokenFor(who)) });
        assert.equal(r.status, 429, `negotiate over the limit: ${r.status} ${r.body}`);
        assert.ok(Number(r.headers["retry-after"]) > 0, "Retry-After");
        assert.ok(!r.body.includes("connectionToken"));
        // the same limit holds on another hub of the same database
        const r2 = await http("POST", `${URLS.conf}${HUB.conf}/negotiate?negotiateVersion=1`, { headers: bearer(tokenFor(who)) });
        assert.equal(r2.status, 429, "over the limit on another hub");
        // another user and anonymous callers are not limited by it
        const other = await Conn.open(t, URLS.conf, AUTH_HUB, { headers: bearer(tokenFor(user())) });
        assert.equal((await other.call("Echo", [1])).result, 1);
        // the existing connections keep working; closing one frees a place
        assert.equal((await conns[0].call("Echo", [2])).result, 2);
        assert.equal((await conns[1].delete()).status, 202);
        const again = await Conn.open(t, URLS.conf, AUTH_HUB, { headers: bearer(tokenFor(who)) });
        assert.equal((await again.call("GetUserNameIdentifier", [])).result, who);
    });
});

// ------------------------------------------------------------------------------------------------

describe("A-07: errors never leak internals (SIGNALR_DETAILED_ERRORS=0)", () => {
    test("an unexpected failure in a hub method shows the generic text only", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        assert.deepEqual((await c.call("Crash", [])).error, "An unexpected error occurred invoking 'Crash' on the server.");
        const d = await Conn.open(t, URLS.conf, HUB.conf);
        assert.deepEqual((await d.call("ThrowException", ["the secret detail"])).error,
            "An unexpected error occurred invoking 'ThrowException' on the server.");
        assert.deepEqual((await d.call("GetNumRedirects", [])).error,
            "An unexpected error occurred invoking 'GetNumRedirects' on the server.");
        // a streaming method that fails
        const id = tag();
        assert.equal((await d.send(JSON.stringify({ type: 4, invocationId: id, target: "StreamThrowException", arguments: ["the secret detail"] }) + RS)).status, 200);
        const done = await d.completion(id);
        assert.equal(done.error, "An unexpected error occurred invoking 'StreamThrowException' on the server.");
    });

    test("binding failures hide their detail; hub errors (HubException) show their own text only", async (t) => {
        const c = await Conn.open(t, URLS.stock, HUB.stock);
        assert.equal((await c.call("Add", [1])).error, "Failed to invoke 'Add' due to an error on the server.");
        assert.equal((await c.call("Add", ["x", {}])).error, "Failed to invoke 'Add' due to an error on the server.");
        assert.equal((await c.call("Fail", ["deliberate"])).error,
            "An unexpected error occurred invoking 'Fail' on the server. HubException: deliberate");
        assert.equal((await c.call("FilteredOut", [])).error,
            "An unexpected error occurred invoking 'FilteredOut' on the server. HubException: blocked by a filter");
    });

    test("a failing connect hook closes with the generic Close error, without reconnect", async (t) => {
        const r = await http("POST", `${URLS.stock}${HUB.stock}/negotiate?negotiateVersion=1`);
        const c = new Conn(URLS.stock, `${HUB.stock}`, JSON.parse(r.body));
        t.after(() => c.delete().catch(() => {}));
        assert.equal((await c.poll({ query: "&failconnect=1" })).status, 200);
        assert.equal((await c.send(HANDSHAKE)).status, 200);
        const close = await c.closeFrame();
        assert.deepEqual(close, { type: 7, error: "Connection closed with an error." }, "no allowReconnect (false is omitted, as ASP.NET does)");
        // (broadcasts of other connections' disconnects may come first; the Close is the last frame)
        assert.equal(c.frames.at(-1)?.type, 7, "the Close is the last frame");
    });

    const POLICY_HUB = "/Hubs/Policy";
    const MEMBERS_HUB = "/Hubs/Members";
    const unauthorized = (m) => `Failed to invoke '${m}' because user is unauthorized`;

    test("A-06: a method policy not met is an error Completion; the connection continues", async (t) => {
        const anon = await Conn.open(t, URLS.stock, POLICY_HUB);
        assert.equal((await anon.call("AnyUser", [])).error, unauthorized("AnyUser"));
        assert.equal((await anon.call("Public", [])).result, null, "the next invocation works");
        const who = user();
        const c = await Conn.open(t, URLS.stock, POLICY_HUB, { headers: bearer(tokenFor(who)) });
        assert.equal((await c.call("AnyUser", [])).result, who);
        assert.equal((await c.call("AdminOnly", [])).error, unauthorized("AdminOnly"));
        assert.equal((await c.call("NeedsScope", [])).error, unauthorized("NeedsScope"));
        assert.equal((await c.call("Public", [])).result, who);
    });

    test("A-06: roles (role or roles claim, exact case) and claim values decide", async (t) => {
        const cases = [
            [{ role: "admin" }, "AdminOnly", true],
            [{ roles: ["x", "admin"] }, "AdminOnly", true],
            [{ role: "Admin" }, "AdminOnly", false],
            [{ roles: "administrator" }, "AdminOnly", false],
            [{ scope: "chat.write" }, "NeedsScope", true],
            [{ scope: ["a", "chat.write"] }, "NeedsScope", true],
            [{ scope: "chat.read" }, "NeedsScope", false],
            [{}, "NeedsScope", false],
        ];
        for (const [extra, method, allowed] of cases) {
            const who = user();
            const c = await Conn.open(t, URLS.stock, POLICY_HUB, { headers: bearer(hs256(claims(who, extra))) });
            const done = await c.call(method, []);
            if (allowed) assert.equal(done.result, who, `${method} with ${JSON.stringify(extra)}`);
            else assert.equal(done.error, unauthorized(method), `${method} with ${JSON.stringify(extra)}`);
        }
    });

    test("A-06: a hub role policy: 401 without a token, 403 with a token lacking the role, on every request kind", async (t) => {
        const member = hs256(claims(user(), { role: "member" }));
        const c = await Conn.open(t, URLS.stock, MEMBERS_HUB, { headers: bearer(member) });
        assert.equal((await c.call("Public", [])).error, undefined);
        const outsider = bearer(hs256(claims(user())));
        const neg = `${URLS.stock}${MEMBERS_HUB}/negotiate?negotiateVersion=1`;
        assert401(await http("POST", neg), "negotiate without a token");
        assert403(await http("POST", neg, { headers: outsider }), "negotiate without the role");
        for (const [what, r] of [
            ["poll", await c.poll({ headers: outsider })],
            ["POST", await c.send(`{"type":6}${RS}`, { headers: outsider })],
            ["DELETE", await c.delete({ headers: outsider })],
        ]) assert403(r, `${what} without the role`);
        const s = await c.sse({ headers: outsider });
        t.after(() => s.close());
        assert.equal(s.status, 403, "SSE GET without the role");
        assert.equal((await c.call("Public", [])).error, undefined, "the member's connection is unaffected");
    });

    test("A-06: the group limit's own text reaches the client as a hub error", async (t) => {
        const c = await Conn.open(t, URLS.stock, POLICY_HUB);
        for (let i = 0; i < 3; i++) assert.equal((await c.call("Join", [`g${i}-${tag()}`])).error, undefined);
        const err = (await c.call("Join", [`g3-${tag()}`])).error;
        assert.match(err, /^An unexpected error occurred invoking 'Join' on the server\. HubException: .*3 groups/);
    });
});

test("the workers survived", async (t) => {
    await assertHealthy(t, "stock", workers);
    await assertHealthy(t, "conf", workers);
    secret(tokenFor("x"));
});
