# tests/fuzz/fuzz.mk - libFuzzer targets (clang, ASan+UBSan) and the sanitizer build of
# everything. -included by the Makefile; docs/SECURITY.md "Fuzzing and sanitizers".
#
#   make fuzz         each target for FUZZ_TIME seconds (or FUZZ_RUNS inputs), the seed
#                     corpus (tests/fuzz/corpus/T) plus what earlier runs found
#                     ($(FUZZ_BUILD)/corpus/T, never the repo); crashes go to
#                     $(FUZZ_BUILD)/crashers/; one summary line per target
#   make fuzz-smoke   each target: the seed corpus replayed, then FUZZ_SMOKE_TIME s (30)
#                     of fuzzing into a scratch corpus; for `make check`
#   make fuzz-replay  the seed corpora only (and tests/fuzz/crashers/, regressions)
#   make fuzz-merge   fold the inputs earlier runs found into the seed corpora, keeping
#                     only those that add coverage (libFuzzer -merge=1)
#   make fuzz-cov     line/region coverage of the parsers from the seed corpora and the
#                     found inputs (clang source-based coverage, llvm-cov report)
#   make check-asan   build everything with ASan+UBSan into build/asan, run the unit,
#                     e2e and fault tests under it
# Targets: fuzz_request (vgpu_request_decode), fuzz_response (vgpu_response_decode),
# fuzz_state (vgpu_state_load), fuzz_status (vgpu_status_rec_decode). Each checks decode -> encode -> decode round trips.

FUZZ_CC       ?= clang
FUZZ_BUILD    ?= $(BUILD)/fuzz
FUZZ_TARGETS  ?= request response state status
FUZZ_TIME     ?= 600
FUZZ_RUNS     ?= -1
FUZZ_SMOKE_TIME ?= 30
SAN_FLAGS     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_OPT      ?= -O1 -g
# The fuzzed code only: the parsers, their value helpers, the state loader and its
# reads. zlib's CRC-32 (no ISA-L: its assembly is not instrumented), no libfiu.
FUZZ_LIB_SRC  := src/lib/record.c src/lib/record_syntax.c src/lib/record_status.c src/lib/errbuf.c src/lib/op.c src/lib/kernel_args.c src/lib/opref.c src/lib/crc.c \
                 src/lib/status.c src/lib/safeio.c src/mediator/state.c src/mediator/state_legacy.c
FUZZ_ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(FUZZ_OPT) -Isrc -Itests/fuzz
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_COV_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/cov/fuzz_%)
FUZZ_LIB_OBJ  := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_COV_OBJ  := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/cov/obj/%.o)
LLVM_PROFDATA ?= $(firstword $(shell command -v llvm-profdata-14 llvm-profdata 2>/dev/null))
LLVM_COV      ?= $(firstword $(shell command -v llvm-cov-14 llvm-cov 2>/dev/null))

.PHONY: fuzz fuzz-build fuzz-smoke fuzz-replay fuzz-merge fuzz-cov check-asan

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(SAN_FLAGS) -fsanitize=fuzzer -o $@ $^ -lz

# Coverage builds: libFuzzer's driver (to replay a corpus), no sanitizers.
$(FUZZ_BUILD)/cov/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -fprofile-instr-generate -fcoverage-mapping -MMD -MP -c $< -o $@
$(FUZZ_BUILD)/cov/fuzz_%: $(FUZZ_BUILD)/cov/obj/tests/fuzz/fuzz_%.o $(FUZZ_COV_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer -fprofile-instr-generate -o $@ $^ -lz

fuzz-build: $(FUZZ_BINS)
# Objects made through the pattern rules: keep them (no rebuild on every run).
.SECONDARY: $(FUZZ_LIB_OBJ) $(FUZZ_COV_OBJ) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o) \
            $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/cov/obj/tests/fuzz/fuzz_%.o)

