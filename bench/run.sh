#!/usr/bin/env bash
# bench/run.sh — issue #10: signalr-fcgi side by side with nchan (memory store, and Redis across two
# nginx instances) and Pushpin, one command, one run, one client (bench/loadgen.c).
#
# As root on Debian 12:  bench/run.sh            full run: 3 repetitions, < 30 min
#                        bench/run.sh --quick    smoke run of every system: 1 repetition, small sizes
#                        bench/run.sh --smoke    signalr-fcgi only, < 90 s; exits 1 on any loss,
#                                                duplicate or failed subscriber (for scripts/test.sh)
# Environment: SYSTEMS="signalr nchan nchan-redis pushpin"  REPS=3  PIN=1 (servers on CPU 0, the
#   load generator on CPU 1; PIN=0: nothing pinned)  SKIP_INSTALL=1  SKIP_BUILD=1  RESULTS=<dir>
#   LG_WRAP="valgrind -q" (a tool to run the load generator under)  SCENARIOS="lp1k dur" (a subset)
#
# DESIGN
# Everything runs from a scratch directory (.run/bench-run/) on free ports and is stopped by pid:
# a private PostgreSQL and lighttpd + 2 workers through scripts/lib.sh; nginx (own -p prefix, own
# pid file, no system config), redis-server (own config, no persistence), Pushpin (own config with
# message_rate=0 and private ports) in front of a tiny GRIP origin (a lighttpd that answers every
# request with Grip-Hold headers from a static file). apt installs are done with a policy-rc.d
# that forbids starting services, so the packages' system daemons never run.
# Scenarios (performance.md §7, sized so the full run fits in 30 minutes on 2 cores):
#   sse1k  SSE, 1,000 subscribers: S1 connect (50 at a time), S2 idle memory, S3 at 10/50/100 msg/s
#   sse5k  SSE, 5,000 subscribers: S1, S2, S3 at 10 msg/s
#   lp1k   long polling, 1,000 subscribers: S1, S3 at 10 and 100 msg/s
#   dur    S5 durable/backplane publish throughput: 10 SSE subscribers spread over the two
#          processes, 1,000..20,000 msg/s published (signalr: batches of 100 per transaction through
#          signalr.send_all; nchan-redis: publisher on instance 1, subscribers on instance 2;
#          pushpin: 100 items per publish request)
#   echo   S4 round trip: 100 SSE subscribers, each message from one subscriber to itself, 100 and
#          1,000 msg/s in all (1 and 10 per subscriber); signalr: Echo invocation on /Hubs/Test
#          (SIGNALR_TEST_HUBS=1) answered by a Completion; nchan: POST to the subscriber's own
#          channel; not run for Pushpin (its static origin holds one channel)
#   Each step: 1 s warm-up, 5 s measured, up to 3 s drain; every scenario on a freshly started
#   server after a 20-subscriber warm-up. The repetitions interleave the systems
#   (rep 1: all systems, rep 2: all ...) so that other load on the box hits them alike.
# Output: results/<date>/raw.txt (every loadgen line), summary.txt (medians and ratios), *.png.
set -u -o pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$BENCH_DIR/../scripts/lib.sh"

MODE=full
for a in "$@"; do
    case "$a" in
    --quick) MODE=quick ;;
    --smoke) MODE=smoke ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown argument $a (try --help)" ;;
    esac
done

NAME=${SR_RUN_NAME:-bench-run}
RUNDIR=$SR_TOP/.run/$NAME
STAMP=$(date +%Y-%m-%d-%H%M)
RES=${RESULTS:-$BENCH_DIR/results/$STAMP}
[ "$MODE" = smoke ] && RES=$RUNDIR/smoke
PIN=${PIN:-1}
LOADGEN=$BENCH_DIR/loadgen
HUB=/Hubs/ChatRoom

case "$MODE" in
full) SYSTEMS=${SYSTEMS:-"signalr nchan nchan-redis pushpin"} REPS=${REPS:-3} ;;
quick) SYSTEMS=${SYSTEMS:-"signalr nchan nchan-redis pushpin"} REPS=${REPS:-1} ;;
smoke) SYSTEMS=signalr REPS=1 PIN=0 ;;
esac

