# tests/faults/faults.sh — the fault driver: set-up, fault injection and measurement for run.sh
# (short) and long.sh (long).  Source it after scripts/lib.sh; do not run it.
#
# DESIGN
# Nemesis and clock of a Jepsen-style test (reliability-security.md §3.4): one private PostgreSQL,
# two lighttpd front ends (FE A and FE B, 2 signalr-fcgi workers each, one database), and
# workload.mjs (the official client over both transports through both front ends, hub and SQL
# publishers) recording its history.  The functions below inject the faults of the test matrix
# (F-01/F-02 worker SIGKILL, F-06/F-07 PostgreSQL restart fast/immediate, F-08
# pg_terminate_backend of the LISTEN sessions, F-11 SIGSTOP/SIGCONT of PostgreSQL, F-12 a slow
# publishing transaction, F-15 front-end restart, and a 30 s outage) and append one JSON line per
# fault to $F_DIR/faults.jsonl with its timestamps (ms since the epoch, the clock the workload and
# PostgreSQL use too), so that checker.mjs can compute recovery times and attribute transport
# breaks.  Loopback only; everything is bounded in time.  Processes are only ever signalled by a
# pid recorded here or found as a child of the lighttpd / the postmaster this script started
# (lib.sh's child_pids); nothing by name.
#
# Functions: faults_setup faults_start_workload faults_stop_workload faults_dump faults_check
#            fault_kill_worker fault_listen_kill fault_pg_restart fault_pg_pause fault_outage
#            fault_fe_restart fault_slow_commit res_snapshot settle phase frec now_ms
#            faults_step faults_finish (counting: `N passed, N failed`)
#            faults_cleanup_on_exit
#
# Settings (environment): FAULTS_NAME (run directory .run/<name>, default faults), FAULTS_CLIENTS,
# FAULTS_HUB_RATE, FAULTS_SQL_PUBLISHERS, FAULTS_SQL_RATE (workload.mjs), FAULTS_BUILD=1 (build
# the tree first; by default the built src/signalr-fcgi is used, and built only if missing).

F_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
F_NAME=${FAULTS_NAME:-faults}
F_DIR=$SR_TOP/.run/$F_NAME/history
F_FAULTS=$F_DIR/faults.jsonl
F_RUN=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
F_KEEPALIVE=${FAULTS_KEEPALIVE:-15}
F_WL_PID=''
F_STOPPED_PIDS='' # PostgreSQL processes currently SIGSTOPped by fault_pg_pause
F_BG_PIDS=()      # background psql sessions of fault_slow_commit
F_SLOW_N=0
declare -gA F_PORTS=() F_URLS=()
F_FES=(A B)

# The workers' settings: production defaults for keep-alive (15 s), client timeout (30 s) and
# disconnect timeout (15 s); the poll timeout above the 30 s outage (a held poll must outlive it);
# retention long enough that the checker finds every message of the run in the table.
F_WORKER_ENV=(SIGNALR_TEST_HUBS=1 SIGNALR_POLL_TIMEOUT=40 SIGNALR_RETENTION=86400
    "SIGNALR_KEEPALIVE_INTERVAL=$F_KEEPALIVE" SIGNALR_CLIENT_TIMEOUT=30 SIGNALR_DISCONNECT_TIMEOUT=15
    SIGNALR_LOG_LEVEL=info SIGNALR_DETAILED_ERRORS=0)

now_ms() { date +%s%3N; }
frec() { printf '%s\n' "$1" >>"$F_FAULTS"; }
phase() { log "--- $*"; frec "{\"type\":\"phase\",\"name\":\"$1\",\"t\":$(now_ms)}"; }
settle() { sleep "$1"; }
fe_lighttpd() { lighttpd_pid "$F_NAME-${1,,}"; }
q() { PGCONNECT_TIMEOUT=2 psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1" 2>/dev/null; }

# fe_workers FE — the signalr-fcgi children of front end FE's lighttpd
fe_workers() {
    local lp p exe
    lp=$(fe_lighttpd "$1") || return 0
    for p in $(child_pids "$lp"); do
        exe=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -1)
        case "$exe" in *signalr-fcgi) pid_alive "$p" && echo "$p" ;; esac
    done
}
all_workers() { local fe; for fe in "${F_FES[@]}"; do fe_workers "$fe"; done; }
count_workers() { all_workers | wc -l; }

