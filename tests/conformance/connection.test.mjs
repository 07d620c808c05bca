// connection.test.mjs — upstream ConnectionTests.ts (docs/conformance-server.md §5.4): a raw
// HttpConnection (the client's non-hub layer, imported from its dist as upstream does) against
// the echo endpoint /echo, /echoredirect (307 to /echo) and /bad-negotiate, text transfer format.
// Upstream runs the per-transport block once per HTTP client; in Node that is FetchHttpClient.

import assert from "node:assert/strict";
import { describe } from "node:test";
import {
    HttpConnection, FetchHttpClient, HttpTransportType, TransferFormat, TRANSPORTS, transportName,
    ECHOENDPOINT_URL, ENDPOINT_BASE_URL, WAIT_MS, ctest, within, deferred,
} from "./common.mjs";

const MESSAGE = "Hello World!";

/**
 * new HttpConnection(url, options), registered for cleanup; onreceive stops the connection when
 * the message comes back (as upstream); `closed` resolves with the close callback's error.
 */
function echoConnection(c, url, options) {
    const connection = new HttpConnection(url, options);
    const received = [];
    const closed = deferred();
    let stopping = null;
    connection.onreceive = (data) => {
        received.push(data);
        if (data === MESSAGE) stopping = connection.stop();
    };
    connection.onclose = (error) => closed.resolve({ error });
    c.cleanup(() => connection.stop());
    return { connection, received, closed: closed.promise, stopping: () => stopping };
}

/** start(Text), send the message, wait for the close that its echo triggers */
async function sendAndAwaitEcho(e) {
    await within(e.connection.start(TransferFormat.Text), WAIT_MS, "start()");
    await within(e.connection.send(MESSAGE), WAIT_MS, "send()");
    const result = await within(e.closed, WAIT_MS, `the echo of '${MESSAGE}' and the close it triggers`);
    if (e.stopping()) await within(e.stopping(), WAIT_MS, "stop()");
    return result;
}

const transportClass = (connection) => connection.transport?.constructor?.name;

describe("connection", () => {
    ctest("CN-01 can connect to the server without specifying transport explicitly", async (c) => {
        const e = echoConnection(c, ECHOENDPOINT_URL, { logMessageContent: true, logger: c.logger });
        const { error } = await sendAndAwaitEcho(e);
        assert.equal(error, undefined, `close error: ${error}`);
        assert.deepEqual(e.received, [MESSAGE]);
    });

    for (const transportType of TRANSPORTS) {
        const T = transportName(transportType);
        const expectedClass = `${T}Transport`;

        describe(`over ${T} with FetchHttpClient`, () => {
            ctest("CN-02 can send and receive messages", async (c) => {
                const e = echoConnection(c, ECHOENDPOINT_URL, {
                    logMessageContent: true, logger: c.logger,
                    httpClient: new FetchHttpClient(c.logger), transport: transportType,
                });
                await within(e.connection.start(TransferFormat.Text), WAIT_MS, "start()");
                assert.equal(transportClass(e.connection), expectedClass);
                await within(e.connection.send(MESSAGE), WAIT_MS, "send()");
                const { error } = await within(e.closed, WAIT_MS, "the echo and the close it triggers");
                assert.equal(error, undefined, `close error: ${error}`);
                assert.deepEqual(e.received, [MESSAGE]);
            });

            ctest("CN-03 does not log content of messages sent or received by default", async (c) => {
                // no logMessageContent: the default must keep message content out of the log
                const e = echoConnection(c, ECHOENDPOINT_URL, {
                    httpClient: new FetchHttpClient(c.logger), logger: c.logger, transport: transportType,
                });
                await sendAndAwaitEcho(e);
                assert.ok(c.logger.messages.length > 0, "something was logged");
                for (const [, , logMessage] of c.logger.messages) {
                    assert.ok(!logMessage.includes(MESSAGE), `logged the content: ${logMessage}`);
                }
            });

            ctest("CN-04 does log content of messages sent or received when enabled", async (c) => {
                const e = echoConnection(c, ECHOENDPOINT_URL, {
                    httpClient: new FetchHttpClient(c.logger), logMessageContent: true, logger: c.logger,
                    transport: transportType,
                });
                await sendAndAwaitEcho(e);
                assert.ok(c.logger.messages.length > 0, "something was logged");
                const matches = c.logger.messages.filter(([, , m]) => m.includes(MESSAGE));
                // one match for send, one for receive
                assert.equal(matches.length, 2, `log lines with the content:\n${matches.map((m) => m[2]).join("\n")}`);
            });

            ctest("CN-05 honors withCredentials flag", () => {},
                { skip: "browser only (cross-origin, withCredentials means nothing in Node)" });
        });
    }

    describe("with FetchHttpClient", () => {
        // Upstream restricts the transports to WebSockets | LongPolling; the server offers no
        // WebSockets, so LongPolling is what runs (checked).
        ctest("CN-06 follows HTTP redirects", async (c) => {
            const e = echoConnection(c, `${ECHOENDPOINT_URL}redirect`, {
                logMessageContent: true, logger: c.logger,
                httpClient: new FetchHttpClient(c.logger),
                transport: HttpTransportType.WebSockets | HttpTransportType.LongPolling,
            });
            await within(e.connection.start(TransferFormat.Text), WAIT_MS, "start()");
            assert.equal(transportClass(e.connection), "LongPollingTransport");
            await within(e.connection.send(MESSAGE), WAIT_MS, "send()");
            const { error } = await within(e.closed, WAIT_MS, "the echo and the close it triggers");
            assert.equal(error, undefined, `close error: ${error}`);
            assert.deepEqual(e.received, [MESSAGE]);
        });

        ctest("CN-07 contains server response in error", async (c) => {
            const connection = new HttpConnection(`${ENDPOINT_BASE_URL}/bad-negotiate`, {
                logMessageContent: true, logger: c.logger, httpClient: new FetchHttpClient(c.logger),
            });
            c.cleanup(() => connection.stop());
            await assert.rejects(within(connection.start(TransferFormat.Text), WAIT_MS, "start()"), (e) => {
                assert.equal(e.message,
                    "Failed to complete negotiation with the server: Error: Some response from server: Status code '400'");
                return true;
            });
        });
    });
});
