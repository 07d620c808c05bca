#!/usr/bin/env bash
# tests/security/run.sh — the security / bad-input suite (docs/security-matrix.md; the rows I-*,
# A-*, B-* of reliability-security.md §6) against servers started for it.
#
# Steps: build (in-tree, if needed; SR_BUILD=0 skips it when both binaries exist); copy the stock
# binary and the conformance server into the run directory (a rebuild during the run cannot change
# what is tested); `npm ci` in tests/client if its node_modules is missing; a private PostgreSQL
# (.run/<name>/pg); `signalr-fcgi migrate`; an Ed25519 key pair made with node's crypto; then four
# lighttpd front ends, 2 workers each (stock and fcgi on the database `signalr`, conf and ed on
# `signalr_conformance`):
#
#   stock  the stock binary (/Hubs/Test, SIGNALR_TEST_HUBS=1), HS256 key, CORS allow-list
#          http://allowed.example, 3 groups per connection, 64 KiB bodies, 3 connections per user,
#          handshake timeout 3 s
#   conf   tests/conformance/conformance-server (/authorizedhub requires a user, /testhub), the same
#          HS256 key, issuer SignalRTestServer, audience SignalRTests, leeway 2 s, 3 connections
#          per user
#   ed     the conformance server with only SIGNALR_JWT_ED25519_KEY (EdDSA tokens)
#   fcgi   the stock binary again, for the FastCGI record fuzz only (a worker it crashes cuts no
#          other suite's connections)
#
# every one with SIGNALR_DETAILED_ERRORS=0 and the short test timeouts of scripts/test.sh; then
# `node --test tests/security/*.test.mjs` (files in parallel).  Afterwards: every connection token,
# access token and JWT the suite used (the suites append them to .run/<name>/secrets.txt) is looked
# for in the worker logs (lighttpd.out), lighttpd-error.log and the PostgreSQL log: any hit fails the
# run.  The lighttpd access logs are checked as well and reported (the test template's access log
# records request lines, query string included; that is a template matter, reported, not failed).
# Exits non-zero if node failed or a secret leaked.  Whatever was started is stopped on every exit
# path (scripts/lib.sh cleanup_on_exit).
#
# Tests marked TODO (lib.mjs gap()) assert a matrix goal the server does not meet yet, or a known
# server bug; they are listed at the end and do not fail the run unless SECURITY_STRICT=1.
# Environment: SECURITY_TESTS="jwt cors" (run only tests/security/<name>.test.mjs), SR_RUN_NAME
# (default security-tests), SR_BUILD=0, NODE_TEST_TIMEOUT (seconds, default 300),
# SECURITY_LOG_LEVEL (the workers' log level, default debug: the log grep is strongest there),
# SECURITY_SERVE=1 (start everything, print the URLs and wait for ^C; for poking by hand),
# SECURITY_STRICT=1, SECURITY_CONCURRENCY (test files run at once, default 4).
# The caller's SIGNALR_* variables are NOT passed to the workers: the expectations depend on the
# exact settings above.
# shellcheck disable=SC2317,SC2119 # functions run through run_child; cleanup_on_exit takes no arguments
set -u -o pipefail
# shellcheck source=../../scripts/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
cleanup_on_exit

RUN=${SR_RUN_NAME:-security-tests}
HERE=$SR_TOP/tests/security
RUNDIR=$SR_TOP/.run/$RUN
STOCK_SRC=$SR_BIN
CONF_SRC=$SR_TOP/tests/conformance/conformance-server
STOCK_TEMPLATE=$SR_TOP/tests/integration/lighttpd.conf.in
CONF_TEMPLATE=$SR_TOP/tests/conformance/lighttpd.conf.in

# the workers must see exactly the settings below, nothing of the caller's
for v in $(compgen -e | grep '^SIGNALR_'); do unset "$v"; done

on_failure() {
    show_logs 40
    die "$1"
}

if [ "${SR_BUILD:-1}" != 0 ] || [ ! -x "$STOCK_SRC" ] || [ ! -x "$CONF_SRC" ]; then
    run_child build >&2 || die "build failed"
fi
[ -x "$STOCK_SRC" ] || die "$STOCK_SRC was not built"
[ -x "$CONF_SRC" ] || die "$CONF_SRC was not built"

