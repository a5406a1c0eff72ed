# fault.mk - the fault-injection harness (docs/HARNESS.md). Included by the Makefile.
# Every tests/fault/errNN_*.c and x_*.c is one scenario program; naive/ holds the
# deliberately naive controls; harness.c the report record; pingtime.c a VM's pings timed; vmproc.c a process in a VM
# (the isolation scenarios).
FAULT_SRC     := $(sort $(wildcard tests/fault/err[0-9][0-9]_*.c tests/fault/x_*.c))
FAULT_BINS    := $(FAULT_SRC:tests/fault/%.c=$(BUILD)/tests/fault/%)
FAULT_LIB_SRC := tests/fault/harness.c tests/fault/pingtime.c tests/fault/vmproc.c tests/e2e/e2e_util.c tests/common/testutil.c $(wildcard tests/fault/naive/*.c)
FAULT_LIB_OBJ := $(FAULT_LIB_SRC:%.c=$(BUILD)/%.o)

$(BUILD)/tests/fault/%: $(BUILD)/tests/fault/%.o $(FAULT_LIB_OBJ) $(LIBMEDIATOR) $(LIBCLIENT) $(LIBVGPU)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -ljansson $(CHECK_LIBS)

.PHONY: check-fault check-runner
all: $(FAULT_BINS)

# ERR05's naive forced-CUDA program, when nvcc is here.
-include tests/fault/cuda_naive.mk

# Runs every scenario of the declared list (tests/fault/scenarios.list; a failure does
# not stop the others) and accounts for each: a program that is not listed, exits
# non-zero, crashes, times out or writes fewer or other records than declared fails the
# target, named (tools/run_scenarios.py, docs/HARNESS.md). The report then prints the table.
# FAULT_TIMEOUT: seconds per program. FAULT_ONLY: a subset of the programs.
FAULT_LIST    := tests/fault/scenarios.list
# the guests' records (make check-knfs), declared the same way
VM_RECORDS    := tests/vm/records.list
FAULT_TIMEOUT ?= 300
check-fault: $(BINS) $(FAULT_BINS) $(NFSSIM_BIN)
	@python3 tools/run_scenarios.py --list $(FAULT_LIST) --bindir $(BUILD)/tests/fault \
	  --reports $(BUILD)/reports --build $(BUILD) --timeout $(FAULT_TIMEOUT) --sources "$(FAULT_SRC)" $(FAULT_ONLY)

# The runner's own test: a crashing, a hanging, a silent, a failing and a short-counting
# fake scenario each make it fail, naming the program; a good one passes (selftest/).
# and every kept mutant still applies and names its killing test (tests/mutants/applies.sh).
check-runner:
	@python3 tests/fault/selftest/test_runner.py && tests/mutants/applies.sh

report:
	@VGPU_REPORTS=$(BUILD)/reports VGPU_SCENARIO_LIST=$(FAULT_LIST):$(VM_RECORDS) python3 tools/report.py

# The GPU host's committed results (make check-gpu, docs/reports/gpu-*.json) count too.
errors-log: report
	@python3 tools/errors_log.py --report $(BUILD)/reports/harness.json \
	  $(foreach g,$(wildcard docs/reports/gpu-*.json),--report $(g)) --log ERRORS_LOG.txt
