# scripts/lib.sh — shared shell functions for scripts/demo.sh and scripts/test.sh (source it, do not run it).
#
# DESIGN
# Everything these functions start is private to the calling script and is stopped by the pid it
# recorded: a PostgreSQL cluster of its own (initdb'd by the `postgres` user, Unix socket in a
# private directory, never the system cluster) and lighttpd instances that spawn the signalr-fcgi
# workers through `bin-path`.  Nothing is ever stopped by name.  Call cleanup_on_exit once, early:
# it installs EXIT/INT/TERM traps that stop whatever was started, on every exit path.
# State lives in SR_* globals, so pg_start and lighttpd_start must run in the main shell (not in a
# `$(...)` subshell).  One cluster per script; any number of lighttpd instances, each under its
# own NAME and port (scale-out tests run two front ends on one database).  SR_HTTPD_PID and
# SR_HTTPD_RUNDIR name the first instance started (the only one for demo.sh).
# A child process of the script (a test suite) can stop and restart the cluster — a database
# outage — with `pg_attach DATADIR` followed by pg_pause / pg_resume; the script's own
# pg_ensure_running restarts it if the child could not.
#
# Run-time files go to $SR_TOP/.run/<name>/ (git-ignored): lighttpd.conf, lighttpd-error.log
# (lighttpd's own log), lighttpd.out (lighttpd's stderr, which the spawned workers inherit: their
# log lines land here), access.log, pg/postgres.log, pg/pgdata/.
# Sockets live in short mktemp directories under /tmp (Unix socket paths are limited to 107 bytes).
#
# Functions: log die install_deps build free_port port_in_use wait_port pg_start pg_stop
#            external_db_configured pg_attach pg_pause pg_resume pg_ensure_running
#            lighttpd_start lighttpd_stop lighttpd_pid wait_negotiate show_logs
#            run_child cleanup cleanup_on_exit

SR_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SR_BIN=${SIGNALR_BIN:-$SR_TOP/src/signalr-fcgi}
SR_LIGHTTPD_TEMPLATE=$SR_TOP/tests/integration/lighttpd.conf.in

SR_PG_BIN='' SR_PG_RUNDIR='' SR_PG_DATA='' SR_PG_LOG='' SR_PG_SOCKDIR='' SR_PG_PID='' SR_PG_TMPBASE=''
SR_HTTPD_PID='' SR_HTTPD_RUNDIR=''
# per lighttpd instance, by NAME: pid, socket directory, run directory; names in start order
declare -gA SR_HTTPD_PIDS=() SR_HTTPD_SOCKDIRS=() SR_HTTPD_RUNDIRS=()
SR_HTTPD_NAMES=()
SR_HTTPD_LOGDIRS=() # every run directory used, for show_logs (also after a stop)
SR_CHILD_PID=''
SR_CLEANED=0

# pid_alive PID — running and not a zombie (orphans are reparented to pid 1, which may be slow to
# reap them, and kill -0 succeeds on a zombie)
pid_alive() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --------------------------------------------------------------------------------------------------
# Packages and build

# install_deps — apt-get install whatever of the build/run dependencies is missing (needs root only
# when something is missing); `apt-get update` runs once, and only if an install is needed.
install_deps() {
    local pkgs=(autoconf automake libtool pkg-config gcc make
                libfcgi-dev libpq-dev libjansson-dev libsodium-dev
                postgresql lighttpd curl)
    local p missing=()
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || { log "missing packages (need root to install): ${missing[*]}"; return 1; }
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null || return 1
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null || return 1
}

# build — in-tree: autoreconf -fi + ./configure $SR_CONFIGURE_FLAGS when there is no Makefile yet,
# when the tree was configured with other flags, or with SR_RECONFIGURE=1; then make -j2.  (An
# existing Makefile re-runs automake/configure by itself when configure.ac or Makefile.am change.)
build() {
    (
        cd "$SR_TOP" || exit 1
        # the flags the tree was configured with (config.status prints them shell-quoted)
        have=$(./config.status --config 2>/dev/null) || have=
        eval "set -- $have" && have=$*
        # shellcheck disable=SC2086 # flags are words
        set -- ${SR_CONFIGURE_FLAGS:-} && want=$*
        if [ ! -f Makefile ] || [ ! -x config.status ] || [ "${SR_RECONFIGURE:-0}" = 1 ] ||
            [ "$have" != "$want" ]; then
            # shellcheck disable=SC2086 # flags are words
            autoreconf -fi && ./configure ${SR_CONFIGURE_FLAGS:-} || exit 1
        fi
        make -j2
    )
}

