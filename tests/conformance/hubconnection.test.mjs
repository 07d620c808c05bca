// hubconnection.test.mjs — upstream HubConnectionTests.ts over ServerSentEvents and LongPolling
// (docs/conformance-server.md §5.1–§5.3): the "using {json|messagepack} over {T} transport" block
// (HC-*; JSON on both transports, MessagePack on LongPolling), the "over {T} transport" block
// (HT-*) and the top-level cases (HX-*).
// Upstream runs every HC case once per HTTP client; in Node that is FetchHttpClient only.

import assert from "node:assert/strict";
import { describe } from "node:test";
import {
    signalR, FetchHttpClient, getUserAgentHeader, Platform, CLIENT_VERSION,
    HttpTransportType, JsonHubProtocol, MessagePackHubProtocol, TRANSPORTS, transportName,
    PROTOCOL_VARIANTS, hubProtocol,
    ENDPOINT_BASE_URL, TESTHUBENDPOINT_URL, TESTHUB_REDIRECT_ENDPOINT_URL, WAIT_MS,
    ctest, hubConnection, induceReconnect, within, deferred, getJwtToken, getText, innerConnectionId,
    activeTransportClass,
} from "./common.mjs";

const TRANSPORT_CLASS = {
    [HttpTransportType.ServerSentEvents]: "ServerSentEventsTransport",
    [HttpTransportType.LongPolling]: "LongPollingTransport",
};

/** start, then check the client really runs on the transport it was asked for */
async function start(conn, transportType) {
    await within(conn.start(), WAIT_MS, "start()");
    if (transportType !== undefined) {
        assert.equal(activeTransportClass(conn), TRANSPORT_CLASS[transportType],
            `the client runs on ${activeTransportClass(conn)}`);
    }
}

/** stop, and the close callback reports no error (upstream: expect(error).toBeUndefined()) */
async function stopClean(conn, closed, n = 1) {
    await within(conn.stop(), WAIT_MS, "stop()");
    const { error } = await closed.next(n);
    assert.equal(error, undefined, `close #${n} carried an error: ${error}`);
}

/** upstream's "message" with one random letter upper-cased (client method names are case-insensitive) */
function randomCaseMessage() {
    const name = "message";
    const idx = Math.floor(Math.random() * (name.length - 1));
    return name.substr(0, idx) + name[idx].toUpperCase() + name.substr(idx + 1);
}

/** subscribes to a server stream; resolves { items } on complete, rejects on error */
function collect(streamResult, items = []) {
    const d = deferred();
    const subscription = streamResult.subscribe({
        next: (item) => items.push(item),
        complete: () => d.resolve({ items }),
        error: (err) => d.reject(err),
    });
    return { done: d.promise, subscription, items };
}

