#!/usr/bin/env bash
# bench/sse-idle.sh — memory per idle Server-Sent Events connection, one worker behind lighttpd.
#
# Builds the tree if needed (like scripts/demo.sh) and the client bench/sse_hold.c (gcc, into
# .run/bench/), starts a private PostgreSQL (or uses the one SIGNALR_DB / DATABASE_URL / PG* name)
# and, for every N, a fresh lighttpd with ONE signalr-fcgi worker (max-procs 1), descriptors and
# connections raised as far as the descriptor hard limit allows.  Then per N:
#   a warm-up (20 connections opened, closed and released), then the baseline RSS/PSS
#   (/proc/<pid>/smaps_rollup) of the worker and of lighttpd with no connection held;
#   bench/sse_hold opens N SSE connections to /Hubs/ChatRoom (negotiate, stream GET, handshake
#   POST, CONCURRENCY at a time) and holds them; SETTLE seconds after the last one is established
#   RSS/PSS again (the figures of the table), and once more shortly before the hold ends (by then
#   every stream has had a server Ping); the CPU time lighttpd, the worker and PostgreSQL used
#   during the connect phase; then the client closes its connections and exits by itself.
# An N that one lighttpd cannot hold under the descriptor limit is reported with the reason; the
# largest N that fits is measured instead, and N itself with the streams split over two lighttpd
# front ends that share one worker (started by this script with --listen), so that the worker
# still holds all N.
# Prints a table (per-connection deltas) and the goal line, and stops everything it started (by
# pid), also on ^C / SIGTERM (exit status 128+signal).
#
# Environment:
#   NS="1000 5000 10000"   connection counts
#   CONCURRENCY=50         connections being set up at once
#   SETTLE=5 HOLD=20       seconds after the last connect: memory sample / client exits (HOLD >=
#                          SETTLE + 3; the second sample is taken at HOLD - 2)
#   CONNECT_TIMEOUT=300    seconds the connect phase may take at most
#   SPLIT=1                for an N that one lighttpd cannot hold, also run it over two front
#                          ends (SPLIT=0: only report why and measure the largest N that fits)
#   FRONTENDS=2            every N over two front ends sharing one worker started here
#   BROWSER_HEADERS=1      the stream GETs carry the 11 headers a browser adds (~450 bytes)
#   BENCH_REV=<commit>     build that commit from `git archive` under .run/bench/ and measure it
#                          (untouched by uncommitted edits and by other builds in the checkout)
#   SKIP_BUILD=1           use src/signalr-fcgi (or $SIGNALR_BIN) as it is
#   LIGHTTPD_TEMPLATE      default bench/lighttpd-sse-idle.conf.in
#   SIGNALR_*              reach the worker (e.g. SIGNALR_THREADS)
# Logs: .run/bench-sse-idle/ (lighttpd.out holds the worker's log; client-<N>.out/.err).
set -u -o pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$BENCH_DIR/../scripts/lib.sh"

NS=${NS:-"1000 5000 10000"}
CONCURRENCY=${CONCURRENCY:-50}
SETTLE=${SETTLE:-5}
HOLD=${HOLD:-20}
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-300}
SPLIT=${SPLIT:-1}
NAME=bench-sse-idle
HUB=/Hubs/ChatRoom
RUNDIR=$SR_TOP/.run/$NAME
CLIENT_DIR=$SR_TOP/.run/bench
CLIENT=$CLIENT_DIR/sse_hold
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------------------------------------------
# Processes this script starts itself (the split runs); lib.sh's cleanup() stops the rest.

EXT_HTTPD_PIDS=() EXT_WORKER_PID='' EXT_SOCKDIR=''

# stop_pid PID — SIGTERM, up to 10 s, then SIGKILL
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 1 100); do pid_alive "$1" || break; sleep 0.1; done
    if pid_alive "$1"; then
        log "pid $1 ignores SIGTERM, sending SIGKILL"
        kill -KILL "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
}

ext_stop() {
    local p
    for p in "${EXT_HTTPD_PIDS[@]}"; do stop_pid "$p"; done
    EXT_HTTPD_PIDS=()
    [ -n "$EXT_WORKER_PID" ] && stop_pid "$EXT_WORKER_PID"
    EXT_WORKER_PID=''
    [ -n "$EXT_SOCKDIR" ] && rm -rf "$EXT_SOCKDIR"
    EXT_SOCKDIR=''
}

