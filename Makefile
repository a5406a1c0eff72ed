# vgpu-mediator - one plain Makefile. Builds into $(BUILD)/.
#   make            build everything that this machine can build
#   make check      install missing packages (deps), build, run every test, print the report
#   make demo       a mediator and several VMs on a local directory, with a table
#   make check-gpu  the GPU parts, on a GPU host (CUDA toolkit + driver)
# See README.md. Fragments: src/exec/cuda.mk, tests/nfs_sim/nfs_sim.mk, tests/fault/fault.mk.

CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
FIU      ?= 1
OPT      ?= -O2
PROF     ?=

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS   ?= $(OPT) -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PROF) -Isrc
ALL_LDFLAGS = $(LDFLAGS) $(PROF)
LIBS     := -lz -lm
# ISA-L's CRC-32 when installed (the deps step installs it): same values as zlib, faster.
ISAL     ?= $(shell pkg-config --exists libisal 2>/dev/null && echo 1 || echo 0)
ifeq ($(ISAL),1)
ALL_CFLAGS += -DVGPU_HAVE_ISAL
LIBS     += $(shell pkg-config --libs libisal)
endif
ifeq ($(FIU),1)
ALL_CFLAGS += -DFIU_ENABLE=1
LIBS     += -lfiu
endif
# The configuration file is read with inih (required; the deps step installs it).
LIBS     += $(shell pkg-config --libs inih 2>/dev/null || echo -linih)
# libsystemd for sd_notify (Type=notify, watchdog): optional. Without it vgpu-mediator is
# built with src/cmd/notify_none.c and says "notification: none" in --version.
SYSTEMD  ?= $(shell pkg-config --exists libsystemd 2>/dev/null && echo 1 || echo 0)
ifeq ($(SYSTEMD),1)
NOTIFY_SRC  := src/cmd/notify_systemd.c
NOTIFY_LIBS := $(shell pkg-config --libs libsystemd)
else
NOTIFY_SRC  := src/cmd/notify_none.c
NOTIFY_LIBS :=
endif
VERSION  := $(shell sed -n 's/^\#define VGPU_VERSION "\(.*\)"/\1/p' src/lib/version.h)
CLIENT_ABI := $(shell sed -n 's/^\#define VGPU_CLIENT_ABI \([0-9]*\)/\1/p' src/lib/version.h)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -pthread)

# --- CUDA toolkit: detected, never required by check or demo --------------------------
CUDA_HOME ?= $(firstword $(wildcard /usr/local/cuda) $(patsubst %/bin/nvcc,%,$(shell command -v nvcc 2>/dev/null)))
NVCC      ?= $(if $(CUDA_HOME),$(wildcard $(CUDA_HOME)/bin/nvcc))
HAVE_CUDA := $(if $(NVCC),1,0)

# --- sources (explicit lists) ------------------------------------------------------
# $(wildcard) keeps the lists explicit while files are being written.
LIB_SRC      := src/lib/status.c src/lib/log.c src/lib/clock.c src/lib/errbuf.c src/lib/crc.c src/lib/op.c src/lib/kernel_args.c src/lib/opref.c \
                src/lib/env.c src/lib/record.c src/lib/record_syntax.c src/lib/record_status.c src/lib/safeio.c
CLIENT_SRC   := src/client/client.c src/client/client_lock.c src/client/client_core.c \
                src/client/client_call.c src/client/client_kernel.c src/client/client_wait.c \
                src/client/client_nonce.c
# Plan B (exec_remote.c) is a client of the worker VM: the executors' library holds the
# client's objects too.
EXEC_SRC     := src/exec/executor.c src/exec/exec_pool.c src/exec/pool_worker.c src/exec/pool_kernel.c src/exec/exec_remote.c \
                src/exec/wire.c src/exec/proc.c \
                src/exec/backend.c src/exec/backend_mock.c src/exec/arena.c src/exec/payload_io.c $(CLIENT_SRC)
