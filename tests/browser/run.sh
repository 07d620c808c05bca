#!/usr/bin/env bash
# tests/browser/run.sh — the chat page (examples/) in a real browser: Debian's Chromium, headless,
# driven by playwright-core under `node --test`.
#
# Installs what is missing (the Debian packages of scripts/lib.sh, chromium; npm ci here), builds
# the server when it is not built (SR_SKIP_BUILD=1: never) and the page (scripts/
# build-demo-page.sh -> examples/dist/), starts a private PostgreSQL and lighttpd on a free port
# with 2 workers serving examples/dist/ as the document root, runs tests/browser/*.test.mjs one
# file after the other, and stops everything it started on every exit path (lib.sh traps).
# Ends with `N passed, N failed` (one count per test file) and exits non-zero on any failure.
#
#   tests/browser/run.sh                  all test files
#   tests/browser/run.sh chat rooms       only tests/browser/chat.test.mjs and rooms.test.mjs
#   tests/browser/run.sh --serve          start everything, print the URL, serve until ^C
#
# Screenshots go to .run/<run>/screenshots/ (desktop 1280x800 and phone 390x844);
# docs/screenshot.png (the README's) is written from chat-desktop.png after a run without
# failures, when it does not exist yet or with UPDATE_SCREENSHOT=1 (so that ordinary runs leave
# the committed image alone).
# Environment: SR_BROWSER_RUN_NAME (default browser: .run/<name>/), CHROMIUM (default /usr/bin/chromium),
# SR_SKIP_BUILD=1, UPDATE_SCREENSHOT=1, BROWSER_TEST_TIMEOUT (seconds per file, default 300).

# shellcheck disable=SC2317,SC2119 # functions run through run_child; cleanup_on_exit takes no script arguments
set -u -o pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$HERE/../../scripts/lib.sh"
cleanup_on_exit

# .run/<name>/: "browser", or "<SR_RUN_NAME>-browser" when scripts/test.sh runs under a name of
# its own (never test.sh's own run directory, whose cluster is still running)
RUN=${SR_BROWSER_RUN_NAME:-${SR_RUN_NAME:+$SR_RUN_NAME-}browser}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SHOTS=$SR_TOP/.run/$RUN/screenshots
SERVE=0
FILES=()
for a in "$@"; do
    case "$a" in
    --serve) SERVE=1 ;;
    *) FILES+=("$HERE/${a%.test.mjs}.test.mjs") ;;
    esac
