#!/usr/bin/env bash
# scripts/test.sh — every test suite of signalr-fcgi, as CI runs it (.ci/run execs this).
#
# Order: install missing Debian packages; build in-tree (configure --enable-werror); `make check`
# (unit tests, TAP); `make distcheck` (SKIP_DISTCHECK=1 skips it for quick local runs; CI runs it);
# a private PostgreSQL; `signalr-fcgi migrate` twice, the second run must leave a pg_dump of the
# database unchanged; lighttpd on a free port with 2 workers and test settings; `npm ci` in
# tests/client; `node --test` on each tests/client/*.test.mjs against SIGNALR_URL.
# The real-client suites (PER_TRANSPORT: chat, hub, lifecycle) run once per transport —
# SIGNALR_TRANSPORT=LongPolling, ServerSentEvents, and auto (no transport option: the client must
# pick ServerSentEvents) — the others once.  scaleout runs with a second lighttpd (own port, own
# 2 workers, same database) at SIGNALR_URL_B, started for it and stopped after it.  delivery
# runs last: it kills the workers' LISTEN sessions, restarts PostgreSQL and SIGKILLs a worker;
# PostgreSQL is started again after any suite that left it stopped.
# The last line is `N passed, N failed` (one count per suite run; a suite that could not run
# because a step before it failed counts as failed).  Exit status 0 only if nothing failed.  On
# failure the tails of the lighttpd, worker and postgres logs are printed.  Whatever was started
# is stopped on every exit path (by recorded pid).
#
# The workers run a copy of the built binary (.run/<name>/signalr-fcgi; SIGNALR_BIN=path names
# another), so that a rebuild of the tree during the run cannot change what is tested.
#
# Environment: SKIP_DISTCHECK=1, SR_CONFIGURE_FLAGS (default --enable-werror),
# SKIP_SUITES="frontends faults" (skip suites that run their own services),
# CLIENT_TESTS="chat hub" (run only these tests/client/<name>.test.mjs),
# CLIENT_TRANSPORTS="LongPolling ServerSentEvents auto" (the runs of the PER_TRANSPORT suites),
# SR_RUN_NAME (default test: the run directory .run/<name>/, so two checkouts' runs do not meet).

# shellcheck disable=SC2317,SC2119 # the suite functions run through suite(); no script arguments
set -u -o pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup_on_exit

export SR_CONFIGURE_FLAGS=${SR_CONFIGURE_FLAGS---enable-werror}
RUN=${SR_RUN_NAME:-test}
PER_TRANSPORT="chat hub lifecycle"
TRANSPORTS=${CLIENT_TRANSPORTS:-LongPolling ServerSentEvents auto}
PORT='' PORT_B=''
PASSED=0 FAILED=0
RESULTS=()
BLOCKED=   # reason why the remaining suites cannot run