WARM=1 SETTLE=2 # seconds: warm-up of every rate step; idle time before the memory sample
# scenario table: name transport subs concurrency rates measure_s (sizes per mode)
scenarios() {
    case "$MODE" in
    full)
        echo "sse1k sse 1000 50 10,50,100 5"
        echo "sse5k sse 5000 50 10 5"
        echo "lp1k lp 1000 50 10,100 5"
        echo "dur sse 10 10 1000,5000,10000,20000 5"
        echo "echo sse 100 50 100,1000 5"
        ;;
    quick)
        echo "sse1k sse 200 50 10,50 3"
        echo "sse5k sse 1000 50 10 3"
        echo "lp1k lp 200 50 10 3"
        echo "dur sse 4 4 1000,5000 3"
        echo "echo sse 50 25 50 3"
        ;;
    smoke)
        echo "sse1k sse 50 25 20 3"
        echo "lp1k lp 50 25 20 3"
        ;;
    esac
}

[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL is started as user postgres, daemons get raised limits)"
mkdir -p "$RUNDIR" "$RES" || die "cannot create $RUNDIR / $RES"

# ------------------------------------------------------------------------------------------------
# Processes started here (besides lib.sh's PostgreSQL and lighttpd): stopped by pid, newest first.

BENCH_PIDS=()
# stop_pid PID — SIGTERM (SIGKILL after 10 s) to PID, then the same to the children it had
# (nginx workers, Pushpin's condure/zurl/proxy/handler) if they outlived it
stop_pid() {
    local p=$1 kids k
    kids=$(child_pids "$p")
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 100); do pid_alive "$p" || break; sleep 0.1; done
    pid_alive "$p" && { log "pid $p ignores SIGTERM, sending SIGKILL"; kill -KILL "$p" 2>/dev/null; }
    wait "$p" 2>/dev/null
    for k in $kids; do
        pid_alive "$k" || continue
        kill -TERM "$k" 2>/dev/null
        for _ in $(seq 1 50); do pid_alive "$k" || break; sleep 0.1; done
        pid_alive "$k" && kill -KILL "$k" 2>/dev/null
    done
}
bench_stop_all() {
    local i
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${BENCH_PIDS[$i]}"; done
    BENCH_PIDS=()
}
bench_cleanup() {
    if [ -n "$SR_CHILD_PID" ] && pid_alive "$SR_CHILD_PID"; then kill -TERM "$SR_CHILD_PID" 2>/dev/null; wait "$SR_CHILD_PID" 2>/dev/null; fi
    SR_CHILD_PID=''
    bench_stop_all
}
trap 'bench_cleanup; cleanup' EXIT
trap 'log "signal: stopping"; bench_cleanup; cleanup; exit 130' INT
trap 'log "signal: stopping"; bench_cleanup; cleanup; exit 143' TERM

# pin_tree PID — servers to CPU 0 (all threads of PID and of its descendants)
pin_tree() {
    [ "$PIN" = 1 ] || return 0
    local p
    taskset -a -p -c 0 "$1" >/dev/null 2>&1
    for p in $(child_pids "$1"); do pin_tree "$p"; done
}
LG_PREFIX=()
[ "$PIN" = 1 ] && LG_PREFIX=(taskset -c 1)
# LG_WRAP="valgrind -q --leak-check=full --error-exitcode=3": run the load generator under a tool
# shellcheck disable=SC2206 # words
[ -n "${LG_WRAP:-}" ] && LG_PREFIX+=($LG_WRAP)

