# vm.mk - the kernel NFS stack in a QEMU guest (tests/vm; docs/NFSSIM.md, "Kernel NFS in
# a guest"). Included by the Makefile.
#   make check-knfs    boot Debian's kernel under QEMU (TCG), run knfsd and the kernel NFS
#                      client (v3 and v4.2) in it, and the e2e test (backend knfs), the
#                      nfs_sim knfs test, the fidelity probes and the ERR06/ERR02 records
#                      there. The kernel is fetched once into $(BUILD)/vm/ (apt-get
#                      download from the configured archive). VGPU_VM_SKIP=1 skips it;
#                      VGPU_VM_TIMEOUT (s, default 900) bounds the guest.
#   make check-xen     the user's topology (tests/vm/run-xen.sh; docs/XEN.md, "Recipe"): Xen
#                      under QEMU (TCG), a PV Dom0 with knfsd (one export per VM) and
#                      vgpu-mediator --executor mock, PV DomUs that mount their own export
#                      over Xen's network and run vgpu-client; records with backend "xen"
#                      (declared in tests/vm/records.list). Xen and the kernel are fetched
#                      once into $(BUILD)/vm/. VGPU_VM_SKIP=1 (or VGPU_XEN_SKIP=1) skips
#                      it; VGPU_XEN_TIMEOUT (s, default 600) bounds the whole run.
#   make check-knfs-full  the same with the fidelity probes on both mounts (make check-knfs,
#                      the stage of make check, runs them on the v3 mount only:
#                      VGPU_VM_FIDELITY, default v3; docs/NFSSIM.md's table needs both).
.PHONY: check-knfs check-knfs-full check-xen
check-knfs check-knfs-full: $(BINS) $(BUILD)/tests/e2e/test_e2e $(BUILD)/nfssim-probe
	@if [ "$${VGPU_VM_SKIP:-0}" = 1 ]; then echo "== $@: SKIP (VGPU_VM_SKIP=1)"; exit 0; fi; \
	  echo "== $@: a QEMU guest with knfsd and the kernel NFS client (tests/vm/run-guest.sh)"; \
	  VGPU_VM_FIDELITY="$(if $(filter check-knfs-full,$@),v3 v4.2,$${VGPU_VM_FIDELITY:-v3})" BUILD=$(BUILD) tests/vm/run-guest.sh

# knfs-poll: the protocol's reader against a server-side publisher (tests/vm/fidelity.sh).
KNFS_POLL := $(BUILD)/tests/vm/knfs-poll
$(KNFS_POLL): $(BUILD)/tests/vm/knfs_poll.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^
all: $(KNFS_POLL)
check-knfs check-knfs-full: $(KNFS_POLL)

# ERR06 on the real stack (knfsd + kernel client), run in the guest; record backend "knfs".
KNFS_ERR06 := $(BUILD)/tests/vm/knfs_err06
$(KNFS_ERR06): $(BUILD)/tests/vm/knfs_err06.o $(FAULT_LIB_OBJ) $(LIBMEDIATOR) $(LIBCLIENT) $(LIBVGPU)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -ljansson $(CHECK_LIBS)
all: $(KNFS_ERR06)
check-knfs check-knfs-full: $(KNFS_ERR06)

# ERR01 (knfsd refuses a client not in the list) and ERR07 (the attribute and lookup
# caches) on the real stack, run in the guest by tests/vm/knfs_records.sh.
KNFS_ERR01 := $(BUILD)/tests/vm/knfs_err01
KNFS_ERR07 := $(BUILD)/tests/vm/knfs_err07
$(BUILD)/tests/vm/knfs_err%: $(BUILD)/tests/vm/knfs_err%.o $(FAULT_LIB_OBJ) $(LIBMEDIATOR) $(LIBCLIENT) $(LIBVGPU)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -ljansson $(CHECK_LIBS)
all: $(KNFS_ERR01) $(KNFS_ERR07)
check-knfs check-knfs-full: $(KNFS_ERR01) $(KNFS_ERR07)

check-xen: $(BINS)
	@if [ "$${VGPU_VM_SKIP:-0}" = 1 ] || [ "$${VGPU_XEN_SKIP:-0}" = 1 ]; then echo "== check-xen: SKIP (VGPU_VM_SKIP/VGPU_XEN_SKIP=1)"; exit 0; fi; \
	  echo "== check-xen: Xen under QEMU, Dom0 with knfsd and vgpu-mediator, PV DomUs with vgpu-client (tests/vm/run-xen.sh)"; \
	  BUILD=$(BUILD) tests/vm/run-xen.sh

# ERR09-xen's naive control: the naive queue replaying the arrivals Dom0 journaled.
XEN_NAIVE_PQ := $(BUILD)/tests/vm/xen_naive_pq
$(XEN_NAIVE_PQ): $(BUILD)/tests/vm/xen_naive_pq.o $(BUILD)/tests/fault/naive/naive_pqueue.o
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^
all: $(XEN_NAIVE_PQ)
check-xen: $(XEN_NAIVE_PQ)
