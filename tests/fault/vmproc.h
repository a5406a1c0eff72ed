/* vmproc.h - a process in a VM for the isolation scenarios (x_vm_isolation.c over a
 * local directory, x_vm_isolation_ganesha.c over per-VM nfs-ganesha exports): a child
 * with its own uid that publishes or reads a file, the forged records it sends, and the
 * answers and journal lines the scenario checks. */
#ifndef VGPU_TESTS_FAULT_VMPROC_H
#define VGPU_TESTS_FAULT_VMPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/record.h"

enum vm_act { ACT_PUBLISH, ACT_READ };

/* As UID (a forked child, its groups dropped): publish BYTES as DIR/NAME (ACT_PUBLISH)
 * or read DIR/NAME (ACT_READ). 0, or the errno the VM got (opening DIR included: ENOENT
 * when DIR is not there); -1 when the child could not be run. */
int vmproc_as(uid_t uid, enum vm_act act, const char *dir, const char *name, const void *bytes, size_t len);
/* A high-priority ping record for VM SEQ (what a forger asks for) into BUF, its nonce
 * (from RNG, h_rand) into NONCE[17]. The record's length, or < 0. */
int vmproc_ping_record(uint32_t vm, int64_t seq, uint64_t *rng, char *nonce, char *buf, size_t cap);
/* Wait up to BOUND_MS for DIR/response.txt to answer SEQ; its status, -1 when none. For
 * seq 0 only a refusal counts: the initial response.txt is seq 0 OK. */
int vmproc_wait_response(const char *dir, int64_t seq, int bound_ms, struct vgpu_response *out);
/* Lines of JOURNAL starting with EVENT and naming NONCE. */
int vmproc_journal_count(const char *journal, const char *event, const char *nonce);

#endif