# loop_pids — the workers' LISTEN sessions (backend pids)
loop_pids() { q "SELECT pid FROM pg_stat_activity WHERE application_name = 'signalr-fcgi loop' ORDER BY pid"; }

# wait_listen SECONDS [EXCLUDED_PIDS] — prints the time (ms) at which there are as many LISTEN
# sessions as live workers, none of them an excluded (terminated) backend; prints nothing on timeout
wait_listen() {
    local secs=$1 excl=${2:-} deadline pids n p bad
    deadline=$(($(now_ms) + secs * 1000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if pids=$(loop_pids); then
            n=$(grep -c . <<<"$pids")
            bad=0
            for p in $excl; do grep -qx "$p" <<<"$pids" && bad=1; done
            if [ "$bad" = 0 ] && [ "$n" -ge "$(count_workers)" ]; then now_ms; return 0; fi
        fi
        sleep 0.05
    done
    return 1
}

json_or_null() { if [ -n "$1" ]; then echo "$1"; else echo null; fi; }

# pg_ready_pid — the postmaster's pid once postmaster.pid says it accepts connections
pg_ready_pid() {
    local f=$SR_PG_DATA/postmaster.pid pid st
    [ -r "$f" ] || return 1
    pid=$(sed -n 1p "$f" 2>/dev/null)
    st=$(sed -n 8p "$f" 2>/dev/null)
    [ "${st// /}" = ready ] && [ -n "$pid" ] && echo "$pid"
}

# --------------------------------------------------------------------------------------------------
# Set-up and teardown

faults_setup() {
    rm -rf "$F_DIR" && mkdir -p "$F_DIR" || return 1
    : >"$F_FAULTS"
    if [ "${FAULTS_BUILD:-0}" = 1 ] || [ ! -x "$SR_TOP/src/signalr-fcgi" ]; then
        build >"$SR_TOP/.run/$F_NAME-build.log" 2>&1 || { log "build failed: .run/$F_NAME-build.log"; return 1; }
    fi
    # a copy: lighttpd respawns killed workers from bin-path, and others may rebuild the tree
    mkdir -p "$SR_TOP/.run/$F_NAME" &&
        cp "$SR_TOP/src/signalr-fcgi" "$SR_TOP/.run/$F_NAME/signalr-fcgi.new" &&
        mv -f "$SR_TOP/.run/$F_NAME/signalr-fcgi.new" "$SR_TOP/.run/$F_NAME/signalr-fcgi" || return 1
    SR_BIN=$SR_TOP/.run/$F_NAME/signalr-fcgi
    if [ ! -d "$SR_TOP/tests/client/node_modules/@microsoft/signalr" ]; then
        (cd "$SR_TOP/tests/client" && npm ci --no-audit --no-fund) >/dev/null || return 1
    fi
    # no SIGNALR_* of the caller's environment may reach the workers
    local v
    for v in $(compgen -e | grep '^SIGNALR_'); do unset "$v"; done
    pg_start "$F_NAME" || return 1
    # lib.sh's throw-away cluster runs with synchronous_commit = off: an immediate restart then
    # loses the last acknowledged commits, which the workers may already have delivered, and the
    # commit sequence is handed out again after recovery (the first run of this suite showed
    # exactly that).  Delivery guarantees presuppose durable commits, as in production.
    # (fsync stays off: the machine does not crash, only PostgreSQL does.)
    psql -X -q -U postgres -d postgres -c "ALTER SYSTEM SET synchronous_commit = on" \
        -c "SELECT pg_reload_conf()" >/dev/null || return 1
    "$SR_BIN" migrate >/dev/null || { log "migrate failed"; return 1; }
    local fe port lname
    for fe in "${F_FES[@]}"; do
        port=$(free_port) || return 1
        while [ "$port" = "${F_PORTS[A]:-}" ]; do port=$(free_port) || return 1; done
        lname=$F_NAME-${fe,,}
        lighttpd_start "$lname" "$port" 2 "${F_WORKER_ENV[@]}" || return 1
        F_PORTS[$fe]=$port
        F_URLS[$fe]=http://127.0.0.1:$port
        wait_negotiate "${F_URLS[$fe]}/Hubs/ChatRoom" 30 "$(lighttpd_pid "$lname")" || return 1
    done
    wait_listen 30 >/dev/null || { log "the workers' LISTEN sessions did not appear"; return 1; }
    frec "{\"type\":\"settings\",\"run\":\"$F_RUN\",\"keepalive_s\":$F_KEEPALIVE,\"urls\":[\"${F_URLS[A]}\",\"${F_URLS[B]}\"],\"t\":$(now_ms)}"
    log "front ends: A ${F_URLS[A]} (lighttpd $(fe_lighttpd A)), B ${F_URLS[B]} (lighttpd $(fe_lighttpd B)); workers: $(all_workers | tr '\n' ' ')"
}

faults_start_workload() {
    local out=$F_DIR/workload.out
    (cd "$F_HERE" && exec env FAULTS_RUN="$F_RUN" FAULTS_HISTORY="$F_DIR" \
        FAULTS_URLS="${F_URLS[A]},${F_URLS[B]}" FAULTS_FE_NAMES=A,B node workload.mjs) >"$out" 2>&1 &
    F_WL_PID=$!
    for _ in $(seq 1 600); do
        grep -q '^workload ready' "$out" 2>/dev/null && { log "$(cat "$out")"; return 0; }
        pid_alive "$F_WL_PID" || break
        sleep 0.1
    done
    log "the workload did not get ready:"; cat "$out" >&2
    return 1
}

# faults_stop_workload — stop publishing, let the clients drain, end them (workload.mjs SIGUSR2)
faults_stop_workload() {
    [ -n "$F_WL_PID" ] || return 1
    kill -USR2 "$F_WL_PID" 2>/dev/null
    for _ in $(seq 1 900); do pid_alive "$F_WL_PID" || break; sleep 0.1; done
    if pid_alive "$F_WL_PID"; then
        log "the workload did not finish; SIGKILL"
        kill -KILL "$F_WL_PID" 2>/dev/null
    fi
    wait "$F_WL_PID"
    local rc=$?
    F_WL_PID=''
    return $rc
}

# faults_dump — every committed message of the run, in log order: tag|id|seq|committed_at(ms)
faults_dump() {
    q "SELECT substring(m.body from 'fz\.$F_RUN\.([A-Za-z0-9-]+\.[0-9]+)'), m.id, c.seq,
              (extract(epoch FROM c.committed_at) * 1000)::bigint
         FROM signalr.messages m JOIN signalr.commits c ON c.xid = m.xid
        WHERE m.body LIKE '%fz.$F_RUN.%' ORDER BY c.seq, m.id" | tr -d ' ' >"$F_DIR/table.txt.new" &&
        mv "$F_DIR/table.txt.new" "$F_DIR/table.txt"
}

faults_check() { node "$F_HERE/checker.mjs" "$F_DIR"; }

faults_cleanup() {
    local p
    # never leave PostgreSQL stopped by SIGSTOP
    for p in $F_STOPPED_PIDS; do kill -CONT "$p" 2>/dev/null; done
    F_STOPPED_PIDS=''
    for p in "${F_BG_PIDS[@]}"; do pid_alive "$p" && kill -TERM "$p" 2>/dev/null; done
    if [ -n "$F_WL_PID" ] && pid_alive "$F_WL_PID"; then
        kill -TERM "$F_WL_PID" 2>/dev/null
        for _ in $(seq 1 50); do pid_alive "$F_WL_PID" || break; sleep 0.1; done
        pid_alive "$F_WL_PID" && kill -KILL "$F_WL_PID" 2>/dev/null
    fi
    cleanup
}

faults_on_signal() {
    log "signal $1: stopping"
    faults_cleanup
    exit $((128 + $1))
}

faults_cleanup_on_exit() {
    trap 'faults_cleanup' EXIT
    trap 'faults_on_signal 2' INT
    trap 'faults_on_signal 15' TERM
}

# --------------------------------------------------------------------------------------------------
# Faults

# fault_kill_worker FE — SIGKILL one worker of front end FE (a child of our lighttpd); record the
# time lighttpd has replaced it and the LISTEN sessions are complete again
fault_kill_worker() {
    local fe=$1 t victim respawn='' listen='' ws
    mapfile -t ws < <(fe_workers "$fe")
    [ ${#ws[@]} -gt 0 ] || { log "kill: no worker of $fe"; return 1; }
    victim=${ws[$((RANDOM % ${#ws[@]}))]}
    # only a child of our lighttpd (checked again right before the kill)
    grep -qx "$victim" <<<"$(fe_workers "$fe")" || return 1
    t=$(now_ms)
    kill -KILL "$victim" || return 1
    local deadline=$((t + 20000)) now
    while [ "$(now_ms)" -lt "$deadline" ]; do
        now=$(fe_workers "$fe")
        if [ "$(grep -c . <<<"$now")" -ge 2 ] && ! grep -qx "$victim" <<<"$now"; then respawn=$(now_ms); break; fi
        sleep 0.05
    done
    listen=$(wait_listen 20)
    frec "{\"type\":\"kill\",\"fe\":\"$fe\",\"pid\":$victim,\"t\":$t,\"respawn_t\":$(json_or_null "$respawn"),\"listen_t\":$(json_or_null "$listen")}"
    if [ -n "$respawn" ]; then
        log "kill -KILL worker $victim ($fe): replaced after $((respawn - t)) ms"
    else
        log "kill -KILL worker $victim ($fe): not replaced within 20 s"
    fi
}

# fault_listen_kill — pg_terminate_backend on every LISTEN session of the workers
fault_listen_kill() {
    local t pids listen
    t=$(now_ms)
    pids=$(q "WITH s AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE application_name = 'signalr-fcgi loop')
              SELECT pid FROM s WHERE pg_terminate_backend(pid) ORDER BY pid")
    listen=$(wait_listen 20 "$pids")
    frec "{\"type\":\"listen-kill\",\"t\":$t,\"pids\":[$(tr '\n' ',' <<<"$pids" | sed 's/,$//')],\"listen_t\":$(json_or_null "$listen")}"
    log "pg_terminate_backend on LISTEN sessions $(tr '\n' ' ' <<<"$pids"): back after $(( ${listen:-0} - t )) ms"
}

# fault_pg_restart fast|immediate — pg_ctl restart; up_t = the new postmaster accepts connections
fault_pg_restart() {
    local mode=$1 old t up='' listen='' ctl rc p
    pg_read_pid
    old=$SR_PG_PID
    t=$(now_ms)
    setsid -w runuser -u postgres -- "$SR_PG_BIN/pg_ctl" -D "$SR_PG_DATA" -l "$SR_PG_LOG" -m "$mode" \
        -w -t 60 restart >/dev/null 2>&1 </dev/null &
    ctl=$!
    for _ in $(seq 1 3000); do
        if p=$(pg_ready_pid) && [ "$p" != "$old" ]; then up=$(now_ms); break; fi
        sleep 0.02
    done
    wait "$ctl"
    rc=$?
    pg_read_pid
    [ -n "$up" ] && listen=$(wait_listen 30)
    frec "{\"type\":\"pg-restart\",\"mode\":\"$mode\",\"t\":$t,\"up_t\":$(json_or_null "$up"),\"listen_t\":$(json_or_null "$listen"),\"rc\":$rc}"
    log "pg_ctl restart -m $mode: accepting after $(( ${up:-$t} - t )) ms, LISTEN back $(( ${listen:-0} - ${up:-0} )) ms later (rc $rc)"
    [ "$rc" = 0 ] && [ -n "$up" ]
}

# fault_pg_pause SECONDS — SIGSTOP the postmaster and its children, SIGCONT them after SECONDS
fault_pg_pause() {
    local secs=$1 pm kids t t1 listen p
    pg_read_pid
    pm=$SR_PG_PID
    if [ -z "$pm" ] || ! pid_alive "$pm"; then log "pause: no postmaster"; return 1; fi
    t=$(now_ms)
    kill -STOP "$pm" || return 1
    F_STOPPED_PIDS=$pm
    kids=$(child_pids "$pm")
    for p in $kids; do kill -STOP "$p" 2>/dev/null && F_STOPPED_PIDS+=" $p"; done
    sleep "$secs"
    for p in $kids; do kill -CONT "$p" 2>/dev/null; done
    kill -CONT "$pm"
    F_STOPPED_PIDS=''
    t1=$(now_ms)
    listen=$(wait_listen 20)
    frec "{\"type\":\"pg-pause\",\"t\":$t,\"end_t\":$t1,\"stopped\":$(wc -w <<<"$pm $kids"),\"listen_t\":$(json_or_null "$listen")}"
    log "SIGSTOP of PostgreSQL ($(wc -w <<<"$pm $kids") processes) for $secs s"
}

# fault_outage SECONDS — PostgreSQL stopped (fast) for SECONDS, then started again
fault_outage() {
    local secs=$1 t up='' listen='' p
    t=$(now_ms)
    pg_pause || return 1
    local down
    down=$(now_ms)
    sleep "$secs"
    pg_resume || return 1
    for _ in $(seq 1 500); do
        if p=$(pg_ready_pid); then up=$(now_ms); break; fi
        sleep 0.02
    done
    listen=$(wait_listen 30)
    frec "{\"type\":\"pg-outage\",\"t\":$t,\"down_t\":$down,\"up_t\":$(json_or_null "$up"),\"listen_t\":$(json_or_null "$listen")}"
    log "PostgreSQL down for $(( ${up:-$t} - t )) ms; LISTEN back $(( ${listen:-0} - ${up:-0} )) ms after it accepted"
}

# fault_fe_restart FE — lighttpd of front end FE stopped and started again (its workers with it)
fault_fe_restart() {
    local fe=$1 lname t up=''
    lname=$F_NAME-${fe,,}
    t=$(now_ms)
    lighttpd_stop "$lname"
    # lighttpd_start truncates the logs; keep what the old workers wrote
    local rundir=$SR_TOP/.run/$lname
    cp "$rundir/lighttpd.out" "$rundir/lighttpd.out.before-restart-$t" 2>/dev/null
    cp "$rundir/lighttpd-error.log" "$rundir/lighttpd-error.log.before-restart-$t" 2>/dev/null
    lighttpd_start "$lname" "${F_PORTS[$fe]}" 2 "${F_WORKER_ENV[@]}" || return 1
    wait_negotiate "${F_URLS[$fe]}/Hubs/ChatRoom" 30 "$(lighttpd_pid "$lname")" && up=$(now_ms)
    local listen
    listen=$(wait_listen 20)
    frec "{\"type\":\"fe-restart\",\"fe\":\"$fe\",\"t\":$t,\"up_t\":$(json_or_null "$up"),\"listen_t\":$(json_or_null "$listen")}"
    log "front end $fe restarted: serving again after $(( ${up:-$t} - t )) ms"
}

# fault_slow_commit SECONDS — a publishing transaction held open SECONDS while the publishers
# commit (its message has a lower messages.id than theirs but commits later), and one that is
# rolled back after the same time (must never be delivered)
fault_slow_commit() {
    local hold=$1 n t
    n=$((++F_SLOW_N))
    t=$(now_ms)
    slow_tx "slow" "$n" "$hold" COMMIT &
    local a=$!
    sleep 0.2
    slow_tx "ghost" "$n" "$hold" ROLLBACK &
    local b=$!
    F_BG_PIDS+=("$a" "$b")
    wait "$a" "$b"
    frec "{\"type\":\"slow-commit\",\"t\":$t,\"end_t\":$(now_ms),\"hold_s\":$hold}"
    log "slow commit: a transaction held ${hold} s across other commits"
}

slow_tx() {
    local pub=$1 n=$2 hold=$3 end=$4 t0 t1 rc err ok=false rb=''
    t0=$(now_ms)
    err=$(printf "BEGIN;\nSELECT signalr.send_all('ChatRoom', 'ReceivePublicMessage', jsonb_build_array('fz.%s.%s.%s'));\nSELECT pg_sleep(%s);\n%s;\n" \
        "$F_RUN" "$pub" "$n" "$hold" "$end" | timeout 60 psql -X -q -A -t -v ON_ERROR_STOP=1 2>&1 >/dev/null)
    rc=$?
    t1=$(now_ms)
    [ "$rc" = 0 ] && ok=true
    [ "$end" = ROLLBACK ] && rb=',"rolledback":true'
    err=$(tr -d '"\\\n' <<<"$err" | cut -c1-200)
    frec "{\"type\":\"pub\",\"p\":\"$pub\",\"s\":$n,\"via\":\"sql-${end,,}\",\"t0\":$t0,\"t1\":$t1,\"ok\":$ok${rb}${err:+,\"err\":\"$err\"}}"
}

# worker_fds PID — "own all": the worker's descriptors without the FastCGI request connections
# (unix sockets bound to lighttpd's fcgi.sock: the listener and one per request in progress, which
# come and go with the clients), and all of them.  Needs U_PATH (inode -> path of /proc/net/unix).
worker_fds() {
    local l ino own=0 all=0
    while IFS= read -r l; do
        all=$((all + 1))
        case $l in
        socket:\[*\])
            ino=${l#socket:[}
            ino=${ino%]}
            case ${U_PATH[$ino]:-} in */fcgi.sock*) continue ;; esac
            ;;
        esac
        own=$((own + 1))
    done < <(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -printf '%l\n' 2>/dev/null)
    echo "$own $all"
}

# res_snapshot PHASE — per worker: its own descriptors (everything but request connections: the
# database sessions, epoll, pipes, files; the minimum of 10 samples over 2 s), all descriptors
# (also the minimum), and VmRSS
res_snapshot() {
    local phase=$1 p fe own all t inode path
    local -A min=() mina=() wfe=()
    declare -gA U_PATH=()
    for fe in "${F_FES[@]}"; do for p in $(fe_workers "$fe"); do wfe[$p]=$fe; done; done
    for _ in $(seq 1 10); do
        U_PATH=()
        while read -r _ _ _ _ _ _ inode path; do
            [ -n "$path" ] && U_PATH[$inode]=$path
        done < <(tail -n +2 /proc/net/unix)
        for p in "${!wfe[@]}"; do
            read -r own all <<<"$(worker_fds "$p")"
            [ "${all:-0}" -gt 0 ] || continue
            if [ -z "${min[$p]:-}" ] || [ "$own" -lt "${min[$p]}" ]; then min[$p]=$own; fi
            if [ -z "${mina[$p]:-}" ] || [ "$all" -lt "${mina[$p]}" ]; then mina[$p]=$all; fi
        done
        sleep 0.2
    done
    t=$(now_ms)
    for p in "${!wfe[@]}"; do
        [ -n "${min[$p]:-}" ] || continue
        frec "{\"type\":\"res\",\"phase\":\"$phase\",\"fe\":\"${wfe[$p]}\",\"pid\":$p,\"fds\":${min[$p]},\"fds_all\":${mina[$p]},\"rss_kb\":$(awk '/^VmRSS/ {print $2}' "/proc/$p/status"),\"t\":$t}"
    done
}

# --------------------------------------------------------------------------------------------------
# Counting

F_PASSED=0 F_FAILED=0
# faults_step NAME COMMAND... — a set-up or driver step (run in this shell) that must succeed
faults_step() {
    local name=$1
    shift
    if "$@"; then
        F_PASSED=$((F_PASSED + 1))
    else
        F_FAILED=$((F_FAILED + 1))
        log "FAILED: $name"
        return 1
    fi
}

# faults_finish CHECKER_OUTPUT — adds the checker's CHECK lines, prints `N passed, N failed`,
# exits non-zero if anything failed
faults_finish() {
    local out=$1 p f
    if [ -n "$out" ] && [ -f "$out" ]; then
        p=$(grep -c '^CHECK ok' "$out")
        f=$(grep -c '^CHECK FAIL' "$out")
        F_PASSED=$((F_PASSED + p)) F_FAILED=$((F_FAILED + f))
        grep -q '^checker: ' "$out" || F_FAILED=$((F_FAILED + 1)) # the checker itself failed
    fi
    echo "$F_PASSED passed, $F_FAILED failed"
    [ "$F_FAILED" -eq 0 ]
    exit
}
