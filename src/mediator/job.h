/* job.h - one request of one VM on its way through the mediator: made by intake,
 * queued by priority, run on an executor slot, answered, freed. A job owns the files of
 * its input (the VM's payload, opened and checked, not read: the executor reads it) and
 * output (a private file the executor writes; outputs.c names it). Not an API: only
 * src/mediator includes it. */
#ifndef VGPU_MEDIATOR_JOB_H
#define VGPU_MEDIATOR_JOB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "pqueue.h"
#include "exec/executor.h"
#include "lib/record.h"

struct vm;

/* The closer (job.c): a thread that closes descriptors for the loop. Closing the last
 * reference of a big unlinked file frees its pages (tmpfs: 36 ms for 256 MiB measured
 * here), which must not stall the loop (docs/MEDIATOR.md). */
struct vgpu_closer {
	int pipe[2];                 /* -1: no thread; descriptors are closed inline */
	pthread_t thread;
	uint64_t handed;             /* descriptors handed to the thread */
};
/* Start C's thread. 0, or -errno (C then closes inline). */
int vgpu_closer_start(struct vgpu_closer *c);
/* Close FD through C's thread (inline when C or its pipe is not there). */
void vgpu_closer_close(struct vgpu_closer *c, int fd);
/* Close what was handed, stop and join the thread. */
void vgpu_closer_stop(struct vgpu_closer *c);

struct job {
	struct vgpu_pq_item item;    /* first: the queue hands back &item */
	struct vm *vm;               /* borrowed: the VM outlives its job */
	struct vgpu_request req;
	int prio;                    /* after the cap */
	int in_fd, out_fd;           /* the payload, the output file; -1 when unused */
	size_t in_bytes, out_bytes;  /* out_bytes 0: summary only (no output file wanted) */
	uint32_t in_crc;             /* the record's CRC-32 of the payload: the executor checks it */
	char out_tmp[64];            /* the output's temporary name, "" when it has none (O_TMPFILE) */
	uint64_t held;               /* payload bytes counted in *HELD_FROM (the budget, intake.c) */
	uint64_t *held_from;
	struct vgpu_closer *closer;  /* closes its files off the loop; NULL: inline */
	size_t out_count;            /* floats of output, for every compute op */
	uint64_t enqueued_us, started_us;
	uint64_t deadline_ms;
	/* await.c: the window in which the mediator looks for its end without sleeping
	 * (0, 0: none), and what VGPU_MEDIATOR_PHASES=1 prints */
	uint64_t spin_from_us, spin_to_us;
	int spin_on;                 /* the window is used (else only planned, await.c) */
	uint64_t intent_us, rtt_us, exec_us;
};

/* A job for REQ (copied) of VM, without memfds. NULL when out of memory. */
struct job *vgpu_job_new(struct vm *vm, const struct vgpu_request *req);
/* Close its files (removing an output never published), give its payload bytes back to
 * the budget, free it. NULL is ignored. */
void vgpu_job_free(struct job *job);
/* The job as an executor takes it, with DEADLINE_MS; the fds stay the job's. Can't fail. */
void vgpu_job_to_exec(const struct job *job, uint64_t deadline_ms, struct vgpu_exec_job *xj);

/* Does the answer to REQ carry out-SEQ.bin? ("output file", or payload input by default) */
static inline int vgpu_wants_output_file(const struct vgpu_request *req)
{
	return req->output_file == 1 || (req->output_file < 0 && !req->args.has_seed);
}

#endif