# ------------------------------------------------------------------------------------------------
# Packages and build

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    install_deps >&2 || die "installing the project's packages failed"
    want=(nginx libnginx-mod-nchan redis-server pushpin gnuplot-nox)
    [ "$MODE" = smoke ] && want=() # signalr-fcgi only
    missing=()
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]} (services are not started: policy-rc.d forbids it during the install)"
        made_policy=''
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q </dev/null >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >&2
        st=$?
        [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
        [ $st = 0 ] || die "apt-get install failed"
    fi
fi
[ "${SR_SKIP_BUILD:-0}" = 1 ] && SKIP_BUILD=1 # scripts/test.sh's own_suite
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    log "building signalr-fcgi and bench/loadgen"
    build >"$RUNDIR/build.log" 2>&1 || build >"$RUNDIR/build.log" 2>&1 || { tail -30 "$RUNDIR/build.log" >&2; die "build failed"; }
    make -C "$SR_TOP" bench/loadgen >>"$RUNDIR/build.log" 2>&1 || { tail -30 "$RUNDIR/build.log" >&2; die "building bench/loadgen failed"; }
fi
[ -x "$LOADGEN" ] || die "no $LOADGEN (build it: make bench/loadgen)"
[ -x "$SR_BIN" ] || die "no $SR_BIN"

HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=1048576
ulimit -n "$HARD" 2>/dev/null

# ------------------------------------------------------------------------------------------------
# PostgreSQL (always: signalr-fcgi needs it)

export SIGNALR_TEST_HUBS=1 # /Hubs/Test (Echo) for the S4 round trip; lighttpd_start passes SIGNALR_* on
pg_start "$NAME" || die "could not start PostgreSQL"
"$SR_BIN" migrate >"$RUNDIR/migrate.log" 2>&1 || { cat "$RUNDIR/migrate.log" >&2; die "migrate failed"; }
# pg_start's throw-away cluster has fsync off; the benchmark measures the durable path, so the
# message log gets real commits (fsync on, synchronous_commit on), as a deployment would.
psql -X -q -U postgres -d postgres -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
    -c "ALTER SYSTEM SET full_page_writes = on" -c "ALTER SYSTEM SET shared_buffers = '256MB'" >/dev/null ||
    die "cannot configure PostgreSQL"
pg_pause && pg_resume || die "cannot restart PostgreSQL"
pin_tree "$SR_PG_PID"

# ------------------------------------------------------------------------------------------------
# Systems under test. Each start function sets SUB_PORTS, PUB_PORTS and PIDARGS (loadgen --pid /
# --tree arguments); stop is bench_stop_all (+ lighttpd_stop for signalr).

SUB_PORTS='' PUB_PORTS='' PIDARGS=()

start_signalr() {
    local port max_conns=$((HARD / 2)) w
    sed -e "s/@MAX_FDS@/$HARD/" -e "s/@MAX_CONNS@/$max_conns/" "$BENCH_DIR/lighttpd-sse-idle.conf.in" \
        >"$RUNDIR/lighttpd-bench.conf.in" || return 1
    # shellcheck disable=SC2034 # read by lib.sh lighttpd_start
    SR_LIGHTTPD_TEMPLATE=$RUNDIR/lighttpd-bench.conf.in
    port=$(free_port) || return 1
    lighttpd_start "$NAME-lighttpd" "$port" 2 || return 1
    wait_negotiate "http://127.0.0.1:$port$HUB" 30 || return 1
    pin_tree "$SR_HTTPD_PID"
    w=$(child_pids "$SR_HTTPD_PID" | tr '\n' '+')
    SUB_PORTS=$port PUB_PORTS=$port
    PIDARGS=(--pid "lighttpd=$SR_HTTPD_PID" --pid "workers=${w%+}" --tree "postgres=$SR_PG_PID")
}
stop_signalr() { lighttpd_stop "$NAME-lighttpd"; }

# nginx_conf DIR PORT WORKERS [redis_port]
nginx_conf() {
    local dir=$1 port=$2 workers=$3 redis=${4:-} up='' pass=''
    mkdir -p "$dir/tmp" && chmod 777 "$dir/tmp"
    if [ -n "$redis" ]; then
        up="upstream redis_bench { nchan_redis_server 127.0.0.1:$redis; }"
        pass="nchan_redis_pass redis_bench;"
    fi
    cat >"$dir/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes $workers;
worker_rlimit_nofile $HARD;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((HARD - 100)); }
http {
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy; fastcgi_temp_path $dir/tmp/fcgi;
  uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  access_log off;
  keepalive_requests 100000;
  nchan_shared_memory_size 256M;
  $up
  server {
    listen 127.0.0.1:$port backlog=4096;
    location = /pub { nchan_publisher; nchan_channel_id \$arg_id; nchan_message_buffer_length 2000; nchan_message_timeout 120s; $pass }
    location = /sse { nchan_subscriber eventsource; nchan_channel_id \$arg_id; nchan_subscriber_first_message newest;
                      nchan_eventsource_ping_interval 15; $pass }
    location = /lp  { nchan_subscriber longpoll; nchan_channel_id \$arg_id; nchan_subscriber_first_message newest;
                      nchan_subscriber_timeout 90; nchan_longpoll_multipart_response on; $pass }
  }
}
EOF
}