MEDIATOR_SRC := src/mediator/pqueue.c src/mediator/state.c src/mediator/state_legacy.c src/mediator/job.c src/mediator/journal.c \
                src/mediator/intake.c src/mediator/answer.c src/mediator/mediator.c src/mediator/vms.c \
                src/mediator/config.c src/mediator/config_render.c src/mediator/metrics.c src/mediator/report.c \
                src/mediator/ratelimit.c src/mediator/outputs.c src/mediator/lock.c \
                src/mediator/progress.c src/mediator/await.c

LIB_OBJ      := $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(LIB_SRC)))
EXEC_OBJ     := $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(EXEC_SRC)))
MEDIATOR_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(MEDIATOR_SRC)))
CLIENT_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(CLIENT_SRC)))

LIBVGPU      := $(BUILD)/libvgpu.a
LIBCLIENT    := $(BUILD)/libvgpu-client.a
LIBMEDIATOR  := $(BUILD)/libvgpu-mediator.a

BINS := $(BUILD)/vgpu-mediator $(BUILD)/vgpu-client $(BUILD)/vgpu-worker $(BUILD)/cuda-sanity \
        $(BUILD)/vgpu-doctor

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all check check-unit check-e2e check-summary check-valgrind check-gpu coverage demo deps install clean report errors-log \
        uninstall release release-files man check-ops check-cli check-fresh bench-wait
all: $(BINS) $(UNIT_BINS) $(BUILD)/tests/e2e/test_e2e $(BUILD)/reaper

# Quiet build lines, as kbuild: "  CC      build/src/lib/log.o"; V=1 shows the commands.
V ?= 0
ifeq ($(V),1)
Q   :=
say := @true
else
Q   := @
say := @printf '  %-7s %s\n'
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(LIBVGPU): $(LIB_OBJ) $(EXEC_OBJ)
	$(say) AR $@
	$(Q)rm -f $@; ar rcs $@ $^
$(LIBCLIENT): $(CLIENT_OBJ)
	$(say) AR $@
	$(Q)rm -f $@; ar rcs $@ $^
$(LIBMEDIATOR): $(MEDIATOR_OBJ)
	$(say) AR $@
	$(Q)rm -f $@; ar rcs $@ $^

$(BUILD)/vgpu-mediator: $(BUILD)/src/cmd/vgpu-mediator.o $(BUILD)/src/cmd/mediator_cli.o $(NOTIFY_SRC:%.c=$(BUILD)/%.o) $(LIBMEDIATOR) $(LIBVGPU)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(NOTIFY_LIBS)
$(BUILD)/vgpu-client: $(BUILD)/src/cmd/vgpu-client.o $(BUILD)/src/cmd/client_kernel_cmd.o $(BUILD)/src/cmd/client_opts.o $(BUILD)/src/cmd/client_out.o \
                       $(LIBCLIENT) $(LIBVGPU)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/vgpu-doctor: $(BUILD)/src/cmd/vgpu-doctor.o $(LIBVGPU)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# Shared test helpers (msleep, bounded waits, the Check main): tests/common/testutil.h.
TESTUTIL_OBJ := $(BUILD)/tests/common/testutil.o

# Unit tests: one Check program per module, linked with every library.
$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(TESTUTIL_OBJ) $(LIBMEDIATOR) $(LIBCLIENT) $(LIBVGPU)
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

# vgpu-worker and cuda-sanity, with or without CUDA.
include src/exec/cuda.mk
-include tests/nfs_sim/nfs_sim.mk
-include tests/fault/fault.mk
-include tools/tools.mk
-include tests/vm/vm.mk
-include tests/fuzz/fuzz.mk
-include bench/bench.mk

