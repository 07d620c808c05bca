#!/usr/bin/env bash
# tests/sanitizers/run.sh — the unit tests, the fuzz-corpus replays and the real-client suites
# against a build with AddressSanitizer + UndefinedBehaviorSanitizer; any report fails the run.
#
# The sanitizer build lives in its own copy of the tracked sources (.run/<name>/src), so the
# ordinary build of the checkout is left alone. The workers write sanitizer reports to files
# (ASAN_OPTIONS/UBSAN_OPTIONS log_path) because they run under lighttpd, which owns their
# stderr; the run fails if any report file appears. LeakSanitizer is on; it reports at exit,
# which lighttpd's SIGTERM at the end of the run triggers.
set -u -o pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cleanup_on_exit 1

NAME=${SR_RUN_NAME:-sanitizers}
RUNDIR=$SR_TOP/.run/$NAME
TREE=$RUNDIR/src
REPORTS=$RUNDIR/reports
rm -rf "$TREE" "$REPORTS"
mkdir -p "$TREE" "$REPORTS" || exit 1

log "copying the tracked sources to $TREE"
(cd "$SR_TOP" && git ls-files -z | xargs -0 cp --parents -t "$TREE") || exit 1
log "building with -fsanitize=address,undefined"
(cd "$TREE" && autoreconf -fi >/dev/null 2>&1 &&
    ./configure -q --enable-sanitizers --enable-werror CFLAGS="-g -O1" >/dev/null &&
    make -j2 >"$RUNDIR/build.log" 2>&1) || { tail -30 "$RUNDIR/build.log"; exit 1; }

failed=0
export ASAN_OPTIONS="log_path=$REPORTS/asan:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$REPORTS/ubsan:print_stacktrace=1:halt_on_error=0"
log "make check under the sanitizers"
(cd "$TREE" && make -j2 check >"$RUNDIR/check.log" 2>&1) || { log "make check failed"; failed=1; }

SR_BIN=$TREE/src/signalr-fcgi
pg_start "$NAME" || exit 1
"$SR_BIN" migrate >/dev/null || exit 1
PORT=$(free_port) || exit 1
lighttpd_start "$NAME" "$PORT" 2 SIGNALR_TEST_HUBS=1 SIGNALR_DISCONNECT_TIMEOUT=3 \
    SIGNALR_POLL_TIMEOUT=10 SIGNALR_KEEPALIVE_INTERVAL=2 SIGNALR_CLIENT_TIMEOUT=4 \
    "ASAN_OPTIONS=$ASAN_OPTIONS" "UBSAN_OPTIONS=$UBSAN_OPTIONS" || exit 1
wait_negotiate "http://127.0.0.1:$PORT/Hubs/ChatRoom" 60 || exit 1
[ -d "$SR_TOP/tests/client/node_modules" ] || (cd "$SR_TOP/tests/client" && npm ci --no-audit --no-fund) || exit 1

for tr in LongPolling ServerSentEvents; do
    log "client suites over $tr against the sanitizer build"
    (cd "$SR_TOP/tests/client" &&
        env SIGNALR_URL="http://127.0.0.1:$PORT" SIGNALR_TRANSPORT=$tr SIGNALR_TEST_HUBS=1 \
            SIGNALR_DISCONNECT_TIMEOUT=3 SIGNALR_POLL_TIMEOUT=10 SIGNALR_KEEPALIVE_INTERVAL=2 \
            SIGNALR_CLIENT_TIMEOUT=4 timeout --foreground 600 node --test \
            chat.test.mjs hub.test.mjs hubapi.test.mjs longpolling-raw.test.mjs sse-raw.test.mjs msgpack.test.mjs \
            >"$RUNDIR/client-$tr.log" 2>&1) || { log "client suites over $tr failed"; tail -30 "$RUNDIR/client-$tr.log"; failed=1; }
done

# Stopping lighttpd sends the workers SIGTERM: they exit and LeakSanitizer reports then.
lighttpd_stop "$NAME"
reports=$(find "$REPORTS" -type f | wc -l)
if [ "$reports" -gt 0 ]; then
    log "sanitizer reports:"
    for f in "$REPORTS"/*; do echo "--- $f"; head -40 "$f"; done
    failed=1
fi
if [ "$failed" = 0 ]; then
    echo "1 passed, 0 failed"
    exit 0
fi
echo "0 passed, 1 failed"
exit 1