start_nginx() { # DIR PORT -> pid in NGINX_PID
    local dir=$1 port=$2
    nginx -t -p "$dir" -c "$dir/nginx.conf" >"$dir/test.out" 2>&1 || { cat "$dir/test.out" >&2; return 1; }
    setsid nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/nginx.out" 2>&1 </dev/null &
    NGINX_PID=$!
    BENCH_PIDS+=("$NGINX_PID")
    wait_port "$port" 20 "$NGINX_PID" || { cat "$dir/error.log" >&2; return 1; }
    sleep 0.3
    pin_tree "$NGINX_PID"
}

start_nchan() {
    local dir=$RUNDIR/nchan port
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    port=$(free_port) || return 1
    nginx_conf "$dir" "$port" 2
    start_nginx "$dir" "$port" || return 1
    SUB_PORTS=$port PUB_PORTS=$port
    PIDARGS=(--tree "nginx=$NGINX_PID")
}

start_nchan_redis() {
    local dir=$RUNDIR/nchan-redis rport p1 p2 n1 n2
    rm -rf "$dir" && mkdir -p "$dir/redis" "$dir/a" "$dir/b" || return 1
    rport=$(free_port) || return 1
    cat >"$dir/redis/redis.conf" <<EOF
bind 127.0.0.1
port $rport
daemonize no
save ""
appendonly no
dir $dir/redis
pidfile $dir/redis/redis.pid
logfile $dir/redis/redis.log
maxclients 10000
EOF
    setsid redis-server "$dir/redis/redis.conf" >/dev/null 2>&1 </dev/null &
    local rpid=$!
    BENCH_PIDS+=("$rpid")
    wait_port "$rport" 20 "$rpid" || { cat "$dir/redis/redis.log" >&2; return 1; }
    pin_tree "$rpid"
    p1=$(free_port) && p2=$(free_port) || return 1
    [ "$p1" = "$p2" ] && p2=$(free_port)
    nginx_conf "$dir/a" "$p1" 1 "$rport"
    start_nginx "$dir/a" "$p1" || return 1
    n1=$NGINX_PID
    nginx_conf "$dir/b" "$p2" 1 "$rport"
    start_nginx "$dir/b" "$p2" || return 1
    n2=$NGINX_PID
    # subscribers on both instances, publisher on instance 1 (the dur scenario: subscribers on 2)
    SUB_PORTS=$p1,$p2 PUB_PORTS=$p1 SUB_PORTS_REMOTE=$p2
    PIDARGS=(--tree "nginx=$n1+$n2" --pid "redis=$rpid")
}

