# tests/nfs_sim/nfs_sim.mk - the NFS client simulator (nfssim), its probe, its tests.
# Included by the top Makefile. Needs libfuse3-dev and libnfs-dev (pkg-config).
#   make BUILD=... $(BUILD)/nfssim     the FUSE filesystem (NFSSIM_BIN)
#   make BUILD=... check-nfssim        unit tests of the fault rules + shell tests
#   make BUILD=... check-nfssim-valgrind  the simulator under valgrind for a few tests

NFSSIM_BIN    := $(BUILD)/nfssim
NFSSIM_PROBE  := $(BUILD)/nfssim-probe
NFSSIM_SRC    := tests/nfs_sim/nfssim.c tests/nfs_sim/faults.c \
                 tests/nfs_sim/store_local.c tests/nfs_sim/store_nfs.c tests/nfs_sim/powerloss.c
NFSSIM_OBJ    := $(NFSSIM_SRC:%.c=$(BUILD)/%.o)
NFSSIM_CFLAGS := $(shell pkg-config --cflags fuse3 libnfs 2>/dev/null)
NFSSIM_LIBS   := $(shell pkg-config --libs fuse3 libnfs 2>/dev/null || echo -lfuse3 -lnfs) -lpthread
NFSSIM_UNIT   := $(BUILD)/tests/nfssim_test_faults

$(NFSSIM_OBJ): ALL_CFLAGS += $(NFSSIM_CFLAGS)

$(NFSSIM_BIN): $(NFSSIM_OBJ)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(NFSSIM_LIBS)

$(NFSSIM_PROBE): $(BUILD)/tests/nfs_sim/probe.o
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

$(NFSSIM_UNIT): $(BUILD)/tests/nfs_sim/test_faults.o $(BUILD)/tests/nfs_sim/faults.o $(TESTUTIL_OBJ)
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS)

.PHONY: nfssim check-nfssim check-nfssim-valgrind
nfssim: $(NFSSIM_BIN) $(NFSSIM_PROBE)
all: $(NFSSIM_BIN) $(NFSSIM_PROBE)

# The Check program and the shell tests both run; the target fails if either failed.
check-nfssim: $(NFSSIM_BIN) $(NFSSIM_PROBE) $(NFSSIM_UNIT)
	@echo "== $(NFSSIM_UNIT)"; mkdir -p $(BUILD)/reports/check; \
	  CK_LOG_FILE_NAME=$(BUILD)/reports/check/nfssim_test_faults.log $(NFSSIM_UNIT); u=$$?; \
	  NFSSIM_BIN=$(abspath $(NFSSIM_BIN)) NFSSIM_PROBE=$(abspath $(NFSSIM_PROBE)) \
	  NFSSIM_RESULTS=$(abspath $(BUILD)/reports/nfssim.txt) tests/nfs_sim/run-tests.sh; s=$$?; \
	  [ $$u = 0 ] || echo "check-nfssim: $(NFSSIM_UNIT) failed (exit $$u)"; [ $$u = 0 ] && [ $$s = 0 ]

check-nfssim-valgrind: $(NFSSIM_BIN) $(NFSSIM_PROBE) $(NFSSIM_UNIT)
	@CK_FORK=no valgrind -q --error-exitcode=99 --leak-check=full $(NFSSIM_UNIT)
	@NFSSIM_VALGRIND=1 NFSSIM_BIN=$(abspath $(NFSSIM_BIN)) NFSSIM_PROBE=$(abspath $(NFSSIM_PROBE)) \
	  tests/nfs_sim/run-tests.sh
