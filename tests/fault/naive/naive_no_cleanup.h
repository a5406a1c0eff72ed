/* naive_no_cleanup.h - ERR08's naive control: the errors log's in-process executor.
 *
 * Jobs run inline in the server loop, one after another, in the server's own process:
 * no worker process, no watchdog (a job's timeout_ms is read and ignored), and nothing
 * tracks what a job allocates, so whatever it does not free stays allocated for good
 * ("Ensure proper CUDA cleanup" left to each job). tests/fault/err08_gpu_hang_leak.c
 * runs it in a child under alarm() and shows both symptoms. */
#ifndef VGPU_NAIVE_NO_CLEANUP_H
#define VGPU_NAIVE_NO_CLEANUP_H

#include <stddef.h>
#include <stdint.h>

enum naive_job_op { NAIVE_VADD, NAIVE_SPIN, NAIVE_LEAK };

struct naive_job {
	uint32_t vm;
	enum naive_job_op op;
	uint64_t n, seed;         /* vadd: n elements of generated input */
	uint64_t ms;              /* spin: busy-run this long */
	uint64_t bytes;           /* leak: allocate, touch and never free */
	uint64_t timeout_ms;      /* the request's limit: ignored, there is no watchdog */
};

/* What the naive server writes to its event fd after each job. */
struct naive_event {
	uint32_t vm;
	int index;                /* position in the job list */
	uint64_t done_ms;         /* ms since the server started */
	uint64_t rss_bytes;       /* the server's resident memory after the job */
	float first;              /* vadd: c[0] */
};

/* Serve JOBS[0..N) inline, in order; after each, write one struct naive_event to FD.
 * Runs in the calling process and returns only when every job has run. */
void naive_no_cleanup_serve(const struct naive_job *jobs, int n, int fd);

/* The last leaked block (only so that the compiler keeps the allocation). */
extern void *volatile naive_last_leak;

/* Resident memory of the calling process (from /proc/self/statm); 0 if unknown. */
uint64_t naive_rss_bytes(void);

#endif
