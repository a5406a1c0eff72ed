/* state.h - what makes answers exactly-once across restarts: per-VM persistent state
 * in the mediator's private directory (never in the VM's).
 *
 * One journal file per VM, vmN.journal (docs/PROTOCOL.md section 7): two fixed slots,
 * at 0 and at VGPU_STATE_SLOT, each a text header then a record:
 *
 *   vgpu-journal 1\n gen G\n run SEQ NONCE\n (or "run -\n") len N\n crc XXXXXXXX\n
 *   then N bytes: the last response record answered to the VM (its seq is the
 *   high-water mark; N = 0: nothing answered yet)
 *
 * crc: CRC-32 of the first four header lines and the N bytes. The state is the valid
 * slot with the higher gen. "run" is the intent "seq S nonce X started", written before a
 * job runs and dropped with its answer; none for a ping (it runs nothing, PROTOCOL.md
 * s.5.2). A change writes the whole new slot (gen + 1) with one pwrite() over the slot
 * that does NOT hold the current state, then fdatasync(); only then is it current. A
 * failed, short or torn write, or a failed fdatasync, leaves the current slot whole:
 * the same as a crash before the write.
 *
 * The journal is created at the VM's first state change (temp+fsync+rename, directory
 * fsynced), and kept open (one fd per VM served) until vgpu_state_release(). The files
 * of an older mediator (vmN.last, vmN.run; state_legacy.h) are migrated at load. */
#ifndef VGPU_STATE_H
#define VGPU_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/record.h"

/* The second slot's offset: the largest record plus room for the header. */
#define VGPU_STATE_SLOT ((size_t)VGPU_RECORD_MAX + 4096)

struct vgpu_vm_state {
	int64_t answered_seq;          /* 0: nothing answered yet */
	char answered_nonce[17];
	char *last;                    /* the last response record (malloc'ed) or NULL */
	size_t last_len;
	int64_t running_seq;           /* 0: no intent */
	char running_nonce[17];
	/* the journal (a zeroed struct: no journal, nothing open) */
	int journal;                   /* 1: vmN.journal exists; gen and slot say its state */
	int fd_open;                   /* 1: fd is vmN.journal, open for writing */
	int fd;
	uint64_t gen;                  /* the current slot's gen */
	unsigned slot;                 /* the current slot: 0 or 1 */
};

/* Open (create when missing, mode 0700) the state directory; returns a dir fd or -errno. */
int vgpu_state_open_dir(const char *path);
/* Load VM's state from DIRFD (migrating an older mediator's files, then opening the
 * journal). No journal and no old files mean "fresh". A damaged journal (no valid slot)
 * or old file gives -EBADMSG, an unreadable one its -errno; ST then holds nothing (no
 * release needed). The mediator does not serve that VM (serving it could answer twice),
 * logs it once and tries again on every rescan; the other VMs are served as usual. */
int vgpu_state_load(int dirfd, uint32_t vm, struct vgpu_vm_state *st);
/* Persist the intent to run (seq, nonce) with the last answer. 0 or -errno; on an error
 * ST is unchanged. */
int vgpu_state_begin(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int64_t seq, const char *nonce);
/* Persist RECORD (LEN bytes) as the last answer for (seq, nonce), without intent.
 * 0 or -errno; on an error ST is unchanged. */
int vgpu_state_answered(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int64_t seq,
			const char *nonce, const char *record, size_t len);
/* Free the record and close the journal. */
void vgpu_state_release(struct vgpu_vm_state *st);

#endif
