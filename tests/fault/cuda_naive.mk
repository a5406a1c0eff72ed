# cuda_naive.mk - ERR05's naive control: built by nvcc when nvcc is found (HAVE_CUDA);
# otherwise ERR05 runs on the real libcudart of the distribution's archive (fetched once
# into $(BUILD)/cudart by scripts/cudart-fetch.sh before check-fault) through
# cudart-probe, built by cc (tests/fault/cudart/cudart_probe.c; docs/HARNESS.md, ERR05).
# Included by tests/fault/fault.mk after src/exec/cuda.mk (which sets NVCC, CUDA_ARCH).
# The same file compiled by cc is the output parser linked into every scenario.
ifeq ($(HAVE_CUDA),1)
NAIVE_CUDA_BIN := $(BUILD)/tests/fault/naive_cuda_forced

$(NAIVE_CUDA_BIN): tests/fault/naive/naive_cuda_forced.c tests/fault/naive/naive_cuda_forced.h
	@mkdir -p $(dir $@)
	$(NVCC) -x cu -std=c++17 $(CUDA_ARCH) -O2 -Itests/fault/naive -o $@ $<

all: $(NAIVE_CUDA_BIN)
check-fault: $(NAIVE_CUDA_BIN)
$(BUILD)/tests/fault/err05_cuda_not_working: | $(NAIVE_CUDA_BIN)
else
CUDART_PROBE := $(BUILD)/tests/fault/cudart-probe
$(CUDART_PROBE): $(BUILD)/tests/fault/cudart/cudart_probe.o
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -ldl
all: $(CUDART_PROBE)
check-fault: $(CUDART_PROBE) cudart
$(BUILD)/tests/fault/err05_cuda_not_working: | $(CUDART_PROBE)
endif

# The distribution's CUDA runtime under $(BUILD)/cudart (once). A failed fetch does not stop
# check-fault: ERR05 then fails, naming what is missing.
.PHONY: cudart
cudart:
	@scripts/cudart-fetch.sh $(BUILD)/cudart >/dev/null || echo "cudart: not fetched; ERR05 will fail without it"