mkdir -p "$RUNDIR" || die "cannot create $RUNDIR"
snapshot() { cp "$1" "$2.new" && mv -f "$2.new" "$2"; }
snapshot "$STOCK_SRC" "$RUNDIR/signalr-fcgi" || die "cannot copy $STOCK_SRC into $RUNDIR"
snapshot "$CONF_SRC" "$RUNDIR/conformance-server" || die "cannot copy $CONF_SRC into $RUNDIR"
STOCK_BIN=$RUNDIR/signalr-fcgi
CONF_BIN=$RUNDIR/conformance-server

if [ ! -d "$SR_TOP/tests/client/node_modules/@microsoft/signalr" ]; then
    log "npm ci in tests/client"
    # shellcheck disable=SC2016 # $1 is the inner shell's
    run_child bash -c 'cd "$1" && npm ci --no-audit --no-fund' _ "$SR_TOP/tests/client" >&2 ||
        die "npm ci failed"
fi

pg_start "$RUN" || on_failure "could not start PostgreSQL"
run_child "$STOCK_BIN" migrate >&2 || on_failure "migrate failed"
# The conformance server's front ends get a database of their own: workers that serve other hubs
# must not share a database (a reaper in a worker that does not serve a connection's hub deletes
# the connection without running the hub's disconnect hook; see docs/security-matrix.md).
CONF_DB=signalr_conformance
psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres -c "CREATE DATABASE $CONF_DB OWNER signalr" >/dev/null ||
    on_failure "could not create database $CONF_DB"
run_child env PGDATABASE=$CONF_DB "$CONF_BIN" migrate >&2 || on_failure "migrate ($CONF_DB) failed"

