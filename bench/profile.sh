#!/usr/bin/env bash
# bench/profile.sh — where signalr-fcgi spends its time in one benchmark scenario: perf record of
# lighttpd, the workers and every PostgreSQL process while bench/loadgen drives the scenario, then
# the top symbols per process group (perf report --no-children, self time).
#
# As root, after bench/run.sh has built the tree (uses src/signalr-fcgi and bench/loadgen as they are):
#   bench/profile.sh                        connect phase (S1) + SSE 1,000 subscribers at 50 msg/s
#   SCEN="lp 1000 100" bench/profile.sh     long polling, 1,000 subscribers, 100 msg/s
#   SCEN="sse 5000 10"                      SSE, 5,000 subscribers (the connect phase dominates)
# Output: .run/bench-profile/perf-<group>.txt and a summary on stdout. perf samples at 999 Hz with
# call graphs (frame pointers: -g); the worker is built with -O2 -g, so its own symbols resolve,
# PostgreSQL's and libc's come from the Debian packages (install the -dbgsym packages for more).
set -u -o pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$BENCH_DIR/../scripts/lib.sh"
NAME=bench-profile
RUNDIR=$SR_TOP/.run/$NAME
read -r X N RATE <<<"${SCEN:-sse 1000 50}"
MEASURE=${MEASURE:-10}
LOADGEN=$BENCH_DIR/loadgen
[ "$(id -u)" = 0 ] || die "run as root"
command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
[ -x "$LOADGEN" ] && [ -x "$SR_BIN" ] || die "build first (bench/run.sh or make && make bench/loadgen)"
mkdir -p "$RUNDIR"
PERF_PID=''
trap '[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null; cleanup' EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"

pg_start "$NAME" || die "PostgreSQL"
"$SR_BIN" migrate >"$RUNDIR/migrate.log" 2>&1 || die "migrate"
psql -X -q -U postgres -d postgres -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
    -c "ALTER SYSTEM SET full_page_writes = on" -c "ALTER SYSTEM SET shared_buffers = '256MB'" >/dev/null
pg_pause && pg_resume || die "PostgreSQL restart"
HARD=$(ulimit -Hn)
sed -e "s/@MAX_FDS@/$HARD/" -e "s/@MAX_CONNS@/$((HARD / 2))/" "$BENCH_DIR/lighttpd-sse-idle.conf.in" >"$RUNDIR/lighttpd.conf.in"
# shellcheck disable=SC2034 # read by lib.sh lighttpd_start
SR_LIGHTTPD_TEMPLATE=$RUNDIR/lighttpd.conf.in
PORT=$(free_port)
lighttpd_start "$NAME" "$PORT" 2 || die "lighttpd"
wait_negotiate "http://127.0.0.1:$PORT/Hubs/ChatRoom" 30 || die "hub"
WORKERS=$(child_pids "$SR_HTTPD_PID" | tr '\n' ',')
"$LOADGEN" -T signalr -X sse -p "$PORT" -n 20 -c 10 -S 0.5 -L warmup >/dev/null 2>&1

# every PostgreSQL process (backends are forked per connection: record the whole cluster with -a
# and split by command afterwards)
log "perf record -a -g for the whole scenario ($X, $N subscribers, $RATE msg/s, ${MEASURE} s measured)"
perf record -a -g -F 999 -o "$RUNDIR/perf.data" >"$RUNDIR/perf-record.log" 2>&1 &
PERF_PID=$!
sleep 1
"$LOADGEN" -T signalr -X "$X" -p "$PORT" -C ChatRoom -n "$N" -c 50 -r "$RATE" -w 1 -m "$MEASURE" -S 1 -L profile \
    --pid "lighttpd=$SR_HTTPD_PID" --pid "workers=${WORKERS%,}" --tree "postgres=$SR_PG_PID" \
    >"$RUNDIR/loadgen.out" 2>"$RUNDIR/loadgen.err"
kill -INT "$PERF_PID"
wait "$PERF_PID"
PERF_PID=''
cat "$RUNDIR/loadgen.out" | cut -c1-400

for comm in signalr-fcgi postgres lighttpd; do
    perf report -i "$RUNDIR/perf.data" --comm "$comm" --no-children --percentage relative --sort dso,symbol --percent-limit 1 \
        --stdio -g none 2>/dev/null | grep -v '^$' >"$RUNDIR/perf-$comm.txt"
    echo
    echo "== $comm: top symbols (self time, % of all samples of this command)"
    grep -v '^#' "$RUNDIR/perf-$comm.txt" | head -25
done
echo
echo "CPU by command (share of all samples on the box):"
perf report -i "$RUNDIR/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