# --- running tests --------------------------------------------------------------------
# Every Check program also logs to $(BUILD)/reports/check/ (CK_LOG_FILE_NAME), so that
# `make check` can end with all their summary lines. Each program runs, even after one
# failed; the target fails at the end, naming every program that failed.
CHECK_LOGS := $(BUILD)/reports/check
check-unit: $(UNIT_BINS) $(BUILD)/vgpu-worker $(BUILD)/vgpu-doctor
	@mkdir -p $(CHECK_LOGS)
	@failed=""; for t in $(UNIT_BINS); do echo "== $$t"; \
	  CK_LOG_FILE_NAME=$(CHECK_LOGS)/$${t##*/}.log VGPU_BUILD=$(BUILD) $$t || { \
	    rc=$$?; echo "== $$t: FAILED (exit $$rc)"; failed="$$failed $${t##*/}"; }; done; \
	  if [ -n "$$failed" ]; then echo "check-unit: failed:$$failed"; exit 1; fi

# Tests that start daemons run under the reaper: orphaned daemons are reaped, and any
# still alive at the end are named and stopped (tests/e2e/reaper.c).
REAPER := $(BUILD)/reaper
$(REAPER): $(BUILD)/tests/e2e/reaper.o
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

# End-to-end: the real binaries on a private directory (tests/e2e).
E2E_UTIL_OBJ := $(BUILD)/tests/e2e/e2e_util.o
$(BUILD)/tests/e2e/test_e2e: $(BUILD)/tests/e2e/test_e2e.o $(E2E_UTIL_OBJ) $(TESTUTIL_OBJ) $(LIBCLIENT) $(LIBVGPU)
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

# Once per backend (E2E_BACKENDS): the clients use the directory itself, an nfssim mount
# of it, or an nfssim mount of a loopback nfs-ganesha exporting it (docs/NFSSIM.md).
# Without /dev/fuse only the local backend runs, and the skip is printed. Every run
# happens; the target fails at the end naming the runs that failed.
E2E_BACKENDS ?= local nfssim-local nfssim-ganesha $(if $(VGPU_KNFS_MOUNT),knfs)
check-e2e: $(BINS) $(BUILD)/tests/e2e/test_e2e $(if $(filter nfssim-%,$(E2E_BACKENDS)),$(NFSSIM_BIN))
	@mkdir -p $(CHECK_LOGS); failed=""; for b in $(E2E_BACKENDS); do \
	  if [ "$$b" != local ] && [ ! -e /dev/fuse ]; then echo "== e2e backend $$b: SKIP (/dev/fuse missing)"; continue; fi; \
	  echo "== $(BUILD)/tests/e2e/test_e2e (executor $${EXECUTOR:-mock}, backend $$b)"; \
	  CK_LOG_FILE_NAME=$(CHECK_LOGS)/test_e2e-$$b.log E2E_BACKEND=$$b VGPU_BUILD=$(BUILD) \
	    $(BUILD)/tests/e2e/test_e2e || failed="$$failed $$b"; done; \
	if [ "$${EXECUTOR:-mock}" = mock ]; then \
	  echo "== $(BUILD)/tests/e2e/test_e2e (executor mock with 3 workers, as with 3 GPUs; backend local)"; \
	  CK_LOG_FILE_NAME=$(CHECK_LOGS)/test_e2e-3workers.log VGPU_MOCK_DEVICES=3 E2E_BACKEND=local \
	  VGPU_BUILD=$(BUILD) $(BUILD)/tests/e2e/test_e2e || failed="$$failed 3workers"; fi; \
	if [ -n "$$failed" ]; then echo "check-e2e: failed:$$failed"; exit 1; fi

