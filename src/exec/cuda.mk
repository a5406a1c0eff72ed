# cuda.mk - vgpu-worker (hosts a backend per device), cuda-sanity, the GPU tests,
# the benchmark and `make check-gpu`. Included by the top Makefile after HAVE_CUDA.
#
# With nvcc (HAVE_CUDA=1) libvgpu.a also holds the CUDA backend (CUDA_SRC, C against the
# CUDA runtime API, and cuda_kernels.cu, the kernels, built for sm_90 plus PTX), every C
# file sees -DVGPU_HAVE_CUDA, and links add cudart and cuBLAS (as-needed, so a program
# that uses no CUDA symbol does not load them). Without nvcc the same
# programs build without the CUDA backend; cuda-sanity then says so and exits 6.
# Nothing here runs a GPU in `make all` or `make check`: building needs only the toolkit.

$(BUILD)/vgpu-worker: $(BUILD)/src/cmd/vgpu-worker.o $(LIBVGPU)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/cuda-sanity: $(BUILD)/src/cmd/cuda-sanity.o $(LIBVGPU)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

GPU_TEST_SRC  := $(wildcard tests/gpu/test_*.c)
GPU_TEST_BINS := $(GPU_TEST_SRC:tests/gpu/%.c=$(BUILD)/tests/gpu/%)
BENCH_BINS    := $(if $(wildcard bench/bench-mediated.c),$(BUILD)/bench/bench-mediated)

.PHONY: check-gpu bench gpu-progs

ifeq ($(HAVE_CUDA),1)
CUDA_LIBDIR  := $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib))
CUDA_ARCH    ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCCFLAGS    ?= -O2 -g
ALL_NVCCFLAGS = -std=c++17 $(CUDA_ARCH) $(NVCCFLAGS) -Isrc -DVGPU_HAVE_CUDA -Xcompiler -Wall,-Wextra,-Werror
CUDA_CFLAGS  := -isystem $(CUDA_HOME)/include
CUDA_LIBS    := -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -Wl,--as-needed -lcublas -lcudart -lstdc++ -lm \
                -Wl,--no-as-needed -ldl
ALL_CFLAGS   += -DVGPU_HAVE_CUDA
LIBS         += $(CUDA_LIBS)

# The cuda backend: its life cycle and run(), the ops, and one file per concept under them.
CUDA_SRC := src/exec/backend_cuda.c src/exec/backend_cuda_ops.c src/exec/cuda_err.c \
            src/exec/cuda_devcache.c src/exec/cuda_hostmem.c src/exec/cuda_leak.c src/exec/cuda_phases.c \
            src/exec/cuda_module.c src/exec/backend_cuda_kernel.c src/exec/backend_kernel.c \
            src/exec/cuda_kernel_hostmem.c
CUDA_OBJ := $(CUDA_SRC:%.c=$(BUILD)/%.o) $(BUILD)/src/exec/cuda_kernels.cu.o
$(LIBVGPU): $(CUDA_OBJ)

# Everything that includes a CUDA header gets the toolkit's include directory as a
# system directory (its headers are not -Werror clean under our C warnings).
$(CUDA_SRC:%.c=$(BUILD)/%.o) $(BUILD)/src/cmd/cuda-sanity.o \
$(BUILD)/tests/unit/test_cuda_cpu.o $(BUILD)/tests/unit/test_cuda_kernel_cpu.o $(GPU_TEST_BINS:%=%.o): ALL_CFLAGS += $(CUDA_CFLAGS)

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(ALL_NVCCFLAGS) -MMD -MP -c $< -o $@

BENCH_BINS += $(if $(wildcard bench/bench-native.c),$(BUILD)/bench/bench-native)
$(BUILD)/bench/bench-native.o: ALL_CFLAGS += $(CUDA_CFLAGS)
$(BUILD)/bench/bench-native: $(BUILD)/bench/bench-native.o $(LIBVGPU)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# The kernel op's GPU test (tests/gpu/kernel.sh) runs one kernel as `nvcc -ptx` makes it.
KERNEL_TEST_PTX := $(BUILD)/tests/gpu/kernels/saxpy.ptx
$(BUILD)/tests/gpu/kernels/%.ptx: tests/gpu/kernels/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) -ptx -arch=compute_75 -fmad=false $< -o $@

# The kernel op's overhead over a native cuLaunchKernel (bench/bench-kernel.c, run by hand).
BENCH_BINS += $(if $(wildcard bench/bench-kernel.c),$(BUILD)/bench/bench-kernel)
$(BUILD)/bench/bench-kernel.o: ALL_CFLAGS += $(CUDA_CFLAGS)
$(BUILD)/bench/bench-kernel: $(BUILD)/bench/bench-kernel.o $(LIBCLIENT) $(LIBVGPU)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

gpu-progs: $(GPU_TEST_BINS) $(BENCH_BINS) $(KERNEL_TEST_PTX)
# The GPU programs are built (never run) by `make all` too, so CI catches a break.
all: gpu-progs
else
gpu-progs:
	@echo "gpu-progs: nvcc not found (set CUDA_HOME or NVCC): nothing to build" >&2; exit 1
endif

# test_cuda_kernel_fake runs the kernel op over a stand-in libcuda.so.1 (no GPU needed);
# it and test_kernel_workers share their setup (tests/unit/fake_cuda_setup.c), CUDA or not.
$(BUILD)/tests/test_cuda_kernel_fake $(BUILD)/tests/test_kernel_workers: $(BUILD)/tests/unit/fake_cuda_setup.o
ifeq ($(HAVE_CUDA),1)
$(BUILD)/tests/fakecuda/libcuda.so.1: tests/unit/fake_libcuda.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -fPIC -shared -Wall -Wextra -Werror $(CUDA_CFLAGS) -Wl,-soname,libcuda.so.1 -o $@ $<
$(BUILD)/tests/test_cuda_kernel_fake: | $(BUILD)/tests/fakecuda/libcuda.so.1
$(BUILD)/tests/test_kernel_workers: | $(BUILD)/tests/fakecuda/libcuda.so.1
$(BUILD)/tests/unit/test_cuda_kernel_fake.o: ALL_CFLAGS += $(CUDA_CFLAGS)
endif

# One Check program per GPU test file, linked like the unit tests.
$(GPU_TEST_BINS): $(BUILD)/tests/gpu/%: $(BUILD)/tests/gpu/%.o $(LIBMEDIATOR) $(LIBCLIENT) $(LIBVGPU)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

# The project's own byte moves of a payload job, without mediator or GPU (not the floor:
# bench-floor is): built always.
$(BUILD)/bench/bench-files: $(BUILD)/bench/bench-files.o $(LIBVGPU)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
all: $(BUILD)/bench/bench-files

$(BUILD)/bench/bench-mediated: $(BUILD)/bench/bench-mediated.o $(LIBCLIENT) $(LIBVGPU)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lm

# `make check-gpu`: on a GPU host. Builds with CUDA, then tests/gpu/run.sh runs every
# GPU check and writes $(BUILD)/reports/gpu.json (docs/GPU.md).
check-gpu:
	@test "$(HAVE_CUDA)" = 1 || { echo "check-gpu: nvcc not found: install the CUDA toolkit or set CUDA_HOME" >&2; exit 1; }
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/gpu/run.sh

# `make bench`: bench/bench.mk.
