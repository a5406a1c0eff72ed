# cuda_naive.mk - ERR05's naive control, built only when nvcc is found (HAVE_CUDA).
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
endif
