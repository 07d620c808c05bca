#!/usr/bin/env bash
# tests/frontends/run.sh — the real @microsoft/signalr client through every front end that
# docs/deploying.md describes, over LongPolling and Server-Sent Events.
#
# As root on Debian 12.  Installs what is missing (the packages of scripts/lib.sh's install_deps,
# plus apache2, libapache2-mod-fcgid, nginx and spawn-fcgi; the system's instances are neither
# started nor reconfigured), runs `make` (the whole build of lib.sh if there is no Makefile yet;
# SKIP_BUILD=1 skips it), starts a private PostgreSQL (lib.sh pg_start), runs
# `signalr-fcgi migrate`, copies the binary to .run/frontends/bin/ (a rebuild during the run does
# not change what is tested), and then, one after the other, each front end on a free port:
#
#   lighttpd-bin           lighttpd spawns 2 workers (bin-path)                  lighttpd-bin.conf.in
#   lighttpd-socket        lighttpd -> one external socket; `spawn-fcgi -F 2`
#                          started 2 workers on it (they inherit it on fd 0)     lighttpd-socket.conf.in
#   nginx                  nginx -> 2 standalone workers (`--listen SOCKET`)     nginx.conf.in
#   apache-proxy-fcgi      mod_proxy_fcgi (balancer) -> the same 2 workers       apache-proxy-fcgi.conf.in
#   apache-fcgid           mod_fcgid starts the workers (server configuration)   apache-fcgid.conf.in
#   apache-fcgid-htaccess  mod_fcgid with all its defaults, configured from
#                          .htaccess only (event streams go to CGI)              apache-fcgid-htaccess.conf.in, htaccess-fcgid.in
#   apache-cgi             plain CGI (mod_cgid) configured from .htaccess only   apache-cgi.conf.in, htaccess-cgi.in
#
# (Apache configurations are apache-common.conf.in plus their own part; the .htaccess document
# roots hold a `Hubs` program rendered from Hubs.in, `api` and `signalr` links to it, and the
# workers read signalr-fcgi.conf.in.)  Against each it runs tests/client/chat.test.mjs,
# tests/client/hub.test.mjs and frontend.test.mjs (this directory: the three URL prefixes,
# Authorization and Host, buffering, a poll held for the whole poll timeout, Pings one by one),
# once with SIGNALR_TRANSPORT=LongPolling and once with ServerSentEvents.  The workers get the
# settings of scripts/test.sh (SIGNALR_TEST_HUBS=1, SIGNALR_DISCONNECT_TIMEOUT=3,
# SIGNALR_POLL_TIMEOUT=10, SIGNALR_KEEPALIVE_INTERVAL=2, SIGNALR_CLIENT_TIMEOUT=4) and a REST API
# key.
#
# Then the example files as they are written (lighttpd.conf.example, its external-socket block,
# nginx.conf.example, the three variants of apache.conf.example, contrib/signalr-fcgi.service,
# doc/signalr-fcgi.1): syntax-checked by their own programs and, where the test can run them,
# served with only their paths replaced, and checked with frontend.test.mjs.  Then the trap
# demonstrations: a setting docs/deploying.md warns about, and the breakage it causes (the row
# passes when the breakage is seen; if a front end copes after all, the docs are wrong).
#
# At the end a matrix of results; the exit status is 0 only if every cell is ok.  On a failure
# the failing suites' output and the tails of the logs are printed.
#
# Users: everything runs as root except what the front ends run as their user.  nginx and
# Apache's mod_proxy_fcgi children run as www-data (the worker sockets are group www-data, mode
# 0660, as contrib/signalr-fcgi.service makes them).  Apache's mod_fcgid and CGI children run as
# `postgres`, because they connect to the database themselves and lib.sh's private cluster takes
# Unix-socket connections from root and postgres only.  Configurations are rendered from the
# templates in this directory into .run/frontends/<name>/, with the logs; sockets live under
# /tmp.  Every process is started here and stopped by its pid (with whatever it started), never
# by name.
#
# Environment: FRONTENDS="nginx apache-cgi ..." (default: all, in the order above; " " for
# none), CLIENT_TRANSPORTS="LongPolling ServerSentEvents", SUITES="chat hub frontend",
# EXAMPLES=0 / TRAPS=0 (skip those parts; TRAPS="name ..." runs only those), SKIP_BUILD=1.

# shellcheck disable=SC2317,SC2119,SC2016 # functions run through run_child/traps; no script
# arguments; single-quoted $ in sed and grep patterns are meant literally
set -u -o pipefail
FE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$FE_DIR/../../scripts/lib.sh"
cleanup_on_exit
trap 'fe_cleanup; cleanup' EXIT
trap 'fe_cleanup; sr_on_signal 2' INT
trap 'fe_cleanup; sr_on_signal 15' TERM

ALL_FRONTENDS="lighttpd-bin lighttpd-socket nginx apache-proxy-fcgi apache-fcgid apache-fcgid-htaccess apache-cgi"
ALL_TRAPS="lighttpd-no-stream apache-proxy-no-flush apache-proxy-no-passauth fcgid-iotimeout
    fcgid-no-passheader fcgid-htaccess-no-if nginx-debian-host"
