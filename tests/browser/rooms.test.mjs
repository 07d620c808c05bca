// rooms.test.mjs — the rooms tab (/Hubs/Rooms?name=...): join and leave rooms, room messages,
// private messages, joined/left notices; one visitor over Server-Sent Events, one over long
// polling on a phone-sized page.  Takes the rooms screenshots.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
    DESKTOP, PHONE, launch, openPage, panel, problemsOf, screenshot, setName, sleep, tag, transportOf,
    waitMessage,
} from "./helpers.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const rooms = (page) => panel(page, "rooms");

async function join(page, room) {
    await rooms(page).getByTestId("room-input").fill(room);
    await rooms(page).getByTestId("room-input").press("Enter");
    await rooms(page).locator(`[data-testid="room-list"] li[data-room="${room}"]`).waitFor({ timeout: 15_000 });
}

async function presence(page, kind, room, user, timeout = 15_000) {
    await rooms(page).locator(`[data-testid="presence-${kind}"][data-room="${room}"][data-user="${user}"]`)
        .first().waitFor({ timeout });
}

async function sayInRoom(page, text) {
    const input = rooms(page).getByTestId("room-message-input");
    await input.fill(text);
    await input.press("Enter");
}

async function whisper(page, to, text) {
    const box = rooms(page).locator("details.private-box");
    if (!(await box.evaluate((d) => d.open))) await box.locator("summary").click();
    await rooms(page).getByTestId("private-to").fill(to);
    await rooms(page).getByTestId("private-input").fill(text);
    await rooms(page).getByTestId("private-input").press("Enter");
}

test("two pages join a room and exchange a room message and a private message", async () => {
    // natural names and texts: this test also takes the rooms screenshots (the run's database is
    // its own, nobody else is in these rooms)
    const room = "lobby";
    const alice = await openPage(browser, { name: "Alice", path: "/?tab=rooms", viewport: DESKTOP });
    const bob = await openPage(browser, { name: "Bob", path: "/?tab=rooms&transport=LongPolling",
        viewport: PHONE, isMobile: true });
    const carol = await openPage(browser, { name: "Carol", path: "/?tab=rooms" });
    assert.equal(await transportOf(alice, "rooms"), "ServerSentEvents");
    assert.equal(await transportOf(bob, "rooms"), "LongPolling");
    await transportOf(carol, "rooms");
    // the hub URL carries the name
    assert.match(await rooms(alice).locator(".hub-path").textContent(), /\/Hubs\/Rooms\?name=Alice$/);

    await join(alice, room);
    await presence(alice, "joined", room, "Alice"); // everyone in the room hears it, the joiner too
    await join(bob, room);
    await presence(alice, "joined", room, "Bob");
    await presence(bob, "joined", room, "Bob");
    await join(carol, "random");

    // a room message reaches both members, not the visitor in another room
    const hello = "Welcome to the lobby, Bob!";
    await sayInRoom(alice, hello);
    const got = await waitMessage(bob, hello, { which: "rooms", testId: "room-message" });
    assert.equal(await got.getAttribute("data-room"), room);
    assert.equal(await got.getAttribute("data-mine"), "false");
    const own = await waitMessage(alice, hello, { which: "rooms", testId: "room-message" });
    assert.equal(await own.getAttribute("data-mine"), "true");
    const thanks = "Thanks! Long polling from my phone here.";
    await sayInRoom(bob, thanks);
    await waitMessage(alice, thanks, { which: "rooms", testId: "room-message" });
    // Bob is now among the people seen in the room; clicking him addresses a private message
    await rooms(alice).locator(".person", { hasText: "Bob" }).click();
    assert.equal(await rooms(alice).getByTestId("private-to").inputValue(), "Bob");

    // a private message reaches its addressee and comes back to the sender, nobody else
    const secret = "Psst, Alice: this one is just for you.";
    await whisper(bob, "Alice", secret);
    const priv = await waitMessage(alice, secret, { which: "rooms", testId: "private-message" });
    assert.match(await priv.textContent(), /Bob\s*→\s*you/);
    await waitMessage(bob, secret, { which: "rooms", testId: "private-message" });
    const reply = "Got it. Nobody else sees this.";
    await whisper(alice, "Bob", reply);
    await waitMessage(bob, reply, { which: "rooms", testId: "private-message" });
    await waitMessage(alice, reply, { which: "rooms", testId: "private-message" });

    await rooms(bob).locator("details.private-box summary").click(); // fold the form on the phone
    await screenshot(alice, "rooms-desktop.png");
    await screenshot(bob, "rooms-phone.png");

    // Bob leaves: Alice hears it, Bob's room list drops it, and he no longer hears the room
    await rooms(bob).getByTestId(`leave-${room}`).click();
    await presence(alice, "left", room, "Bob");
    await presence(bob, "left", room, "Bob");
    await rooms(bob).locator(`[data-testid="room-list"] li[data-room="${room}"]`).waitFor({ state: "detached" });
    const later = `after Bob left ${tag()}`;
    await sayInRoom(alice, later);
    await waitMessage(alice, later, { which: "rooms", testId: "room-message" });
    await sleep(1000);
    assert.equal(await rooms(bob).getByTestId("room-message").filter({ hasText: later }).count(), 0);

    // Carol, in another room, saw none of it
    assert.equal(await rooms(carol).getByTestId("room-message").count(), 0);
    assert.equal(await rooms(carol).getByTestId("private-message").count(), 0);

    // Alice closes her page: the others in the room hear that she left
    await join(carol, room);
    await presence(carol, "joined", room, "Carol");
    await alice.context().close();
    await presence(carol, "left", room, "Alice", 30_000);

    for (const p of [bob, carol]) assert.deepEqual(problemsOf(p), []);
    await bob.context().close();
    await carol.context().close();
});

test("the rooms tab asks for a name before it connects", async () => {
    const page = await openPage(browser, { name: "", path: "/?tab=rooms" });
    await rooms(page).getByText("Pick a name first").waitFor();
    assert.equal(await rooms(page).getByTestId("state").getAttribute("data-state"), "disconnected");
    const name = `dora-${tag()}`;
    await rooms(page).getByTestId("rooms-name").fill(name);
    await rooms(page).getByTestId("rooms-name").press("Enter");
    assert.equal(await transportOf(page, "rooms"), "ServerSentEvents");
    assert.equal(await page.getByTestId("name").inputValue(), name, "the name field shows it too");
    // a new name is a new connection with the new name, the rooms joined again
    await join(page, "lobby");
    await setName(page, `${name}-2`);
    await rooms(page).locator(".hub-path", { hasText: `name=${name}-2` }).waitFor();
    await presence(page, "joined", "lobby", `${name}-2`);
    assert.deepEqual(problemsOf(page), []);
    await page.context().close();
});
