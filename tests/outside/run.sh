#!/usr/bin/env bash
# tests/outside/run.sh — the "pushing from outside a hub" suite on its own: tests/client/
# outside.test.mjs (the SQL functions of sql/migrations/0005_api.sql through psql, the REST API at
# /api/, the `signalr-fcgi send|group|close|exists` command line, and the README's snippets, with
# the real @microsoft/signalr client receiving) against a server started for it.
#
# Steps: build (in-tree, if needed); `npm ci` in tests/client if its node_modules is missing; a
# private PostgreSQL (.run/<name>/pg); `signalr-fcgi migrate`; lighttpd on a free port with 2
# workers, the test settings of scripts/test.sh and SIGNALR_API_KEY (a random key made for this
# run unless the caller sets one); wait for /Hubs/ChatRoom to negotiate and HEAD /api/health to
# answer 200; then `node --test tests/client/outside.test.mjs` with SIGNALR_URL, SIGNALR_API_KEY,
# SIGNALR_BIN and the PG* variables of the cluster.  Exits with node's status.  Whatever was
# started is stopped on every exit path (scripts/lib.sh cleanup_on_exit).
#
# The REST API needs /api/ routed to the workers.  When tests/integration/lighttpd.conf.in does
# not route it, the run uses a copy of that template (.run/<name>/lighttpd.conf.in) in which
# fastcgi.server (its last statement) sits inside $HTTP["url"] =~ "^/(Hubs|api)/" with the
# prefix "/", so that one set of workers serves both.
#
# Environment: SR_RUN_NAME (default outside-tests: the run directory .run/<name>/), SR_BUILD=0
# (do not run `build` when the binary exists), NODE_TEST_TIMEOUT (seconds, default 600),
# SIGNALR_BIN (the binary: workers and command line), SIGNALR_API_KEY; other SIGNALR_* variables
# of the caller's environment reach the workers too (e.g. SIGNALR_LOG_LEVEL=debug).
set -u -o pipefail
# shellcheck source=scripts/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
cleanup_on_exit

RUN=${SR_RUN_NAME:-outside-tests}
SUITE=$SR_TOP/tests/client/outside.test.mjs
if [ -z "${SIGNALR_API_KEY:-}" ]; then
    SIGNALR_API_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
fi
export SIGNALR_API_KEY
# the worker settings of scripts/test.sh (the suite reads the same values)
WORKER_ENV=(SIGNALR_TEST_HUBS=1 SIGNALR_DISCONNECT_TIMEOUT=3 SIGNALR_POLL_TIMEOUT=10
    SIGNALR_KEEPALIVE_INTERVAL=2 SIGNALR_CLIENT_TIMEOUT=4
    SIGNALR_LOG_LEVEL=info SIGNALR_DETAILED_ERRORS=0)

on_failure() {
    show_logs 40
    die "$1"
}

# routes_api TEMPLATE — true when the template mentions /api/ outside comments (then it is taken
# to hand it to the workers; the health check below tells if it does not)
routes_api() { grep -v '^[[:space:]]*#' "$1" | grep -Eq '/api/|[(|]api[)|]'; }

# api_template SRC DEST — SRC with its fastcgi.server (the last statement) inside a URL condition
# for /Hubs/ and /api/, under the prefix "/"
api_template() {
    awk '
        /^fastcgi\.server = \(/ { print "$HTTP[\"url\"] =~ \"^/(Hubs|api)/\" {"; inside = 1 }
        inside { sub(/"\/Hubs\/" => \(\(/, "\"/\" => ((") }
        { print }
        END { if (inside) print "}"; else exit 1 }
    ' "$1" >"$2"
}

if [ "${SR_BUILD:-1}" != 0 ] || [ ! -x "$SR_BIN" ]; then
    run_child build >&2 || die "build failed"
fi
[ -x "$SR_BIN" ] || die "$SR_BIN was not built"

if [ ! -d "$SR_TOP/tests/client/node_modules/@microsoft/signalr" ]; then
    log "npm ci in tests/client"
    run_child bash -c 'cd "$1" && npm ci --no-audit --no-fund' _ "$SR_TOP/tests/client" >&2 ||
        die "npm ci failed"
fi

if ! routes_api "$SR_LIGHTTPD_TEMPLATE"; then
    mkdir -p "$SR_TOP/.run/$RUN" || die "cannot create .run/$RUN"
    api_template "$SR_LIGHTTPD_TEMPLATE" "$SR_TOP/.run/$RUN/lighttpd.conf.in" ||
        die "cannot route /api/ in a copy of $SR_LIGHTTPD_TEMPLATE (no fastcgi.server line?)"
    SR_LIGHTTPD_TEMPLATE=$SR_TOP/.run/$RUN/lighttpd.conf.in
    log "$(basename "$(dirname "$SR_LIGHTTPD_TEMPLATE")")/lighttpd.conf.in: the template with /api/ routed to the workers"
fi

pg_start "$RUN" || on_failure "could not start PostgreSQL"
run_child "$SR_BIN" migrate >&2 || on_failure "migrate failed"

PORT=$(free_port) || die "no free port"
lighttpd_start "$RUN" "$PORT" 2 "${WORKER_ENV[@]}" || on_failure "could not start lighttpd"
URL=http://127.0.0.1:$PORT
wait_negotiate "$URL/Hubs/ChatRoom" 30 || on_failure "the hub does not answer"
status=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -I "$URL/api/health") || status=none
[ "$status" = 200 ] || on_failure "HEAD $URL/api/health answered $status, not 200: the REST API is not reachable"

log "node --test ${SUITE#"$SR_TOP"/} against $URL"
started=$(date +%s)
run_child env SIGNALR_URL="$URL" SIGNALR_API_KEY="$SIGNALR_API_KEY" SIGNALR_BIN="$SR_BIN" \
    "${WORKER_ENV[@]}" timeout --foreground "${NODE_TEST_TIMEOUT:-600}" \
    node --test --test-reporter=spec "$SUITE"
status=$?
log "node exited with status $status after $(($(date +%s) - started)) s"
if [ "$status" -ne 0 ]; then
    show_logs 40
    log "worker log: $SR_HTTPD_RUNDIR/lighttpd.out"
fi
exit "$status"
