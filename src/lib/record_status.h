/* record_status.h - the status record: what the mediator tells a VM about itself and
 * the VM's request (docs/PROTOCOL.md section 10, vmN/status.txt). Written by the
 * mediator (src/mediator/progress.c), read by the client (src/client/client_wait.c).
 * Same grammar as requests and responses (record_syntax.c): strict, one parser. */
#ifndef VGPU_RECORD_STATUS_H
#define VGPU_RECORD_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include "record.h"

#define VGPU_STATUS_FILE "status.txt"

enum vgpu_progress_state {
	VGPU_PROGRESS_IDLE = 0,      /* no request of the VM in the mediator's hands */
	VGPU_PROGRESS_QUEUED,        /* accepted, waiting for a slot */
	VGPU_PROGRESS_RUNNING,       /* on an executor slot */
	VGPU_PROGRESS_COUNT
};

struct vgpu_status_rec {
	uint32_t vm;
	uint64_t beat;               /* +1 on every write by this mediator process, from 1 */
	uint64_t time_ms;            /* the mediator's wall clock (Unix ms) when written */
	uint64_t period_ms;          /* rewritten at least this often while the mediator runs */
	enum vgpu_progress_state state;
	int64_t seq;                 /* the request the state is about; 0 when idle */
	char nonce[17];              /* its nonce; 16 zeros when idle */
	enum vgpu_prio priority;     /* queued at (after the cap); idle: the cap */
	enum vgpu_prio cap;          /* the VM's priority cap */
	uint64_t position;           /* queued: jobs ahead of it in the queue; else 0 */
	uint64_t running;            /* jobs running now, all VMs */
	uint64_t since_ms;           /* mediator wall clock when the state began */
	uint64_t expected_ms;        /* expected run time (this VM's last run of the same op
				      * and sizes); 0: unknown */
	char executor[32];           /* the executor's name: mock, pool, remote (Plan B) */
	int64_t answered;            /* the VM's highest answered seq; 0: none */
};

const char *vgpu_progress_state_name(enum vgpu_progress_state s);
int vgpu_progress_state_parse(const char *s);

/* Encode into BUF (CAP bytes): the length, -ENOSPC or -EINVAL (a value out of range). */
int vgpu_status_rec_encode(const struct vgpu_status_rec *s, char *buf, size_t cap);
/* Decode LEN bytes: VGPU_REC_OK or a negative enum vgpu_rec_result with ERR filled; on
 * failure *S is zeroed. */
int vgpu_status_rec_decode(const char *buf, size_t len, struct vgpu_status_rec *s, char *err, size_t errlen);

#endif