for (const { protocol, transportType } of PROTOCOL_VARIANTS) {
    const T = transportName(transportType);
    const json = protocol === "json";

    describe(`using ${protocol} over ${T} transport`, () => {
        // getConnectionBuilder(transportType, undefined, { httpClient }).withHubProtocol(protocol)
        const hc = (c, url) => hubConnection(c, transportType, url,
            { httpClient: new FetchHttpClient(c.logger) },
            (b) => b.withHubProtocol(hubProtocol(protocol)));

        ctest("HC-01 can invoke server method and receive result", async (c) => {
            const message = "你好，世界！";
            const { conn, closed } = hc(c);
            await start(conn, transportType);
            const result = await within(conn.invoke("Echo", message), WAIT_MS, "Echo");
            assert.equal(result, message);
            await stopClean(conn, closed);
        });

        ctest("HC-02 using https, can invoke server method and receive result", () => {},
            { skip: "TLS only (needs an HTTPS base URL; xit upstream as well)" });

        ctest("HC-03 can invoke server method non-blocking and not receive result", async (c) => {
            const message = "你好，世界！";
            const { conn, closed } = hc(c);
            await start(conn, transportType);
            await within(conn.send("Echo", message), WAIT_MS, "send(Echo)");
            await stopClean(conn, closed);
        });

        ctest("HC-04 can invoke server method structural object and receive structural result", async (c) => {
            const { conn, closed } = hc(c);
            const received = deferred();
            conn.on("CustomObject", (customObject) => received.resolve(customObject));
            await start(conn, transportType);
            await within(conn.send("SendCustomObject", { Name: "test", Value: 42 }), WAIT_MS, "send");
            const customObject = await within(received.promise, WAIT_MS, "the CustomObject call");
            assert.equal(customObject.Name, "test");
            assert.equal(customObject.Value, 42);
            await stopClean(conn, closed);
        });

        ctest("HC-05 can stream server method and receive result", async (c) => {
            const { conn, closed } = hc(c);
            await start(conn, transportType);
            const { done } = collect(conn.stream("Stream"));
            const { items } = await within(done, WAIT_MS, "the end of the stream");
            assert.deepEqual(items, ["a", "b", "c"]);
            await stopClean(conn, closed);
        });

        ctest("HC-06 can stream server method and cancel stream", async (c) => {
            const { conn, closed } = hc(c);
            const canceled = deferred();
            conn.on("StreamCanceled", () => canceled.resolve());
            await start(conn, transportType);
            const { done, subscription } = collect(conn.stream("InfiniteStream"));
            done.catch((err) => canceled.reject(new Error(`stream error: ${err.message}`)));
            subscription.dispose();
            await within(canceled.promise, WAIT_MS, "StreamCanceled from the server");
            await stopClean(conn, closed);
        });

        ctest("HC-07 rethrows an exception from the server when invoking", async (c) => {
            const errorMessage = "An unexpected error occurred invoking 'ThrowException' on the server. " +
                "InvalidOperationException: An error occurred.";
            const { conn } = hc(c);
            await start(conn, transportType);
            await assert.rejects(within(conn.invoke("ThrowException", "An error occurred."), WAIT_MS,
                "ThrowException"), (e) => { assert.equal(e.message, errorMessage); return true; });
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-08 throws an exception when invoking streaming method with invoke", async (c) => {
            const { conn } = hc(c);
            await start(conn, transportType);
            await assert.rejects(within(conn.invoke("EmptyStream"), WAIT_MS, "EmptyStream"), (e) => {
                assert.equal(e.message,
                    "The client attempted to invoke the streaming 'EmptyStream' method with a non-streaming invocation.");
                return true;
            });
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-09 throws an exception when receiving a streaming result for method called with invoke", async (c) => {
            const { conn } = hc(c);
            await start(conn, transportType);
            await assert.rejects(within(conn.invoke("Stream"), WAIT_MS, "Stream"), (e) => {
                assert.equal(e.message,
                    "The client attempted to invoke the streaming 'Stream' method with a non-streaming invocation.");
                return true;
            });
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-10 rethrows an exception from the server when streaming", async (c) => {
            const errorMessage = "An unexpected error occurred invoking 'StreamThrowException' on the server. " +
                "InvalidOperationException: An error occurred.";
            const { conn } = hc(c);
            await start(conn, transportType);
            const { done, items } = collect(conn.stream("StreamThrowException", "An error occurred."));
            await assert.rejects(within(done, WAIT_MS, "the stream's error"), (err) => {
                assert.equal(err.message, errorMessage);
                return true;
            });
            assert.deepEqual(items, [], "no item before the error");
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-11 throws an exception when invoking hub method with stream", async (c) => {
            const { conn } = hc(c);
            await start(conn, transportType);
            const { done, items } = collect(conn.stream("Echo", "42"));
            await assert.rejects(within(done, WAIT_MS, "the stream's error"), (err) => {
                assert.equal(err.message,
                    "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.");
                return true;
            });
            assert.deepEqual(items, [], "no item before the error");
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-12 can receive server calls", async (c) => {
            const message = "你好 SignalR！";
            const { conn } = hc(c);
            const received = deferred();
            conn.on(randomCaseMessage(), (msg) => received.resolve(msg));
            await start(conn, transportType);
            await within(conn.invoke("InvokeWithString", message), WAIT_MS, "InvokeWithString");
            assert.equal(await within(received.promise, WAIT_MS, "the Message call"), message);
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-13 can receive server calls without rebinding handler when restarted", async (c) => {
            const message = "你好 SignalR！";
            const { conn, closed } = hc(c);
            const received = [];
            const restart = deferred();
            restart.promise.catch(() => {});
            conn.onclose(() => {
                if (closed.closes.length === 1) {
                    // reconnect from inside the first close callback, as upstream does
                    conn.start()
                        .then(() => conn.invoke("InvokeWithString", message))
                        .then(() => conn.stop())
                        .then(() => restart.resolve(), (err) => restart.reject(err));
                }
            });
            conn.on(randomCaseMessage(), (msg) => received.push(msg));
            await start(conn, transportType);
            await within(conn.invoke("InvokeWithString", message), WAIT_MS, "InvokeWithString");
            await within(conn.stop(), WAIT_MS, "stop()");
            await within(restart.promise, WAIT_MS, "the restart in the close callback");
            const first = await closed.next(1);
            const second = await closed.next(2);
            assert.equal(first.error, undefined, `first close: ${first.error}`);
            assert.equal(second.error, undefined, `second close: ${second.error}`);
            assert.deepEqual(received, [message, message], "the handler is called exactly twice");
        });

        ctest("HC-14 closed with error or start fails if hub cannot be created", () => {},
            { skip: "disabled upstream (xit); needs an uncreatable hub (/uncreatable)" });

        ctest("HC-15 can handle different types", async (c) => {
            const { conn, closed } = hc(c);
            const complexObject = {
                ByteArray: json ? "aGVsbG8=" : new Uint8Array([0x68, 0x65, 0x6c, 0x6c, 0x6f]),
                DateTime: json ? "2002-04-01T10:20:15Z" : new Date(Date.UTC(2002, 3, 1, 10, 20, 15)),
                Guid: "00010203-0405-0607-0706-050403020100",
                IntArray: [0x01, 0x02, 0x03, 0xff],
                String: "Hello, World!",
            };
            await start(conn, transportType);
            const value = await within(conn.invoke("EchoComplexObject", complexObject), WAIT_MS, "EchoComplexObject");
            assert.deepEqual(value, complexObject);
            await stopClean(conn, closed);
        });

        ctest("HC-16 can receive different types", async (c) => {
            const { conn, closed } = hc(c);
            const complexObject = {
                ByteArray: json ? "AQID" : new Uint8Array([0x1, 0x2, 0x3]),
                DateTime: json ? "2000-01-01T00:00:00Z" : new Date(Date.UTC(2000, 0, 1)),
                Guid: "00010203-0405-0607-0706-050403020100",
                IntArray: [0x01, 0x02, 0x03],
                String: "hello world",
            };
            await start(conn, transportType);
            const value = await within(conn.invoke("SendComplexObject"), WAIT_MS, "SendComplexObject");
            assert.deepEqual(value, complexObject);
            await stopClean(conn, closed);
        });

        ctest("HC-17 can be restarted", async (c) => {
            const message = "你好，世界！";
            const { conn, closed } = hc(c);
            const second = deferred();
            second.promise.catch(() => {});
            conn.onclose(() => {
                if (closed.closes.length === 1) {
                    // start and invoke again from inside the first close callback
                    conn.start()
                        .then(() => conn.invoke("Echo", message))
                        .then((result) => { second.resolve(result); return conn.stop(); })
                        .catch((err) => second.reject(err));
                }
            });
            await start(conn, transportType);
            assert.equal(await within(conn.invoke("Echo", message), WAIT_MS, "Echo"), message);
            await within(conn.stop(), WAIT_MS, "stop()");
            assert.equal(await within(second.promise, WAIT_MS, "Echo after the restart"), message);
            const first = await closed.next(1);
            const last = await closed.next(2);
            assert.equal(first.error, undefined, `first close: ${first.error}`);
            assert.equal(last.error, undefined, `second close: ${last.error}`);
        });

        // Upstream streams from an rxjs Subject; the client's own Subject (exported, same
        // subscribe/next/error/complete contract, no replay) stands in for it — rxjs is not a
        // dependency of the pinned client.
        ctest("HC-18 can stream from client to server with rxjs", async (c) => {
            const { conn } = hc(c);
            await start(conn, transportType);
            const subject = new signalR.Subject();
            const resultPromise = conn.invoke("StreamingConcat", subject);
            subject.next("Hello ");
            subject.next("world");
            subject.next("!");
            subject.complete();
            assert.equal(await within(resultPromise, WAIT_MS, "StreamingConcat"), "Hello world!");
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-19 can stream from client to server and close with error with rxjs", async (c) => {
            const { conn } = hc(c);
            await start(conn, transportType);
            const subject = new signalR.Subject();
            const resultPromise = conn.invoke("StreamingConcat", subject);
            subject.next("Hello ");
            subject.next("world");
            subject.next("!");
            subject.error(new Error("Something bad"));
            await assert.rejects(within(resultPromise, WAIT_MS, "StreamingConcat"), (err) => {
                assert.equal(err.message,
                    "An unexpected error occurred invoking 'StreamingConcat' on the server. HubException: Something bad");
                return true;
            });
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-20 can return result to server", async (c) => {
            const { conn } = hc(c);
            conn.on("Result", () => 10);
            await start(conn, transportType);
            const body = await getText(`${ENDPOINT_BASE_URL}/clientresult/${conn.connectionId}`, c.logger);
            assert.equal(body, "10");
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-21 can throw result to server", async (c) => {
            const { conn } = hc(c);
            conn.on("Result", () => { throw new Error("from callback"); });
            await start(conn, transportType);
            const body = await getText(`${ENDPOINT_BASE_URL}/clientresult/${conn.connectionId}`, c.logger);
            assert.equal(body, "Error: from callback");
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HC-22 returns result error to server when no result given", async (c) => {
            const { conn } = hc(c);
            await start(conn, transportType);
            const body = await getText(`${ENDPOINT_BASE_URL}/clientresult/${conn.connectionId}`, c.logger);
            assert.equal(body, "Client didn't provide a result.");
            await within(conn.stop(), WAIT_MS, "stop()");
        });
    });
}

