/* client_int.h - libvgpu-client's internal parts, shared by client.c (the client object),
 * client_lock.c (the local lock and the seq counter in it), client_core.c (the protocol's
 * client side: start, poll, collect, end) and client_call.c (the blocking call).
 * Not an API: nothing outside src/client includes it. */
#ifndef VGPU_CLIENT_INT_H
#define VGPU_CLIENT_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../lib/clock.h"
#include "client.h"
#include "../lib/record_status.h"

#define VGPU_CLIENT_REC_KEEP 512    /* response.txt records up to this size are kept decoded */

struct vgpu_client {
	int dirfd;
	char *dir;                      /* realpath */
	uint32_t vm;
	int timeout_ms, poll_min_ms, poll_max_ms;
	int no_lock;
	char lock_path[PATH_MAX];
	unsigned lock_mode;             /* for a new lock file: 0600, 0660 or 0666 like its directory */
	int lockfd;                     /* the lock file, kept open across calls (client_lock.c); -1: not open */
	int lock_held;                  /* lockfd is flocked: vgpu_client_call() is under way */
	unsigned lock_gen;              /* vgpu_client_fork_gen() when lockfd was opened (a fork's
					 * child opens its own) */
	int64_t counter;                /* highest seq spent, or seen answered for another: next is above */
	int mark_unread;                /* the last send took the lock file's counter without
					 * reading response.txt's mark (client_core.c) */
	int64_t last_seq;
	char *buf;                      /* VGPU_RECORD_MAX: records read and written */
	/* client_nonce.c: the nonces' key, drawn at the first request (again in a fork's
	 * child), and the counter it hashes */
	uint64_t nonce_key[2], nonce_next;
	unsigned nonce_gen;
	int nonce_keyed;
	/* client_core.c: the last response.txt decoded by a poll, its bytes and what they
	 * decoded to. The looks of a wait mostly read the same older answer again: the same
	 * bytes are compared, not decoded again. rec_len 0: none kept. */
	char rec[VGPU_CLIENT_REC_KEEP];
	size_t rec_len;
	int rec_rc;
	struct vgpu_response rec_resp;
	char rec_derr[160];
	/* client_wait.c */
	uint64_t poll_min_us;           /* the shortest sleep between looks */
	int wait_mode;                  /* enum vgpu_client_wait_mode */
	int inofd;                      /* inotify on the directory where local, else -1 */
	int ino_tried;
	vgpu_client_progress_fn progress;
	void *progress_arg;
	/* vgpu_client_call_into(): the caller's output buffer, reused across calls (no fresh
	 * pages to fault in per call); NULL: vgpu_client_call() mallocs one */
	void *out_buf;
	size_t out_cap;
};

/* client_wait.c: one blocking wait for an answer (docs/CLIENT.md, "Waiting"). */
struct vgpu_client_waiter {
	struct vgpu_client *c;
	struct vgpu_client_call *call;
	uint64_t t0_us;                 /* the request was published */
	uint64_t ref_us;                /* the policy's reference: t0, or our job's start */
	uint64_t next_status_us, next_progress_us;
	int have_status, status_rc;     /* status.txt read and decoded; else the last error */
	struct vgpu_status_rec st;
	uint64_t st_read_us;
	uint64_t beat_at_us;            /* when st.beat was first seen (or t0) */
	uint64_t beat_moved;
	uint64_t looks, status_reads, wakeups;
	int yield;                      /* the next back-to-back look yields first */
};

/* What vgpu_client_wait_explain() found. */
enum { VGPU_WAIT_NO_MEDIATOR = 1, VGPU_WAIT_NOT_TAKEN, VGPU_WAIT_QUEUED, VGPU_WAIT_RUNNING, VGPU_WAIT_PLANB,
       VGPU_WAIT_ANSWERED };

/* Before the call is started: the inotify watch (made once), old events dropped. */
void vgpu_client_wait_init(struct vgpu_client_waiter *w, struct vgpu_client *c);
/* CALL was published now. */
void vgpu_client_wait_begin(struct vgpu_client_waiter *w, struct vgpu_client_call *call);
/* Microseconds to wait before the next look at response.txt (reads status.txt when due). */
uint64_t vgpu_client_wait_next_us(struct vgpu_client_waiter *w, uint64_t now_us);
/* Wait US (on inotify where there is one). 1 when an event came. */
int vgpu_client_wait_sleep(struct vgpu_client_waiter *w, uint64_t us);
/* The heartbeat stopped? */
int vgpu_client_wait_stale(const struct vgpu_client_waiter *w, uint64_t now_us);
/* One line on where the request is (BUF); a VGPU_WAIT_* code. */
int vgpu_client_wait_explain(const struct vgpu_client_waiter *w, uint64_t now_us, char *buf, size_t n);
/* The progress callback, once a second after the first. */
void vgpu_client_wait_progress(struct vgpu_client_waiter *w, uint64_t now_us);

/* "root_squash ...: chown the VM directories ...": the fix for EPERM, in messages. */
extern const char vgpu_client_squash_hint[];

/* Write FMT into ERR (when ERR is not NULL) and return RC. */
int vgpu_client_fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void vgpu_client_sleep_ms(uint64_t ms);

/* Map a negative errno from writing WHAT into the VM directory to a client rc (EPERM,
 * ENODIR, EIO) and a message with the fix. */
int vgpu_client_write_error(const struct vgpu_client *c, const char *what, int e, char *err, size_t errlen);

/* client_core.c: what REQ and IN need before anything is sent (EUSAGE, else OK). */
int vgpu_client_check_request(const struct vgpu_request *req, const void *in, size_t in_bytes, char *err,
			      size_t errlen);

/* client_nonce.c */
/* The process's fork generation: it changes in a forked child (pthread_atfork). */
unsigned vgpu_client_fork_gen(void);
/* The next request's nonce into NONCE: 16 lowercase hex digits, SipHash-2-4 of a
 * per-handle counter under a per-handle random key. */
void vgpu_client_make_nonce(struct vgpu_client *c, char nonce[17]);
/* SipHash-2-4 of the 8-byte little-endian message M under KEY. */
uint64_t vgpu_client_siphash_u64(const uint64_t key[2], uint64_t m);

/* client_lock.c */
/* Set c->lock_path from OPTS (lock_dir) and the VM directory. OK, or ELOCK/EUSAGE. */
int vgpu_client_lock_locate(struct vgpu_client *c, const struct vgpu_client_opts *opts, char *err, size_t errlen);
/* Take the lock on c->lockfd (opened if needed), polling flock(LOCK_NB) until DEADLINE, and load the
 * counter stored in it into c->counter. OK, or ELOCK. */
int vgpu_client_lock_take(struct vgpu_client *c, uint64_t deadline, char *err, size_t errlen);
/* Store SEQ as the lock file's counter (the seq is spent). 0 or -errno. */
int vgpu_client_lock_store(struct vgpu_client *c, int64_t seq);
/* Release the lock, if held; the file stays open for the next call. Can't fail. */
void vgpu_client_lock_release(struct vgpu_client *c);
/* Release it and close the file (vgpu_client_close). */
void vgpu_client_lock_close(struct vgpu_client *c);

#endif