# `make check`: every stage runs (a failed one does not stop the next; only a failed
# build skips the tests), each announced as "== [i/n] name"; then each Check program's
# summary line, and as the very last line the verdict with the counts
# (tools/check_summary.py). Stage results: $(BUILD)/reports/stages/NAME.rc.
# Each entry: name:target[:reap] (reap: run under $(REAPER)).
CHECK_STAGES := build:all unit:check-unit e2e:check-e2e:reap nfssim:check-nfssim:reap \
                runner:check-runner fault:check-fault:reap knfs:check-knfs:reap xen:check-xen:reap ops:check-ops:reap systemd:check-systemd:reap cli:check-cli:reap \
                fuzz:fuzz-smoke errorslog:check-errors-log report:report
STAGES_DIR   := $(BUILD)/reports/stages
check: deps
	@rm -rf $(CHECK_LOGS) $(STAGES_DIR) $(BUILD)/reports/nfssim.txt $(BUILD)/reports/runner.json; mkdir -p $(STAGES_DIR)
	@i=0; n=$(words $(CHECK_STAGES)); built=1; for s in $(CHECK_STAGES); do i=$$((i + 1)); \
	  name=$${s%%:*}; rest=$${s#*:}; tgt=$${rest%%:*}; reap=; \
	  case "$$rest" in *:reap) reap=$(REAPER);; esac; \
	  echo; echo "== [$$i/$$n] $$name (make $$tgt)"; \
	  if [ $$built = 0 ]; then echo "== [$$i/$$n] $$name: not run (the build failed)"; echo skip > $(STAGES_DIR)/$$name.rc; continue; fi; \
	  $$reap $(MAKE) --no-print-directory $$tgt; rc=$$?; echo $$rc > $(STAGES_DIR)/$$name.rc; \
	  if [ $$rc != 0 ]; then echo "== [$$i/$$n] $$name: FAILED (exit $$rc)"; [ $$name = build ] && built=0; fi; \
	done; \
	python3 tools/check_summary.py --reports $(BUILD)/reports --stages "$(foreach s,$(CHECK_STAGES),$(firstword $(subst :, ,$(s))))" \
	  --unit-programs $(words $(UNIT_BINS))

# Each Check program's own summary line (also printed by `make check`).
check-summary:
	@python3 tools/check_summary.py --reports $(BUILD)/reports --no-banner

check-valgrind: $(UNIT_BINS) $(BUILD)/vgpu-worker $(BUILD)/vgpu-doctor
	@set -e; for t in $(UNIT_BINS); do echo "== valgrind $$t"; \
	  VGPU_BUILD=$(BUILD) CK_FORK=no valgrind -q --suppressions=tests/valgrind.supp --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
	    --errors-for-leak-kinds=definite,indirect,possible $$t; done

# Every test target runs (-k: one that fails does not hide the others' coverage).
# -std=gnu11 (after the Makefile's -std=c11): only with GNU builtins does GCC route fork()
# and exec*() through libgcov (__gcov_fork, __gcov_execv), so that what a child runs
# between fork and exec is counted too; the code is the same.
COV_PROF := --coverage -std=gnu11
coverage: deps
	@$(MAKE) --no-print-directory clean-coverage
	@$(MAKE) --no-print-directory BUILD=build/cov OPT=-O0 PROF="$(COV_PROF)" all
	@$(MAKE) -k --no-print-directory BUILD=build/cov OPT=-O0 PROF="$(COV_PROF)" check-unit check-e2e check-nfssim \
	  check-fault check-ops check-cli; echo $$? > build/cov/tests.rc
	@lcov -q --capture --directory build/cov --output-file coverage/lcov.info --rc lcov_branch_coverage=1 >/dev/null 2>&1
	@lcov -q --extract coverage/lcov.info '*/src/*' --output-file coverage/lcov.info --rc lcov_branch_coverage=1 >/dev/null
	@genhtml -q coverage/lcov.info --output-directory coverage/html --rc lcov_branch_coverage=1 >/dev/null
	@lcov --summary coverage/lcov.info --rc lcov_branch_coverage=1 2>&1 | tee coverage/summary.txt
	@python3 tools/coverage_gate.py coverage/lcov.info > coverage/gate.txt; rc=$$?; cat coverage/gate.txt; \
	  cat coverage/gate.txt >> coverage/summary.txt; t=$$(cat build/cov/tests.rc); \
	  if [ "$$t" != 0 ]; then echo "coverage: a test failed in the coverage build (exit $$t)"; exit 1; fi; exit $$rc

