#!/usr/bin/env bash
# scripts/conformance-server.sh — serve the conformance server (tests/conformance/server.c):
# the surface of the official client's functional-test server, behind lighttpd, until ^C.
#
# Same contract as scripts/demo.sh: as root on a fresh Debian 12 it installs what is missing,
# builds, starts a private PostgreSQL (or uses the one named by PG*/SIGNALR_DB/DATABASE_URL),
# migrates, starts lighttpd on 127.0.0.1:$PORT (default 8080) with $WORKERS (default 2) workers,
# prints `ready: http://127.0.0.1:$PORT/` and stops everything it started on SIGINT/SIGTERM.
# Detailed errors are on (the upstream tests compare exception texts) and bearer tokens are
# signed with a key made for this run (SIGNALR_JWT_KEY, unless already set).
set -u -o pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup_on_exit 0

PORT=${PORT:-8080}
WORKERS=${WORKERS:-2}
NAME=conformance-$PORT
SR_BIN=$SR_TOP/tests/conformance/conformance-server
SR_LIGHTTPD_TEMPLATE=$SR_TOP/tests/conformance/lighttpd.conf.in
export SIGNALR_DETAILED_ERRORS=1
export SIGNALR_JWT_KEY=${SIGNALR_JWT_KEY:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}

if port_in_use "$PORT"; then die "port $PORT is already in use (set PORT=...)"; fi
install_deps >&2 || die "installing packages failed"
build >&2 || die "build failed"
[ -x "$SR_BIN" ] || die "$SR_BIN was not built"

if external_db_configured; then
    log "using the database from the environment; no PostgreSQL started"
else
    pg_start "$NAME" || die "could not start PostgreSQL"
fi
"$SR_BIN" migrate >&2 || die "migrate failed"

lighttpd_start "$NAME" "$PORT" "$WORKERS" || die "could not start lighttpd"
if ! wait_negotiate "http://127.0.0.1:$PORT/testhub" 30; then
    show_logs 30
    die "the test hub does not answer"
fi
log "logs: $SR_HTTPD_RUNDIR/lighttpd.out (workers), lighttpd-error.log, access.log; ^C stops"
echo "ready: http://127.0.0.1:$PORT/"

wait "$SR_HTTPD_PID"
status=$?
log "lighttpd exited unexpectedly (status $status)"
show_logs 30
exit 1
