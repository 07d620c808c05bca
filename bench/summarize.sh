#!/usr/bin/env bash
# bench/summarize.sh RESULTS_DIR — the table of medians (over the repetitions) and ratios to the
# best peer from RESULTS_DIR/raw.txt (written by bench/run.sh), plus gnuplot charts
# (latency-sse.png, latency-lp.png, latency-dur.png, memory.png) in the same directory.
# Median = the middle of the sorted values of each figure separately (3 repetitions: the 2nd).
# "front" memory = every measured server process except PostgreSQL, Redis and Pushpin's origin:
# for signalr-fcgi lighttpd + workers (the goal of issue #10), for nchan nginx, for Pushpin its
# condure/proxy/handler processes.
set -u -o pipefail
RES=${1:?usage: summarize.sh RESULTS_DIR}
RAW=$RES/raw.txt
[ -f "$RAW" ] || { echo "no $RAW" >&2; exit 1; }

grep '^# ' "$RAW" | grep -v ' start load=' | sed 's/^# //'
echo

awk -v res="$RES" '
function median(key,    n, i, j, t, a) {
    n = split(vals[key], a, " ")
    if (n == 0 || vals[key] == "") return ""
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return a[int((n + 1) / 2)]
}
function add(key, v) { vals[key] = (key in vals) ? vals[key] " " v : v; }
function parse(    i, kv) {
    delete f
    for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    split(f["label"], L, "/"); sys = L[1]; scen = L[2]
    if (!(sys in seen_sys)) { seen_sys[sys] = 1; systems[++nsys] = sys }
}
/^connect / { parse(); k = sys SUBSEP scen SUBSEP "connect"
    add(k SUBSEP "rate", f["rate_per_s"]); add(k SUBSEP "p50", f["p50_ms"]); add(k SUBSEP "p99", f["p99_ms"])
    add(k SUBSEP "failed", f["failed"]); add(k SUBSEP "n", f["subs"]) }
/^idle / { parse(); k = sys SUBSEP scen SUBSEP "idle"
    front = 0; all = 0
    for (x in f) if (x ~ /^kib_per_sub_/ && x != "kib_per_sub_all") {
        all += f[x]; if (x !~ /postgres|redis|origin/) front += f[x] }
    add(k SUBSEP "front", front); add(k SUBSEP "all", all); add(k SUBSEP "n", f["alive"]) }
/^step / { parse(); k = sys SUBSEP scen SUBSEP "step" SUBSEP f["rate"]
    if (!((scen SUBSEP f["rate"]) in seen_step)) { seen_step[scen SUBSEP f["rate"]] = 1; steps[++nsteps] = scen SUBSEP f["rate"] }
    add(k SUBSEP "p50", f["p50_ms"]); add(k SUBSEP "p99", f["p99_ms"]); add(k SUBSEP "loss", f["loss_pct"])
    add(k SUBSEP "dps", f["deliveries_per_s"]); add(k SUBSEP "dups", f["dups"]); add(k SUBSEP "alive", f["alive"])
    add(k SUBSEP "subs", f["subs"]); add(k SUBSEP "pub", f["pub_rate"]); add(k SUBSEP "lg", f["cpu_loadgen_pct"])
    add(k SUBSEP "cpu", f["cpu_server_pct"]) }