bench_cleanup() {
    # the client first, so that it is not counting streams the servers end
    if [ -n "$SR_CHILD_PID" ] && pid_alive "$SR_CHILD_PID"; then
        kill -TERM "$SR_CHILD_PID" 2>/dev/null
        wait "$SR_CHILD_PID" 2>/dev/null
    fi
    SR_CHILD_PID=''
    ext_stop
}

bench_on_signal() {
    log "signal $1: stopping"
    bench_cleanup
    cleanup
    exit $((128 + $1))
}

trap 'bench_cleanup; cleanup' EXIT
trap 'bench_on_signal 2' INT
trap 'bench_on_signal 15' TERM

[ "$HOLD" -ge $((SETTLE + 3)) ] 2>/dev/null || die "HOLD ($HOLD) must be at least SETTLE + 3 ($((SETTLE + 3)))"

# ------------------------------------------------------------------------------------------------
# /proc helpers

# nap SECONDS — sleep, but let a trapped ^C / SIGTERM act at once (bash runs a trap only after the
# foreground command ends; `wait` returns as soon as a trapped signal arrives)
nap() {
    sleep "$1" &
    wait $!
}

# mem PID... — "RSS_KiB PSS_KiB" summed over the PIDs, from /proc/PID/smaps_rollup
mem() {
    local p r=0 s=0 a b
    for p in "$@"; do
        read -r a b < <(awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} END {print r, p}' \
            "/proc/$p/smaps_rollup" 2>/dev/null)
        [ -n "$a" ] && [ -n "$b" ] || return 1
        r=$((r + a)) s=$((s + b))
    done
    echo "$r $s"
}

# cpu_ticks PID — utime + stime (+ cutime + cstime with WITH_CHILDREN=1), in clock ticks
cpu_ticks() {
    local st f
    st=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    # after "pid (comm) ": state ppid ... utime stime cutime cstime are fields 12..15 (from 1)
    read -r -a f <<<"${st##*) }"
    if [ "${WITH_CHILDREN:-0}" = 1 ]; then
        echo $((f[11] + f[12] + f[13] + f[14]))
    else
        echo $((f[11] + f[12]))
    fi
}

# cpu_sum PID... — cpu_ticks summed
cpu_sum() {
    local p t=0
    for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}

# postgres_ticks — the private cluster: postmaster (with its reaped children) + live children
postgres_ticks() {
    local total p
    [ -n "$SR_PG_PID" ] || { echo 0; return; }
    total=$(WITH_CHILDREN=1 cpu_ticks "$SR_PG_PID")
    for p in $(child_pids "$SR_PG_PID"); do total=$((total + $(cpu_ticks "$p"))); done
    echo "$total"
}

# fds PID... — descriptors open, summed
fds() {
    local p t=0
    for p in "$@"; do t=$((t + $(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l))); done
    echo "$t"
}
fd_limit() { awk '/^Max open files/ {print $4 " (hard " $5 ")"}' "/proc/$1/limits" 2>/dev/null; }

# kv FILE LINE_PREFIX KEY — value of KEY=... on the first line of FILE starting with LINE_PREFIX
kv() { sed -n "/^$2 /{s/.* $3=\\([^ ]*\\).*/\\1/p;q}" "$1"; }

