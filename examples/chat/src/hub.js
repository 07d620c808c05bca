// hub.js — one hub connection of the page as reactive state: the real @microsoft/signalr client,
// what the page shows about it (state, transport, connection id) and automatic reconnect.
//
// States shown: "connecting" (start() running), "connected", "reconnecting" (the client's
// automatic reconnect after a lost connection) and "disconnected" (not started yet, start()
// failed, or the server closed the connection; the page then tries again after a pause).
import * as signalR from "@microsoft/signalr";
import { reactive } from "vue";

/** The transport choices of the page: "auto" gives the client no transport option, so it takes
 *  the first one the server offers that it supports (ServerSentEvents, else LongPolling). */
export const TRANSPORT_CHOICES = ["auto", "ServerSentEvents", "LongPolling"];

/** Delays of the automatic reconnect: quick at first, then every 15 s for as long as it takes
 *  (the client's default policy gives up after four tries). */
const RECONNECT_DELAYS_MS = [0, 2000, 5000, 10000];
const RECONNECT_EVERY_MS = 15000;
/** Pause before a new start() after a failed start or a connection the server closed. */
const RESTART_DELAYS_MS = [1000, 3000, 5000, 10000];

/**
 * Which transport the running client uses.  The bundle is minified, so the transport classes'
 * names are not usable; their members are (the minifier keeps property names).  The client's
 * own log line "Selecting transport 'X'." (the last one before the connection started) is the
 * fallback.
 */
function transportOf(hubConnection, lastSelected) {
    const transport = hubConnection?.connection?.transport;
    if (transport) {
        if ("pollAborted" in transport) return "LongPolling";
        if ("_eventSource" in transport) return "ServerSentEvents";
        if ("_webSocket" in transport || "_webSocketConstructor" in transport) return "WebSockets";
    }
    return lastSelected || "";
}

/**
 * createHub({ path, query, transport, token, setup, onNotice }) — a hub connection.
 *   path       "/Hubs/ChatRoom": on the page's own origin
 *   query()    extra query parameters for the hub URL (e.g. { name })
 *   transport()  "auto" | "ServerSentEvents" | "LongPolling", read at every start()
 *   token()    a bearer token or "" (null: tokens off, no accessTokenFactory at all)
 *   setup(connection)  registers the client methods (connection.on) before start
 *   onNotice(text, kind)  connection events for the page's message list
 *   onConnected()  after every successful start and reconnect (a new server connection: e.g.
 *                  rejoin the groups the old one was in)
 * Returns { state, start, stop, invoke }.  state is reactive: status, transport, connectionId,
 * error, retryIn (seconds until the next try, while waiting), since (ms of the last change).
 */
