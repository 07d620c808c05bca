#!/usr/bin/env bash
# tests/conformance/run.sh — the conformance suite: the upstream functional-test cases of the
# official @microsoft/signalr client (docs/conformance-server.md §5, JSON over ServerSentEvents and
# LongPolling) against the conformance server (tests/conformance/server.c) behind lighttpd.
#
# Steps: build (in-tree, if needed); a private PostgreSQL (.run/conformance-tests/pg); migrate with
# the conformance binary; lighttpd on a free port with 2 conformance-server workers
# (SIGNALR_DETAILED_ERRORS=1, a SIGNALR_JWT_KEY made for this run); wait for /testhub to negotiate;
# `npm ci` in tests/client if its node_modules is missing; then
#   SERVER_URL=";http://127.0.0.1:PORT" node --test tests/conformance/*.test.mjs
# (the upstream convention: "<https base>;<http base>", no HTTPS base here).  Exits with node's
# status.  Whatever was started is stopped on every exit path (scripts/lib.sh cleanup_on_exit).
#
# Environment: CONFORMANCE_TESTS="hubconnection connection" (run only these
# tests/conformance/<name>.test.mjs), CONFORMANCE_LOG=1 (echo every client log line, as upstream's
# TestLogger does), NODE_TEST_TIMEOUT (seconds for the whole node run, default 600), SR_RUN_NAME
# (default conformance-tests: the run directory .run/<name>/), SR_BUILD=0 (do not run `build` when
# the binary exists).  Other SIGNALR_* variables of the
# caller's environment reach the workers too (e.g. SIGNALR_LOG_LEVEL=debug).
# shellcheck disable=SC2119,SC2317 # cleanup_on_exit takes no arguments; npm_ci runs via run_child
set -u -o pipefail
# shellcheck source=scripts/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
cleanup_on_exit

RUN=${SR_RUN_NAME:-conformance-tests}
HERE=$SR_TOP/tests/conformance
SR_BIN=$HERE/conformance-server
SR_LIGHTTPD_TEMPLATE=$HERE/lighttpd.conf.in
export SIGNALR_DETAILED_ERRORS=1
SIGNALR_JWT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SIGNALR_JWT_KEY

on_failure() {
    show_logs 40
    die "$1"
}

# `build` is incremental (configure only when needed, then make); SR_BUILD=0 skips it when the
# binary exists (e.g. while someone else is editing src/)
if [ "${SR_BUILD:-1}" != 0 ] || [ ! -x "$SR_BIN" ]; then
    run_child build >&2 || die "build failed"
fi
[ -x "$SR_BIN" ] || die "$SR_BIN was not built"

npm_ci() { (cd "$SR_TOP/tests/client" && npm ci --no-audit --no-fund); }
if [ ! -d "$SR_TOP/tests/client/node_modules/@microsoft/signalr" ] ||
    [ ! -d "$SR_TOP/tests/client/node_modules/@microsoft/signalr-protocol-msgpack" ]; then
    log "npm ci in tests/client"
    run_child npm_ci >&2 || die "npm ci failed"
fi

pg_start "$RUN" || on_failure "could not start PostgreSQL"
run_child "$SR_BIN" migrate >&2 || on_failure "migrate failed"

PORT=$(free_port) || die "no free port"
lighttpd_start "$RUN" "$PORT" 2 || on_failure "could not start lighttpd"
wait_negotiate "http://127.0.0.1:$PORT/testhub" 30 || on_failure "the test hub does not answer"

files=()
if [ -n "${CONFORMANCE_TESTS:-}" ]; then
    for t in $CONFORMANCE_TESTS; do files+=("$HERE/$t.test.mjs"); done
else
    files=("$HERE"/*.test.mjs)
fi

log "node --test ${files[*]#"$SR_TOP"/} against http://127.0.0.1:$PORT"
started=$(date +%s)
run_child env SERVER_URL=";http://127.0.0.1:$PORT" timeout --foreground "${NODE_TEST_TIMEOUT:-600}" \
    node --test --test-reporter=spec "${files[@]}"
status=$?
log "node exited with status $status after $(($(date +%s) - started)) s"
if [ "$status" -ne 0 ]; then
    show_logs 40
    log "worker log: $SR_HTTPD_RUNDIR/lighttpd.out"
fi
exit "$status"