# --------------------------------------------------------------------------------------------------
# Ports

# listening TCP ports (decimal, one per line) from /proc: no dependency on ss/netstat
listening_ports() {
    local local_addr st
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        while read -r _ local_addr _ st _; do
            [ "$st" = 0A ] && printf '%d\n' "0x${local_addr##*:}"
        done
}

port_in_use() { listening_ports | grep -qx "$1"; }

# free_port — a port in 20000..31999 (below the kernel's ephemeral range) nobody listens on
free_port() {
    local used port
    used=$(listening_ports)
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 12000))
        grep -qx "$port" <<<"$used" || { echo "$port"; return 0; }
    done
    return 1
}

# wait_port PORT SECONDS [PID] — until 127.0.0.1:PORT accepts; fails early when PID has died
wait_port() {
    local port=$1 secs=$2 pid=${3:-}
    for _ in $(seq 1 $((secs * 10))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        if [ -n "$pid" ] && ! pid_alive "$pid"; then return 1; fi
        sleep 0.1
    done
    return 1
}

# wait_negotiate HUB_URL SECONDS [PID] — until POST <hub>/negotiate?negotiateVersion=1 answers a
# JSON body with a connectionId (workers up and connected to the database); fails early when the
# lighttpd PID (default: the first instance) has died
wait_negotiate() {
    local url=$1 secs=$2 pid=${3:-$SR_HTTPD_PID} body
    for _ in $(seq 1 $((secs * 4))); do
        # lighttpd answers 411 to a POST without Content-Length (curl -X POST sends none)
        body=$(curl -s -m 5 -X POST -H "Content-Length: 0" "$url/negotiate?negotiateVersion=1" 2>/dev/null) || body=
        case "$body" in *'"connectionId"'*) return 0 ;; esac
        if [ -n "$pid" ] && ! pid_alive "$pid"; then return 1; fi
        sleep 0.25
    done
    log "no negotiate answer from $url within ${secs}s (last body: ${body:-none})"
    return 1
}

# --------------------------------------------------------------------------------------------------
# PostgreSQL (private cluster)

pg_bindir() {
    local d
    # newest major version first
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -rn); do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# external_db_configured — true when the caller named a database (then no cluster is started)
external_db_configured() {
    [ -n "${SIGNALR_DB:-}${DATABASE_URL:-}${PGHOST:-}${PGPORT:-}${PGDATABASE:-}" ]
}