done
if [ ${#FILES[@]} -eq 0 ]; then
    # reconnect.test.mjs SIGKILLs workers: last
    shopt -s nullglob
    for f in "$HERE"/*.test.mjs; do
        [ "$(basename "$f")" = reconnect.test.mjs ] || FILES+=("$f")
    done
    [ -f "$HERE/reconnect.test.mjs" ] && FILES+=("$HERE/reconnect.test.mjs")
    shopt -u nullglob
    [ ${#FILES[@]} -gt 0 ] || [ "$SERVE" = 1 ] || die "no tests/browser/*.test.mjs"
fi
for f in "${FILES[@]}"; do [ -f "$f" ] || die "no such test file: $f"; done

# The workers run with the stock settings (15 s keep-alive, 30 s client timeout: what the page's
# client expects) except a shorter disconnect timeout, so that closed pages leave quickly, and a
# fresh HS256 key, so that tokens.test.mjs can mint tokens they accept (anonymous clients stay
# welcome: no hub of the stock binary requires a user).
JWT_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n=+/')
WORKER_ENV=(SIGNALR_DISCONNECT_TIMEOUT=5 SIGNALR_LOG_LEVEL=info SIGNALR_JWT_KEY="$JWT_KEY")

install_chromium() {
    [ -x "$CHROMIUM" ] && return 0
    [ "$CHROMIUM" = /usr/bin/chromium ] || { log "CHROMIUM=$CHROMIUM is not executable"; return 1; }
    [ "$(id -u)" = 0 ] || { log "chromium is missing (need root to install it)"; return 1; }
    log "installing chromium"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null && apt-get install -y -q --no-install-recommends chromium </dev/null
}

npm_ci() {
    cd "$HERE" || return 1
    if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] &&
        [ -d node_modules/playwright-core ]; then
        return 0
    fi
    npm ci --no-audit --no-fund
}

build_server() {
    if [ "${SR_SKIP_BUILD:-0}" = 1 ]; then
        [ -x "$SR_BIN" ] || { log "SR_SKIP_BUILD=1 but $SR_BIN is not built"; return 1; }
        return 0
    fi
    build
}

PASSED=0 FAILED=0
RESULTS=()
run_file() { # run_file FILE
    local name status
    name=$(basename "$1" .test.mjs)
    log "=== browser:$name"
    run_child env BASE_URL="http://127.0.0.1:$PORT" SR_TEST_LIGHTTPD_PID="$(lighttpd_pid "$RUN")" \
        CHROMIUM="$CHROMIUM" SCREENSHOT_DIR="$SHOTS" SIGNALR_JWT_KEY="$JWT_KEY" \
        timeout --foreground "${BROWSER_TEST_TIMEOUT:-300}" \
        node --test --test-concurrency=1 --test-reporter=spec "$1"
    status=$?
    if [ "$status" = 0 ]; then
        PASSED=$((PASSED + 1)) RESULTS+=("browser:$name ok")
    else
        FAILED=$((FAILED + 1)) RESULTS+=("browser:$name FAILED (status $status)")
    fi
}

install_deps >&2 || die "installing packages failed"
install_chromium >&2 || die "installing chromium failed"
run_child build_server >&2 || die "building the server failed"
DOCROOT=$("$SR_TOP/scripts/build-demo-page.sh") || die "building the page failed"
export DOCROOT
run_child npm_ci >&2 || die "npm ci in tests/browser failed"

pg_start "$RUN" || die "could not start PostgreSQL"
"$SR_BIN" migrate >&2 || die "signalr-fcgi migrate failed"
PORT=$(free_port) || die "no free port"
lighttpd_start "$RUN" "$PORT" 2 "${WORKER_ENV[@]}" || die "could not start lighttpd"
wait_negotiate "http://127.0.0.1:$PORT/Hubs/ChatRoom" 30 || { show_logs 30; die "the hub does not answer"; }
curl -sf -o /dev/null "http://127.0.0.1:$PORT/" || { show_logs 30; die "lighttpd does not serve the page at /"; }

if [ "$SERVE" = 1 ]; then
    log "lighttpd pid $(lighttpd_pid "$RUN"), workers: $(child_pids "$(lighttpd_pid "$RUN")" | tr '\n' ' ')"
    log "the suites against this server: BASE_URL=http://127.0.0.1:$PORT SR_TEST_LIGHTTPD_PID=$(lighttpd_pid "$RUN") SIGNALR_JWT_KEY=$JWT_KEY node --test tests/browser/NAME.test.mjs"
    echo "ready: http://127.0.0.1:$PORT/"
    wait "$SR_HTTPD_PID"
    exit 1
fi

rm -rf "$SHOTS" && mkdir -p "$SHOTS"
for f in "${FILES[@]}"; do run_file "$f"; done

if [ -f "$SHOTS/chat-desktop.png" ] && [ "$FAILED" -eq 0 ]; then
    if [ ! -f "$SR_TOP/docs/screenshot.png" ] || [ "${UPDATE_SCREENSHOT:-0}" = 1 ]; then
        mkdir -p "$SR_TOP/docs" && cp "$SHOTS/chat-desktop.png" "$SR_TOP/docs/screenshot.png" &&
            log "wrote docs/screenshot.png"
    fi
fi
log "screenshots: $SHOTS"

echo
echo "== browser results"
for r in "${RESULTS[@]}"; do echo "  $r"; done
if [ "$FAILED" -gt 0 ]; then show_logs 40; fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