FRONTENDS=${FRONTENDS:-$ALL_FRONTENDS}
TRANSPORTS=${CLIENT_TRANSPORTS:-LongPolling ServerSentEvents}
SUITES=${SUITES:-chat hub frontend}
case "${TRAPS:-1}" in 1) TRAPS=$ALL_TRAPS ;; 0) TRAPS= ;; esac
ALL_EXAMPLES="lighttpd.conf.example lighttpd-external nginx.conf.example apache-A apache-B apache-C
    signalr-fcgi.service signalr-fcgi.1"
case "${EXAMPLES:-1}" in 1) EXAMPLES=$ALL_EXAMPLES ;; 0) EXAMPLES= ;; esac
RUN=$SR_TOP/.run/frontends
STARTED=$(date +%s)

# The workers' settings: those of scripts/test.sh, plus the REST API's key.
API_KEY=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
WORKER_ENV=(SIGNALR_TEST_HUBS=1 SIGNALR_DISCONNECT_TIMEOUT=3 SIGNALR_POLL_TIMEOUT=10
    SIGNALR_KEEPALIVE_INTERVAL=2 SIGNALR_CLIENT_TIMEOUT=4 SIGNALR_LOG_LEVEL=info
    SIGNALR_DETAILED_ERRORS=0 SIGNALR_API_KEY="$API_KEY")

declare -A FE_PIDS=()  # what this script started itself (not through lighttpd_start): name -> pid
FE_NAMES=()            # in start order
declare -A RES=()      # "frontend suite transport" -> ok | FAIL | -
declare -A NOTE=()     # frontend -> why it could not run
FE_SOCKDIR=''          # worker sockets
POOL_UP=0              # the two standalone --listen workers run
FAILED=0
FAILED_LOGS=()

# --------------------------------------------------------------------------------------------------
# Processes

# descendants PID — every process below PID (children first-level first)
descendants() {
    local p
    for p in $(child_pids "$1"); do
        echo "$p"
        descendants "$p"
    done
}

# fe_spawn NAME LOG COMMAND... — start COMMAND in a session of its own, output to LOG
fe_spawn() {
    local name=$1 logf=$2
    shift 2
    setsid "$@" >>"$logf" 2>&1 </dev/null &
    FE_PIDS[$name]=$!
    FE_NAMES+=("$name")
}

# fe_adopt NAME PID — a process started by a program that exited (spawn-fcgi's children)
fe_adopt() {
    FE_PIDS[$1]=$2
    FE_NAMES+=("$1")
}

