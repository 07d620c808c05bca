#!/usr/bin/env bash
# scripts/test.sh — every test suite of signalr-fcgi, as CI runs it (.ci/run execs this).
#
# Order: install missing Debian packages; build in-tree (configure --enable-werror); `make check`
# (unit tests, TAP); `make distcheck` (SKIP_DISTCHECK=1 skips it for quick local runs; CI runs it);
# a private PostgreSQL; `signalr-fcgi migrate` twice, the second run must leave a pg_dump of the
# database unchanged; lighttpd on a free port with 2 workers and test settings; `npm ci` in
# tests/client; `node --test` on each tests/client/*.test.mjs against SIGNALR_URL.
# The last line is `N passed, N failed` (one count per suite; a suite that could not run because
# a step before it failed counts as failed).  Exit status 0 only if nothing failed.  On failure
# the tails of the lighttpd, worker and postgres logs are printed.  Whatever was started is
# stopped on every exit path (by recorded pid).
#
# Environment: SKIP_DISTCHECK=1, SR_CONFIGURE_FLAGS (default --enable-werror),
# CLIENT_TESTS="chat hub" (run only these tests/client/<name>.test.mjs).

# shellcheck disable=SC2317,SC2119 # the suite functions run through suite(); no script arguments
set -u -o pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup_on_exit

export SR_CONFIGURE_FLAGS=${SR_CONFIGURE_FLAGS---enable-werror}
PASSED=0 FAILED=0
RESULTS=()
BLOCKED=   # reason why the remaining suites cannot run

record() { # record NAME ok|FAILED [note]
    RESULTS+=("$(printf '%-28s %s%s' "$1" "$2" "${3:+  ($3)}")")
    if [ "$2" = ok ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
}

# suite [--here] NAME COMMAND... — run one suite unless an earlier prerequisite failed.  COMMAND
# runs as a background child (so ^C/SIGTERM act at once), or with --here in this shell: for the
# steps that start services and set variables (pg_start, start_server).
suite() {
    local runner=run_child
    if [ "$1" = --here ]; then runner=; shift; fi
    local name=$1
    shift
    if [ -n "$BLOCKED" ]; then
        record "$name" FAILED "not run: $BLOCKED"
        return 1
    fi
    log "=== $name"
    if $runner "$@"; then
        record "$name" ok
    else
        record "$name" FAILED
        return 1
    fi
}

finish() {
    local r
    echo
    echo "== results"
    for r in "${RESULTS[@]}"; do echo "  $r"; done
    if [ "$FAILED" -gt 0 ]; then show_logs 60; fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit
}

unit_tests() {
    (cd "$SR_TOP" && make -j2 check) && return 0
    find "$SR_TOP" -name test-suite.log -not -path '*/signalr-fcgi-*/*' 2>/dev/null |
        while read -r f; do echo "----- $f"; tail -n 80 "$f"; done
    return 1
}

distcheck() { (cd "$SR_TOP" && make -j2 distcheck); }

migrate() { "$SR_BIN" migrate; }

# pg_dump of the test database (schema and data), without the \restrict/\unrestrict lines that
# carry a fresh random key in every dump since PostgreSQL 15.14
dump_db() {
    "$SR_PG_BIN/pg_dump" --no-password "$PGDATABASE" >"$1.raw" || return 1
    sed -E '/^\\(un)?restrict /d' "$1.raw" >"$1"
}

# A second migrate must be a no-op: schema and data dumps before and after are identical.
migrate_idempotent() {
    local before=$SR_TOP/.run/test/dump-before.sql after=$SR_TOP/.run/test/dump-after.sql
    dump_db "$before" || return 1
    "$SR_BIN" migrate || return 1
    dump_db "$after" || return 1
    if ! diff -u "$before" "$after"; then
        log "the second migrate changed the database (diff above)"
        return 1
    fi
    grep -q 'CREATE TABLE' "$after" || { log "no table after migrate?"; return 1; }
}

start_server() {
    PORT=$(free_port) || return 1
    lighttpd_start test "$PORT" 2 \
        SIGNALR_TEST_HUBS=1 SIGNALR_DISCONNECT_TIMEOUT=3 SIGNALR_POLL_TIMEOUT=10 \
        SIGNALR_LOG_LEVEL=info SIGNALR_DETAILED_ERRORS=0 || return 1
    wait_negotiate "http://127.0.0.1:$PORT/Hubs/ChatRoom" 30
}

npm_ci() { (cd "$SR_TOP/tests/client" && npm ci --no-audit --no-fund); }

client_suite() {
    (cd "$SR_TOP/tests/client" &&
        SIGNALR_URL="http://127.0.0.1:$PORT" exec timeout --foreground 600 node --test --test-reporter=spec "$1")
}

# ---------------------------------------------------------------------------------------------

suite deps install_deps || BLOCKED="deps failed"
suite build build || BLOCKED="build failed"
suite unit unit_tests
if [ "${SKIP_DISTCHECK:-0}" = 1 ]; then
    log "=== distcheck skipped (SKIP_DISTCHECK=1)"
else
    suite distcheck distcheck
fi

suite --here postgres pg_start test || BLOCKED=${BLOCKED:-"postgres failed to start"}
suite migrate migrate || BLOCKED=${BLOCKED:-"migrate failed"}
suite migrate-idempotent migrate_idempotent
suite --here server start_server || BLOCKED=${BLOCKED:-"lighttpd/workers did not come up"}
suite npm-ci npm_ci || BLOCKED=${BLOCKED:-"npm ci failed"}

if [ -n "${CLIENT_TESTS:-}" ]; then
    files=()
    for t in $CLIENT_TESTS; do files+=("$t.test.mjs"); done
else
    files=()
    for f in "$SR_TOP"/tests/client/*.test.mjs; do files+=("$(basename "$f")"); done
fi
for f in "${files[@]}"; do
    suite "client:${f%.test.mjs}" client_suite "$f"
done

finish
