// util.js — small helpers shared by the panels.
import { onBeforeUnmount, watch } from "vue";

/** A stable pleasant colour for a name (avatar backgrounds). */
export function colourOf(text) {
    let h = 0;
    for (const ch of String(text)) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return `hsl(${h % 360} 55% 45%)`;
}

/** One or two letters for an avatar. */
export function initialsOf(text) {
    const words = String(text).trim().split(/[\s._-]+/).filter(Boolean);
    if (words.length === 0) return "?";
    const first = [...words[0]][0] ?? "?";
    const second = words.length > 1 ? [...words[1]][0] ?? "" : "";
    return (first + second).toUpperCase();
}

/** "14:03" of the local time now */
export function clock(date = new Date()) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

/**
 * Keeps a scrolling list pinned to its end — when lines are added and when the list gets
 * smaller (a phone keyboard, a form unfolding above it) — unless the reader has scrolled up to
 * read older lines.  Call from setup() with the list's template ref.
 */
export function useStickToEnd(elRef) {
    let stick = true;
    const onScroll = (e) => {
        const el = e.currentTarget;
        stick = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    };
    const toEnd = () => {
        const el = elRef.value;
        if (el && stick) el.scrollTop = el.scrollHeight;
    };
    const resize = new ResizeObserver(toEnd);
    const mutate = new MutationObserver(toEnd);
    // the list may come and go (v-if): follow the ref
    watch(elRef, (el, old) => {
        if (old) old.removeEventListener("scroll", onScroll);
        resize.disconnect();
        mutate.disconnect();
        if (!el) return;
        stick = true;
        el.addEventListener("scroll", onScroll, { passive: true });
        resize.observe(el);
        mutate.observe(el, { childList: true, subtree: true });
        toEnd();
    }, { flush: "post", immediate: true });
    onBeforeUnmount(() => {
        resize.disconnect();
        mutate.disconnect();
    });
}

/** Bounded list push (the page keeps the last 500 entries of a list). */
export function pushBounded(list, item, max = 500) {
    list.push(item);
    if (list.length > max) list.splice(0, list.length - max);
}

let seq = 0;
export const nextId = () => ++seq;