clean-coverage:
	@rm -rf build/cov coverage/html coverage/lcov.info coverage/summary.txt

demo: deps $(BINS)
	@BUILD=$(BUILD) scripts/demo.sh

# `make deps` installs what `make check` needs; `make deps-SET` only SET's packages
# (scripts/deps.sh: build, check, coverage, fresh); `make demo` asks for the build set.
# Never starts, nor enables at boot, an NFS server or portmapper that it installs.
DEPS_SET ?= check
demo: DEPS_SET = build
coverage: DEPS_SET = coverage
deps:
	@scripts/deps.sh $(DEPS_SET)
deps-%:
	@scripts/deps.sh $*

# `make check-fresh`: the README's two commands (make demo, make check) in a minimal
# Debian 12 root built with mmdebstrap (cached in $(BUILD)/fresh/root), on a clean clone
# of HEAD, entered with unshare --mount + pivot_root (tests/fresh/run.sh, docs/HARNESS.md).
check-fresh: deps-fresh
	@BUILD=$(BUILD) tests/fresh/run.sh

# --- the client library as a shared object: libvgpu-client.so.ABI ------------------------
# Its own -fPIC objects of the client and the protocol files it uses; exports only the
# installed headers' functions (src/client/libvgpu-client.map), versioned VGPU_CLIENT_$(CLIENT_ABI).
SHLIB_SRC  := $(CLIENT_SRC) src/lib/record.c src/lib/record_syntax.c src/lib/record_status.c src/lib/op.c src/lib/kernel_args.c src/lib/opref.c \
              src/lib/status.c src/lib/safeio.c src/lib/crc.c src/lib/clock.c src/lib/errbuf.c
SHLIB_NAME := libvgpu-client.so.$(CLIENT_ABI)
SHLIB      := $(BUILD)/$(SHLIB_NAME)
SHLIB_LIBS := -lz -lm $(if $(filter 1,$(ISAL)),$(shell pkg-config --libs libisal)) $(if $(filter 1,$(FIU)),-lfiu)
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -MMD -MP -c $< -o $@
# Every symbol resolved at link time, except in a sanitizer build: there the ASan/UBSan
# runtime comes from the executable that loads the library (gcc links it statically).
SHLIB_DEFS := $(if $(findstring sanitize,$(PROF)),,-Wl,--no-undefined)
$(SHLIB): $(SHLIB_SRC:%.c=$(BUILD)/pic/%.o) src/client/libvgpu-client.map
	$(say) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,$(SHLIB_NAME) -Wl,--version-script=src/client/libvgpu-client.map \
	  $(SHLIB_DEFS) -o $@ $(filter %.o,$^) $(SHLIB_LIBS)
	$(Q)ln -sf $(SHLIB_NAME) $(BUILD)/libvgpu-client.so
all: $(SHLIB)

