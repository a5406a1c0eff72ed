/* state.h - what makes answers exactly-once across restarts: per-VM persistent state
 * in the mediator's private directory (never in the VM's).
 *
 * vmN.last: the last response record published to the VM (its seq is the high-water
 * mark); vmN.run: the intent "seq S nonce X started", written before a job runs and
 * removed once answered; none for a ping (it runs nothing, PROTOCOL.md s.5.2). Both
 * published by temp+fsync+rename, directory fsynced.
 * See docs/PROTOCOL.md section 7. */
#ifndef VGPU_STATE_H
#define VGPU_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/record.h"

struct vgpu_vm_state {
	int64_t answered_seq;          /* 0: nothing answered yet */
	char answered_nonce[17];
	char *last;                    /* the last response record (malloc'ed) or NULL */
	size_t last_len;
	int64_t running_seq;           /* 0: no intent */
	char running_nonce[17];
	int run_file;                  /* 1: vmN.run may be on disk (removed with the answer) */
};

/* Open (create when missing, mode 0700) the state directory; returns a dir fd or -errno. */
int vgpu_state_open_dir(const char *path);
/* Load VM's state from DIRFD. Missing files mean "fresh". A corrupt file gives -EBADMSG,
 * an unreadable one its -errno; ST is then empty. The mediator does not serve that VM
 * (serving it could answer twice), logs it once and tries again on every rescan; the
 * other VMs are served as usual. */
int vgpu_state_load(int dirfd, uint32_t vm, struct vgpu_vm_state *st);
/* Persist the intent to run (seq, nonce). 0 or -errno. */
int vgpu_state_begin(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int64_t seq, const char *nonce);
/* Persist RECORD (LEN bytes) as the last answer for (seq, nonce) and drop the intent
 * (vmN.run is removed only when one may be there: an answer to a ping, which has none,
 * costs no unlink). */
int vgpu_state_answered(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int64_t seq,
			const char *nonce, const char *record, size_t len);
void vgpu_state_release(struct vgpu_vm_state *st);

#endif
