#!/bin/sh
# run.sh - run the libFuzzer targets of tests/fuzz/ (called by tests/fuzz/fuzz.mk).
#   run.sh fuzz|smoke|replay|merge|cov TARGET...
# Environment: FUZZ_BUILD (the binaries' directory), FUZZ_TIME, FUZZ_RUNS,
# FUZZ_SMOKE_TIME; for cov: LLVM_PROFDATA, LLVM_COV, FUZZ_LIB_SRC.
# Prints one line per target: execs, rate, coverage (libFuzzer's cov/ft counters),
# corpus size and crashes; exits non-zero when any target found a crash.
set -u
mode=$1; shift
B=${FUZZ_BUILD:-build/fuzz}
SRC=tests/fuzz
# Abort on the first error so that libFuzzer saves the input. strict_string_checks: a
# string function on a value that is not NUL-terminated is an error (it found
# crashers/request-strspn-unknown-op, now fixed).
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$B/logs" "$B/crashers"
fail=0
covbins=
covprof=

# "stat::number_of_executed_units: N" and the last "#N ... cov: C ft: F corp: K" line.
summary() { # target log seconds
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$2" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$2" | tail -n 1)
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$2" | tail -n 1)
	crashes=$(ls "$B/crashers" 2>/dev/null | grep -c "^$1-" || true)
	printf 'fuzz %-8s %s: %s execs, %s exec/s, %s, crashes %s (log %s)\n' "$1" "$mode" "${execs:-?}" \
		"${rate:-?}" "${cov:-cov ?}" "$crashes" "$2"
}

for t in "$@"; do
	bin=$B/fuzz_$t
	seed=$SRC/corpus/$t
	dict=$SRC/dict/$t.dict
	log=$B/logs/$t-$mode.log
	common="-dict=$dict -timeout=10 -print_final_stats=1 -artifact_prefix=$B/crashers/$t-"
	case $mode in
	fuzz)
		mkdir -p "$B/corpus/$t"
		echo "== fuzz_$t: ${FUZZ_TIME}s (runs ${FUZZ_RUNS:--1}), corpus $B/corpus/$t + $seed"
		# shellcheck disable=SC2086
		"$bin" $common -max_total_time="$FUZZ_TIME" -runs="${FUZZ_RUNS:--1}" "$B/corpus/$t" "$seed" >"$log" 2>&1 ||
			{ fail=1; tail -n 40 "$log"; }
		summary "$t" "$log"
		;;
	smoke)
		echo "== fuzz_$t: replay $seed, then ${FUZZ_SMOKE_TIME}s of fuzzing"
		scratch=$B/smoke/$t
		rm -rf "$scratch"; mkdir -p "$scratch"
		# shellcheck disable=SC2086
		"$bin" $common -runs=0 "$seed" >"$B/logs/$t-replay.log" 2>&1 || { fail=1; tail -n 40 "$B/logs/$t-replay.log"; }
		# shellcheck disable=SC2086
		"$bin" $common -max_total_time="$FUZZ_SMOKE_TIME" "$scratch" "$seed" >"$log" 2>&1 ||
			{ fail=1; tail -n 40 "$log"; }
		summary "$t" "$log"
		rm -rf "$scratch"
		;;
	replay)
		echo "== fuzz_$t: replay $seed"
		# shellcheck disable=SC2086
		"$bin" $common -runs=0 "$seed" >"$log" 2>&1 || { fail=1; tail -n 40 "$log"; }
		for c in "$SRC"/crashers/"$t"-*; do
			[ -f "$c" ] || continue
			ASAN_OPTIONS="$ASAN_OPTIONS:strict_string_checks=1" "$bin" "$c" >>"$log" 2>&1 || { fail=1; echo "fuzz_$t: $c still fails"; tail -n 40 "$log"; }
		done
		summary "$t" "$log"
		;;
	merge)
		echo "== fuzz_$t: merge $B/corpus/$t into $seed"
		# shellcheck disable=SC2086
		"$bin" $common -merge=1 "$seed" "$B/corpus/$t" >"$log" 2>&1 || { fail=1; tail -n 20 "$log"; }
		grep -E 'MERGE-OUTER: [0-9]+ new files' "$log" || tail -n 3 "$log"
		;;
	cov)
		# Replay the seed corpus, then the seed corpus plus the found inputs.
		bin=$B/cov/fuzz_$t
		for set in seed all; do
			dirs=$seed
			[ $set = all ] && [ -d "$B/corpus/$t" ] && dirs="$seed $B/corpus/$t"
			rm -f "$B/cov/$t-$set".profraw
			# shellcheck disable=SC2086
			LLVM_PROFILE_FILE="$B/cov/$t-$set.profraw" "$bin" -runs=0 $dirs >"$B/logs/$t-cov-$set.log" 2>&1 ||
				{ fail=1; tail -n 20 "$B/logs/$t-cov-$set.log"; }
			"$LLVM_PROFDATA" merge -sparse "$B/cov/$t-$set.profraw" -o "$B/cov/$t-$set.profdata"
			echo "== fuzz_$t coverage, corpus $set ($(echo $dirs)):"
			# shellcheck disable=SC2086
			"$LLVM_COV" report "$bin" -instr-profile="$B/cov/$t-$set.profdata" $FUZZ_LIB_SRC |
				grep -E '^(Filename|(src/)?lib/record|(src/)?mediator/state|TOTAL)' | cut -c1-150 |
				sed 's/^/   /'
		done
		covbins="${covbins:+$covbins -object }$bin"
		covprof="$covprof $B/cov/$t-all.profdata"
		;;
	*) echo "run.sh: unknown mode $mode" >&2; exit 2 ;;
	esac
done
# All targets together: what the parsers' files get from every corpus.
if [ "$mode" = cov ] && [ $# -gt 1 ]; then
	# shellcheck disable=SC2086
	"$LLVM_PROFDATA" merge -sparse $covprof -o "$B/cov/all.profdata"
	echo "== all targets, all corpora:"
	# shellcheck disable=SC2086
	"$LLVM_COV" report $covbins -instr-profile="$B/cov/all.profdata" $FUZZ_LIB_SRC |
		grep -E '^(Filename|(src/)?lib/record|(src/)?mediator/state|TOTAL)' | cut -c1-150 | sed 's/^/   /'
	echo "   (line by line: $LLVM_COV show $covbins -instr-profile=$B/cov/all.profdata src/lib/record.c)"
fi
exit $fail