# per_conn BEFORE_KiB AFTER_KiB N — KiB per connection, 2 decimals
per_conn() { awk -v b="$1" -v a="$2" -v n="$3" 'BEGIN {printf "%.2f", (a - b) / n}'; }
secs() { awk -v t="$1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}'; }

sql() { psql -X -q -t -A -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null; }

# xacts — transactions committed + rolled back in the database so far (the statistics lag by up
# to a second)
xacts() {
    sql "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
}

# held_streams — SSE streams the database counts as open (empty when it cannot be asked)
held_streams() {
    sql "SELECT count(*) FROM signalr.connections WHERE transport = 'ServerSentEvents' AND NOT ended"
}

# wait_released SECONDS — until no stream is held; sets RELEASED to the seconds it took (or
# ">SECONDS (N still held)", or "?").  Runs in the main shell so that ^C acts at once.
RELEASED=''
wait_released() {
    local t0=$SECONDS c
    while :; do
        c=$(held_streams)
        if [ -z "$c" ]; then RELEASED="?"; return; fi
        if [ "$c" = 0 ]; then RELEASED=$((SECONDS - t0)); return; fi
        if [ $((SECONDS - t0)) -ge "$1" ]; then RELEASED=">$1 ($c still held)"; return; fi
        nap 0.5
    done
}

# ------------------------------------------------------------------------------------------------
# Build

install_deps >&2 || die "installing packages failed"
command -v gcc >/dev/null || die "gcc is missing"
mkdir -p "$CLIENT_DIR" "$RUNDIR" || die "cannot create $CLIENT_DIR"
if [ -n "${BENCH_REV:-}" ]; then
    rev_full=$(git -C "$SR_TOP" rev-parse --verify "${BENCH_REV}^{commit}" 2>/dev/null) ||
        die "BENCH_REV=$BENCH_REV is not a commit"
    rev_dir=$CLIENT_DIR/build-${rev_full:0:12}
    if [ ! -x "$rev_dir/src/signalr-fcgi" ]; then
        log "building $BENCH_REV (${rev_full:0:12}) in $rev_dir"
        { rm -rf "$rev_dir" && mkdir -p "$rev_dir"; } || die "cannot create $rev_dir"
        git -C "$SR_TOP" archive "$rev_full" | tar -x -C "$rev_dir" || die "git archive failed"
        # shellcheck disable=SC2016 # $1 is expanded by the inner shell
        run_child bash -c 'cd "$1" && autoreconf -fi && ./configure && make -j2' _ "$rev_dir" \
            >"$rev_dir.log" 2>&1 || {
            tail -30 "$rev_dir.log" >&2
            die "build of $BENCH_REV failed (log: $rev_dir.log)"
        }
    fi
    SR_BIN=$rev_dir/src/signalr-fcgi
    tree="${rev_full:0:7} (BENCH_REV=$BENCH_REV, built from git archive)"
elif [ -n "${SIGNALR_BIN:-}" ] || [ "${SKIP_BUILD:-0}" = 1 ]; then
    [ -x "$SR_BIN" ] || die "$SR_BIN is not built"
    tree="binary $SR_BIN as found"
else
    # one retry: a make running at the same time in the same checkout can make this one trip
    if ! run_child build >"$RUNDIR/build.log" 2>&1; then
        log "build failed; retrying once in 5 s"
        nap 5
        run_child build >"$RUNDIR/build.log" 2>&1 || {
            tail -30 "$RUNDIR/build.log" >&2
            die "build failed (log: .run/$NAME/build.log)"
        }
    fi
    tree=$(git -C "$SR_TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(git -C "$SR_TOP" status --porcelain -- src sql 2>/dev/null | wc -l)
    [ "$dirty" -gt 0 ] && tree="$tree + $dirty uncommitted change(s) in src/ sql/"
fi
if [ ! -x "$CLIENT" ] || [ "$BENCH_DIR/sse_hold.c" -nt "$CLIENT" ]; then
    log "compiling bench/sse_hold.c"
    gcc -O2 -Wall -Wextra -o "$CLIENT" "$BENCH_DIR/sse_hold.c" || die "compiling sse_hold.c failed"
fi

# ------------------------------------------------------------------------------------------------
# Descriptor budget
#
# lighttpd (started as root it sets its RLIMIT_NOFILE to server.max-fds, which cannot exceed the
# hard limit without CAP_SYS_RESOURCE) needs 2 descriptors per held stream (client socket +
# backend socket), 2 per request in flight (negotiate and handshake POSTs: up to CONCURRENCY) and
# ~16 of its own, and stops accepting once more than 90 % of max-fds are in use.  The worker
# inherits lighttpd's limit (or ours, when started here) and needs 1 per stream plus ~30 (database
# connections, listen socket, logs).  The client is a process of its own: 1 per stream + 2 per
# connection being set up.
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=1048576
MAX_FDS=$HARD
MAX_CONNS=$((MAX_FDS / 2))
[ "$MAX_CONNS" -gt 65535 ] && MAX_CONNS=65535
LIGHTTPD_USABLE=$((MAX_FDS * 9 / 10))
LIGHTTPD_MAX_N=$(((LIGHTTPD_USABLE - 16 - 2 * CONCURRENCY) / 2))
WORKER_MAX_N=$((HARD - 32))
CLIENT_MAX_N=$((HARD - 16 - 2 * CONCURRENCY))
min() { printf '%s\n' "$@" | sort -n | head -1; }
FIT1=$(min "$LIGHTTPD_MAX_N" "$WORKER_MAX_N" "$CLIENT_MAX_N")
FIT2=$(min $((2 * LIGHTTPD_MAX_N)) "$WORKER_MAX_N" "$CLIENT_MAX_N")
can_raise=''
prlimit --nofile="$HARD:$((HARD + 1))" true 2>/dev/null && can_raise=1
ulimit -n "$HARD" 2>/dev/null # soft = hard: the worker started here inherits it
log "descriptor hard limit $HARD$([ -z "$can_raise" ] && echo " (cannot be raised here)"): lighttpd max-fds $MAX_FDS (accepts while < $LIGHTTPD_USABLE in use), max-connections $MAX_CONNS; one lighttpd holds at most ~$FIT1 streams"

RUNS=() NOTES=() # RUNS: "N FRONTENDS"
for n in $NS; do
    if [ "${FRONTENDS:-1}" = 2 ] && [ "$n" -le "$FIT2" ]; then
        RUNS+=("$n 2")
        continue
    fi
    if [ "$n" -le "$FIT1" ]; then
        RUNS+=("$n 1")
        continue
    fi
    ceiling=$((FIT1 / 500 * 500))
    note="N=$n does not fit in one lighttpd under the descriptor hard limit of $HARD (ulimit -Hn$([ -z "$can_raise" ] && echo "; root cannot raise it here: no CAP_SYS_RESOURCE")): lighttpd needs 2 fds per held stream (client socket + backend socket) = $((2 * n)), plus up to $((2 * CONCURRENCY)) for requests in flight and ~16 of its own = $((2 * n + 2 * CONCURRENCY + 16)), and it stops accepting above 90 % of server.max-fds ($MAX_FDS) = $LIGHTTPD_USABLE. The largest N one lighttpd holds is ~$FIT1: measured $ceiling with one front end"
    RUNS+=("$ceiling 1")
    if [ "$SPLIT" = 1 ] && [ "$n" -le "$FIT2" ]; then
        note="$note, and N=$n over two lighttpd front ends sharing the one worker (worker needs $((n + 32)) fds of $HARD: fits)."
        RUNS+=("$n 2")
    elif [ "$n" -gt "$WORKER_MAX_N" ]; then
        note="$note. N=$n does not fit in the worker either: it needs $((n + 32)) fds of $HARD."
    else
        note="$note."
    fi
    NOTES+=("$note")
done
mapfile -t RUNS < <(printf '%s\n' "${RUNS[@]}" | awk '!seen[$0]++')
for note in "${NOTES[@]}"; do log "$note"; done

# ------------------------------------------------------------------------------------------------
# PostgreSQL

if external_db_configured; then
    log "using the database from the environment; no PostgreSQL started (its CPU is not counted)"
else
    pg_start "$NAME" || die "could not start PostgreSQL"
fi
run_child "$SR_BIN" migrate >"$RUNDIR/migrate.log" 2>&1 || {
    cat "$RUNDIR/migrate.log" >&2
    die "signalr-fcgi migrate failed"
}

# The lighttpd template with the descriptor settings filled in; lib.sh fills in the rest.
sed -e "s/@MAX_FDS@/$MAX_FDS/" -e "s/@MAX_CONNS@/$MAX_CONNS/" \
    "${LIGHTTPD_TEMPLATE:-$BENCH_DIR/lighttpd-sse-idle.conf.in}" >"$RUNDIR/lighttpd-sse-idle.conf.in" ||
    die "cannot render the lighttpd template"
SR_LIGHTTPD_TEMPLATE=$RUNDIR/lighttpd-sse-idle.conf.in

# ------------------------------------------------------------------------------------------------
# Servers for one run: sets HPIDS (lighttpd pids), WPID (worker pid), PORTS (comma-separated)

HPIDS=() WPID='' PORTS=''

# worker_of PID — the single signalr-fcgi child of lighttpd PID
worker_of() {
    local p found=()
    for p in $(child_pids "$1"); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = signalr-fcgi ] && found+=("$p")
    done
    [ ${#found[@]} -eq 1 ] || return 1
    echo "${found[0]}"
}

servers_start() {
    local frontends=$1 port i dir conf sock pid
    HPIDS=() WPID='' PORTS=''
    if [ "$frontends" = 1 ]; then
        port=${PORT:-$(free_port)} || die "no free port"
        lighttpd_start "$NAME" "$port" 1 || die "could not start lighttpd"
        wait_negotiate "http://127.0.0.1:$port$HUB" 30 || { show_logs 30; die "the hub does not answer"; }
        [ "$(cat "/proc/$SR_HTTPD_PID/comm" 2>/dev/null)" = lighttpd ] || die "pid $SR_HTTPD_PID is not lighttpd"
        HPIDS=("$SR_HTTPD_PID")
        WPID=$(worker_of "$SR_HTTPD_PID") || die "expected exactly one signalr-fcgi worker under lighttpd $SR_HTTPD_PID"
        PORTS=$port
        return
    fi
    # The worker started here on a socket of its own, and FRONTENDS lighttpd instances using it.
    EXT_SOCKDIR=$(mktemp -d /tmp/signalr-bench.XXXXXX) || die "mktemp failed"
    sock=$EXT_SOCKDIR/fcgi.sock
    setsid "$SR_BIN" --listen "$sock" >>"$RUNDIR/worker.out" 2>&1 </dev/null &
    EXT_WORKER_PID=$!
    for _ in $(seq 1 100); do [ -S "$sock" ] && break; pid_alive "$EXT_WORKER_PID" || break; sleep 0.1; done
    [ -S "$sock" ] || { tail -20 "$RUNDIR/worker.out" >&2; die "the worker did not open $sock"; }
    WPID=$EXT_WORKER_PID
    for i in $(seq 1 "$frontends"); do
        port=$(free_port) || die "no free port"
        dir=$RUNDIR/frontend-$i
        mkdir -p "$dir/www" || die "cannot create $dir"
        conf=$dir/lighttpd.conf
        sed -e '/# spawn-begin/,/# spawn-end/d' -e "s|@PORT@|$port|" -e "s|@RUNDIR@|$dir|g" \
            -e "s|@DOCROOT@|$dir/www|" -e "s|@SOCKET@|$sock|" "$SR_LIGHTTPD_TEMPLATE" >"$conf"
        lighttpd -tt -f "$conf" >"$dir/lighttpd.out" 2>&1 || { cat "$dir/lighttpd.out" >&2; die "bad config $conf"; }
        : >"$dir/lighttpd-error.log"
        setsid lighttpd -D -f "$conf" >>"$dir/lighttpd.out" 2>&1 </dev/null &
        pid=$!
        EXT_HTTPD_PIDS+=("$pid")
        wait_port "$port" 30 "$pid" || { cat "$dir/lighttpd-error.log" >&2; die "lighttpd $pid did not come up on $port"; }
        wait_negotiate "http://127.0.0.1:$port$HUB" 30 || { tail -20 "$RUNDIR/worker.out" >&2; die "front end $i: the hub does not answer"; }
        HPIDS+=("$pid")
        PORTS=${PORTS:+$PORTS,}$port
    done
    log "worker $WPID on $sock (log: $RUNDIR/worker.out), lighttpd front ends ${HPIDS[*]} on ports $PORTS"
}

servers_stop() {
    if [ "$1" = 1 ]; then lighttpd_stop "$NAME"; else ext_stop; fi
}

# ------------------------------------------------------------------------------------------------
# One run

ROWS=() DETAILS=()
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

run_one() {
    local n=$1 fe=$2 out err cpid
    local w0r w0p w1r w1p w2r w2p h0r h0p h1r h1p h2r h2p wfd0 hfd0 wfd1 hfd1
    local t_h0 t_w0 t_p0 t_h1 t_w1 t_p1 t_c1 ok failed held released warm_release x0 x1 xper
    servers_start "$fe"
    log "N=$n over $fe front end(s): lighttpd ${HPIDS[*]} (fd limit $(fd_limit "${HPIDS[0]}")), worker $WPID (fd limit $(fd_limit "$WPID"))"

    # Warm-up: one-time set-up (database connections of the request threads, first use of the
    # loop) is not to be counted per connection.
    "$CLIENT" -p "$PORTS" -P "$HUB" -n 20 -c 10 -H 1 -q >"$RUNDIR/warmup.out" 2>&1
    if [ "$(kv "$RUNDIR/warmup.out" established ok)" != 20 ]; then
        cat "$RUNDIR/warmup.out" >&2
        show_logs 20
        die "warm-up failed: the hub does not hold SSE connections"
    fi
    # A client that left is noticed when the server next writes to its stream (the 15 s Ping):
    # wait until the warm-up streams are released before taking the baseline.
    wait_released 40
    warm_release=$RELEASED
    nap 1

    read -r w0r w0p <<<"$(mem "$WPID")"
    read -r h0r h0p <<<"$(mem "${HPIDS[@]}")"
    { [ -n "$w0p" ] && [ -n "$h0p" ]; } || die "cannot read /proc/<pid>/smaps_rollup of $WPID / ${HPIDS[*]}"
    wfd0=$(fds "$WPID") hfd0=$(fds "${HPIDS[@]}")
    t_h0=$(cpu_sum "${HPIDS[@]}") t_w0=$(cpu_ticks "$WPID") t_p0=$(postgres_ticks)
    x0=$(xacts)

    out=$RUNDIR/client-$n-fe$fe.out err=$RUNDIR/client-$n-fe$fe.err
    local -a extra=()
    if [ "${BROWSER_HEADERS:-0}" = 1 ]; then
        extra=(-x "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
            -x "Accept-Language: en-US,en;q=0.9" -x "Accept-Encoding: gzip, deflate, br"
            -x "Referer: http://127.0.0.1/" -x "Connection: keep-alive"
            -x 'sec-ch-ua: "Not_A Brand";v="8", "Chromium";v="120"' -x "sec-ch-ua-mobile: ?0"
            -x 'sec-ch-ua-platform: "Linux"' -x "Sec-Fetch-Dest: empty" -x "Sec-Fetch-Mode: cors"
            -x "Sec-Fetch-Site: same-origin")
    fi
    "$CLIENT" -p "$PORTS" -P "$HUB" -n "$n" -c "$CONCURRENCY" -H "$HOLD" -t "$CONNECT_TIMEOUT" \
        "${extra[@]}" >"$out" 2>"$err" &
    cpid=$!
    SR_CHILD_PID=$cpid # the traps end it on ^C / SIGTERM
    while ! grep -q '^established ' "$out" 2>/dev/null; do
        pid_alive "$cpid" || break
        sleep 0.1
    done
    t_h1=$(cpu_sum "${HPIDS[@]}") t_w1=$(cpu_ticks "$WPID") t_p1=$(postgres_ticks) t_c1=$(cpu_ticks "$cpid")
    if ! grep -q '^established ' "$out"; then
        cat "$out" "$err" >&2
        die "the client ended before the connect phase finished"
    fi
    ok=$(kv "$out" established ok) failed=$(kv "$out" established failed)
    log "N=$n: $(head -1 "$out")"

    nap "$SETTLE"
    read -r w1r w1p <<<"$(mem "$WPID")"
    read -r h1r h1p <<<"$(mem "${HPIDS[@]}")"
    wfd1=$(fds "$WPID") hfd1=$(fds "${HPIDS[@]}")
    held=$(held_streams)
    x1=$(xacts)
    pid_alive "$WPID" || { show_logs 30; die "the worker $WPID died"; }

    # a second sample shortly before the hold ends: every stream has had a Ping by then
    nap $((HOLD - SETTLE - 2))
    read -r w2r w2p <<<"$(mem "$WPID")"
    read -r h2r h2p <<<"$(mem "${HPIDS[@]}")"

    # the client ends by itself after the hold
    for _ in $(seq 1 $((HOLD + 30))); do pid_alive "$cpid" || break; nap 1; done
    if pid_alive "$cpid"; then log "client $cpid still running; stopping it"; kill -TERM "$cpid"; fi
    wait "$cpid" 2>/dev/null
    SR_CHILD_PID=''
    wait_released 40
    released=$RELEASED

    local base=${ok:-0}
    [ "$base" -gt 0 ] || base=1
    local w_rss w_pss h_rss h_pss
    w_rss=$(per_conn "$w0r" "$w1r" "$base") w_pss=$(per_conn "$w0p" "$w1p" "$base")
    h_rss=$(per_conn "$h0r" "$h1r" "$base") h_pss=$(per_conn "$h0p" "$h1p" "$base")
    ROWS+=("$(printf '%6s %3s %6s %5s %9s %8s %8s | %6s / %-6s | %6s / %-6s | %6s / %-6s' \
        "$n" "$fe" "$ok" "$failed" "$(kv "$out" established total_s)" \
        "$(kv "$out" established p50_ms)" "$(kv "$out" established p99_ms)" \
        "$w_rss" "$w_pss" "$h_rss" "$h_pss" \
        "$(awk -v a="$w_rss" -v b="$h_rss" 'BEGIN {printf "%.2f", a + b}')" \
        "$(awk -v a="$w_pss" -v b="$h_pss" 'BEGIN {printf "%.2f", a + b}')")")

    local cpu_h cpu_w cpu_p
    xper='?'
    [ -n "$x0" ] && [ -n "$x1" ] && xper=$(awk -v a="$x0" -v b="$x1" -v n="$base" 'BEGIN {printf "%.1f", (b - a) / n}')
    cpu_h=$(secs $((t_h1 - t_h0))) cpu_w=$(secs $((t_w1 - t_w0))) cpu_p=$(secs $((t_p1 - t_p0)))
    DETAILS+=("N=$n, $fe front end(s) (lighttpd ${HPIDS[*]}, worker $WPID):
    worker   RSS/PSS KiB: baseline $w0r / $w0p, held $w1r / $w1p, before the hold ends $w2r / $w2p ($(per_conn "$w0r" "$w2r" "$base") / $(per_conn "$w0p" "$w2p" "$base") KiB per conn); fds $wfd0 -> $wfd1
    lighttpd RSS/PSS KiB: baseline $h0r / $h0p, held $h1r / $h1p, before the hold ends $h2r / $h2p ($(per_conn "$h0r" "$h2r" "$base") / $(per_conn "$h0p" "$h2p" "$base") KiB per conn); fds $hfd0 -> $hfd1
    connect phase CPU: lighttpd $cpu_h s, worker $cpu_w s, PostgreSQL $cpu_p s (server $(awk -v a="$cpu_h" -v b="$cpu_w" -v c="$cpu_p" 'BEGIN {printf "%.2f", a + b + c}') s, $(awk -v a="$cpu_h" -v b="$cpu_w" -v c="$cpu_p" -v n="$base" 'BEGIN {printf "%.0f", (a + b + c) * 1e6 / n}') us per connection); client $(secs "$t_c1") s; PostgreSQL transactions per connection: $xper
    $(sed -n 's/^established .*rate_per_s=\([^ ]*\).*p90_ms=\([^ ]*\).*max_ms=\([^ ]*\).*/connect rate \1\/s, p90 \2 ms, max \3 ms; /p' "$out")$(sed -n 's/^phases /per step: /p' "$out")
    client at hold end: $(sed -n 's/^hold_end //p' "$out")
    streams held in the database: ${held:-?} while held; all released ${released} s after the client closed (warm-up streams: ${warm_release} s)
$(sed -n 's/^failures /    failures: /p' "$out")")

    if [ "${failed:-1}" != 0 ] || [ "$(kv "$out" hold_end dropped)" != 0 ]; then
        log "N=$n: failures or drops; client log:"
        tail -15 "$err" >&2
        show_logs 15
    fi
    servers_stop "$fe"
}

for r in "${RUNS[@]}"; do
    # shellcheck disable=SC2086 # "N FRONTENDS"
    run_one $r
done

# ------------------------------------------------------------------------------------------------
# Report

echo
echo "SSE idle connections, ONE signalr-fcgi worker (SIGNALR_THREADS=${SIGNALR_THREADS:-4}) behind lighttpd $(lighttpd -v 2>/dev/null | sed -n 's/^lighttpd\/\([^ ]*\).*/\1/p') (fe = front ends); tree $tree"
echo "client: bench/sse_hold, $CONCURRENCY connections set up at a time$([ "${BROWSER_HEADERS:-0}" = 1 ] && echo ", browser headers on the stream GET"); memory sampled ${SETTLE} s after the last connect; KiB = 1024 bytes"
echo "load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo
printf '%6s %3s %6s %5s %9s %8s %8s | %-15s | %-15s | %-15s\n' N fe ok fail connect_s p50_ms p99_ms \
    "worker KiB/conn" "lighttpd KiB/c." "total KiB/conn"
printf '%6s %3s %6s %5s %9s %8s %8s | %-15s | %-15s | %-15s\n' "" "" "" "" "(total)" "(1 conn)" "(1 conn)" \
    "  RSS / PSS" "  RSS / PSS" "  RSS / PSS"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
echo "goal: 10,000 connections per worker at < 6 KiB per connection (worker + lighttpd)"
for note in "${NOTES[@]}"; do echo "note: $note"; done
echo
for d in "${DETAILS[@]}"; do echo "$d"; done
echo
echo "logs: .run/$NAME/ (lighttpd.out or worker.out = worker log, lighttpd-error.log, frontend-*/, client-<N>-fe<F>.out/.err)"
