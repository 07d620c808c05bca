#!/usr/bin/env bash
# tests/faults/run.sh — the short fault suite (a few minutes): one of each fault under load.
#
# Starts a private PostgreSQL, two lighttpd front ends with 2 workers each on it, and
# workload.mjs (the official client over LongPolling and ServerSentEvents through both front
# ends; hub and SQL publishers at a steady rate), then injects, spaced apart: 6 PostgreSQL restarts
# (fast and immediate alternately; worker descriptors and RSS are sampled before and after),
# pg_terminate_backend of the LISTEN sessions, a SIGKILL of a worker of each front end, a slow
# publishing transaction (and a rolled-back one), a 5 s SIGSTOP of PostgreSQL, a 30 s outage
# (PostgreSQL stopped), and a restart of front end B.  Then it stops the publishers, lets the
# clients drain, dumps the message table and runs checker.mjs (pass criteria: docs/delivery.md).
# History and report: .run/faults/history/ (report.txt, report.json); logs: .run/faults-a/,
# .run/faults-b/ (lighttpd.out holds the workers' log lines), .run/faults/pg/postgres.log.
# The last line is `N passed, N failed`; the exit status is non-zero on any violation.
# Everything started is stopped on every exit path, by recorded pid.

set -u -o pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/faults.sh"
faults_cleanup_on_exit

started=$(date +%s)
faults_step setup faults_setup || faults_finish ''
faults_step workload faults_start_workload || faults_finish ''
frec "{\"type\":\"settings\",\"res_pairs\":[[\"res-before\",\"res-after\"]],\"cycles_res-after\":6,\"fd_tolerance\":2,\"rss_tolerance_pct\":20}"

phase warmup
settle 10
res_snapshot res-before

phase restarts
for i in 1 2 3 4 5 6; do
    if [ $((i % 2)) = 1 ]; then mode=fast; else mode=immediate; fi
    faults_step "pg restart -m $mode" fault_pg_restart "$mode"
    settle 4
done
settle 2
res_snapshot res-after

phase listen-kill
faults_step "LISTEN kill" fault_listen_kill
settle 6

phase worker-kills
faults_step "kill worker A" fault_kill_worker A
settle 8
faults_step "kill worker B" fault_kill_worker B
settle 8

phase slow-commit
faults_step "slow commit" fault_slow_commit 4
settle 3

phase pause
faults_step "pause PostgreSQL" fault_pg_pause 5
settle 6

phase outage
faults_step "outage ${FAULTS_OUTAGE:-30} s" fault_outage "${FAULTS_OUTAGE:-30}"
settle 10

phase fe-restart
faults_step "restart front end B" fault_fe_restart B
settle 15

phase drain
faults_step "workload ends cleanly" faults_stop_workload
faults_step "dump the table" faults_dump
log "driver done after $(($(date +%s) - started)) s; checking"
faults_check | tee "$F_DIR/checker.out" | sed 's/^/  /'
faults_finish "$F_DIR/checker.out"