start_pushpin() {
    local dir=$RUNDIR/pushpin port oport cport
    rm -rf "$dir" && mkdir -p "$dir/run" "$dir/log" "$dir/origin/www" || return 1
    port=$(free_port) && oport=$(free_port) && cport=$(free_port) || return 1
    # The GRIP origin: lighttpd answering /sse with a stream hold and /lp with a response hold.
    printf ':\n\n' >"$dir/origin/www/sse"
    printf '\n' >"$dir/origin/www/lp"
    cat >"$dir/origin/lighttpd.conf" <<EOF
server.modules = ( "mod_setenv" )
server.bind = "127.0.0.1"
server.port = $oport
server.document-root = "$dir/origin/www"
server.errorlog = "$dir/origin/error.log"
static-file.etags = "disable"
\$HTTP["url"] =~ "^/sse" {
  setenv.set-response-header = ( "Content-Type" => "text/event-stream", "Grip-Hold" => "stream",
    "Grip-Channel" => "bench", "Grip-Keep-Alive" => ":\\\\n\\\\n; format=cstring; timeout=15" )
}
\$HTTP["url"] =~ "^/lp" {
  setenv.set-response-header = ( "Content-Type" => "text/plain", "Grip-Hold" => "response",
    "Grip-Channel" => "bench", "Grip-Timeout" => "90" )
}
EOF
    lighttpd -tt -f "$dir/origin/lighttpd.conf" >"$dir/origin/test.out" 2>&1 || { cat "$dir/origin/test.out" >&2; return 1; }
    setsid lighttpd -D -f "$dir/origin/lighttpd.conf" >"$dir/origin/out" 2>&1 </dev/null &
    local opid=$!
    BENCH_PIDS+=("$opid")
    wait_port "$oport" 20 "$opid" || return 1
    printf '* 127.0.0.1:%s\n' "$oport" >"$dir/routes"
    sed -e "s|^rundir=.*|rundir=$dir/run|" -e "s|^logdir=.*|logdir=$dir/log|" \
        -e "s|^http_port=.*|http_port=$port|" -e "s|^routesfile=.*|routesfile=$dir/routes|" \
        -e "s|^message_rate=.*|message_rate=0|" -e "s|^message_hwm=.*|message_hwm=200000|" \
        -e "s|^push_in_spec=.*|push_in_spec=ipc://$dir/run/push-in|" \
        -e "s|^push_in_sub_specs=.*|push_in_sub_specs=ipc://$dir/run/push-in-sub|" \
        -e "s|^command_spec=.*|command_spec=ipc://$dir/run/command|" \
        -e "s|^push_in_http_port=.*|push_in_http_port=$cport|" \
        -e "s|^client_maxconn=.*|client_maxconn=$((HARD - 500))|" \
        /usr/share/pushpin/pushpin.conf.condure >"$dir/pushpin.conf" || return 1
    grep -q "^include=" "$dir/pushpin.conf" && sed -i "s|^include=.*|include=/usr/lib/pushpin/internal.conf|" "$dir/pushpin.conf"
    # Requests to the origin go through zurl: run a private one (the packaged internal.conf points
    # at the system zurl's sockets under /var/run/zurl, which is not running and must not be used).
    sed -i -e "s|^services=.*|services=condure,zurl,pushpin-proxy,pushpin-handler|" \
        -e "s|^\[proxy\]|[proxy]\nzurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in\nzurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream\nzurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out|" \
        "$dir/pushpin.conf"
    # no subshell around it: $! must be the runner itself, or stopping it would orphan Pushpin
    setsid pushpin --config "$dir/pushpin.conf" --port "127.0.0.1:$port" >"$dir/pushpin.out" 2>&1 </dev/null &
    local ppid=$!
    BENCH_PIDS+=("$ppid")
    wait_port "$port" 30 "$ppid" || { tail -20 "$dir/pushpin.out" "$dir"/log/* >&2; return 1; }
    wait_port "$cport" 30 "$ppid" || { tail -20 "$dir/pushpin.out" "$dir"/log/* >&2; return 1; }
    sleep 1
    pin_tree "$ppid"
    SUB_PORTS=$port PUB_PORTS=$cport
    PIDARGS=(--tree "pushpin=$ppid" --pid "origin=$opid")
}

start_system() { # SYSTEM: start it; T and TARGS = the loadgen target and its arguments
    case "$1" in
    signalr) start_signalr && T=signalr TARGS=(-H "$HUB" -C ChatRoom) ;;
    nchan) start_nchan && T=nchan TARGS=(-C warmup) ;;
    nchan-redis) start_nchan_redis && T=nchan TARGS=(-C warmup) ;;
    pushpin) start_pushpin && T=pushpin TARGS=(-C bench) ;;
    *) die "unknown system $1" ;;
    esac
}

# ------------------------------------------------------------------------------------------------
# One scenario against the running system

run_scenario() { # SYSTEM REP NAME TRANSPORT SUBS CONC RATES MEASURE
    local sys=$1 rep=$2 name=$3 x=$4 n=$5 c=$6 rates=$7 m=$8 t sub=$SUB_PORTS pub=$PUB_PORTS
    local -a extra=()
    case "$sys" in
    signalr) t=signalr extra=(-H "$HUB" -C ChatRoom -Q "psql -X -q -v ON_ERROR_STOP=0") ;;
    nchan | nchan-redis) t=nchan extra=(-C "bench$rep$name") ;;
    pushpin) t=pushpin extra=(-C bench) ;;
    esac
    if [ "$name" = echo ]; then
        [ "$sys" = pushpin ] && { log "$sys/$name: not run (see the header)"; return 0; }
        extra+=(-E 1)
        [ "$sys" = signalr ] && extra+=(-H /Hubs/Test)
    fi
    [ "$name" = lp1k ] && [ "$sys" = pushpin ] && extra+=(-k 16)
    if [ "$name" = dur ]; then
        extra+=(-b 100 -k 16)
        [ "$sys" = nchan-redis ] && sub=$SUB_PORTS_REMOTE
        [ "$sys" = nchan ] || [ "$sys" = nchan-redis ] && extra+=(-b 1 -k 32)
    fi
    local label="$sys/$name/rep$rep" out="$RES/lg-${sys}-${name}-rep$rep.out"
    log "$label: $x, $n subscribers, rates $rates (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "# $label start load=$(cut -d' ' -f1 /proc/loadavg)" >>"$RES/raw.txt"
    "${LG_PREFIX[@]}" "$LOADGEN" -T "$t" -X "$x" -p "$sub" -P "$pub" -n "$n" -c "$c" -r "$rates" \
        -w "$WARM" -m "$m" -S "$SETTLE" -L "$label" "${extra[@]}" "${PIDARGS[@]}" >"$out" 2>"$RES/lg-${sys}-${name}-rep$rep.err" &
    SR_CHILD_PID=$!
    wait "$SR_CHILD_PID"
    SR_CHILD_PID=''
    cat "$out" >>"$RES/raw.txt"
    grep '^step' "$out" | sed 's/^/  /' | cut -c1-200 >&2
}

# ------------------------------------------------------------------------------------------------
# The run

{
    echo "# bench/run.sh $MODE, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# commit $(git -C "$SR_TOP" rev-parse --short HEAD 2>/dev/null) $(git -C "$SR_TOP" status --porcelain -- src sql | wc -l) uncommitted change(s) in src/ sql/"
    echo "# machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r)"
    echo "# versions: $(lighttpd -v 2>/dev/null | head -1 | cut -d' ' -f1), nginx $(dpkg-query -W -f='${Version}' nginx 2>/dev/null), nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null), pushpin $(dpkg-query -W -f='${Version}' pushpin 2>/dev/null), redis $(dpkg-query -W -f='${Version}' redis-server 2>/dev/null), $("$SR_PG_BIN/postgres" --version)"
    echo "# pinning: $([ "$PIN" = 1 ] && echo "servers on CPU 0, load generator on CPU 1" || echo none)"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RES/raw.txt"
T_START=$(date +%s)
log "results in $RES"

for rep in $(seq 1 "$REPS"); do
    for sys in $SYSTEMS; do
        log "=== rep $rep: $sys ==="
        while read -r name x n c rates m; do
            case " ${SCENARIOS:-$name} " in *" $name "*) ;; *) continue ;; esac
            # a fresh server per scenario: signalr-fcgi notices departed SSE clients only at the next
            # 15 s ping, which would leave the previous scenario's streams in this one's baseline
            start_system "$sys" || { show_logs 20; die "could not start $sys"; }
            # warm-up: one-time costs (database connections of the request threads, first use of
            # the event loop, nginx's first shared-memory pages) stay out of the per-subscriber figures
            "${LG_PREFIX[@]}" "$LOADGEN" -T "$T" -X sse -p "$SUB_PORTS" -n 20 -c 10 -S 0.5 -L warmup "${TARGS[@]}" \
                >"$RES/warmup.out" 2>&1 || { cat "$RES/warmup.out" >&2; log "warm-up of $sys had failures"; }
            sleep 1
            run_scenario "$sys" "$rep" "$name" "$x" "$n" "$c" "$rates" "$m"
            [ "$sys" = signalr ] && stop_signalr
            bench_stop_all
        done < <(scenarios)
    done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg); wall $(($(date +%s) - T_START)) s" >>"$RES/raw.txt"

# ------------------------------------------------------------------------------------------------
# Summary, charts, smoke verdict

"$BENCH_DIR/summarize.sh" "$RES" | tee "$RES/summary.txt"

if [ "$MODE" = smoke ]; then
    bad=$(awk '/^step/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                         if (v["lost"] != 0 || v["dups"] != 0 || v["dropped"] != 0 || v["delivered"] == 0) print v["label"] }
               /^connect/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                            if (v["failed"] != 0) print v["label"] " (connect)" }' "$RES/raw.txt")
    if [ -n "$bad" ]; then
        log "SMOKE FAILED: loss, duplicates, drops or failed subscribers in: $bad"
        exit 1
    fi
    log "smoke passed: no loss, no duplicates, no failed or dropped subscriber (SSE and long polling)"
    exit 0
fi
log "done in $(($(date +%s) - T_START)) s: $RES"