# --- install: release builds, man pages, the unit, pkg-config ------------------------------
# `make install` builds again in $(RELEASE_BUILD) with FIU=0 (no fault-injection points)
# and RELEASE=1 (vgpu-mediator refuses --test-ops unless TEST_OPS=1); the test build in
# $(BUILD) is never installed. Without nvcc (or with NVCC=) the binaries have no CUDA
# backend. `make uninstall` removes what install put there (not the configuration file).
RELEASE_BUILD ?= build/release
TEST_OPS   ?= 0
ifeq ($(RELEASE),1)
ifneq ($(TEST_OPS),1)
ALL_CFLAGS += -DVGPU_NO_TEST_OPS
endif
else
# Every build but a release one decodes each response the encoder wrote before it is
# used (src/lib/record.c; requests always): an assertion, on in all the tests
ALL_CFLAGS += -DVGPU_RECORD_SELFCHECK
endif
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/vgpu-mediator
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
MAN_SRC    := $(wildcard man/*.scd)
MANS       := $(MAN_SRC:man/%.scd=$(BUILD)/man/%)
INSTALL_BINS := vgpu-mediator vgpu-client vgpu-worker cuda-sanity vgpu-doctor
SUBST = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
            -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
            -e 's|@CLIENT_ABI@|$(CLIENT_ABI)|g'

# Man pages: scdoc, one source each (man/NAME.SECTION.scd).
$(BUILD)/man/%: man/%.scd src/lib/version.h
	@mkdir -p $(dir $@)
	$(say) SCDOC $@
	$(Q)$(SUBST) $< | scdoc > $@
man: $(MANS)
$(BUILD)/vgpu-client.pc: src/client/vgpu-client.pc.in src/lib/version.h
	$(Q)$(SUBST) $< > $@
$(BUILD)/vgpu-mediator.service: systemd/vgpu-mediator.service.in
	$(Q)$(SUBST) $< > $@

release:
	@$(MAKE) --no-print-directory BUILD=$(RELEASE_BUILD) FIU=0 RELEASE=1 TEST_OPS=$(TEST_OPS) release-files
release-files: $(BINS) $(SHLIB) $(LIBCLIENT) $(MANS) $(BUILD)/vgpu-client.pc $(BUILD)/vgpu-mediator.service

install: release
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(INCLUDEDIR)/vgpu/client $(DESTDIR)$(INCLUDEDIR)/vgpu/lib $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(INSTALL_BINS:%=$(RELEASE_BUILD)/%) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(RELEASE_BUILD)/$(SHLIB_NAME) $(DESTDIR)$(LIBDIR)/$(SHLIB_NAME)
	ln -sf $(SHLIB_NAME) $(DESTDIR)$(LIBDIR)/libvgpu-client.so
	install -m 0644 $(RELEASE_BUILD)/libvgpu-client.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(RELEASE_BUILD)/vgpu-client.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 0644 src/client/client.h src/client/client_kernel.h $(DESTDIR)$(INCLUDEDIR)/vgpu/client/
	install -m 0644 src/lib/record.h src/lib/op.h src/lib/kernel_args.h src/lib/status.h $(DESTDIR)$(INCLUDEDIR)/vgpu/lib/
	install -m 0644 $(RELEASE_BUILD)/vgpu-mediator.service $(DESTDIR)$(UNITDIR)/
	for m in $(notdir $(MANS)); do install -m 0644 $(RELEASE_BUILD)/man/$$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$$m; done
	install -m 0644 systemd/vgpu-mediator.conf $(DESTDIR)$(DOCDIR)/vgpu-mediator.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/vgpu-mediator.conf ] || \
	  install -m 0644 systemd/vgpu-mediator.conf $(DESTDIR)$(SYSCONFDIR)/vgpu-mediator.conf

uninstall:
	rm -f $(INSTALL_BINS:%=$(DESTDIR)$(BINDIR)/%) $(DESTDIR)$(LIBDIR)/$(SHLIB_NAME) \
	  $(DESTDIR)$(LIBDIR)/libvgpu-client.so $(DESTDIR)$(LIBDIR)/libvgpu-client.a $(DESTDIR)$(LIBDIR)/libvgpu.a \
	  $(DESTDIR)$(PKGCONFIGDIR)/vgpu-client.pc $(DESTDIR)$(INCLUDEDIR)/vgpu/client/client.h \
	  $(DESTDIR)$(INCLUDEDIR)/vgpu/client/client_kernel.h $(DESTDIR)$(INCLUDEDIR)/vgpu/lib/kernel_args.h \
	  $(DESTDIR)$(INCLUDEDIR)/vgpu/lib/record.h $(DESTDIR)$(INCLUDEDIR)/vgpu/lib/op.h \
	  $(DESTDIR)$(INCLUDEDIR)/vgpu/lib/status.h $(DESTDIR)$(UNITDIR)/vgpu-mediator.service \
	  $(DESTDIR)$(DOCDIR)/vgpu-mediator.conf.example \
	  $(foreach m,$(notdir $(MANS)),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(m))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/vgpu/client $(DESTDIR)$(INCLUDEDIR)/vgpu/lib $(DESTDIR)$(INCLUDEDIR)/vgpu \
	  $(DESTDIR)$(DOCDIR) 2>/dev/null
	@[ ! -e $(DESTDIR)$(SYSCONFDIR)/vgpu-mediator.conf ] || \
	  echo "uninstall: kept $(DESTDIR)$(SYSCONFDIR)/vgpu-mediator.conf (yours); remove it by hand if unwanted"

# Operations: config files, the daemon's signals, status and metrics, install/uninstall,
# the client library through pkg-config, man pages, the unit (tests/ops/run.sh).
check-ops: $(BINS) $(BUILD)/reaper
	@BUILD=$(BUILD) tests/ops/run.sh

# The command lines as a user meets them: --help, --version, each option's validation with
# its exit status and message, vgpu-client against a mock mediator, `status` corner cases,
# vgpu-doctor's findings, vgpu-worker's arguments (tests/cli/run.sh).
check-cli: $(BINS) $(BUILD)/reaper
	@rc=0; BUILD=$(BUILD) tests/cli/run.sh || rc=1; BUILD=$(BUILD) tests/cli/kernel.sh || rc=1; exit $$rc

# vgpu-mediator under a real systemd: PID 1 of a QEMU guest booted on this host's root, the
# unit and binaries from `make install DESTDIR=…`; start (READY), status, reload, stop
# (tests/systemd/run.sh, docs/OPERATIONS.md). A stage of make check. Its packages
# (the install's build, QEMU, the guest's kernel tools, systemd): deps-systemd.
CHECK_SYSTEMD_PKGS := gcc make pkg-config zlib1g-dev libinih-dev libsystemd-dev scdoc \
                      qemu-system-x86 busybox-static kmod systemd
.PHONY: deps-systemd check-systemd
deps-systemd:
	@tests/systemd/deps.sh $(CHECK_SYSTEMD_PKGS)
check-systemd: deps-systemd
	@BUILD=$(BUILD) tests/systemd/run.sh

# The client's waiting policy against its floors (bench/bench-wait.c, docs/CLIENT.md
# "Waiting"): a ping and a 22 ms job on tmpfs, no mediator, no GPU.
$(BUILD)/bench/bench-wait: $(BUILD)/bench/bench-wait.o $(LIBCLIENT) $(LIBVGPU)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)
all: $(BUILD)/bench/bench-wait
bench-wait: $(BUILD)/bench/bench-wait
	@d=$$(mktemp -d /dev/shm/vgpu-bench-wait-XXXXXX) && mkdir $$d/vm1 && \
	  $(BUILD)/bench/bench-wait $$d/vm1 0 2000 && $(BUILD)/bench/bench-wait $$d/vm1 22000 100; rc=$$?; rm -rf $$d; exit $$rc

# Kept mutants: each tests/mutants/*.patch must be killed by the test it names, by that
# test's own check (tests/mutants/run.sh; docs/HARNESS.md).
check-mutants: deps
	@BUILD=$(BUILD) tests/mutants/run.sh

clean:
	rm -rf $(BUILD) coverage/html coverage/lcov.info coverage/summary.txt

# (not in $(BUILD)/fresh: the Debian root of make check-fresh has files named *.d)
-include $(shell find $(BUILD) -path $(BUILD)/fresh -prune -o -name '*.d' -type f -print 2>/dev/null)