FUZZ_RUN = FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_TIME=$(FUZZ_TIME) FUZZ_RUNS=$(FUZZ_RUNS) \
           FUZZ_SMOKE_TIME=$(FUZZ_SMOKE_TIME) tests/fuzz/run.sh
fuzz: deps $(FUZZ_BINS)
	@$(FUZZ_RUN) fuzz $(FUZZ_TARGETS)
fuzz-smoke: deps $(FUZZ_BINS)
	@$(FUZZ_RUN) smoke $(FUZZ_TARGETS)
fuzz-replay: $(FUZZ_BINS)
	@$(FUZZ_RUN) replay $(FUZZ_TARGETS)
fuzz-merge: $(FUZZ_BINS)
	@$(FUZZ_RUN) merge $(FUZZ_TARGETS)
fuzz-cov: deps $(FUZZ_COV_BINS)
	@LLVM_PROFDATA=$(LLVM_PROFDATA) LLVM_COV=$(LLVM_COV) FUZZ_LIB_SRC="$(FUZZ_LIB_SRC)" $(FUZZ_RUN) cov $(FUZZ_TARGETS)

-include $(shell find $(FUZZ_BUILD)/obj $(FUZZ_BUILD)/cov/obj -name '*.d' 2>/dev/null)

# --- everything under ASan+UBSan ----------------------------------------------------
# A separate build (ASAN_BUILD) with the sanitizers in PROF, which the Makefile adds to
# every compile and link, and the runtimes linked statically (ASAN_LDFLAGS), so that
# libfiu's LD_PRELOAD pieces (fiu-run in ERR07 and IOFAULT) interpose behind ASan's
# interceptors instead of breaking its "runtime comes first" rule. The options, and
# what could not stay as in `make check` (docs/SECURITY.md):
#   - detect_leaks=0: the daemons are stopped by signals and the fault scenarios kill
#     processes on purpose; what they hold then is not a leak. The unit tests' leaks
#     are `make check-valgrind`'s, the parsers' the fuzzers' (LeakSanitizer is on there).
#   - quarantine_size_mb=16: ERR08 checks that a reclaimed 32 MiB "device" leak gives
#     its memory back; a larger quarantine would hold it.
#   - tests/fuzz/asan/ first in PATH: its "valgrind" runs the program as it is (a
#     sanitized program cannot run under valgrind), so ERR10's "under valgrind" runs
#     are ASan's runs, with valgrind's exit code.
ASAN_BUILD    ?= build/asan
ASAN_LDFLAGS  ?= $(if $(filter clang%,$(notdir $(CC))),,-static-libasan -static-libubsan)
ASAN_OPTIONS_CHECK ?= detect_leaks=0:halt_on_error=1:allocator_may_return_null=1:quarantine_size_mb=16:detect_stack_use_after_return=1
UBSAN_OPTIONS_CHECK ?= print_stacktrace=1:halt_on_error=1
ASAN_E2E_BACKENDS ?= $(E2E_BACKENDS)
ASAN_ENV = ASAN_OPTIONS=$(ASAN_OPTIONS_CHECK) UBSAN_OPTIONS=$(UBSAN_OPTIONS_CHECK) PATH="$(CURDIR)/tests/fuzz/asan:$$PATH"
ASAN_MAKE = $(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) OPT="-O1" PROF="$(SAN_FLAGS)" LDFLAGS="$(ASAN_LDFLAGS)"
check-asan: deps
	@$(ASAN_MAKE) all
	@rm -rf $(ASAN_BUILD)/reports/check
	@$(ASAN_ENV) $(ASAN_MAKE) check-unit
	@$(ASAN_ENV) $(ASAN_BUILD)/reaper $(ASAN_MAKE) E2E_BACKENDS="$(ASAN_E2E_BACKENDS)" check-e2e
	@$(ASAN_ENV) $(ASAN_BUILD)/reaper $(ASAN_MAKE) check-fault
	@VGPU_REPORTS=$(ASAN_BUILD)/reports VGPU_SCENARIO_LIST=tests/fault/scenarios.list python3 tools/report.py
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) check-summary