# fe_kill NAME — SIGTERM the process, wait up to 10 s, then SIGKILL; the same for whatever it had
# started (recorded before the signal)
fe_kill() {
    local name=$1 pid=${FE_PIDS[$1]:-} kids p
    [ -n "$pid" ] || return 0
    kids=$(descendants "$pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
        log "$name (pid $pid) ignores SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    for p in $kids; do
        for _ in $(seq 1 30); do pid_alive "$p" || break; sleep 0.1; done
        pid_alive "$p" && kill -KILL "$p" 2>/dev/null
    done
    unset "FE_PIDS[$name]"
}

fe_cleanup() {
    local i
    for ((i = ${#FE_NAMES[@]} - 1; i >= 0; i--)); do fe_kill "${FE_NAMES[$i]}"; done
    FE_NAMES=()
    [ -n "$FE_SOCKDIR" ] && rm -rf "$FE_SOCKDIR"
    FE_SOCKDIR=''
}

# wait_socket PATH SECONDS PID — until the Unix socket PATH exists
wait_socket() {
    for _ in $(seq 1 $(($2 * 10))); do
        [ -S "$1" ] && return 0
        pid_alive "$3" || return 1
        sleep 0.1
    done
    return 1
}

# render TEMPLATE OUT KEY=VALUE... — copy TEMPLATE to OUT replacing every @KEY@; any other @KEY@
# left is an error, unless RENDER_PARTIAL=1 (the template goes on to lib.sh's lighttpd_start)
render() {
    local in=$1 out=$2 line kv
    shift 2
    : >"$out" || return 1
    while IFS= read -r line || [ -n "$line" ]; do
        for kv in "$@"; do line=${line//@${kv%%=*}@/${kv#*=}}; done
        printf '%s\n' "$line" >>"$out"
    done <"$in"
    if [ "${RENDER_PARTIAL:-0}" != 1 ] && grep -q '@[A-Z_0-9]*@' "$out"; then
        log "render: unreplaced placeholders in $out: $(grep -o '@[A-Z_0-9]*@' "$out" | sort -u | tr '\n' ' ')"
        return 1
    fi
}

# --------------------------------------------------------------------------------------------------
# Preparation

fe_install() {
    install_deps || return 1
    local p missing=()
    for p in apache2 libapache2-mod-fcgid nginx spawn-fcgi; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing: ${missing[*]} (the system's instances are neither started nor changed here)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
        { apt-get update -q </dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; }
}

fe_build() {
    if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$SR_BIN" ]; then return 0; fi
    if [ -f "$SR_TOP/Makefile" ]; then (cd "$SR_TOP" && make -j2 >"$RUN/build.log" 2>&1) || { tail -30 "$RUN/build.log"; return 1; }
    else build; fi
}

# A copy of the binary for this run, reachable by www-data and postgres: a rebuild in the tree
# while the tests run does not change what the front ends execute.
fe_prepare() {
    rm -rf "${RUN:?}"/bin "$RUN"/www
    mkdir -p "$RUN/bin" "$RUN/www" || return 1
    chmod 755 "$RUN" "$RUN/bin" "$RUN/www"
    install -m 755 "$SR_BIN" "$RUN/bin/signalr-fcgi" || return 1
    SR_BIN=$RUN/bin/signalr-fcgi
    printf '<!doctype html><title>signalr-fcgi front-end tests</title>\n' >"$RUN/www/index.html"
    FE_SOCKDIR=$(mktemp -d /tmp/signalr-fe.XXXXXX) || return 1
    chmod 755 "$FE_SOCKDIR"
    (cd "$SR_TOP/tests/client" && { [ -d node_modules/@microsoft/signalr ] || npm ci --no-audit --no-fund; })
}

# --------------------------------------------------------------------------------------------------
# Standalone workers: two `signalr-fcgi --listen SOCKET` processes (as contrib/signalr-fcgi.service
# runs one), shared by nginx and mod_proxy_fcgi

pool_start() {
    [ "$POOL_UP" = 1 ] && return 0
    local i sock
    for i in 0 1; do
        sock=$FE_SOCKDIR/w$i.sock
        # umask 0007 + group www-data: what the systemd unit does (UMask=0007, Group=www-data)
        fe_spawn "worker-$i" "$RUN/workers.log" \
            sh -c 'umask 0007; exec env "$@"' sh "${WORKER_ENV[@]}" "$SR_BIN" --listen "$sock"
        if ! wait_socket "$sock" 15 "${FE_PIDS[worker-$i]}"; then
            log "worker $i did not create $sock"; tail -20 "$RUN/workers.log" >&2
            return 1
        fi
        chgrp www-data "$sock" || return 1
    done
    POOL_UP=1
    log "standalone workers pid ${FE_PIDS[worker-0]} ${FE_PIDS[worker-1]} on $FE_SOCKDIR/w{0,1}.sock"
}

# --------------------------------------------------------------------------------------------------
# Front ends.  fe_start_NAME PORT DIR [VARIANT] starts it and sets FE_WATCH (a pid that must stay
# alive); fe_stop_NAME stops it.

# lighttpd through lib.sh's lighttpd_start, with our template
lighttpd_with() { # lighttpd_with TEMPLATE NAME PORT WORKERS [KEY=VALUE...]
    local template=$1 name=$2
    shift 2
    local saved=$SR_LIGHTTPD_TEMPLATE rc
    SR_LIGHTTPD_TEMPLATE=$template
    DOCROOT=$RUN/www lighttpd_start "frontends/$name" "$@"
    rc=$?
    SR_LIGHTTPD_TEMPLATE=$saved
    [ "$rc" = 0 ] && FE_WATCH=$(lighttpd_pid "frontends/$name")
    return "$rc"
}

fe_start_lighttpd-bin() {
    local port=$1 dir=$2 variant=${3:-}
    local template=$FE_DIR/lighttpd-bin.conf.in
    if [ "$variant" = no-stream ]; then
        # the trap: no server.stream-response-body (default 0)
        template=$dir/lighttpd-bin-no-stream.conf.in
        grep -v 'server.stream-response-body' "$FE_DIR/lighttpd-bin.conf.in" >"$template"
    fi
    lighttpd_with "$template" "${dir##*/}" "$port" 2 "${WORKER_ENV[@]}"
}
fe_stop_lighttpd-bin() { lighttpd_stop "frontends/${1##*/}"; }

fe_start_lighttpd-socket() {
    local port=$1 dir=$2 sock=$FE_SOCKDIR/spawn.sock pids p i=0
    rm -f "$dir/spawn-fcgi.pid" "$dir/spawn-fcgi.log"
    # the line of contrib/spawn-fcgi.txt, minus -u/-g (the test's workers stay root to reach the
    # private cluster) and with the test settings in the environment
    if ! env "${WORKER_ENV[@]}" spawn-fcgi -s "$sock" -M 0660 -G www-data -F 2 -P "$dir/spawn-fcgi.pid" \
        -- "$SR_BIN" >>"$dir/spawn-fcgi.log" 2>&1 </dev/null; then
        log "spawn-fcgi failed:"; cat "$dir/spawn-fcgi.log" >&2
        return 1
    fi
    pids=$(cat "$dir/spawn-fcgi.pid" 2>/dev/null)
    for p in $pids; do fe_adopt "spawned-$i" "$p"; i=$((i + 1)); done
    [ "$i" = 2 ] || { log "spawn-fcgi: expected 2 pids in $dir/spawn-fcgi.pid, got: $pids"; return 1; }
    RENDER_PARTIAL=1 render "$FE_DIR/lighttpd-socket.conf.in" "$dir/lighttpd-socket.conf.in" \
        EXTERNAL_SOCKET="$sock" || return 1
    lighttpd_with "$dir/lighttpd-socket.conf.in" "${dir##*/}" "$port" 0
}
fe_stop_lighttpd-socket() {
    lighttpd_stop "frontends/${1##*/}"
    fe_kill spawned-0
    fe_kill spawned-1
}

fe_start_nginx() {
    local port=$1 dir=$2 variant=${3:-} conf
    pool_start || return 1
    mkdir -p "$dir/tmp"
    conf=$dir/nginx.conf
    render "$FE_DIR/nginx.conf.in" "$conf" PORT="$port" RUNDIR="$dir" DOCROOT="$RUN/www" USER=www-data \
        SOCK0="$FE_SOCKDIR/w0.sock" SOCK1="$FE_SOCKDIR/w1.sock" || return 1
    if [ "$variant" = debian-host ]; then
        # the trap: Debian's /etc/nginx/fastcgi_params (1.22.1-9+deb12u11 and later) passes
        # HTTP_HOST as $host, without the port
        sed -i 's|^\( *\)fastcgi_param  GATEWAY_INTERFACE  CGI/1.1;|&\n\1fastcgi_param  HTTP_HOST  $host;|' "$conf"
        grep -q 'HTTP_HOST  \$host' "$conf" || return 1
    fi
    nginx -t -q -p "$dir" -e "$dir/error.log" -c "$conf" >"$dir/nginx.out" 2>&1 ||
        { cat "$dir/nginx.out" >&2; return 1; }
    fe_spawn "nginx-${dir##*/}" "$dir/nginx.out" nginx -p "$dir" -e "$dir/error.log" -c "$conf" -g 'daemon off;'
    FE_WATCH=${FE_PIDS[nginx-${dir##*/}]}
}
fe_stop_nginx() { fe_kill "nginx-${1##*/}"; }

# Apache: common.conf + the front end's own part, `apache2 -f ... -DFOREGROUND`.  APACHE_SED, if
# set, is a sed script applied to the rendered apache2.conf (the trap demonstrations).
apache_start() { # apache_start DIR TEMPLATE USER DOCROOT [KEY=VALUE...]
    local dir=$1 template=$2 user=$3 docroot=$4
    shift 4
    mkdir -p "$dir/run"
    render "$FE_DIR/apache-common.conf.in" "$dir/common.conf" PORT="$APORT" RUNDIR="$dir" \
        USER="$user" GROUP="$user" DOCROOT="$docroot" || return 1
    render "$template" "$dir/apache2.conf" RUNDIR="$dir" DOCROOT="$docroot" "$@" || return 1
    if [ -n "${APACHE_SED:-}" ]; then sed -i -e "$APACHE_SED" "$dir/apache2.conf" || return 1; fi
    : >"$dir/error.log"
    apache2 -t -f "$dir/apache2.conf" >"$dir/apache2.out" 2>&1 || { cat "$dir/apache2.out" >&2; return 1; }
    fe_spawn "apache-${dir##*/}" "$dir/apache2.out" apache2 -f "$dir/apache2.conf" -DFOREGROUND
    FE_WATCH=${FE_PIDS[apache-${dir##*/}]}
}
apache_stop() { fe_kill "apache-${1##*/}"; }

# the worker configuration file of the Apache front ends that start the workers themselves
worker_config() { # worker_config DIR -> DIR/signalr-fcgi.conf
    render "$FE_DIR/signalr-fcgi.conf.in" "$1/signalr-fcgi.conf" PGHOST="$PGHOST" PGPORT="$PGPORT" \
        PGDATABASE="$PGDATABASE" PGUSER="$PGUSER" API_KEY="$API_KEY"
}

fe_start_apache-proxy-fcgi() {
    local port=$1 dir=$2 variant=${3:-} edit=''
    pool_start || return 1
    # the traps: without flushpackets=on; without CGIPassAuth On
    [ "$variant" = no-flush ] && edit='s/ flushpackets=on//'
    [ "$variant" = no-passauth ] && edit='/CGIPassAuth On/d'
    APORT=$port APACHE_SED=$edit apache_start "$dir" "$FE_DIR/apache-proxy-fcgi.conf.in" www-data "$RUN/www" \
        SOCK0="$FE_SOCKDIR/w0.sock" SOCK1="$FE_SOCKDIR/w1.sock"
}
fe_stop_apache-proxy-fcgi() { apache_stop "$1"; }

fe_start_apache-fcgid() {
    local port=$1 dir=$2 variant=${3:-} edit=''
    case "$variant" in
    # the traps: FcgidIOTimeout below the poll timeout (the default 40 s < 90 s; here 5 s < 10 s),
    # and no FcgidPassHeader Authorization
    iotimeout) edit='s/ IOTimeout 120 / IOTimeout 5 /' ;;
    no-passheader) edit='/^FcgidPassHeader/d' ;;
    esac
    mkdir -p "$dir/bin"
    # the program: a copy of the binary, in a directory of its own (FcgidCmdOptions gives it its
    # environment: the configuration file)
    install -m 755 "$SR_BIN" "$dir/bin/signalr-fcgi" || return 1
    worker_config "$dir" || return 1
    APORT=$port APACHE_SED=$edit apache_start "$dir" "$FE_DIR/apache-fcgid.conf.in" postgres "$RUN/www" \
        BIN="$dir/bin/signalr-fcgi" BINDIR="$dir/bin" CONFIG="$dir/signalr-fcgi.conf"
}
fe_stop_apache-fcgid() { apache_stop "$1"; }

# a shared-hosting document root: .htaccess, the `Hubs` program, `api` and `signalr` links to it
htaccess_docroot() { # htaccess_docroot DIR HTACCESS-TEMPLATE
    local dir=$1 www=$1/www
    rm -rf "$www"
    mkdir -p "$www" && chmod 755 "$www"
    worker_config "$dir" || return 1
    render "$2" "$www/.htaccess" || return 1
    render "$FE_DIR/Hubs.in" "$www/Hubs" BIN="$SR_BIN" CONFIG="$dir/signalr-fcgi.conf" \
        TEST_ENV="export SIGNALR_TEST_HUBS=1   # the test hub (tests only)" || return 1
    chmod 755 "$www/Hubs"
    ln -s Hubs "$www/api"
    ln -s Hubs "$www/signalr"
    cp "$RUN/www/index.html" "$www/"
}

fe_start_apache-fcgid-htaccess() {
    local port=$1 dir=$2 variant=${3:-}
    htaccess_docroot "$dir" "$FE_DIR/htaccess-fcgid.in" || return 1
    # the trap: without the <If> that runs event streams as CGI
    [ "$variant" = no-if ] && sed -i '/^<If /,/^<\/If>/d' "$dir/www/.htaccess"
    APORT=$port apache_start "$dir" "$FE_DIR/apache-fcgid-htaccess.conf.in" postgres "$dir/www"
}
fe_stop_apache-fcgid-htaccess() { apache_stop "$1"; }

fe_start_apache-cgi() {
    local port=$1 dir=$2
    htaccess_docroot "$dir" "$FE_DIR/htaccess-cgi.in" || return 1
    APORT=$port apache_start "$dir" "$FE_DIR/apache-cgi.conf.in" postgres "$dir/www"
}
fe_stop_apache-cgi() { apache_stop "$1"; }

# --------------------------------------------------------------------------------------------------
# Suites

# suite_run FRONTEND DIR URL SUITE TRANSPORT — one node --test run; output to DIR/SUITE-TRANSPORT.log
suite_run() {
    local dir=$2 url=$3 suite=$4 tr=$5 file
    case "$suite" in
    frontend) file=$FE_DIR/frontend.test.mjs ;;
    *) file=$SR_TOP/tests/client/$suite.test.mjs ;;
    esac
    local -a vars=(SIGNALR_URL="$url" SIGNALR_TRANSPORT="$tr" "${WORKER_ENV[@]}")
    [ "$1" = apache-cgi ] && vars+=(FRONTEND_CGI=1)
    (cd "$SR_TOP/tests/client" &&
        exec env "${vars[@]}" timeout --foreground 300 node --test --test-reporter=spec "$file") \
        >"$dir/$suite-$tr.log" 2>&1
}

# fe_run FRONTEND — start it, run every suite over every transport, stop it
fe_run() {
    local fe=$1 dir=$RUN/$1 port url suite tr rc
    mkdir -p "$dir"
    port=$(free_port) || return 1
    url=http://127.0.0.1:$port
    FE_WATCH=''
    log "=== $fe on $url"
    if ! "fe_start_$fe" "$port" "$dir" || ! wait_port "$port" 30 "$FE_WATCH" ||
        ! wait_negotiate "$url/Hubs/ChatRoom" 30 "$FE_WATCH"; then
        NOTE[$fe]="did not come up (logs in ${dir#"$SR_TOP"/}/)"
        log "$fe: ${NOTE[$fe]}"
        fe_show_logs "$dir"
        FAILED=$((FAILED + 1))
        "fe_stop_$fe" "$dir"
        return 1
    fi
    for tr in $TRANSPORTS; do
        for suite in $SUITES; do
            run_child suite_run "$fe" "$dir" "$url" "$suite" "$tr"
            rc=$?
            if [ $rc = 0 ]; then
                RES["$fe $suite $tr"]=ok
                log "$fe $suite $tr: ok"
            else
                RES["$fe $suite $tr"]=FAIL
                FAILED=$((FAILED + 1))
                FAILED_LOGS+=("$dir/$suite-$tr.log")
                log "$fe $suite $tr: FAILED (exit $rc), ${dir#"$SR_TOP"/}/$suite-$tr.log:"
                grep -E '^(not ok|✖)|Error|error:|expected|actual' "$dir/$suite-$tr.log" | head -20 >&2
            fi
        done
    done
    "fe_stop_$fe" "$dir"
}

fe_show_logs() {
    local f
    for f in "$1"/*.log "$1"/*.out "$RUN/workers.log"; do
        [ -s "$f" ] || continue
        case "$f" in *-LongPolling.log | *-ServerSentEvents.log) continue ;; esac
        printf -- '----- last 20 lines of %s -----\n' "$f" >&2
        tail -n 20 "$f" >&2
    done
}

# --------------------------------------------------------------------------------------------------
# Trap demonstrations: a setting docs/deploying.md warns about, and the failure it causes.  Each
# passes when that failure is seen (and fails if the front end copes after all: then the docs are
# wrong).  TRAP_RESULT[name] = shown | NOT SHOWN | n/a

declare -A TRAP_RESULT=() TRAP_WHAT=()
TRAP_WHAT[lighttpd-no-stream]="lighttpd without server.stream-response-body: SSE connect fails"
TRAP_WHAT[apache-proxy-no-flush]="mod_proxy_fcgi without flushpackets=on: SSE connect fails"
TRAP_WHAT[apache-proxy-no-passauth]="mod_proxy_fcgi without CGIPassAuth On: REST API 401"
TRAP_WHAT[fcgid-htaccess-no-if]="mod_fcgid defaults, SSE not sent to CGI: SSE connect fails"
TRAP_WHAT[fcgid-iotimeout]="FcgidIOTimeout below the poll timeout: the held poll gets an error"
TRAP_WHAT[fcgid-no-passheader]="mod_fcgid without FcgidPassHeader Authorization: REST API 401"
TRAP_WHAT[nginx-debian-host]="nginx with Debian's HTTP_HOST \$host: REST API 401 on a port"

# trap_check NAME URL DIR — exit 0 when the documented failure is seen
trap_check() {
    local name=$1 url=$2 dir=$3 pattern tr=LongPolling slow=1 expect
    case "$name" in
    lighttpd-no-stream | apache-proxy-no-flush | fcgid-htaccess-no-if)
        # an event stream by hand: its head, opening comment or handshake reply never arrives
        pattern='keep-alive Ping' tr=ServerSentEvents
        expect='no response head within|waiting for the opening comment|waiting for the handshake reply' ;;
    fcgid-iotimeout)
        pattern='held for the poll timeout' expect='held poll: status 5' ;;
    apache-proxy-no-passauth | fcgid-no-passheader | nginx-debian-host)
        pattern='REST API' slow=0 expect='with a valid token: 401' ;;
    esac
    ! (cd "$SR_TOP/tests/client" && exec env SIGNALR_URL="$url" SIGNALR_TRANSPORT="$tr" FRONTEND_SLOW="$slow" \
        "${WORKER_ENV[@]}" timeout --foreground 120 node --test --test-name-pattern="$pattern" \
        "$FE_DIR/frontend.test.mjs") >"$dir/trap.log" 2>&1 &&
        grep -Eq "$expect" "$dir/trap.log"
}

trap_run() {
    local name=$1 fe variant dir port url
    case "$name" in
    lighttpd-no-stream) fe=lighttpd-bin variant=no-stream ;;
    apache-proxy-no-flush) fe=apache-proxy-fcgi variant=no-flush ;;
    apache-proxy-no-passauth) fe=apache-proxy-fcgi variant=no-passauth ;;
    fcgid-htaccess-no-if) fe=apache-fcgid-htaccess variant=no-if ;;
    fcgid-iotimeout) fe=apache-fcgid variant=iotimeout ;;
    fcgid-no-passheader) fe=apache-fcgid variant=no-passheader ;;
    nginx-debian-host) fe=nginx variant=debian-host ;;
    *) log "unknown trap $name"; TRAP_RESULT[$name]=n/a; FAILED=$((FAILED + 1)); return 1 ;;
    esac
    dir=$RUN/trap-$name
    mkdir -p "$dir"
    port=$(free_port) || return 1
    url=http://127.0.0.1:$port
    FE_WATCH=''
    log "=== trap $name on $url"
    if ! "fe_start_$fe" "$port" "$dir" "$variant" || ! wait_port "$port" 30 "$FE_WATCH" ||
        ! wait_negotiate "$url/Hubs/ChatRoom" 30 "$FE_WATCH"; then
        TRAP_RESULT[$name]="n/a (did not come up)"
        FAILED=$((FAILED + 1))
        fe_show_logs "$dir"
    elif run_child trap_check "$name" "$url" "$dir"; then
        TRAP_RESULT[$name]=shown
    else
        TRAP_RESULT[$name]="NOT SHOWN"
        FAILED=$((FAILED + 1))
        FAILED_LOGS+=("$dir/trap.log")
    fi
    log "trap $name: ${TRAP_RESULT[$name]}"
    "fe_stop_$fe" "$dir"
}

# --------------------------------------------------------------------------------------------------
# The example files as written: each is checked by its own front end's syntax check and, where
# the test can run it, served (its production paths replaced by the test's: socket, binary,
# document root, configuration file, port) and checked with frontend.test.mjs over Server-Sent
# Events.  EX_RESULT[name] = ok | FAIL

declare -A EX_RESULT=() EX_WHAT=()
EX_WHAT[lighttpd.conf.example]="lighttpd -tt on the file as it is"
EX_WHAT[lighttpd-external]="its external-socket block, uncommented: served, frontend.test"
EX_WHAT[nginx.conf.example]="nginx -t, served, frontend.test"
EX_WHAT[apache-A]="apache.conf.example, Define SIGNALR_PROXY_FCGI: -t, served, frontend.test"
EX_WHAT[apache-B]="apache.conf.example, Define SIGNALR_FCGID: -t, served, frontend.test"
EX_WHAT[apache-C]="apache.conf.example, Define SIGNALR_CGI: -t, served, frontend.test"
EX_WHAT[signalr-fcgi.service]="systemd-analyze verify"
EX_WHAT[signalr-fcgi.1]="groff -man -ww: no warnings"

# ex_serve DIR URL [cgi] — frontend.test.mjs over Server-Sent Events against URL
ex_serve() {
    wait_negotiate "$2/Hubs/ChatRoom" 30 "$FE_WATCH" || return 1
    run_child ex_node "$@"
}
ex_node() {
    local -a vars=(SIGNALR_URL="$2" SIGNALR_TRANSPORT=ServerSentEvents "${WORKER_ENV[@]}")
    [ "${3:-}" = cgi ] && vars+=(FRONTEND_CGI=1)
    (cd "$SR_TOP/tests/client" && exec env "${vars[@]}" timeout --foreground 120 \
        node --test --test-reporter=spec "$FE_DIR/frontend.test.mjs") >"$1/frontend.log" 2>&1
}

ex_lighttpd.conf.example() {
    lighttpd -tt -f "$SR_TOP/lighttpd.conf.example" >"$1/lighttpd.out" 2>&1
}

ex_lighttpd-external() {
    local dir=$1 port rc
    [ "$POOL_UP" = 1 ] || return 1
    port=$(free_port) || return 1
    # the commented block after "Variant: workers that lighttpd does not start", up to the first
    # line that is only "# }" after the health block, uncommented
    sed -n '/^# Variant: workers that lighttpd does not start/,/^# Several worker processes/p' \
        "$SR_TOP/lighttpd.conf.example" | sed -n '/^# \$HTTP/,/^# }$/p' | sed 's/^# \{0,1\}//' |
        sed "s|/run/signalr-fcgi/signalr.sock|$FE_SOCKDIR/w0.sock|" >"$dir/external.conf"
    grep -q 'fastcgi.server' "$dir/external.conf" || { log "no fastcgi.server block found"; return 1; }
    cat >"$dir/lighttpd.conf.in" <<CONF
server.modules = ( "mod_access", "mod_staticfile", "mod_fastcgi" )
server.bind = "127.0.0.1"
server.port = @PORT@
server.document-root = "@DOCROOT@"
server.errorlog = "@RUNDIR@/lighttpd-error.log"
include "$dir/external.conf"
CONF
    lighttpd_with "$dir/lighttpd.conf.in" "${dir##*/}" "$port" 0 || return 1
    ex_serve "$dir" "http://127.0.0.1:$port"
    rc=$?
    lighttpd_stop "frontends/${dir##*/}"
    return "$rc"
}

ex_nginx.conf.example() {
    local dir=$1 port rc
    [ "$POOL_UP" = 1 ] || return 1
    port=$(free_port) || return 1
    mkdir -p "$dir/tmp"
    sed -e "s|unix:/run/signalr-fcgi/signalr.sock|unix:$FE_SOCKDIR/w0.sock|" \
        -e "s|listen 80;|listen 127.0.0.1:$port;|" -e "s|/var/www/signalr|$RUN/www|" \
        -e "s|/var/log/nginx/|$dir/|" \
        "$SR_TOP/nginx.conf.example" >"$dir/site.conf"
    cat >"$dir/nginx.conf" <<CONF
user www-data;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/tmp/body;
    fastcgi_temp_path $dir/tmp/fastcgi;
    proxy_temp_path $dir/tmp/proxy;
    scgi_temp_path $dir/tmp/scgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    include $dir/site.conf;
}
CONF
    nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/nginx.out" 2>&1 || return 1
    fe_spawn "nginx-${dir##*/}" "$dir/nginx.out" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -g 'daemon off;'
    FE_WATCH=${FE_PIDS[nginx-${dir##*/}]}
    ex_serve "$dir" "http://127.0.0.1:$port"
    rc=$?
    fe_kill "nginx-${dir##*/}"
    return "$rc"
}

# apache.conf.example with one of its three Defines, in a wrapper that loads every module it may
# use; A talks to the standalone worker 0, B and C start the workers (as postgres, see the top)
ex_apache() { # ex_apache A|B|C DIR
    local v=$1 dir=$2 port rc user=postgres define cgi=''
    case "$v" in
    A) define=SIGNALR_PROXY_FCGI user=www-data; [ "$POOL_UP" = 1 ] || return 1 ;;
    B) define=SIGNALR_FCGID ;;
    C) define=SIGNALR_CGI cgi=cgi ;;
    esac
    port=$(free_port) || return 1
    mkdir -p "$dir/run" "$dir/bin"
    install -m 755 "$SR_BIN" "$dir/bin/signalr-fcgi" || return 1
    worker_config "$dir" || return 1
    # the test hub for the workers B and C start (A's have it from WORKER_ENV)
    sed -e 's/^Define SIGNALR_/#Define SIGNALR_/' -e "s/^#Define $define\$/Define $define/" \
        -e "s|<VirtualHost \*:80>|<VirtualHost *:$port>|" \
        -e "s|/run/signalr-fcgi/signalr.sock|$FE_SOCKDIR/w0.sock|g" \
        -e "s|/var/www/signalr|$RUN/www|g" -e "s|/usr/local/bin|$dir/bin|g" \
        -e "s|/var/log/apache2/|$dir/|g" \
        -e "s|/etc/signalr-fcgi.conf|$dir/signalr-fcgi.conf|g" \
        -e 's|InitialEnv SIGNALR_THREADS=2|& InitialEnv SIGNALR_TEST_HUBS=1|' \
        -e 's|^\( *\)SetEnv SIGNALR_CONFIG .*|&\n\1SetEnv SIGNALR_TEST_HUBS 1|' \
        "$SR_TOP/apache.conf.example" >"$dir/site.conf"
    grep -q "^Define $define\$" "$dir/site.conf" || { log "no Define $define line"; return 1; }
    render "$FE_DIR/apache-common.conf.in" "$dir/common.conf" PORT="$port" RUNDIR="$dir" \
        USER="$user" GROUP="$user" DOCROOT="$RUN/www" || return 1
    cat >"$dir/apache2.conf" <<CONF
Include "$dir/common.conf"
LoadModule proxy_module      /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so
LoadModule fcgid_module      /usr/lib/apache2/modules/mod_fcgid.so
LoadModule cgid_module       /usr/lib/apache2/modules/mod_cgid.so
FcgidIPCDir            "$dir/run/fcgid"
FcgidProcessTableFile  "$dir/run/fcgid_shm"
ScriptSock             "$dir/run/cgisock"
Include "$dir/site.conf"
CONF
    : >"$dir/error.log"
    apache2 -t -f "$dir/apache2.conf" >"$dir/apache2.out" 2>&1 || return 1
    fe_spawn "apache-${dir##*/}" "$dir/apache2.out" apache2 -f "$dir/apache2.conf" -DFOREGROUND
    FE_WATCH=${FE_PIDS[apache-${dir##*/}]}
    ex_serve "$dir" "http://127.0.0.1:$port" ${cgi:+"$cgi"}
    rc=$?
    fe_kill "apache-${dir##*/}"
    return "$rc"
}
ex_apache-A() { ex_apache A "$1"; }
ex_apache-B() { ex_apache B "$1"; }
ex_apache-C() { ex_apache C "$1"; }

ex_signalr-fcgi.service() {
    local dir=$1
    command -v systemd-analyze >/dev/null || { echo "no systemd-analyze" >"$dir/verify.out"; return 0; }
    # the binary where this run has it; the man page is not installed here
    sed -e "s|/usr/local/bin/signalr-fcgi|$SR_BIN|" -e '/^Documentation=/d' \
        "$SR_TOP/contrib/signalr-fcgi.service" >"$dir/signalr-fcgi.service"
    systemd-analyze verify "$dir/signalr-fcgi.service" >"$dir/verify.out" 2>&1 || return 1
    ! grep -q . "$dir/verify.out"
}

ex_signalr-fcgi.1() {
    groff -man -ww -z "$SR_TOP/doc/signalr-fcgi.1" >"$1/groff.out" 2>&1 && [ ! -s "$1/groff.out" ]
}

ex_run() {
    local name=$1 dir=$RUN/example-$1 f
    rm -rf "$dir"
    mkdir -p "$dir"
    FE_WATCH=''
    log "=== example $name"
    if "ex_$name" "$dir"; then
        EX_RESULT[$name]=ok
    else
        EX_RESULT[$name]=FAIL
        FAILED=$((FAILED + 1))
        for f in "$dir"/*.out "$dir"/*.log; do [ -s "$f" ] && FAILED_LOGS+=("$f"); done
    fi
    log "example $name: ${EX_RESULT[$name]}"
}

# --------------------------------------------------------------------------------------------------
# The matrix

print_matrix() {
    local fe tr suite cell line w=24
    echo
    echo "== front-end matrix (suites: $SUITES)"
    line=$(printf "%-${w}s" "front end")
    for tr in $TRANSPORTS; do line+=$(printf " | %-26s" "$tr"); done
    echo "$line"
    line=$(printf "%-${w}s" "")
    for tr in $TRANSPORTS; do
        cell=''
        for suite in $SUITES; do cell+=$(printf "%-9s" "$suite"); done
        line+=$(printf " | %-26s" "$cell")
    done
    echo "$line"
    for fe in $FRONTENDS; do
        line=$(printf "%-${w}s" "$fe")
        for tr in $TRANSPORTS; do
            cell=''
            for suite in $SUITES; do cell+=$(printf "%-9s" "${RES["$fe $suite $tr"]:--}"); done
            line+=$(printf " | %-26s" "$cell")
        done
        [ -n "${NOTE[$fe]:-}" ] && line+="  ${NOTE[$fe]}"
        echo "$line"
    done
    if [ -n "$EXAMPLES" ]; then
        echo
        echo "== example files as written"
        for fe in $EXAMPLES; do
            printf "%-${w}s %-10s %s\n" "$fe" "${EX_RESULT[$fe]:--}" "${EX_WHAT[$fe]:-}"
        done
    fi
    if [ -n "$TRAPS" ]; then
        echo
        echo "== trap demonstrations (\"shown\": the misconfiguration breaks what docs/deploying.md says)"
        for fe in $TRAPS; do
            printf "%-${w}s %-10s %s\n" "$fe" "${TRAP_RESULT[$fe]:--}" "${TRAP_WHAT[$fe]:-}"
        done
    fi
}

finish() {
    local f
    print_matrix
    for f in "${FAILED_LOGS[@]}"; do
        printf -- '\n----- %s -----\n' "$f"
        tail -n 40 "$f"
    done
    if [ "$FAILED" -gt 0 ]; then
        show_logs 20
    fi
    echo
    echo "$(( $(date +%s) - STARTED )) s; $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit
}

# --------------------------------------------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "run me as root (the front ends drop to www-data/postgres themselves)"
mkdir -p "$RUN"
fe_install || die "installing packages failed"
fe_build || die "build failed"
pg_start frontends || die "could not start PostgreSQL"
"$SR_BIN" migrate >"$RUN/migrate.log" 2>&1 || { cat "$RUN/migrate.log"; die "migrate failed"; }
fe_prepare || die "preparing .run/frontends failed"

for fe in $FRONTENDS; do
    case " $ALL_FRONTENDS " in *" $fe "*) ;; *) die "unknown front end $fe (known: $ALL_FRONTENDS)" ;; esac
    fe_run "$fe"
    pg_ensure_running || die "postgres is down"
done
# the standalone workers must be started in this shell (ex_run runs each check in a child)
for t in $EXAMPLES; do
    case "$t" in
    lighttpd-external | nginx.conf.example | apache-A) pool_start || die "the standalone workers did not start" ;;
    esac
done
for t in $EXAMPLES; do ex_run "$t"; done
for t in $TRAPS; do trap_run "$t"; done
finish
