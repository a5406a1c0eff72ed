# bench.mk - `make bench` and `make bench-syscalls` (bench/run.sh, bench/syscalls.sh;
# docs/GPU.md "Benchmark"). Included by the top Makefile after cuda.mk.
#   make bench           each project figure next to its floor (bench-floor), one run,
#                        and the scaling table (bench-scale), CPU only with the mock
#                        executor; on a GPU host (nvcc and a working nvidia-smi) also the
#                        cuda executor's rows, the kernel op's overhead (bench-kernel) and
#                        the native-vs-mediated table (bench/native.sh). build/reports/bench.txt
#                        It measures what `make install` ships: the programs built again in
#                        $(BUILD)/bench-release with FIU=0 RELEASE=1 (no fault-injection points,
#                        the response encoder's self-check compiled out); the reports land in
#                        $(BUILD)/reports as before.
#   make bench-syscalls  syscalls per ping (strace -c -f) of the mediator, the client and
#                        the floor. build/reports/bench-syscalls.txt

$(BUILD)/bench/bench-floor.o: ALL_CFLAGS += $(CUDA_CFLAGS)
$(BUILD)/bench/bench-floor: $(BUILD)/bench/bench-floor.o $(LIBVGPU)
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
all: $(BUILD)/bench/bench-floor

# The scaling table (bench/bench-scale.c): N VMs' back-to-back pings, one requester.
$(BUILD)/bench/bench-scale: $(BUILD)/bench/bench-scale.o $(LIBVGPU)
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lpthread
all: $(BUILD)/bench/bench-scale

BENCH_PROGS := $(BINS) $(BUILD)/bench/bench-floor $(BUILD)/bench/bench-mediated $(BUILD)/bench/bench-scale \
               $(if $(filter 1,$(HAVE_CUDA)),$(BUILD)/bench/bench-native $(BUILD)/bench/bench-kernel)

.PHONY: bench bench-programs bench-syscalls bench-deps
ifeq ($(RELEASE),1)
bench-programs: $(BENCH_PROGS)
bench: bench-programs
	@BUILD=$(BUILD) HAVE_CUDA=$(HAVE_CUDA) bench/run.sh
else
bench:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/bench-release FIU=0 RELEASE=1 bench-programs
	@BUILD=$(BUILD)/bench-release BENCH_REPORTS=$(BUILD)/reports HAVE_CUDA=$(HAVE_CUDA) bench/run.sh
endif

# strace, for bench-syscalls only (not in scripts/deps.sh: nothing else needs it).
bench-deps:
	@command -v strace >/dev/null 2>&1 || { [ "$${VGPU_NO_DEPS:-0}" = 1 ] && \
	  { echo "bench-deps: strace missing and VGPU_NO_DEPS=1" >&2; exit 1; }; \
	  echo "bench-deps: installing strace"; s=; [ "$$(id -u)" = 0 ] || s=sudo; \
	  DEBIAN_FRONTEND=noninteractive $$s apt-get install -y -qq --no-install-recommends strace >/dev/null; }

bench-syscalls: bench-deps $(BENCH_PROGS)
	@BUILD=$(BUILD) bench/syscalls.sh