# pg_start NAME — initdb + start a private cluster, create role and database `signalr`, and export
# PGHOST (socket dir) PGPORT PGDATABASE PGUSER for the caller and its children.  SIGNALR_DB and
# DATABASE_URL are unset so that nothing can point the workers elsewhere.
pg_start() {
    local name=$1 rundir base port
    [ -z "$SR_PG_DATA" ] || { log "pg_start: a cluster is already running ($SR_PG_DATA)"; return 1; }
    SR_PG_BIN=$(pg_bindir) || { log "pg_start: no /usr/lib/postgresql/*/bin/initdb"; return 1; }
    id postgres >/dev/null 2>&1 || { log "pg_start: no 'postgres' user"; return 1; }
    rundir=$SR_TOP/.run/$name
    mkdir -p "$rundir" || return 1
    SR_PG_RUNDIR=$rundir

    # Data directory under the checkout if the postgres user can reach it, else a temp dir.
    base=$rundir/pg
    if [ -f "$base/pgdata/postmaster.pid" ] &&
        as_postgres "$SR_PG_BIN/pg_ctl" -D "$base/pgdata" status >/dev/null 2>&1; then
        log "pg_start: a server is still running in $base/pgdata (another run?); not touching it"
        return 1
    fi
    rm -rf "$base" && mkdir -m 700 "$base" && chown postgres:postgres "$base" || return 1
    if ! as_postgres test -w "$base" 2>/dev/null; then
        rm -rf "$base"
        base=$(mktemp -d /tmp/signalr-pg.XXXXXX) && chown postgres:postgres "$base" || return 1
        SR_PG_TMPBASE=$base
        log "pg_start: user postgres cannot reach $rundir, using $base"
    fi
    SR_PG_DATA=$base/pgdata
    SR_PG_LOG=$base/postgres.log
    SR_PG_SOCKDIR=$(mktemp -d /tmp/signalr-pgsock.XXXXXX) || return 1
    chown postgres:postgres "$SR_PG_SOCKDIR" && chmod 700 "$SR_PG_SOCKDIR" || return 1
    port=$(free_port) || return 1

    if ! as_postgres "$SR_PG_BIN/initdb" -D "$SR_PG_DATA" -U postgres --auth=trust \
        -E UTF8 --no-locale --no-sync >"$rundir/initdb.log" 2>&1; then
        log "pg_start: initdb failed:"; tail -20 "$rundir/initdb.log" >&2
        return 1
    fi
    # A throwaway cluster: socket only, no durability (fsync off) for speed.
    cat >>"$SR_PG_DATA/postgresql.conf" <<EOF

# --- added by scripts/lib.sh pg_start: private throw-away cluster ---
listen_addresses = ''
port = $port
unix_socket_directories = '$SR_PG_SOCKDIR'
unix_socket_permissions = 0700
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
log_connections = off
EOF
    # setsid: the postmaster must not get the terminal's ^C before we stop it in order
    if ! setsid -w runuser -u postgres -- "$SR_PG_BIN/pg_ctl" -D "$SR_PG_DATA" -l "$SR_PG_LOG" \
        -w -t 60 start >/dev/null 2>&1 </dev/null; then
        log "pg_start: pg_ctl start failed:"; tail -20 "$SR_PG_LOG" >&2
        pg_stop
        return 1
    fi
    SR_PG_PID=$(head -1 "$SR_PG_DATA/postmaster.pid")

    unset SIGNALR_DB DATABASE_URL PGHOSTADDR PGSERVICE PGPASSWORD PGSSLMODE
    export PGHOST=$SR_PG_SOCKDIR PGPORT=$port
    if ! psql -X -q -v ON_ERROR_STOP=1 -U postgres -d postgres \
        -c "CREATE ROLE signalr LOGIN" -c "CREATE DATABASE signalr OWNER signalr" >/dev/null; then
        log "pg_start: creating role/database failed"
        return 1
    fi
    export PGUSER=signalr PGDATABASE=signalr
    log "postgres $(basename "$(dirname "$SR_PG_BIN")") pid $SR_PG_PID: PGHOST=$PGHOST PGPORT=$PGPORT PGDATABASE=$PGDATABASE PGUSER=$PGUSER"
}

# pg_stop — fast shutdown of the cluster pg_start made (by its data dir and recorded pid)
pg_stop() {
    [ -n "$SR_PG_DATA" ] || return 0
    # a child may have restarted the cluster (pg_pause/pg_resume): its postmaster has a new pid
    pg_read_pid
    if [ -f "$SR_PG_DATA/postmaster.pid" ]; then
        as_postgres "$SR_PG_BIN/pg_ctl" -D "$SR_PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            log "pg_stop: pg_ctl stop failed"
    fi
    if [ -n "$SR_PG_PID" ]; then
        for _ in $(seq 1 100); do pid_alive "$SR_PG_PID" || break; sleep 0.1; done
        if pid_alive "$SR_PG_PID"; then
            log "pg_stop: postmaster $SR_PG_PID still alive, sending SIGQUIT"
            kill -QUIT "$SR_PG_PID" 2>/dev/null
            sleep 1
        fi
    fi
    # keep the log for post-mortems, drop the data
    if [ -n "$SR_PG_TMPBASE" ] && [ -f "$SR_PG_LOG" ] && cp "$SR_PG_LOG" "$SR_PG_RUNDIR/" 2>/dev/null; then
        SR_PG_LOG=$SR_PG_RUNDIR/postgres.log
    fi
    if [ "${SR_KEEP_DATA:-0}" != 1 ]; then
        rm -rf "$SR_PG_DATA"
        [ -n "$SR_PG_TMPBASE" ] && rm -rf "$SR_PG_TMPBASE"
    fi
    [ -n "$SR_PG_SOCKDIR" ] && rm -rf "$SR_PG_SOCKDIR"
    SR_PG_DATA='' SR_PG_PID='' SR_PG_SOCKDIR='' SR_PG_TMPBASE=''
}