record() { # record NAME ok|FAILED [note]
    RESULTS+=("$(printf '%-36s %s%s' "$1" "$2" "${3:+  ($3)}")")
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

# The binary under test is a copy, taken right after the build: lighttpd respawns a killed worker
# (the delivery suite SIGKILLs one) from its bin-path, and a rebuild of the tree during the run
# must not put another version of the program beside the tested one.  SIGNALR_BIN=path skips it.
snapshot_bin() {
    [ -n "${SIGNALR_BIN:-}" ] && return 0
    mkdir -p "$SR_TOP/.run/$RUN" &&
        cp "$SR_TOP/src/signalr-fcgi" "$SR_TOP/.run/$RUN/signalr-fcgi.new" &&
        mv -f "$SR_TOP/.run/$RUN/signalr-fcgi.new" "$SR_TOP/.run/$RUN/signalr-fcgi" || return 1
    SR_BIN=$SR_TOP/.run/$RUN/signalr-fcgi
}

migrate() { "$SR_BIN" migrate; }

# pg_dump of the test database (schema and data), without the \restrict/\unrestrict lines that
# carry a fresh random key in every dump since PostgreSQL 15.14
dump_db() {
    "$SR_PG_BIN/pg_dump" --no-password "$PGDATABASE" >"$1.raw" || return 1
    sed -E '/^\\(un)?restrict /d' "$1.raw" >"$1"
}

# A second migrate must be a no-op: schema and data dumps before and after are identical.
migrate_idempotent() {
    local before=$SR_TOP/.run/$RUN/dump-before.sql after=$SR_TOP/.run/$RUN/dump-after.sql
    dump_db "$before" || return 1
    "$SR_BIN" migrate || return 1
    dump_db "$after" || return 1
    if ! diff -u "$before" "$after"; then
        log "the second migrate changed the database (diff above)"
        return 1
    fi
    grep -q 'CREATE TABLE' "$after" || { log "no table after migrate?"; return 1; }
}

# The workers' test settings; the client suites get the same values (helpers.mjs reads them).
# KEEPALIVE_INTERVAL 2: SSE pings every 2 s; CLIENT_TIMEOUT 4: a stream whose client pinged and
# then fell silent for 4 s is closed (the suites' clients ping every second, helpers.mjs).
# SIGNALR_API_KEY: the REST API is on (tests/client/outside.test.mjs signs its tokens with it).
WORKER_ENV=(SIGNALR_TEST_HUBS=1 SIGNALR_DISCONNECT_TIMEOUT=3 SIGNALR_POLL_TIMEOUT=10
    SIGNALR_KEEPALIVE_INTERVAL=2 SIGNALR_CLIENT_TIMEOUT=4
    SIGNALR_LOG_LEVEL=info SIGNALR_DETAILED_ERRORS=0
    SIGNALR_API_KEY="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')")

start_server() {
    PORT=$(free_port) || return 1
    lighttpd_start "$RUN" "$PORT" 2 "${WORKER_ENV[@]}" || return 1
    wait_negotiate "http://127.0.0.1:$PORT/Hubs/ChatRoom" 30
}

# the second front end for the scale-out suite: own port, own 2 workers, same database
start_server_b() {
    PORT_B=$(free_port) || return 1
    [ "$PORT_B" != "$PORT" ] || PORT_B=$(free_port) || return 1
    lighttpd_start "$RUN-b" "$PORT_B" 2 "${WORKER_ENV[@]}" || return 1
    wait_negotiate "http://127.0.0.1:$PORT_B/Hubs/ChatRoom" 30 "$(lighttpd_pid "$RUN-b")"
}

npm_ci() { (cd "$SR_TOP/tests/client" && npm ci --no-audit --no-fund); }

# client_suite FILE [TRANSPORT] — node --test on tests/client/FILE.  Besides SIGNALR_URL the
# suites get: the worker settings (WORKER_ENV), SIGNALR_TRANSPORT, SIGNALR_URL_B while the
# second front end runs, and what the delivery suite needs to disturb this run's own services
# only: SR_TEST_LIB (this lib.sh), SR_TEST_PGDATA (the cluster, for pg_attach/pg_pause/
# pg_resume) and SR_TEST_LIGHTTPD_PID (the lighttpd whose worker children it may SIGKILL).
client_suite() {
    local file=$1 transport=${2:-}
    local -a vars=(SIGNALR_URL="http://127.0.0.1:$PORT" SIGNALR_BIN="$SR_BIN" "${WORKER_ENV[@]}"
        SR_TEST_LIB="$SR_TOP/scripts/lib.sh" SR_TEST_PGDATA="$SR_PG_DATA"
        SR_TEST_LIGHTTPD_PID="$(lighttpd_pid "$RUN")")
    [ -n "$transport" ] && vars+=(SIGNALR_TRANSPORT="$transport")
    [ -n "${PORT_B:-}" ] && vars+=(SIGNALR_URL_B="http://127.0.0.1:$PORT_B")
    (cd "$SR_TOP/tests/client" &&
        exec env "${vars[@]}" timeout --foreground 600 node --test --test-reporter=spec "$file")
}

# ---------------------------------------------------------------------------------------------

suite deps install_deps || BLOCKED="deps failed"
suite build build || BLOCKED="build failed"
if [ -z "$BLOCKED" ] && ! snapshot_bin; then BLOCKED="could not copy the built binary"; fi
suite unit unit_tests
if [ "${SKIP_DISTCHECK:-0}" = 1 ]; then
    log "=== distcheck skipped (SKIP_DISTCHECK=1)"
else
    suite distcheck distcheck
fi

suite --here postgres pg_start "$RUN" || BLOCKED=${BLOCKED:-"postgres failed to start"}
suite migrate migrate || BLOCKED=${BLOCKED:-"migrate failed"}
suite migrate-idempotent migrate_idempotent
suite --here server start_server || BLOCKED=${BLOCKED:-"lighttpd/workers did not come up"}
suite npm-ci npm_ci || BLOCKED=${BLOCKED:-"npm ci failed"}

names=()
if [ -n "${CLIENT_TESTS:-}" ]; then
    for t in $CLIENT_TESTS; do names+=("$t"); done
else
    for f in "$SR_TOP"/tests/client/*.test.mjs; do
        f=$(basename "$f" .test.mjs)
        [ "$f" = delivery ] || names+=("$f")
    done
    [ -f "$SR_TOP/tests/client/delivery.test.mjs" ] && names+=(delivery) # disruptive: last
fi
for name in "${names[@]}"; do
    case " $PER_TRANSPORT " in
    *" $name "*)
        for tr in $TRANSPORTS; do
            suite "client:${name}[$tr]" client_suite "$name.test.mjs" "$tr"
        done
        ;;
    *)
        if [ "$name" = scaleout ] && [ -z "$BLOCKED" ]; then
            if suite --here server-b start_server_b; then
                suite "client:$name" client_suite "$name.test.mjs"
            else
                record "client:$name" FAILED "not run: the second lighttpd did not come up"
            fi
            lighttpd_stop "$RUN-b"
            PORT_B=
        else
            suite "client:$name" client_suite "$name.test.mjs"
        fi
        ;;
    esac
    # a suite that stopped PostgreSQL and could not start it again must not take the rest along
    if [ -z "$BLOCKED" ] && ! pg_ensure_running; then BLOCKED="postgres could not be restarted"; fi
done

# Suites with services of their own (each starts and stops its own PostgreSQL and web server).
# This run's server is stopped first: the machine has two cores.
lighttpd_stop "$RUN"
own_suite() { # own_suite NAME SCRIPT — run SCRIPT if it exists (its exit status is the result)
    case " ${SKIP_SUITES:-} " in *" $1 "*) log "=== $1 skipped (SKIP_SUITES)"; return 0 ;; esac
    [ -f "$SR_TOP/$2" ] || return 0
    suite "$1" env SR_RUN_NAME="$RUN-$1" SR_SKIP_BUILD=1 SR_BUILD=0 timeout --foreground 1800 \
        bash "$SR_TOP/$2"
}
if [ -z "${ONLY_CLIENT:-}" ]; then
    own_suite conformance tests/conformance/run.sh
    own_suite security tests/security/run.sh
    own_suite faults tests/faults/run.sh
    own_suite bench-smoke bench/smoke.sh
    own_suite frontends tests/frontends/run.sh
    own_suite browser tests/browser/run.sh
    own_suite sanitizers tests/sanitizers/run.sh
fi

finish
