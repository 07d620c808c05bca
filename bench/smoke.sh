#!/usr/bin/env bash
# bench/smoke.sh — the benchmark's smoke test for scripts/test.sh: bench/run.sh --smoke, i.e. a short
# (< 90 s) broadcast from signalr-fcgi to 50 SSE and 50 long-polling subscribers through bench/loadgen;
# exits 1 on any lost or duplicated message, failed or dropped subscriber. Honours SR_SKIP_BUILD=1
# and SR_RUN_NAME (set by scripts/test.sh's own_suite).
exec "$(dirname "${BASH_SOURCE[0]}")/run.sh" --smoke "$@"
