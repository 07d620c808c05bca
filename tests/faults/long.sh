#!/usr/bin/env bash
# tests/faults/long.sh — the long fault suite (about 17 minutes), the schedule of
# reliability-security.md §5.3/§5.4 scaled to this machine.
#
# Same set-up as run.sh (private PostgreSQL, front ends A and B with 2 workers each, workload.mjs
# over both transports through both front ends, hub and SQL publishers), then:
#   1. 100 PostgreSQL restart cycles (pg_ctl restart, -m immediate every 4th, else -m fast), with
#      the workers' descriptors and RSS sampled before, every 25 cycles and after (no worker is
#      killed in this phase, so the same processes are compared);
#   2. a mixed phase: 100 SIGKILLs of workers (front ends alternating), pg_terminate_backend of
#      the LISTEN sessions every 8th kill, 2 SIGSTOP pauses of 5 s, 2 slow publishing
#      transactions, 2 more restarts (fast, immediate), a 30 s outage and a restart of front end A.
# Then drain, dump, checker.mjs.  Report: .run/faults-long/history/report.txt (and .json); the last
# line is `N passed, N failed`; the exit status is non-zero on any violation.
# FAULTS_RESTARTS and FAULTS_KILLS shorten (or lengthen) the two phases.

set -u -o pipefail
export FAULTS_NAME=${FAULTS_NAME:-faults-long}
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"
faults_cleanup_on_exit

RESTARTS=${FAULTS_RESTARTS:-100}
KILLS=${FAULTS_KILLS:-100}

started=$(date +%s)
faults_step setup faults_setup || faults_finish ''
faults_step workload faults_start_workload || faults_finish ''
frec "{\"type\":\"settings\",\"res_pairs\":[[\"res-before\",\"res-after\"]],\"cycles_res-after\":$RESTARTS,\"fd_tolerance\":3,\"rss_tolerance_pct\":10}"

phase warmup
settle 20
res_snapshot res-before

phase restarts
for i in $(seq 1 "$RESTARTS"); do
    if [ $((i % 4)) = 0 ]; then mode=immediate; else mode=fast; fi
    faults_step "pg restart -m $mode" fault_pg_restart "$mode"
    settle 2
    [ $((i % 25)) = 0 ] && [ "$i" != "$RESTARTS" ] && res_snapshot "res-c$i"
done
settle 3
res_snapshot res-after
log "restart phase done after $(($(date +%s) - started)) s"

phase mixed
for i in $(seq 1 "$KILLS"); do
    if [ $((i % 2)) = 1 ]; then fe=A; else fe=B; fi
    faults_step "kill worker $fe" fault_kill_worker "$fe"
    settle 4
    if [ $((i % 8)) = 0 ]; then faults_step "LISTEN kill" fault_listen_kill; settle 4; fi
    case $i in
    $((KILLS / 10)) | $((KILLS * 6 / 10))) faults_step "pause PostgreSQL" fault_pg_pause 5; settle 6 ;;
    $((KILLS * 15 / 100)) | $((KILLS * 65 / 100))) faults_step "slow commit" fault_slow_commit 4; settle 3 ;;
    $((KILLS / 5))) faults_step "outage 30 s" fault_outage 30; settle 10 ;;
    $((KILLS * 3 / 10))) faults_step "restart front end A" fault_fe_restart A; settle 15 ;;
    $((KILLS / 2))) faults_step "pg restart -m fast" fault_pg_restart fast; settle 6 ;;
    $((KILLS * 55 / 100))) faults_step "pg restart -m immediate" fault_pg_restart immediate; settle 6 ;;
    esac
done
settle 5

phase drain
faults_step "workload ends cleanly" faults_stop_workload
faults_step "dump the table" faults_dump
log "driver done after $(($(date +%s) - started)) s; checking"
faults_check | tee "$F_DIR/checker.out" | sed 's/^/  /'
faults_finish "$F_DIR/checker.out"