export function createHub({ path, query = () => ({}), transport = () => "auto", token = () => null,
    setup = () => {}, onNotice = () => {}, onConnected = () => {} }) {
    const state = reactive({
        status: "disconnected",
        transport: "",
        connectionId: "",
        error: "",
        retryIn: 0,
        attempt: 0,
        since: Date.now(),
    });
    let connection = null;
    let generation = 0; // bumped by every start()/stop(): callbacks of an older connection are ignored
    let lastSelected = "";
    let restartTimer = null;
    let countdown = null;
    let failures = 0;

    const set = (patch) => {
        if (patch.status && patch.status !== state.status) state.since = Date.now();
        Object.assign(state, patch);
    };

    /** The client's log for connection number `gen`: warnings and errors to the console, except
     *  those of a connection the page has already given up (stopped for a new transport or
     *  token, possibly in the middle of its start: "Failed to start the HttpConnection before
     *  stop() was called."), which are the page's own doing. */
    const loggerFor = (gen) => ({
        log(level, message) {
            if (gen !== generation) {
                if (level >= signalR.LogLevel.Warning) console.debug(`[signalr ${path}, stopped] ${message}`);
                return;
            }
            const m = /^Selecting transport '(\w+)'/.exec(message);
            if (m) lastSelected = m[1];
            if (level >= signalR.LogLevel.Error && level !== signalR.LogLevel.None) {
                console.error(`[signalr ${path}] ${message}`);
            } else if (level === signalR.LogLevel.Warning) {
                console.warn(`[signalr ${path}] ${message}`);
            }
        },
    });

    function clearTimers() {
        if (restartTimer) clearTimeout(restartTimer);
        if (countdown) clearInterval(countdown);
        restartTimer = countdown = null;
        state.retryIn = 0;
    }

    function scheduleRestart(gen) {
        clearTimers();
        const delay = RESTART_DELAYS_MS[Math.min(failures, RESTART_DELAYS_MS.length - 1)];
        failures++;
        state.retryIn = Math.ceil(delay / 1000);
        countdown = setInterval(() => { if (state.retryIn > 1) state.retryIn--; }, 1000);
        restartTimer = setTimeout(() => {
            if (gen === generation) start();
        }, delay);
    }

    function build(gen) {
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries(query())) if (v != null && v !== "") params.set(k, v);
        const qs = params.toString();
        const options = {};
        const choice = transport();
        if (choice === "ServerSentEvents") options.transport = signalR.HttpTransportType.ServerSentEvents;
        else if (choice === "LongPolling") options.transport = signalR.HttpTransportType.LongPolling;
        // Tokens: the page passes the token field through accessTokenFactory (as an
        // Authorization header on negotiate/POSTs/polls, as access_token on the SSE URL).  Each
        // connection keeps the token it started with: the server refuses a request that names
        // another user than the connection's (a new token means a new connection, start()).
        const bearer = token();
        if (bearer !== null) options.accessTokenFactory = () => bearer;
        return new signalR.HubConnectionBuilder()
            .withUrl(qs ? `${path}?${qs}` : path, options)
            .withAutomaticReconnect({
                nextRetryDelayInMilliseconds(ctx) {
                    const n = ctx.previousRetryCount;
                    state.attempt = n + 1;
                    return n < RECONNECT_DELAYS_MS.length ? RECONNECT_DELAYS_MS[n] : RECONNECT_EVERY_MS;
                },
            })
            .configureLogging(loggerFor(gen))
            .build();
    }

    async function start() {
        const gen = ++generation;
        clearTimers();
        const old = connection;
        connection = null;
        if (old) await old.stop().catch(() => {});
        if (gen !== generation) return;

        const c = build(gen);
        connection = c;
        setup(c);
        c.onreconnecting((error) => {
            if (gen !== generation) return;
            set({ status: "reconnecting", error: error ? errorText(error) : "", attempt: 0 });
            onNotice("Connection lost — reconnecting…", "warn");
        });
        c.onreconnected((id) => {
            if (gen !== generation) return;
            set({ status: "connected", connectionId: id || c.connectionId || "",
                transport: transportOf(c, lastSelected), error: "", attempt: 0 });
            onNotice(`Reconnected over ${state.transport}`, "ok");
            onConnected();
        });
        c.onclose((error) => {
            if (gen !== generation) return;
            set({ status: "disconnected", connectionId: "", transport: "",
                error: error ? errorText(error) : "" });
            onNotice(error ? `Disconnected: ${state.error}` : "Disconnected", "warn");
            scheduleRestart(gen);
        });

        lastSelected = "";
        set({ status: "connecting", error: "", connectionId: "", transport: "" });
        try {
            await c.start();
        } catch (error) {
            if (gen !== generation) return;
            set({ status: "disconnected", error: errorText(error) });
            onNotice(`Could not connect: ${state.error}`, "warn");
            scheduleRestart(gen);
            return;
        }
        if (gen !== generation) return;
        failures = 0;
        set({ status: "connected", connectionId: c.connectionId || "", transport: transportOf(c, lastSelected) });
        onNotice(`Connected over ${state.transport}`, "ok");
        onConnected();
    }

    async function stop() {
        ++generation;
        clearTimers();
        const old = connection;
        connection = null;
        if (old) await old.stop().catch(() => {});
        set({ status: "disconnected", connectionId: "", transport: "", error: "" });
    }

    async function invoke(method, ...args) {
        if (!connection || state.status !== "connected") throw new Error("Not connected.");
        return connection.invoke(method, ...args);
    }

    return { state, start, stop, invoke };
}

/** An error as one short line: the client puts a whole HTML error page (a proxy's 5xx) into
 *  the message; keep the status of those. */
export function errorText(error) {
    let text = String(error?.message || error || "");
    if (/<(html|!doctype|\?xml)/i.test(text)) {
        const status = error?.statusCode ?? /Status code '(\d+)'/.exec(text)?.[1];
        text = status ? `the server answered HTTP ${status}` : "the server answered an error page";
    }
    text = text.replace(/\s+/g, " ").trim();
    return text.length > 200 ? `${text.slice(0, 197)}…` : text;
}

/** The error text a hub method threw (HubException), without the client's wrapper. */
export function hubErrorText(error) {
    const text = errorText(error);
    const m = /HubException: (.*)$/s.exec(text);
    return m ? m[1] : text.replace(/^Error: /, "");
}
