#!/usr/bin/env bash
# demo.sh - `make demo`: a mediator on a private local directory and six VMs of
# different priorities submitting real work at once; prints who ran when, then stops.
# Executor: auto (CUDA when cuda-sanity passes, else the CPU mock, and it says so).
set -euo pipefail
BUILD=${BUILD:-build}
EXECUTOR=${EXECUTOR:-auto}
dir=$(mktemp -d "${TMPDIR:-/tmp}/vgpu-demo-XXXXXX")
med=""
# Whatever way it ends (done, failed, Ctrl-C, SIGTERM, SIGHUP): the clients and the
# mediator (every background job of this shell: each is the process itself) are stopped
# and waited for, and the directory is removed. Nothing of the demo stays.
cleanup() {
	local p
	trap - EXIT INT TERM HUP
	for p in $(jobs -p); do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$dir/export" "$dir/state"
# vm1..vm6 submit the work; vm7 and up keep every GPU (worker) busy first, so that
# the others wait together in the queue.
for v in $(seq 1 22); do mkdir -m 0777 "$dir/export/vm$v"; done
"$BUILD/vgpu-mediator" --root "$dir/export" --state "$dir/state" --journal "$dir/journal" \
	--executor "$EXECUTOR" --fallback mock --aging-ms 0 --max-payload 4294967296 \
	--vm 1:low --vm 2:low --vm 3:medium --vm 4:medium --vm 5:high --vm 6:high --default-cap high \
	2>"$dir/mediator.log" &
med=$!
for _ in $(seq 200); do grep -q "with executor" "$dir/mediator.log" 2>/dev/null && break; sleep 0.01; done
if ! grep -q "with executor" "$dir/mediator.log"; then
	echo "demo: the mediator did not start:" >&2; cat "$dir/mediator.log" >&2; exit 1
fi
grep -E "executor (auto|cuda|mock)|cuda-sanity|serving .* with" "$dir/mediator.log" | sed 's/^[^ ]* /  /' || true

client() { # VM PRIO OP ARGS...: started in the background (a job of this shell)
	local vm=$1 prio=$2; shift 2
	"$BUILD/vgpu-client" --dir "$dir/export/vm$vm" --priority "$prio" --timeout 120 "$@" \
		>"$dir/out.vm$vm" 2>"$dir/err.vm$vm" &
}
# The busy jobs must outlast the others' submission: about 0.8 s on the CPU mock, and
# long enough on a GPU too. One per worker ("(N slots)" in the log).
if grep -q "with executor pool" "$dir/mediator.log" && grep -q "using cuda\|executor cuda" "$dir/mediator.log"; then
	busy=16384
else
	busy=1024
fi
slots=$(sed -n 's/.*with executor [a-z]* (\([0-9]*\) slot.*/\1/p' "$dir/mediator.log" | head -n 1)
[ -n "$slots" ] && [ "$slots" -ge 1 ] && [ "$slots" -le 16 ] || slots=1
for b in $(seq 7 $((6 + slots))); do
	client "$b" high sgemm $busy $busy $busy --seed "$b"
done
for _ in $(seq 800); do [ "$(grep -c "^exec " "$dir/journal" 2>/dev/null)" -ge "$slots" ] && break; sleep 0.01; done
# Submitted low first, high last: the queue must still run high, medium, low.
client 1 low    vadd 1048576 --seed 1;   sleep 0.01
client 2 low    saxpy 1048576 2.5 --seed 2; sleep 0.01
client 3 medium sgemm 128 128 128 --seed 3; sleep 0.01
client 4 medium vadd 65536 --seed 4;      sleep 0.01
client 5 high   saxpy 65536 -1.5 --seed 5; sleep 0.01
client 6 high   ping
wait $(jobs -p | grep -v "^$med$") 2>/dev/null || true
kill -TERM "$med"; wait "$med" || true; med=""

# Table: completion order from the journal's answer lines.
printf '\n%-5s %-8s %-6s %-4s %-10s %12s %12s %-8s %s\n' VM PRIORITY OP SEQ STATUS "QUEUE WAIT" "EXEC TIME" EXECUTOR ORDER
order=0; fail=0; prev_rank=9
while read -r line; do
	vm=$(sed -n 's/.* vm=\([0-9]*\) .*/\1/p' <<<"$line")
	order=$((order + 1))
	out=$(cat "$dir/out.vm$vm" 2>/dev/null || true)
	if [ -z "$out" ]; then
		printf '%-5s %s\n' "vm$vm" "client error: $(head -c 200 "$dir/err.vm$vm")"; fail=1; continue
	fi
	get() { sed -n "s/.*[ ^]$1=\([^ ]*\).*/\1/p" <<<" $out"; }
	prio=$(get prio); q=$(get queue_us); e=$(get exec_us)
	printf '%-5s %-8s %-6s %-4s %-10s %10.3f ms %10.3f ms %-8s %s\n' "vm$vm" "$prio" "$(get op)" "$(get seq)" \
		"$(get status)" "$(awk -v u="$q" 'BEGIN{print u/1000}')" "$(awk -v u="$e" 'BEGIN{print u/1000}')" \
		"$(get executor)" "$order"
	[ "$(get status)" = OK ] || fail=1
done < <(grep '^answer ' "$dir/journal")
# The order check is on the order of execution (the queue's decisions): with several
# GPUs, jobs started in that order may complete in another.
while read -r line; do
	vm=$(sed -n 's/.* vm=\([0-9]*\) .*/\1/p' <<<"$line")
	[ "$vm" -le 6 ] || continue
	case $(sed -n 's/.* prio=\([a-z]*\).*/\1/p' "$dir/out.vm$vm") in high) rank=2 ;; medium) rank=1 ;; *) rank=0 ;; esac
	[ "$rank" -le "$prev_rank" ] || fail=1
	prev_rank=$rank
done < <(grep '^exec ' "$dir/journal")
echo
if [ "$fail" = 0 ] && [ "$order" = $((6 + slots)) ]; then
	echo "demo: the six requests that waited together started high, then medium, then low (ORDER: completion)."
else
	echo "demo: ORDER OR ANSWER CHECK FAILED; mediator log:" >&2; cat "$dir/mediator.log" >&2; exit 1
fi