# keys: a random HS256 secret (64 hex characters), an Ed25519 pair (public key raw, base64url)
JWT_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
read -r ED_PUBLIC ED_PRIVATE < <(node -e '
    const { generateKeyPairSync } = require("node:crypto");
    const k = generateKeyPairSync("ed25519");
    console.log(k.publicKey.export({ format: "jwk" }).x + " " +
        k.privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"));') ||
    die "could not make an Ed25519 key pair"
if [ -z "$ED_PUBLIC" ] || [ -z "$ED_PRIVATE" ]; then die "could not make an Ed25519 key pair"; fi

COMMON_ENV=(SIGNALR_DISCONNECT_TIMEOUT=3 SIGNALR_POLL_TIMEOUT=10 SIGNALR_KEEPALIVE_INTERVAL=2
    SIGNALR_CLIENT_TIMEOUT=4 SIGNALR_DETAILED_ERRORS=0
    "SIGNALR_LOG_LEVEL=${SECURITY_LOG_LEVEL:-debug}")
STOCK_ENV=("${COMMON_ENV[@]}" SIGNALR_TEST_HUBS=1 "SIGNALR_JWT_KEY=$JWT_KEY"
    SIGNALR_CORS_ORIGINS=http://allowed.example SIGNALR_MAX_GROUPS_PER_CONNECTION=3
    SIGNALR_MAX_BODY_SIZE=65536 SIGNALR_MAX_CONNECTIONS_PER_USER=3 SIGNALR_HANDSHAKE_TIMEOUT=3)
CONF_ENV=("${COMMON_ENV[@]}" "PGDATABASE=$CONF_DB" "SIGNALR_JWT_KEY=$JWT_KEY" SIGNALR_JWT_LEEWAY=2
    SIGNALR_JWT_ISSUER=SignalRTestServer SIGNALR_JWT_AUDIENCE=SignalRTests
    SIGNALR_MAX_CONNECTIONS_PER_USER=3)
ED_ENV=("${COMMON_ENV[@]}" "PGDATABASE=$CONF_DB" "SIGNALR_JWT_ED25519_KEY=$ED_PUBLIC" SIGNALR_JWT_LEEWAY=2)

# start_front NAME BIN TEMPLATE ENV... — lighttpd RUN-NAME (run dir .run/RUN-NAME) with 2 workers of
# BIN on a free port (PORTS[NAME])
declare -A PORTS=()
start_front() {
    local name=$1 bin=$2 template=$3 port
    shift 3
    port=$(free_port) || return 1
    # this run's access log only (lighttpd appends to it)
    mkdir -p "$SR_TOP/.run/$RUN-$name" && : >"$SR_TOP/.run/$RUN-$name/access.log"
    # shellcheck disable=SC2034 # both are read by lib.sh's lighttpd_start
    SR_BIN=$bin SR_LIGHTTPD_TEMPLATE=$template
    lighttpd_start "$RUN-$name" "$port" 2 "$@" || return 1
    PORTS[$name]=$port
}

start_front stock "$STOCK_BIN" "$STOCK_TEMPLATE" "${STOCK_ENV[@]}" ||
    on_failure "could not start lighttpd (stock)"
start_front conf "$CONF_BIN" "$CONF_TEMPLATE" "${CONF_ENV[@]}" ||
    on_failure "could not start lighttpd (conf)"
start_front ed "$CONF_BIN" "$CONF_TEMPLATE" "${ED_ENV[@]}" ||
    on_failure "could not start lighttpd (ed)"
# the FastCGI record fuzz (fastcgi.test.mjs) kills workers when it finds a crash: its own front end,
# so that the other suites' connections are not cut by it
start_front fcgi "$STOCK_BIN" "$STOCK_TEMPLATE" "${STOCK_ENV[@]}" ||
    on_failure "could not start lighttpd (fcgi)"
STOCK_URL=http://127.0.0.1:${PORTS[stock]}
CONF_URL=http://127.0.0.1:${PORTS[conf]}
ED_URL=http://127.0.0.1:${PORTS[ed]}
FCGI_URL=http://127.0.0.1:${PORTS[fcgi]}
wait_negotiate "$STOCK_URL/Hubs/Test" 30 "$(lighttpd_pid "$RUN-stock")" ||
    on_failure "/Hubs/Test does not answer"
wait_negotiate "$CONF_URL/testhub" 30 "$(lighttpd_pid "$RUN-conf")" ||
    on_failure "the conformance server does not answer"
wait_negotiate "$ED_URL/testhub" 30 "$(lighttpd_pid "$RUN-ed")" ||
    on_failure "the Ed25519 conformance server does not answer"
wait_negotiate "$FCGI_URL/Hubs/Test" 30 "$(lighttpd_pid "$RUN-fcgi")" ||
    on_failure "/Hubs/Test (fcgi) does not answer"

SECRETS=$RUNDIR/secrets.txt
: >"$SECRETS"
# what the suites get: the URLs, the keys, the lighttpd pids (their children are the workers), the
# FastCGI socket directories, the run directories and the settings they assert against
NODE_ENV_VARS=(
    "SECURITY_STOCK_URL=$STOCK_URL" "SECURITY_CONF_URL=$CONF_URL" "SECURITY_ED_URL=$ED_URL"
    "SECURITY_FCGI_URL=$FCGI_URL"
    "SECURITY_JWT_KEY=$JWT_KEY" "SECURITY_ED_PUBLIC=$ED_PUBLIC" "SECURITY_ED_PRIVATE=$ED_PRIVATE"
    "SECURITY_PIDS=stock:$(lighttpd_pid "$RUN-stock"),conf:$(lighttpd_pid "$RUN-conf"),ed:$(lighttpd_pid "$RUN-ed"),fcgi:$(lighttpd_pid "$RUN-fcgi")"
    "SECURITY_SOCKDIRS=stock:${SR_HTTPD_SOCKDIRS[$RUN-stock]},conf:${SR_HTTPD_SOCKDIRS[$RUN-conf]},ed:${SR_HTTPD_SOCKDIRS[$RUN-ed]},fcgi:${SR_HTTPD_SOCKDIRS[$RUN-fcgi]}"
    "SECURITY_RUNDIRS=stock:${SR_HTTPD_RUNDIRS[$RUN-stock]},conf:${SR_HTTPD_RUNDIRS[$RUN-conf]},ed:${SR_HTTPD_RUNDIRS[$RUN-ed]},fcgi:${SR_HTTPD_RUNDIRS[$RUN-fcgi]}"
    "SECURITY_SECRETS=$SECRETS" "SECURITY_STOCK_BIN=$STOCK_BIN"
    "SECURITY_LEEWAY=2" "SECURITY_ISSUER=SignalRTestServer" "SECURITY_AUDIENCE=SignalRTests"
    "SECURITY_MAX_GROUPS=3" "SECURITY_MAX_BODY=65536" "SECURITY_MAX_CONN_PER_USER=3"
    "SECURITY_MAX_MESSAGE=32768" "SECURITY_CORS_ORIGIN=http://allowed.example"
    "SECURITY_DISCONNECT_TIMEOUT=3" "SECURITY_POLL_TIMEOUT=10" "SECURITY_HANDSHAKE_TIMEOUT=3"
)

if [ "${SECURITY_SERVE:-0}" = 1 ]; then
    printf '%s\n' "${NODE_ENV_VARS[@]}" "PGHOST=$PGHOST" "PGPORT=$PGPORT" "PGUSER=$PGUSER" "PGDATABASE=$PGDATABASE" >"$RUNDIR/env"
    log "serving: stock $STOCK_URL, conf $CONF_URL, ed $ED_URL (env for node in $RUNDIR/env); ^C stops"
    # run_child: the wait is interruptible, so ^C/SIGTERM stop everything at once
    while :; do run_child sleep 3600; done
fi

files=()
if [ -n "${SECURITY_TESTS:-}" ]; then
    for t in $SECURITY_TESTS; do files+=("$HERE/$t.test.mjs"); done
else
    files=("$HERE"/*.test.mjs)
fi

log "node --test ${files[*]#"$SR_TOP"/}"
started=$(date +%s)
TAP=$RUNDIR/results.tap
rm -f "$TAP"
run_child env "${NODE_ENV_VARS[@]}" timeout --foreground "${NODE_TEST_TIMEOUT:-300}" \
    node --test --test-concurrency="${SECURITY_CONCURRENCY:-4}" \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$TAP" "${files[@]}"
status=$?
log "node exited with status $status after $(($(date +%s) - started)) s"
# the TODO tests that fail: matrix goals not met and known server bugs (lib.mjs gap())
if [ -f "$TAP" ]; then
    gaps=$(grep -E '^\s*not ok [0-9]+ - .* # TODO' "$TAP" | sed -E 's/^\s*not ok [0-9]+ - //')
    if [ -n "$gaps" ]; then
        log "open gaps and known bugs ($(printf '%s\n' "$gaps" | grep -c '') TODO tests fail; SECURITY_STRICT=1 makes them count):"
        printf '%s\n' "$gaps" | sed 's/^/    /' | cut -c1-240 >&2
    fi
fi

# ---- A-08: no secret in the logs -----------------------------------------------------------------
leaks=0
sort -u "$SECRETS" | grep -v '^$' >"$SECRETS.sorted"
n_secrets=$(wc -l <"$SECRETS.sorted")
logs=()
for name in stock conf ed fcgi; do
    d=$SR_TOP/.run/$RUN-$name
    logs+=("$d/lighttpd.out" "$d/lighttpd-error.log")
done
[ -n "$SR_PG_LOG" ] && logs+=("$SR_PG_LOG")
if [ "$n_secrets" -lt 10 ]; then
    log "A-08: only $n_secrets secrets were recorded: the suites did not run far enough to check the logs"
    leaks=1
else
    for f in "${logs[@]}"; do
        [ -f "$f" ] || continue
        hits=$(grep -c -F -f "$SECRETS.sorted" "$f")
        if [ "$hits" -gt 0 ]; then
            log "A-08 FAILED: $hits line(s) of ${f#"$SR_TOP"/} contain a token the suite used, e.g.:"
            grep -F -f "$SECRETS.sorted" "$f" | head -3 | cut -c1-300 >&2
            leaks=1
        fi
        if grep -q 'access_token=' "$f"; then
            log "A-08 FAILED: ${f#"$SR_TOP"/} contains 'access_token='"
            leaks=1
        fi
    done
    [ "$leaks" = 0 ] &&
        log "A-08: none of the $n_secrets tokens the suite used is in the worker, lighttpd error or PostgreSQL logs"
fi
# the access logs: a template matter (the default accesslog.format logs the request line, %r)
for name in stock conf ed fcgi; do
    f=$SR_TOP/.run/$RUN-$name/access.log
    [ -f "$f" ] || continue
    hits=$(grep -c -F -f "$SECRETS.sorted" "$f")
    if [ "$hits" -gt 0 ]; then
        log "NOTE: ${f#"$SR_TOP"/}: $hits request line(s) carry a connection token (?id=) or access token" \
            "(?access_token=): the template's accesslog.format logs the query string; use a format with %U instead of %r"
    fi
done

if [ "$status" -ne 0 ] || [ "$leaks" -ne 0 ]; then
    show_logs 40
    log "worker logs: $SR_TOP/.run/$RUN-{stock,conf,ed,fcgi}/lighttpd.out"
    [ "$status" -ne 0 ] && exit "$status"
    exit 1
fi
exit 0