END {
    desc["sse1k"] = "SSE"; desc["sse5k"] = "SSE"; desc["lp1k"] = "LP"; desc["dur"] = "S5 durable, SSE"; desc["echo"] = "S4 echo, SSE"
    hdr = sprintf("%-34s", "scenario")
    for (i = 1; i <= nsys; i++) hdr = hdr sprintf(" | %-26s", systems[i])
    hdr = hdr " | signalr vs best peer"
    print "S1 connect: subscribers set up 50 at a time; rate/s, p50/p99 ms (set-up time per subscriber)"
    print hdr
    nscen = split("sse1k sse5k lp1k", sc, " ")
    for (s = 1; s <= nscen; s++) {
        line = ""; best = 0; bestn = ""
        for (i = 1; i <= nsys; i++) {
            k = systems[i] SUBSEP sc[s] SUBSEP "connect"
            # long polling: nchan and Pushpin give no sign of a registered poll, so no connect time
            if (!((k SUBSEP "rate") in vals) || (sc[s] == "lp1k" && systems[i] != "signalr")) { line = line sprintf(" | %-26s", "-"); continue }
            if (i == 1) n = median(k SUBSEP "n")
            r = median(k SUBSEP "rate"); fl = median(k SUBSEP "failed")
            line = line sprintf(" | %6.0f/s %7.1f/%-7.1f%s", r, median(k SUBSEP "p50"), median(k SUBSEP "p99"), fl > 0 ? " F" fl : "")
            if (systems[i] != "signalr" && fl + 0 == 0 && r + 0 > best) { best = r + 0; bestn = systems[i] }
            if (systems[i] == "signalr") ours = r + 0
        }
        ratio = best > 0 ? sprintf("%.2fx rate of %s", ours / best, bestn) : "-"
        printf "%-34s%s | %s\n", sprintf("%s %s subscribers", desc[sc[s]], n), line, ratio
        if (sc[s] == "sse1k" || sc[s] == "sse5k") print n, ours, (best > 0 ? best : "?") > (res "/connect.dat")
    }
    print ""
    print "S2 idle memory per subscriber, KiB (Pss delta; front = without PostgreSQL/Redis/origin; all = with)"
    print hdr
    nscen = split("sse1k sse5k", sc, " ")
    for (s = 1; s <= nscen; s++) {
        line = ""; best = 1e9; bestn = ""; memrow = ""
        for (i = 1; i <= nsys; i++) {
            k = systems[i] SUBSEP sc[s] SUBSEP "idle"
            if (!((k SUBSEP "front") in vals)) { line = line sprintf(" | %-26s", "-"); memrow = memrow " ?"; continue }
            if (i == 1) n = median(k SUBSEP "n")
            fr = median(k SUBSEP "front")
            line = line sprintf(" | front %6.2f all %7.2f     ", fr, median(k SUBSEP "all"))
            memrow = memrow " " fr
            if (systems[i] != "signalr" && fr + 0 < best) { best = fr + 0; bestn = systems[i] }
            if (systems[i] == "signalr") ours = fr + 0
        }
        ratio = bestn != "" && best > 0 ? sprintf("%.2fx memory of %s", ours / best, bestn) : "-"
        printf "%-34s%s | %s\n", sprintf("%s %s held", desc[sc[s]], n), line, ratio
        if (sc[s] != "lp1k") print n memrow > (res "/memory.dat")
    }
    print ""
    print "S3/S4/S5: p50/p99 ms, loss % (L), deliveries/s (median of the repetitions); best peer = lowest p99 among the peers that lost nothing and published >= 95 % of the rate"
    print hdr
    for (t = 1; t <= nsteps; t++) {
        split(steps[t], sr, SUBSEP); scen = sr[1]; rate = sr[2]
        line = ""; best = 1e18; bestn = ""; ours = ""; datrow = rate; bestl = 1e18; bestln = ""; bt = 0; btn = ""
        for (i = 1; i <= nsys; i++) {
            k = systems[i] SUBSEP scen SUBSEP "step" SUBSEP rate
            if (!((k SUBSEP "p99") in vals)) { line = line sprintf(" | %-26s", "-"); datrow = datrow " ? ?"; continue }
            n = median(k SUBSEP "subs")
            p99 = median(k SUBSEP "p99"); loss = median(k SUBSEP "loss"); dps = median(k SUBSEP "dps")
            # best peer: the lowest p99 among the peers that lost nothing (else among all);
            # throughput (S5): the most deliveries per second
            if (systems[i] != "signalr" && loss + 0 == 0 && median(k SUBSEP "pub") + 0 >= 0.95 * rate && p99 + 0 > 0 && p99 + 0 < bestl) { bestl = p99 + 0; bestln = systems[i] }
            if (systems[i] != "signalr" && dps + 0 > bt) { bt = dps + 0; btn = systems[i] }
            if (systems[i] == "signalr") ourt = dps + 0
            cell = sprintf("%.1f/%.1f L%s%% %s/s", median(k SUBSEP "p50"), p99, loss + 0 == 0 ? "0" : sprintf("%.3g", loss), dps)
            # S5: what the publisher achieved (msg/s) says more than deliveries per second
            if (scen == "dur") cell = sprintf("%.1f/%.1f L%s%% pub %.0f/s", median(k SUBSEP "p50"), p99, loss + 0 == 0 ? "0" : sprintf("%.3g", loss), median(k SUBSEP "pub"))
            if (median(k SUBSEP "dups") + 0 > 0) cell = cell " D"
            line = line sprintf(" | %-26s", cell)
            datrow = datrow " " median(k SUBSEP "p50") " " p99
            if (systems[i] != "signalr" && p99 + 0 > 0 && p99 + 0 < best) { best = p99 + 0; bestn = systems[i] }
            if (systems[i] == "signalr") ours = p99 + 0
        }
        if (bestln != "") { best = bestl; bestn = bestln }
        ratio = (bestn != "" && ours != "") ? sprintf("%.2fx p99 of %s", ours / best, bestn) : "-"
        if (scen == "dur" && btn != "" && ours != "") ratio = ratio sprintf(", %.2fx throughput of %s", ourt / bt, btn)
        printf "%-34s%s | %s\n", sprintf("%s %s subs @ %s msg/s", desc[scen], n, rate), line, ratio
        print datrow > (res "/latency-" scen ".dat")
    }
    print ""
    printf "columns of the .dat files: rate then p50 p99 per system in this order:"
    for (i = 1; i <= nsys; i++) printf " %s", systems[i]
    print ""
    for (i = 1; i <= nsys; i++) printf "%s\n", systems[i] > (res "/systems.txt")
}' "$RAW"

