# vm.mk - the kernel NFS stack in a QEMU guest (tests/vm; docs/NFSSIM.md, "Kernel NFS in
# a guest"). Included by the Makefile.
#   make check-knfs    boot Debian's kernel under QEMU (TCG), run knfsd and the kernel NFS
#                      client (v3 and v4.2) in it, and the e2e test (backend knfs), the
#                      nfs_sim knfs test, the fidelity probes and the ERR06/ERR02 records
#                      there. The kernel is fetched once into $(BUILD)/vm/ (apt-get
#                      download from the configured archive). VGPU_VM_SKIP=1 skips it;
#                      VGPU_VM_TIMEOUT (s, default 900) bounds the guest.
.PHONY: check-knfs
check-knfs: $(BINS) $(BUILD)/tests/e2e/test_e2e $(BUILD)/nfssim-probe
	@if [ "$${VGPU_VM_SKIP:-0}" = 1 ]; then echo "== check-knfs: SKIP (VGPU_VM_SKIP=1)"; exit 0; fi; \
	  echo "== check-knfs: a QEMU guest with knfsd and the kernel NFS client (tests/vm/run-guest.sh)"; \
	  BUILD=$(BUILD) tests/vm/run-guest.sh

# knfs-poll: the protocol's reader against a server-side publisher (tests/vm/fidelity.sh).
KNFS_POLL := $(BUILD)/tests/vm/knfs-poll
$(KNFS_POLL): $(BUILD)/tests/vm/knfs_poll.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^
all: $(KNFS_POLL)
check-knfs: $(KNFS_POLL)

# ERR06 on the real stack (knfsd + kernel client), run in the guest; record backend "knfs".
KNFS_ERR06 := $(BUILD)/tests/vm/knfs_err06
$(KNFS_ERR06): $(BUILD)/tests/vm/knfs_err06.o $(FAULT_LIB_OBJ) $(LIBMEDIATOR) $(LIBCLIENT) $(LIBVGPU)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -ljansson $(CHECK_LIBS)
all: $(KNFS_ERR06)
check-knfs: $(KNFS_ERR06)