for (const transportType of TRANSPORTS) {
    const T = transportName(transportType);

    describe(`over ${T} transport`, () => {
        // getConnectionBuilder(transportType, url, options): default HTTP client, JSON
        const hc = (c, url, options, configure) => hubConnection(c, transportType, url, options, configure);

        ctest("HT-01 can connect to hub with authorization", async (c) => {
            const message = "你好，世界！";
            const jwtToken = await getJwtToken(`${ENDPOINT_BASE_URL}/generateJwtToken`);
            assert.ok(jwtToken, "/generateJwtToken returned a token");
            const { conn, closed } = hc(c, `${ENDPOINT_BASE_URL}/authorizedhub`, {
                accessTokenFactory: () => jwtToken,
            });
            await start(conn, transportType);
            assert.equal(await within(conn.invoke("Echo", message), WAIT_MS, "Echo"), message);
            await stopClean(conn, closed);
        });

        ctest("HT-02 can connect to hub with authorization using async token factory", async (c) => {
            const message = "你好，世界！";
            let calls = 0;
            const { conn, closed } = hc(c, `${ENDPOINT_BASE_URL}/authorizedhub`, {
                accessTokenFactory: () => { calls++; return getJwtToken(`${ENDPOINT_BASE_URL}/generateJwtToken`); },
            });
            await start(conn, transportType);
            assert.equal(await within(conn.invoke("Echo", message), WAIT_MS, "Echo"), message);
            assert.ok(calls >= 1, "the token factory was called");
            await stopClean(conn, closed);
        });

        ctest("HT-03 can get error from unauthorized hub connection", async (c) => {
            const { conn } = hc(c, `${ENDPOINT_BASE_URL}/authorizedhub`);
            await assert.rejects(within(conn.start(), WAIT_MS, "start()"), (e) => {
                assert.equal(e.message,
                    "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'");
                return true;
            });
        });

        if (transportType !== HttpTransportType.LongPolling) {
            ctest("HT-04 terminates if no messages received within timeout interval", async (c) => {
                const { conn, closed } = hc(c);
                await start(conn, transportType);
                // set after start, so that a slow handshake cannot trip it
                conn.serverTimeoutInMilliseconds = 1;
                // an invocation with a response resets the timer with the new value
                await within(conn.invoke("Echo", ""), WAIT_MS, "Echo");
                const { error } = await closed.next(1);
                assert.ok(error instanceof Error, `close error: ${error}`);
                assert.equal(error.message, "Server timeout elapsed without receiving a message from the server.");
            });
        } else {
            ctest("HT-04 terminates if no messages received within timeout interval", () => {},
                { skip: "not generated for LongPolling upstream (LP has inherent keep-alive)" });
        }

        // Upstream runs this only against the HTTPS base (the cookies are SameSite=None; Secure
        // there).  Over HTTP the server sets them without Secure, so the client's cookie jar keeps
        // them and the case can be asserted as is: an extra, not an upstream case.
        ctest("HT-05 preserves cookies between requests (extra: over HTTP)", async (c) => {
            const { conn, closed } = hc(c);
            await start(conn, transportType);
            const cookieValue = await within(conn.invoke("GetCookie", "testCookie"), WAIT_MS, "GetCookie");
            const cookieValue2 = await within(conn.invoke("GetCookie", "testCookie2"), WAIT_MS, "GetCookie");
            assert.equal(cookieValue, "testValue");
            assert.equal(cookieValue2, "testValue2");
            await stopClean(conn, closed);
        });

        ctest("HT-06 expired cookies are not preserved", async (c) => {
            const { conn } = hc(c);
            await start(conn, transportType);
            const cookieValue = await within(conn.invoke("GetCookie", "expiredCookie"), WAIT_MS, "GetCookie");
            assert.equal(cookieValue, null);
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest("HT-07 can reconnect", async (c) => {
            const reconnecting = deferred();
            const reconnected = deferred();
            const { conn } = hc(c, undefined, undefined, (b) => b.withAutomaticReconnect());
            conn.onreconnecting(() => reconnecting.resolve());
            conn.onreconnected((connectionId) => reconnected.resolve(connectionId));
            await start(conn, transportType);
            const initialConnectionId = innerConnectionId(conn);
            induceReconnect(conn);
            await within(reconnecting.promise, WAIT_MS, "onreconnecting");
            const newConnectionId = await within(reconnected.promise, WAIT_MS, "onreconnected");
            assert.notEqual(newConnectionId, initialConnectionId);
            assert.equal(activeTransportClass(conn), TRANSPORT_CLASS[transportType]);
            assert.equal(await within(conn.invoke("Echo", "test"), WAIT_MS, "Echo"), "test");
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        // upstream registers this outside the "over {T}" describe (its name carries no transport)
        ctest("HT-08 can change url in reconnecting state", async (c) => {
            const reconnecting = deferred();
            const { conn } = hc(c, undefined, undefined, (b) => b.withAutomaticReconnect());
            conn.onreconnecting(() => {
                conn.baseUrl = "http://example123.com";
                reconnecting.resolve();
            });
            await start(conn, transportType);
            induceReconnect(conn);
            await within(reconnecting.promise, WAIT_MS, "onreconnecting");
            assert.equal(conn.baseUrl, "http://example123.com");
            await within(conn.stop(), WAIT_MS, "stop()");
        });
    });
}

// ------------------------------------------------------------------------------------------------
// Top-level cases

/** HX-01: upstream uses the default transport; the per-transport variants are extras */
const REDIRECT_VARIANTS = [
    { label: "default transport", transportType: undefined },
    ...TRANSPORTS.map((t) => ({ label: `extra: ${transportName(t)}`, transportType: t })),
];

describe("hubConnection", () => {
    for (const { label, transportType } of REDIRECT_VARIANTS) {
        ctest(`HX-01 can reconnect after negotiate redirect (${label})`, async (c) => {
            const reconnecting = deferred();
            const reconnected = deferred();
            const { conn } = hubConnection(c, transportType, TESTHUB_REDIRECT_ENDPOINT_URL, {},
                (b) => b.withAutomaticReconnect());
            conn.onreconnecting(() => reconnecting.resolve());
            conn.onreconnected((connectionId) => reconnected.resolve(connectionId));
            await start(conn, transportType);
            const preReconnectRedirects = await within(conn.invoke("GetNumRedirects"), WAIT_MS, "GetNumRedirects");
            const initialConnectionId = innerConnectionId(conn);
            induceReconnect(conn);
            await within(reconnecting.promise, WAIT_MS, "onreconnecting");
            const newConnectionId = await within(reconnected.promise, WAIT_MS, "onreconnected");
            assert.notEqual(newConnectionId, initialConnectionId);
            const serverConnectionId = await within(conn.invoke("GetCallerConnectionId"), WAIT_MS,
                "GetCallerConnectionId");
            assert.equal(newConnectionId, serverConnectionId);
            const postReconnectRedirects = await within(conn.invoke("GetNumRedirects"), WAIT_MS, "GetNumRedirects");
            assert.equal(typeof preReconnectRedirects, "number");
            assert.ok(postReconnectRedirects > preReconnectRedirects,
                `GetNumRedirects: ${postReconnectRedirects} after the reconnect, ${preReconnectRedirects} before`);
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest(`HX-03 connection id matches server side connection id (${label})`, async (c) => {
            const reconnecting = deferred();
            const reconnected = deferred();
            const { conn } = hubConnection(c, transportType, TESTHUB_REDIRECT_ENDPOINT_URL, {},
                (b) => b.withAutomaticReconnect());
            conn.onreconnecting(() => reconnecting.resolve());
            conn.onreconnected((connectionId) => reconnected.resolve(connectionId));
            assert.equal(conn.connectionId, null);
            await start(conn, transportType);
            assert.notEqual(conn.connectionId, null);
            let serverConnectionId = await within(conn.invoke("GetCallerConnectionId"), WAIT_MS,
                "GetCallerConnectionId");
            assert.equal(conn.connectionId, serverConnectionId);
            const initialConnectionId = conn.connectionId;
            induceReconnect(conn);
            await within(reconnecting.promise, WAIT_MS, "onreconnecting");
            const newConnectionId = await within(reconnected.promise, WAIT_MS, "onreconnected");
            assert.notEqual(newConnectionId, initialConnectionId);
            serverConnectionId = await within(conn.invoke("GetCallerConnectionId"), WAIT_MS,
                "GetCallerConnectionId");
            assert.equal(newConnectionId, serverConnectionId);
            await within(conn.stop(), WAIT_MS, "stop()");
            assert.equal(conn.connectionId, null);
        });
    }

    // Upstream registers this only where a global EventSource exists (browsers).  In Node the
    // default transport selection reaches ServerSentEvents too when the server offers no
    // WebSockets, so it is run here as an extra.
    ctest("HX-05 allows Server-Sent Events when negotiating for JSON protocol (extra: Node)", async (c) => {
        const { conn } = hubConnection(c, undefined, `${ENDPOINT_BASE_URL}/testhub-nowebsockets`, {},
            (b) => b.withHubProtocol(new JsonHubProtocol()));
        await start(conn);
        assert.equal(await within(conn.invoke("GetActiveTransportName"), WAIT_MS, "GetActiveTransportName"),
            "ServerSentEvents");
        await within(conn.stop(), WAIT_MS, "stop()");
    });

    ctest("HX-06 skips Server-Sent Events when negotiating for MessagePack protocol", async (c) => {
        const { conn } = hubConnection(c, undefined, `${ENDPOINT_BASE_URL}/testhub-nowebsockets`, {},
            (b) => b.withHubProtocol(new MessagePackHubProtocol()));
        await start(conn);
        assert.equal(await within(conn.invoke("GetActiveTransportName"), WAIT_MS, "GetActiveTransportName"),
            "LongPolling");
        await within(conn.stop(), WAIT_MS, "stop()");
    });

    ctest("HX-08 over LongPolling it sends DELETE request and waits for poll to terminate", async (c) => {
        // an HTTP client that remembers the last GET (the poll)
        const defaultClient = new signalR.DefaultHttpClient(c.logger);
        class TestClient extends signalR.HttpClient {
            constructor() {
                super();
                this.pollPromise = null;
                this.deletes = [];
            }

            send(request) {
                if (request.method === "GET") {
                    this.pollPromise = defaultClient.send(request);
                    return this.pollPromise;
                }
                const p = defaultClient.send(request);
                if (request.method === "DELETE") {
                    const entry = { status: undefined };
                    this.deletes.push(entry);
                    p.then((r) => { entry.status = r.statusCode; }, (e) => { entry.status = e.statusCode ?? String(e); });
                }
                return p;
            }
        }
        const testClient = new TestClient();
        const { conn } = hubConnection(c, HttpTransportType.LongPolling, TESTHUBENDPOINT_URL,
            { httpClient: testClient });
        await start(conn, HttpTransportType.LongPolling);
        assert.notEqual(testClient.pollPromise, null);

        // stop the connection and await the poll terminating
        const stopPromise = conn.stop();
        try {
            await within(testClient.pollPromise, WAIT_MS, "the last poll to settle");
        } catch (e) {
            if (!(e instanceof signalR.AbortError)) throw e; // the poll may have been aborted
        }
        await within(stopPromise, WAIT_MS, "stop()");
        // The 10.x client aborts its own poll before it sends the DELETE, so the DELETE itself is
        // checked too (protocol.md §5.6: 202).
        assert.equal(testClient.deletes.length, 1, "one DELETE was sent");
        assert.equal(testClient.deletes[0].status, 202, "DELETE answer");
    });

    for (const t of TRANSPORTS) {
        const T = transportName(t);

        ctest(`HX-09 sets the user agent header (${T})`, async (c) => {
            const { conn } = hubConnection(c, t, TESTHUBENDPOINT_URL, {},
                (b) => b.withHubProtocol(new JsonHubProtocol()));
            await start(conn, t);
            const [name, value] = getUserAgentHeader();
            assert.ok(Platform.isNode);
            assert.equal(name, "User-Agent");
            assert.match(value, new RegExp(`^Microsoft SignalR/\\d+\\.\\d+ \\(${CLIENT_VERSION.replace(/\./g, "\\.")}; `));
            const headerValue = await within(conn.invoke("GetHeader", name), WAIT_MS, "GetHeader");
            assert.equal(headerValue, value);
            await within(conn.stop(), WAIT_MS, "stop()");
        });

        ctest(`HX-10 overwrites library headers with user headers (${T})`, async (c) => {
            const headers = { "User-Agent": "Custom Agent", "X-HEADER": "VALUE" };
            const { conn } = hubConnection(c, t, TESTHUBENDPOINT_URL, { headers },
                (b) => b.withHubProtocol(new JsonHubProtocol()));
            await start(conn, t);
            const customUserAgent = await within(conn.invoke("GetHeader", "User-Agent"), WAIT_MS, "GetHeader");
            const customUserHeader = await within(conn.invoke("GetHeader", "X-HEADER"), WAIT_MS, "GetHeader");
            assert.equal(customUserAgent, "Custom Agent");
            assert.equal(customUserHeader, "VALUE");
            await within(conn.stop(), WAIT_MS, "stop()");
        });
    }
});
