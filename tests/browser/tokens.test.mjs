// tokens.test.mjs — the access-token box: hidden unless the page is told tokens are on
// (?tokens=1, or a build with VITE_DEMO_TOKENS=1); a token typed there reaches the hubs through
// the client's accessTokenFactory (Authorization: Bearer on negotiate, polls and sends;
// access_token on the event-stream URL).  run.sh gives the workers SIGNALR_JWT_KEY (HS256) and
// this suite the same key, so it can mint tokens the server accepts.  (The stock hubs take
// anonymous clients too and do not show who the server thinks a client is, so what is checked
// here is that the page sends the token the way the client does, and that the server accepts
// the connection's requests with it — a request naming another user than its connection's is
// refused with 403.)
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, test } from "node:test";
import { connectionIdOf, launch, openPage, problemsOf, say, tag, transportOf, waitMessage } from "./helpers.mjs";

const KEY = process.env.SIGNALR_JWT_KEY ?? "";
const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** An HS256 JWT for `sub`, valid for an hour. */
function mint(sub, key = KEY) {
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const body = b64url(JSON.stringify({ sub, iat: now, nbf: now - 5, exp: now + 3600 }));
    const sig = createHmac("sha256", key).update(`${head}.${body}`).digest("base64url");
    return `${head}.${body}.${sig}`;
}

/** Waits until the chat panel is connected with a connection id other than `old`. */
async function waitNewConnection(page, old, timeout = 30_000) {
    await page.waitForFunction((o) => {
        const p = document.querySelector('[data-testid="chat-panel"]');
        return p.querySelector('[data-testid="state"]').dataset.state === "connected" &&
            p.querySelector('[data-testid="connection-id"]').textContent.trim() !== o;
    }, old, { timeout });
}

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Records what the page sends to the hubs: Authorization headers and access_token parameters. */
function recordAuth(page) {
    const seen = [];
    page.on("request", (r) => {
        const url = new URL(r.url());
        if (!url.pathname.startsWith("/Hubs/")) return;
        seen.push({ path: url.pathname, type: r.resourceType(), auth: r.headers().authorization ?? "",
            id: url.searchParams.get("id") ?? "",
            query: url.searchParams.get("access_token") ?? "" });
    });
    return seen;
}

test("the token box is hidden unless the page is told tokens are on", async () => {
    const page = await openPage(browser, { name: "NoTokens" });
    await transportOf(page);
    assert.equal(await page.getByTestId("login").count(), 0);
    await page.goto(`${new URL(page.url()).origin}/?tokens=1`);
    await page.getByTestId("login").waitFor();
    await page.context().close();
});

test("a token typed in the box goes to the hub over both transports", { skip: !KEY && "SIGNALR_JWT_KEY is not set" }, async () => {
    for (const transport of ["ServerSentEvents", "LongPolling"]) {
        let seen;
        const page = await openPage(browser, { name: "Dave", path: `/?tokens=1&transport=${transport}`,
            init: (p) => { seen = recordAuth(p); } });
        await transportOf(page);
        const before = await connectionIdOf(page);
        // before a token: nothing is sent
        assert.ok(seen.every((s) => !s.auth && !s.query), "no token before one is typed");
        const token = mint("dave");
        const from = seen.length;
        await page.getByTestId("token").fill(token);
        await page.getByTestId("token").press("Enter");
        // the connection starts again, with the token
        await waitNewConnection(page, before);
        assert.equal(await transportOf(page), transport);
        const text = `with a token ${tag()}`;
        await say(page, text);
        await waitMessage(page, text);
        // the new connection's negotiate, stream or polls, and sends (the old connection's last
        // requests, which may come after the token was typed, are the ones with its id: the
        // connection token on the URL, not the connection id)
        const old = new Set(seen.slice(0, from).map((s) => s.id).filter(Boolean));
        const after = seen.slice(from).filter((s) => !old.has(s.id));
        assert.ok(after.some((s) => s.path.endsWith("/negotiate")), "a negotiate after the token");
        assert.ok(after.filter((s) => s.id).length >= 2, "requests of the new connection");
        for (const s of after) {
            if (s.type === "eventsource") assert.equal(s.query, token, "the event stream carries access_token");
            else assert.equal(s.auth, `Bearer ${token}`, `${s.path} (${s.type}) carries the bearer token`);
        }
        // no 401/403: the previous (anonymous) connection did not send its last requests with
        // the new token
        assert.deepEqual(problemsOf(page), []);
        await page.context().close();
    }
});