# pg_read_pid — SR_PG_PID from the cluster's postmaster.pid, if it has one
pg_read_pid() {
    local pid
    [ -f "$SR_PG_DATA/postmaster.pid" ] || return 0
    pid=$(head -1 "$SR_PG_DATA/postmaster.pid" 2>/dev/null)
    case "$pid" in '' | *[!0-9]*) ;; *) SR_PG_PID=$pid ;; esac
}

# pg_attach DATADIR — in a child process of the script that ran pg_start (a test suite): name the
# cluster in DATADIR for pg_pause/pg_resume.  Sets no traps: the cluster stays the parent's.
pg_attach() {
    local data=$1 ver
    [ -f "$data/PG_VERSION" ] || { log "pg_attach: $data is not a data directory"; return 1; }
    ver=$(cat "$data/PG_VERSION")
    SR_PG_BIN=/usr/lib/postgresql/$ver/bin
    [ -x "$SR_PG_BIN/pg_ctl" ] || { log "pg_attach: no $SR_PG_BIN/pg_ctl"; return 1; }
    SR_PG_DATA=$data
    SR_PG_LOG=$(dirname "$data")/postgres.log # where pg_start puts it
    pg_read_pid
}

# pg_pause — fast shutdown of the cluster, keeping its data, port and socket directory (a
# database outage; pg_resume ends it)
pg_pause() {
    [ -n "$SR_PG_DATA" ] || { log "pg_pause: no cluster"; return 1; }
    as_postgres "$SR_PG_BIN/pg_ctl" -D "$SR_PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        { log "pg_pause: pg_ctl stop failed"; return 1; }
}

# pg_resume — start the cluster pg_pause stopped (same configuration, so same socket and port)
pg_resume() {
    [ -n "$SR_PG_DATA" ] || { log "pg_resume: no cluster"; return 1; }
    if ! setsid -w runuser -u postgres -- "$SR_PG_BIN/pg_ctl" -D "$SR_PG_DATA" -l "$SR_PG_LOG" \
        -w -t 60 start >/dev/null 2>&1 </dev/null; then
        log "pg_resume: pg_ctl start failed:"; tail -20 "$SR_PG_LOG" >&2
        return 1
    fi
    pg_read_pid
}

# pg_ensure_running — after a child paused the cluster: start it again if it is down
pg_ensure_running() {
    [ -n "$SR_PG_DATA" ] || return 0
    as_postgres "$SR_PG_BIN/pg_ctl" -D "$SR_PG_DATA" status >/dev/null 2>&1 && { pg_read_pid; return 0; }
    log "postgres is down (left stopped by a suite?): starting it again"
    pg_resume
}

# --------------------------------------------------------------------------------------------------
# lighttpd

# VALUE as a lighttpd config string.  lighttpd's tokenizer only knows the escape \" (a backslash
# before anything else stays literal), so only quotes are escaped.
lighttpd_quote() { printf '"%s"' "${1//\"/\\\"}"; }

