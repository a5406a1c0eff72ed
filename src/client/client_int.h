/* client_int.h - libvgpu-client's internal parts, shared by client.c (the client object),
 * client_lock.c (the local lock and the seq counter in it), client_core.c (the protocol's
 * client side: start, poll, collect, end) and client_call.c (the blocking call).
 * Not an API: nothing outside src/client includes it. */
#ifndef VGPU_CLIENT_INT_H
#define VGPU_CLIENT_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include "../lib/clock.h"
#include "client.h"

struct vgpu_client {
	int dirfd;
	char *dir;                      /* realpath */
	uint32_t vm;
	int timeout_ms, poll_min_ms, poll_max_ms;
	int no_lock;
	char lock_path[PATH_MAX];
	unsigned lock_mode;             /* for a new lock file: 0600, 0660 or 0666 like its directory */
	int lockfd;                     /* held by vgpu_client_call(), else -1 */
	int64_t counter;                /* highest seq spent, or seen answered for another: next is above */
	int64_t last_seq;
	char *buf;                      /* VGPU_RECORD_MAX: records read and written */
};

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

/* client_lock.c */
/* Set c->lock_path from OPTS (lock_dir) and the VM directory. OK, or ELOCK/EUSAGE. */
int vgpu_client_lock_locate(struct vgpu_client *c, const struct vgpu_client_opts *opts, char *err, size_t errlen);
/* Take the lock into c->lockfd, polling flock(LOCK_NB) until DEADLINE, and load the
 * counter stored in it into c->counter. OK, or ELOCK. */
int vgpu_client_lock_take(struct vgpu_client *c, uint64_t deadline, char *err, size_t errlen);
/* Store SEQ as the lock file's counter (the seq is spent). 0 or -errno. */
int vgpu_client_lock_store(struct vgpu_client *c, int64_t seq);
/* Release and close the lock, if held. Can't fail. */
void vgpu_client_lock_release(struct vgpu_client *c);

#endif
