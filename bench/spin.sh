#!/usr/bin/env bash
# spin.sh - on a GPU host, part of `make bench` (called by bench/native.sh): the
# mediator's wait window (VGPU_MEDIATOR_SPIN_US, docs/MEDIATOR.md "Waiting for a job")
# off and on, from one run: seed jobs through a cuda mediator, requesters inotify and
# client, the two settings alternating twice; per setting the mediator's CPU per job
# (/proc/PID/schedstat: time on CPU) and its own phase medians (VGPU_MEDIATOR_PHASES=1).
# Prints a markdown section on stdout. SPIN_US (default 1000) is the setting tried.
set -u
B=${BUILD:-build}
BASE=${BENCH_DIR:-/dev/shm}
[ -d "$BASE" ] || BASE=/tmp
SPIN=${SPIN_US:-1000}
T=$(mktemp -d "$BASE/vgpu-spin-XXXXXX")
MP=
trap '[ -n "$MP" ] && kill -TERM $MP 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
EX=${SPIN_EXECUTOR:-cuda}   # mock: a try of the script itself on a host without a GPU (SPIN_QUICK=1: small rows)
ROWS=("vadd 30 1048576" "vadd 30 16777216" "vadd 20 67108864" "sgemm 20 2048 2048 2048" "sgemm 10 4096 4096 4096")
[ -n "${SPIN_QUICK:-}" ] && ROWS=("vadd 10 65536" "sgemm 5 128 128 128")
val() { grep -o "$1=[^ ]*" | head -1 | cut -d= -f2; }
oncpu() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ ns += $1 } END { printf "%d", ns }'; }   # every thread's

: > "$T/rows.txt"
for round in 1 2; do
	for spin in 0 "$SPIN"; do
		rm -rf "$T/root" "$T/state"
		mkdir -p "$T/root/vm1" "$T/root/vm2" "$T/state"
		VGPU_MEDIATOR_SPIN_US=$spin VGPU_MEDIATOR_PHASES=1 "$B/vgpu-mediator" --root "$T/root" --state "$T/state" \
			--executor "$EX" --log-level warn > "$T/m-$spin-$round.log" 2>&1 &
		MP=$!
		for _ in $(seq 1 60); do
			"$B/vgpu-client" --dir "$T/root/vm2" --timeout 2 ping > /dev/null 2>&1 && break
			sleep 0.5
		done
		for r in "${ROWS[@]}"; do
			set -- $r
			for req in inotify client; do
				a=$(oncpu "$MP"); l0=$(wc -l < "$T/m-$spin-$round.log")
				o=$("$B/bench/bench-mediated" "$T/root/vm1" "$req" seed "$2" "$1" "${@:3}")
				b=$(oncpu "$MP")
				echo "$spin $1 $(echo "${@:3}" | tr ' ' 'x') $req $(echo "$o" | val median_us) $(( (b - a) / 1000 )) $(( $2 + 1 ))" \
					"$(tail -n +$((l0 + 1)) "$T/m-$spin-$round.log" | grep -c vgpu-mediator-phases)" >> "$T/rows.txt"
				tail -n +$((l0 + 1)) "$T/m-$spin-$round.log" | grep vgpu-mediator-phases |
					sed "s/^/$spin $1 $(echo "${@:3}" | tr ' ' 'x') $req /" >> "$T/phases.txt"
			done
		done
		kill -TERM "$MP"; wait "$MP" 2>/dev/null; MP=
	done
done
python3 - "$SPIN" "$T/rows.txt" "$T/phases.txt" "$EX" <<'PY'
import sys, statistics as st
spin = sys.argv[1]
rows = {}
for l in open(sys.argv[2]):
    s, op, size, req, med, cpu_us, jobs, lines = l.split()
    r = rows.setdefault((op, size, req, s), {"med": [], "cpu": 0, "jobs": 0})
    r["med"].append(float(med)); r["cpu"] += int(cpu_us); r["jobs"] += int(jobs)
ph = {}
for l in open(sys.argv[3]):
    p = l.split()
    kv = dict(x.split("=", 1) for x in p[5:] if "=" in x)
    ph.setdefault((p[1], p[2], p[3], p[0]), []).append(kv)
def med(k, f):
    v = [float(x[f]) for x in ph.get(k, []) if f in x]
    return st.median(v) if v else float("nan")
print("## The mediator's wait window (VGPU_MEDIATOR_SPIN_US, bench/spin.sh)")
print()
print("Seed jobs through a %s mediator with the window off (0, the default) and at %s us, the two" % (sys.argv[4], spin))
print("settings alternating twice (a fresh mediator each time); p50: the requester's median, the mean of the two")
print("passes; rtt: the mediator's median from submit to the slot's answer (VGPU_MEDIATOR_PHASES=1), exec: the")
print("worker's exec_us; CPU/job: the mediator's time on CPU (/proc/PID/task/*/schedstat, all its threads) over the row's jobs,")
print("warm-up included. gain: p50 off minus p50 on.")
print()
print("| op | size | requester | p50 off | p50 on | gain | rtt off | rtt on | exec | CPU/job off | CPU/job on |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
seen = []
for (op, size, req, s) in rows:
    if (op, size, req) not in seen:
        seen.append((op, size, req))
for op, size, req in seen:
    off, on = rows[(op, size, req, "0")], rows[(op, size, req, spin)]
    p0, p1 = st.mean(off["med"]), st.mean(on["med"])
    print("| %s | %s | %s | %.0f | %.0f | %+.0f | %.0f | %.0f | %.0f | %.0f | %.0f |" % (
        op, size, req, p0, p1, p0 - p1, med((op, size, req, "0"), "rtt_us"), med((op, size, req, spin), "rtt_us"),
        med((op, size, req, spin), "exec_us"), off["cpu"] / off["jobs"], on["cpu"] / on["jobs"]))
print()
PY
