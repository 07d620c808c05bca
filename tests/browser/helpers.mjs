// helpers.mjs — shared pieces of the browser suites: Debian's Chromium through playwright-core,
// pages of the chat demo, and waits with deadlines.
//
// run.sh gives: BASE_URL (lighttpd serving examples/dist/ at / and the hubs under /Hubs/),
// SR_TEST_LIGHTTPD_PID (whose worker children reconnect.test.mjs may SIGKILL), CHROMIUM and
// SCREENSHOT_DIR.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const BASE = (process.env.BASE_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
export const SHOTS = process.env.SCREENSHOT_DIR ?? join(tmpdir(), "signalr-fcgi-screenshots");
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const tag = () => Math.random().toString(36).slice(2, 8);

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage"];

/**
 * Chromium with a fresh profile.  playwright-core's launch() gives every browser a new
 * temporary --user-data-dir of its own; TMPDIR points it into a directory this suite removes.
 * Each browser context is a separate visitor (own cookies and localStorage).
 */
export async function launch() {
    const dir = mkdtempSync(join(tmpdir(), "signalr-browser-"));
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
        headless: true,
        args: FLAGS,
        env: { ...process.env, TMPDIR: dir },
        timeout: 60_000,
    });
    const close = browser.close.bind(browser);
    browser.close = async () => {
        await close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
    };
    return browser;
}

/**
 * A new visitor's page at `path` (default "/"): its own context with the given viewport.
 * Console errors and page errors are collected in page.problems; init(page) runs before any
 * navigation (addInitScript).
 */
export async function openPage(browser, { path = "/", viewport = DESKTOP, name, init, isMobile = false } = {}) {
    const context = await browser.newContext({
        viewport,
        deviceScaleFactor: isMobile ? 2 : 1,
        isMobile,
        hasTouch: isMobile,
        colorScheme: "light",
        reducedMotion: "reduce",
    });
    if (name !== undefined) {
        await context.addInitScript((n) => window.localStorage.setItem("signalr-fcgi-demo.name", n), name);
    }
    const page = await context.newPage();
    page.problems = [];
    page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
        if (m.type() === "error") page.problems.push(`console: ${m.text()}`);
    });
    if (init) await init(page);
    await page.goto(BASE + path, { waitUntil: "domcontentloaded" });
    return page;
}

/** The panel of a tab: "chat" or "rooms" */
export const panel = (page, which = "chat") => page.getByTestId(`${which}-panel`);

/** Waits until the panel's state label is `state` (connecting/connected/reconnecting/disconnected). */
export async function waitState(page, state, which = "chat", timeout = 30_000) {
    await panel(page, which).getByTestId("state").and(page.locator(`[data-state="${state}"]`))
        .waitFor({ state: "visible", timeout });
}

/** The transport label of a panel once connected */
export async function transportOf(page, which = "chat") {
    await waitState(page, "connected", which);
    return (await panel(page, which).getByTestId("transport").textContent()).trim();
}

export async function connectionIdOf(page, which = "chat") {
    await waitState(page, "connected", which);
    return (await panel(page, which).getByTestId("connection-id").textContent()).trim();
}

/** Types `text` into the chat composer and presses Enter (the seed's txtMsgOnkeypress). */
export async function say(page, text) {
    const input = panel(page, "chat").getByTestId("message-input");
    await input.fill(text);
    await input.press("Enter");
    await expectValue(input, "");
}

/** Waits until a locator's input value is `value`. */
export async function expectValue(locator, value, timeout = 15_000) {
    const deadline = Date.now() + timeout;
    let last;
    while (Date.now() < deadline) {
        last = await locator.inputValue();
        if (last === value) return;
        await sleep(50);
    }
    throw new Error(`input value stayed ${JSON.stringify(last)}, expected ${JSON.stringify(value)}`);
}

/** Waits for a chat message whose text is `text`; returns its locator. */
export async function waitMessage(page, text, { which = "chat", testId = "message", timeout = 20_000 } = {}) {
    const list = panel(page, which).getByTestId(which === "chat" ? "messages" : "feed");
    const item = list.getByTestId(testId).filter({
        has: page.getByTestId("message-text").getByText(text, { exact: true }),
    });
    await item.first().waitFor({ state: "visible", timeout });
    return item.first();
}

/** Selects a transport in the page's selector. */
export async function chooseTransport(page, value) {
    await page.getByTestId("transport-select").selectOption(value);
}

/** Sets the name field (committed with Enter). */
export async function setName(page, name) {
    const input = page.getByTestId("name");
    await input.fill(name);
    await input.press("Enter");
}

export async function screenshot(page, file) {
    mkdirSync(SHOTS, { recursive: true });
    const path = join(SHOTS, file);
    await page.screenshot({ path, animations: "disabled", caret: "hide" });
    return path;
}

/** Direct children of PID (lib.sh child_pids): the workers lighttpd spawned. */
export function childPids(pid) {
    const out = [];
    for (const task of readdirSafe(`/proc/${pid}/task`)) {
        try {
            out.push(...readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/)
                .filter(Boolean).map(Number));
        } catch { /* the task ended */ }
    }
    return out;
}

function readdirSafe(dir) {
    try {
        return readdirSync(dir);
    } catch {
        return [];
    }
}

/** The command name of a pid ("signalr-fcgi"), or "" */
export function commOf(pid) {
    try {
        return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
        return "";
    }
}

/**
 * Problems a page logged, minus the ones a test provoked on purpose (matching `allow`) and one
 * the official client causes by itself: when a connection is stopped (a transport switch, a new
 * token) it posts its Close message and ends the transport at the same time, and when the
 * server has already let the connection go, that POST is answered 404 ("Failed to load
 * resource: ... 404").
 */
export function problemsOf(page, allow = []) {
    const benign = [/Failed to load resource: the server responded with a status of 404/];
    return page.problems.filter((p) => ![...benign, ...allow].some((re) => re.test(p)));
}
