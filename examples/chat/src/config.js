// config.js — what the page is told when it loads.
//
//   ?transport=ServerSentEvents|LongPolling|auto   the initial transport choice (default auto;
//                                                  the selector on the page changes it)
//   ?tab=rooms                                     open the rooms tab first
//   ?tokens=1  (or VITE_DEMO_TOKENS=1 at build time, or window.SIGNALR_DEMO = { tokens: true }
//              in a script before the bundle)      show the access-token box: a token typed
//                                                  there goes to the hubs through the client's
//                                                  accessTokenFactory.  Hidden otherwise.
import { TRANSPORT_CHOICES } from "./hub.js";

const params = new URLSearchParams(window.location.search);
const runtime = window.SIGNALR_DEMO || {};

const wanted = params.get("transport");

export const config = {
    transport: TRANSPORT_CHOICES.includes(wanted) ? wanted : "auto",
    tab: params.get("tab") === "rooms" ? "rooms" : "chat",
    tokens: params.get("tokens") === "1" || import.meta.env.VITE_DEMO_TOKENS === "1" ||
        runtime.tokens === true,
};
