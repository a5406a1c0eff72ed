/* e2e_util.h - helpers for tests that run the real binaries: a private directory tree,
 * starting and stopping a vgpu-mediator, reading its journal. Used by tests/e2e and
 * tests/fault. Every process started is killed at the end, even on failure. */
#ifndef VGPU_E2E_UTIL_H
#define VGPU_E2E_UTIL_H

#include <stdint.h>
#include <sys/types.h>

struct e2e_env {
	char dir[256];        /* private temporary directory */
	char root[300];       /* dir/export: holds vmN/ */
	char state[300];      /* dir/state */
	char journal[300];    /* dir/journal */
	char log[300];        /* dir/mediator.log */
	const char *build;    /* where the binaries are ($VGPU_BUILD, default "build") */
	pid_t mediator;
};

/* Make the tree with VMS directories vm1..vmVMS (mode 0777). 0 or -errno. */
int e2e_setup(struct e2e_env *e, int vms);
/* Start vgpu-mediator with --root/--state/--journal and the NULL-terminated extra
 * ARGS; waits until its log says it is serving. 0 or -1. */
int e2e_start_mediator(struct e2e_env *e, const char *const *args);
/* SIGTERM and wait up to TIMEOUT_MS; returns its exit status (0..255), 128+sig when
 * killed, -1 when it had to be SIGKILLed after the timeout. */
int e2e_stop_mediator(struct e2e_env *e, int timeout_ms);
/* Kill everything and remove the tree (unless VGPU_KEEP=1). */
void e2e_teardown(struct e2e_env *e);

/* Count journal lines with EVENT ("queue", "exec", "answer") for VM and SEQ
 * (VM 0 / SEQ 0: any). */
int e2e_journal_count(const struct e2e_env *e, const char *event, uint32_t vm, int64_t seq);
/* The VMs of "exec" lines in journal order, into OUT (up to MAX); returns the count. */
int e2e_journal_exec_order(const struct e2e_env *e, uint32_t *out, int max);

/* Path of vmN's directory into BUF. */
void e2e_vmdir(const struct e2e_env *e, uint32_t vm, char *buf, size_t cap);

#endif
