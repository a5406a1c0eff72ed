/* naive_nfs.h - the errors log's literal file I/O over an NFS mount, on purpose: the
 * negative controls of the NFS scenarios (err01, err06, err07_nfs_attr_cache,
 * x_estale_latency). Never used by the product.
 *   - the VM writes command.txt in place with fopen("w")+fprintf+fflush+fclose and does
 *     not check fopen (errors log error 7's "solution" step 1): in a child process, so
 *     that a NULL FILE used as it is kills only the child (glibc: SIGSEGV);
 *   - it waits for response.txt by reading it in a loop, with no timeout and no check of
 *     whose answer it is (bounded here by WAIT_MS so that the test ends);
 *   - it reads response.txt once with fopen/fread and gives up on any error (no ESTALE
 *     retry);
 *   - it polls for an answer with stat() only (size/mtime changed = new answer). */
#ifndef VGPU_NAIVE_NFS_H
#define VGPU_NAIVE_NFS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct naive_nfs_result {
	int open_errno;        /* errno of the unchecked fopen(command.txt), 0 if it worked */
	int wrote;             /* fprintf/fclose ran and the program went on */
	int crash_signal;      /* the writer died by this signal (fprintf on a NULL FILE) */
	char said[200];        /* what it wrote on stderr (its user's only report) */
	int reported;          /* said is not empty */
	int got_answer;        /* it read something it took as the answer */
	char answer[256];      /* what it read (first bytes) */
	long waited_ms;        /* how long it waited before the bound stopped it */
};

/* Write TEXT into DIR/command.txt as the errors log does (in a child: its crash and its
 * stderr are recorded), then, unless it crashed, wait for DIR/response.txt to change from
 * what it held before (or to appear), reading it every 10 ms, for at most WAIT_MS (the
 * naive client has no bound: it hangs). */
void naive_nfs_submit(const char *dir, const char *text, int wait_ms, struct naive_nfs_result *r);

/* fopen/fread/fclose of PATH once, no retry: bytes read into BUF (NUL-terminated), or
 * -errno of the failing call. */
int naive_nfs_read_once(const char *path, char *buf, size_t cap);

/* A stat-only poller: remembers size and mtime (seconds); returns 1 when either changed
 * since the last call (a "new answer"), 0 when not, -errno when stat fails. */
struct naive_stat_poller {
	char path[512];
	off_t size;
	time_t mtime;
	int primed;
};
void naive_stat_init(struct naive_stat_poller *p, const char *path);
int naive_stat_poll(struct naive_stat_poller *p);

#endif
