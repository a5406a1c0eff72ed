# fault.mk - the fault-injection harness (docs/HARNESS.md). Included by the Makefile.
# Every tests/fault/errNN_*.c and x_*.c is one scenario program; naive/ holds the
# deliberately naive controls; harness.c the report record.
FAULT_SRC     := $(sort $(wildcard tests/fault/err[0-9][0-9]_*.c tests/fault/x_*.c))
FAULT_BINS    := $(FAULT_SRC:tests/fault/%.c=$(BUILD)/tests/fault/%)
FAULT_LIB_SRC := tests/fault/harness.c tests/e2e/e2e_util.c $(wildcard tests/fault/naive/*.c)
FAULT_LIB_OBJ := $(FAULT_LIB_SRC:%.c=$(BUILD)/%.o)

$(BUILD)/tests/fault/%: $(BUILD)/tests/fault/%.o $(FAULT_LIB_OBJ) $(LIBMEDIATOR) $(LIBCLIENT) $(LIBVGPU)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -ljansson $(CHECK_LIBS)

all: $(FAULT_BINS)

# ERR05's naive forced-CUDA program, when nvcc is here.
-include tests/fault/cuda_naive.mk

# Runs every scenario (a failure does not stop the others), then the report decides.
check-fault: $(BINS) $(FAULT_BINS) $(NFSSIM_BIN)
	@rm -rf $(BUILD)/reports/scenarios; mkdir -p $(BUILD)/reports/scenarios
	@for t in $(FAULT_BINS); do echo "== $$t"; \
	  VGPU_BUILD=$(BUILD) VGPU_REPORT_DIR=$(BUILD)/reports/scenarios timeout 300 $$t || echo "== $$t exited $$?"; done

report:
	@VGPU_REPORTS=$(BUILD)/reports python3 tools/report.py

# The GPU host's committed results (make check-gpu, docs/reports/gpu-*.json) count too.
errors-log: report
	@python3 tools/errors_log.py --report $(BUILD)/reports/harness.json \
	  $(foreach g,$(wildcard docs/reports/gpu-*.json),--report $(g)) --log ERRORS_LOG.txt