# ------------------------------------------------------------------------------------------------
# Charts (gnuplot): p99 latency against publish rate per scenario; memory per subscriber
command -v gnuplot >/dev/null 2>&1 || { echo "(gnuplot not installed: no charts)"; exit 0; }
mapfile -t SYS <"$RES/systems.txt"
for scen in sse1k sse5k lp1k dur echo; do
    dat=$RES/latency-$scen.dat
    [ -s "$dat" ] || continue
    plots=''
    for i in "${!SYS[@]}"; do
        plots+="${plots:+, }'$dat' using 1:$((3 + 2 * i)) with linespoints title '${SYS[$i]} p99'"
    done
    case $scen in
    sse1k) title='SSE broadcast, 1,000 subscribers: p99 latency against publish rate' ;;
    sse5k) title='SSE broadcast, 5,000 subscribers' ;;
    lp1k) title='Long polling, 1,000 subscribers: p99 latency against publish rate' ;;
    dur) title='S5 durable publish throughput (10 SSE subscribers over 2 processes)' ;;
    echo) title='S4 echo round trip, 100 SSE clients: p99 against total msg/s' ;;
    esac
    gnuplot <<EOF 2>/dev/null
set terminal pngcairo size 900,540 noenhanced
set output '$RES/latency-$scen.png'
set title '$title'
set xlabel 'published msg/s'
set ylabel 'p99 end-to-end latency, ms (log)'
set logscale y
set grid
set key top left
set datafile missing '?'
plot $plots
EOF
done
if [ -s "$RES/memory.dat" ]; then
    plots=''
    for i in "${!SYS[@]}"; do plots+="${plots:+, }'$RES/memory.dat' using 1:$((2 + i)) with linespoints title '${SYS[$i]}'"; done
    plots+=", 6 with lines dashtype 2 lc rgb 'gray' title 'issue #10 goal: < 6 KiB (lighttpd + worker)'"
    gnuplot <<EOF 2>/dev/null
set terminal pngcairo size 900,540 noenhanced
set output '$RES/memory.png'
set title 'Idle SSE subscribers: server memory (Pss) per subscriber, front-end processes'
set xlabel 'held SSE subscribers'
set ylabel 'KiB per subscriber'
set grid
set key top right
set yrange [0:*]
set datafile missing '?'
plot $plots
EOF
fi
ls "$RES"/*.png 2>/dev/null | sed 's/^/chart: /'
