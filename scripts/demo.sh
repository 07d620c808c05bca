#!/usr/bin/env bash
# scripts/demo.sh — build signalr-fcgi and serve it behind lighttpd until ^C.
#
# As root on a fresh Debian 12: installs the missing packages, builds in-tree, starts a private
# PostgreSQL (unless SIGNALR_DB, DATABASE_URL or PGHOST/PGPORT/PGDATABASE name a database: then
# that one is used and no cluster is started), runs `signalr-fcgi migrate`, starts lighttpd on
# 127.0.0.1:$PORT (default 8080) with $WORKERS (default 2) worker processes, waits until
# negotiate answers and prints `ready: http://127.0.0.1:$PORT/`.  SIGINT/SIGTERM stop everything
# it started (by pid) and it exits 0.
#
# A second demo sharing the first one's database: start it with the PG* line the first prints,
#   PORT=8081 PGHOST=... PGPORT=... PGDATABASE=signalr PGUSER=signalr scripts/demo.sh
# Other SIGNALR_* variables in the environment (e.g. SIGNALR_LOG_LEVEL=debug) reach the workers.
set -u -o pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup_on_exit 0

PORT=${PORT:-8080}
WORKERS=${WORKERS:-2}
NAME=demo-$PORT

if port_in_use "$PORT"; then die "port $PORT is already in use (set PORT=...)"; fi
# The REST API (for curl/PHP pushes) needs a key; DEMO_TOKENS=1 makes every hub require a bearer
# token, which the page's "Log in" button gets from the demo's token endpoint.
export SIGNALR_API_KEY=${SIGNALR_API_KEY:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
PAGE_QUERY=
if [ "${DEMO_TOKENS:-0}" = 1 ]; then
    export SIGNALR_JWT_KEY=${SIGNALR_JWT_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
    export SIGNALR_DEMO_TOKENS=1 SIGNALR_REQUIRE_AUTH=1
    PAGE_QUERY='?tokens=1'
fi
install_deps >&2 || die "installing packages failed"
build >&2 || die "build failed"
DOCROOT=$("$SR_TOP/scripts/build-demo-page.sh") || die "building the chat page failed"
export DOCROOT

if external_db_configured; then
    log "using the database from the environment; no PostgreSQL started"
else
    pg_start "$NAME" || die "could not start PostgreSQL"
fi
"$SR_BIN" migrate >&2 || die "signalr-fcgi migrate failed"

lighttpd_start "$NAME" "$PORT" "$WORKERS" || die "could not start lighttpd"
if ! wait_negotiate "http://127.0.0.1:$PORT/Hubs/ChatRoom" 30; then
    show_logs 30
    die "the hub does not answer"
fi

if [ -n "$SR_PG_DATA" ]; then
    log "a second demo can share this database:"
    log "  PORT=$((PORT + 1)) PGHOST=$PGHOST PGPORT=$PGPORT PGDATABASE=$PGDATABASE PGUSER=$PGUSER $0"
fi
log "logs: $SR_HTTPD_RUNDIR/lighttpd.out (workers), lighttpd-error.log, access.log; ^C stops"
log "REST API key (SIGNALR_API_KEY, see README 'Pushing from outside a hub'): $SIGNALR_API_KEY"
[ -n "$PAGE_QUERY" ] && log "tokens required: open http://127.0.0.1:$PORT/$PAGE_QUERY and press Log in"
echo "ready: http://127.0.0.1:$PORT/"

# `wait` returns early when a trapped signal arrives; the trap then cleans up and exits 0.
wait "$SR_HTTPD_PID"
status=$?
log "lighttpd exited unexpectedly (status $status)"
show_logs 30
exit 1