# lighttpd_start NAME PORT WORKERS [KEY=VALUE ...]
#   Renders tests/integration/lighttpd.conf.in into .run/NAME/lighttpd.conf and runs `lighttpd -D`
#   on 127.0.0.1:PORT with WORKERS signalr-fcgi processes.  Several instances may run at once,
#   each under its own NAME (lighttpd_pid NAME gives its pid).  The workers' environment
#   (bin-environment) gets the database variables (PG*, SIGNALR_DB, DATABASE_URL), every SIGNALR_*
#   variable of the caller's environment, TZ, then the KEY=VALUE arguments (which win).
#   Document root: $DOCROOT, else examples/ if present, else an empty directory.
lighttpd_start() {
    local name=$1 port=$2 workers=$3
    shift 3
    local rundir=$SR_TOP/.run/$name conf docroot envblock='' kv k line sockdir pid
    local -A env=()
    local -a order=()
    if [ -n "${SR_HTTPD_PIDS[$name]:-}" ]; then
        log "lighttpd_start: $name is already running (pid ${SR_HTTPD_PIDS[$name]})"
        return 1
    fi
    [ -x "$SR_BIN" ] || { log "lighttpd_start: $SR_BIN not built"; return 1; }
    [ -f "$SR_LIGHTTPD_TEMPLATE" ] || { log "lighttpd_start: no $SR_LIGHTTPD_TEMPLATE"; return 1; }
    if port_in_use "$port"; then log "lighttpd_start: port $port is already in use"; return 1; fi
    mkdir -p "$rundir" || return 1
    docroot=${DOCROOT:-$SR_TOP/examples}
    if [ ! -d "$docroot" ]; then docroot=$rundir/www; mkdir -p "$docroot"; fi
    sockdir=$(mktemp -d /tmp/signalr-fcgi.XXXXXX) || return 1

    for k in PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGSSLMODE SIGNALR_DB DATABASE_URL TZ \
        $(compgen -e | grep '^SIGNALR_' | grep -v '^SIGNALR_URL$\|^SIGNALR_BIN$'); do
        [ -n "${!k+x}" ] || continue
        [ -n "${env[$k]+x}" ] || order+=("$k")
        env[$k]=${!k}
    done
    for kv in "$@"; do
        k=${kv%%=*}
        [ -n "${env[$k]+x}" ] || order+=("$k")
        env[$k]=${kv#*=}
    done
    for k in "${order[@]}"; do
        envblock+="            $(lighttpd_quote "$k") => $(lighttpd_quote "${env[$k]}"),"$'\n'
    done

    conf=$rundir/lighttpd.conf
    : >"$conf"
    while IFS= read -r line || [ -n "$line" ]; do
        if [ "$line" = "@BIN_ENVIRONMENT@" ]; then
            printf '%s' "$envblock" >>"$conf"
            continue
        fi
        line=${line//@PORT@/$port}
        line=${line//@WORKERS@/$workers}
        line=${line//@RUNDIR@/$rundir}
        line=${line//@DOCROOT@/$docroot}
        line=${line//@SOCKET@/$sockdir/fcgi.sock}
        line=${line//@BIN@/$SR_BIN}
        printf '%s\n' "$line" >>"$conf"
    done <"$SR_LIGHTTPD_TEMPLATE"

    if ! lighttpd -tt -f "$conf" >"$rundir/lighttpd.out" 2>&1; then
        log "lighttpd_start: config test failed:"; cat "$rundir/lighttpd.out" >&2
        rm -rf "$sockdir"
        return 1
    fi
    : >"$rundir/lighttpd-error.log"
    # setsid: keep the terminal's ^C away from lighttpd and the workers; we stop them by pid.
    setsid lighttpd -D -f "$conf" >>"$rundir/lighttpd.out" 2>&1 </dev/null &
    pid=$!
    SR_HTTPD_PIDS[$name]=$pid
    SR_HTTPD_SOCKDIRS[$name]=$sockdir
    SR_HTTPD_RUNDIRS[$name]=$rundir
    SR_HTTPD_NAMES+=("$name")
    SR_HTTPD_LOGDIRS+=("$rundir")
    if [ -z "$SR_HTTPD_PID" ]; then SR_HTTPD_PID=$pid SR_HTTPD_RUNDIR=$rundir; fi
    if ! wait_port "$port" 30 "$pid"; then
        log "lighttpd_start: lighttpd (pid $pid) did not come up on port $port"
        show_logs 30
        lighttpd_stop "$name"
        return 1
    fi
    log "lighttpd pid $pid on 127.0.0.1:$port, $workers worker(s), logs in $rundir"
}

# lighttpd_pid NAME — the pid of the running instance NAME (fails if there is none)
lighttpd_pid() {
    [ -n "${SR_HTTPD_PIDS[$1]:-}" ] || return 1
    echo "${SR_HTTPD_PIDS[$1]}"
}

# pids of the direct children of PID
child_pids() { cat "/proc/$1/task/"*/children 2>/dev/null; }

# lighttpd_stop [NAME] — stop instance NAME, or every instance (last started first): SIGTERM the
# recorded lighttpd pid, wait for it, then make sure its workers (recorded before the stop) are
# gone too.
lighttpd_stop() {
    local name i
    if [ $# -eq 0 ]; then
        for ((i = ${#SR_HTTPD_NAMES[@]} - 1; i >= 0; i--)); do
            lighttpd_stop "${SR_HTTPD_NAMES[$i]}"
        done
        return 0
    fi
    name=$1
    local pid=${SR_HTTPD_PIDS[$name]:-} sockdir=${SR_HTTPD_SOCKDIRS[$name]:-} kids p
    [ -n "$pid" ] || return 0
    kids=$(child_pids "$pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
        log "lighttpd_stop: pid $pid ignores SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    for p in $kids; do
        for _ in $(seq 1 50); do pid_alive "$p" || break; sleep 0.1; done
        if pid_alive "$p"; then
            log "lighttpd_stop: worker $p still alive, sending SIGKILL"
            kill -KILL "$p" 2>/dev/null
        fi
    done
    [ -n "$sockdir" ] && rm -rf "$sockdir"
    unset "SR_HTTPD_PIDS[$name]" "SR_HTTPD_SOCKDIRS[$name]" "SR_HTTPD_RUNDIRS[$name]"
    local -a names=()
    for i in "${SR_HTTPD_NAMES[@]}"; do [ "$i" = "$name" ] || names+=("$i"); done
    SR_HTTPD_NAMES=("${names[@]}")
    # SR_HTTPD_RUNDIR is for the scripts (demo.sh prints it)
    # shellcheck disable=SC2034
    if [ "$SR_HTTPD_PID" = "$pid" ]; then
        SR_HTTPD_PID='' SR_HTTPD_RUNDIR=''
        if [ ${#SR_HTTPD_NAMES[@]} -gt 0 ]; then
            SR_HTTPD_PID=${SR_HTTPD_PIDS[${SR_HTTPD_NAMES[0]}]}
            SR_HTTPD_RUNDIR=${SR_HTTPD_RUNDIRS[${SR_HTTPD_NAMES[0]}]}
        fi
    fi
}

# show_logs [LINES] — tail of the lighttpd/worker logs of every instance and the postgres log
show_logs() {
    local n=${1:-50} f d
    local -a files=()
    for d in "${SR_HTTPD_LOGDIRS[@]}"; do files+=("$d/lighttpd-error.log" "$d/lighttpd.out"); done
    for f in "${files[@]}" "$SR_PG_LOG"; do
        if [ -z "$f" ] || [ ! -s "$f" ]; then continue; fi
        printf -- '----- last %s lines of %s -----\n' "$n" "$f" >&2
        tail -n "$n" "$f" >&2
    done
}

# --------------------------------------------------------------------------------------------------
# Cleanup

# run_child COMMAND... — run COMMAND (a program or a function) as a background job in a process
# group of its own and wait for it: a signal to this script is then handled at once (bash defers
# traps while a foreground child runs), and cleanup() can end the whole job — make and its
# compilers, timeout and node — by that group id.  Returns the command's status.
run_child() {
    local status
    set -m
    "$@" &
    SR_CHILD_PID=$!
    set +m
    wait "$SR_CHILD_PID"
    status=$?
    SR_CHILD_PID=''
    return "$status"
}

# pgid_of PID
pgid_of() {
    local st pgid
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    read -r _ _ pgid _ <<<"${st##*) }" # after "pid (comm) ": state ppid pgrp ...
    echo "$pgid"
}

cleanup() {
    [ "$SR_CLEANED" = 1 ] && return 0
    SR_CLEANED=1
    if [ -n "$SR_CHILD_PID" ] && pid_alive "$SR_CHILD_PID"; then
        if [ "$(pgid_of "$SR_CHILD_PID")" = "$SR_CHILD_PID" ]; then
            kill -TERM -- "-$SR_CHILD_PID" 2>/dev/null
        else
            kill -TERM "$SR_CHILD_PID" 2>/dev/null
        fi
        wait "$SR_CHILD_PID" 2>/dev/null
    fi
    lighttpd_stop
    pg_stop
}

# cleanup_on_exit [STATUS] — stop everything on EXIT, INT and TERM.  On a signal the script exits
# with STATUS if given (demo.sh: 0), else 128+signal.
cleanup_on_exit() {
    SR_SIGNAL_STATUS=${1:-}
    trap 'cleanup' EXIT
    trap 'sr_on_signal 2' INT
    trap 'sr_on_signal 15' TERM
}

sr_on_signal() {
    log "signal $1: stopping"
    cleanup
    exit "${SR_SIGNAL_STATUS:-$((128 + $1))}"
}
