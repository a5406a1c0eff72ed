/* client_lock.c - the local lock that serialises one VM's vgpu-client processes, and
 * the seq counter stored in it ("seq N"), so that a seq is spent before it is published.
 * Taken with flock(LOCK_EX|LOCK_NB) in a loop until the call's deadline, never a
 * blocking flock, and never on NFS (NFS locks need lockd/statd and can hang). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"

#define LOCK_POLL_MS 5

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* LOCKDIR/vgpu-client-HASH-vmN.lock for the directory c->dir. */
int vgpu_client_lock_locate(struct vgpu_client *c, const struct vgpu_client_opts *opts, char *err, size_t errlen)
{
	const char *lock_dir = opts && opts->lock_dir && opts->lock_dir[0] ? opts->lock_dir : getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (!lock_dir || !lock_dir[0])
		lock_dir = "/tmp";
	if (stat(lock_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_ELOCK, "lock directory %s is not a directory (--lock-dir)",
					lock_dir);
	n = snprintf(c->lock_path, sizeof(c->lock_path), "%s/vgpu-client-%016" PRIx64 "-vm%" PRIu32 ".lock",
		     lock_dir, fnv1a64(c->dir), c->vm);
	if (n < 0 || (size_t)n >= sizeof(c->lock_path))
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_EUSAGE, "lock directory path too long");
	return VGPU_CLIENT_OK;
}

/* The counter in the lock file: "seq N\n"; 0 when empty or unreadable. */
static int64_t lock_counter(int fd)
{
	char buf[40];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long long v;
	char *end;

	if (n <= 4)
		return 0;
	buf[n] = '\0';
	if (strncmp(buf, "seq ", 4) != 0)
		return 0;
	errno = 0;
	v = strtoll(buf + 4, &end, 10);
	if (errno || v < 0 || *end != '\n')
		return 0;
	return v;
}

int vgpu_client_lock_store(struct vgpu_client *c, int64_t seq)
{
	char buf[40];
	int n = snprintf(buf, sizeof(buf), "seq %" PRId64 "\n", seq);

	if (ftruncate(c->lockfd, 0) < 0)
		return -errno;
	ssize_t w = pwrite(c->lockfd, buf, (size_t)n, 0);
	if (w < 0)
		return -errno;
	return w == n ? 0 : -EIO;
}

int vgpu_client_lock_take(struct vgpu_client *c, uint64_t deadline, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(c->lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_ELOCK, "cannot open lock file %s: %s", c->lock_path,
					strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_ELOCK, "lock file %s is not a regular file",
					c->lock_path);
	}
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;
			close(fd);
			return vgpu_client_fail(err, errlen, VGPU_CLIENT_ELOCK, "flock(%s): %s", c->lock_path, strerror(e));
		}
		if (vgpu_client_now_ms() >= deadline) {
			close(fd);
			return vgpu_client_fail(err, errlen, VGPU_CLIENT_ELOCK,
						"lock %s still held after %d ms: another vgpu-client for vm%" PRIu32
						" is waiting for its answer (one request per VM at a time)",
						c->lock_path, c->timeout_ms, c->vm);
		}
		vgpu_client_sleep_ms(LOCK_POLL_MS);
	}
	c->lockfd = fd;
	c->counter = lock_counter(fd);
	return VGPU_CLIENT_OK;
}

void vgpu_client_lock_release(struct vgpu_client *c)
{
	if (c->lockfd >= 0)
		close(c->lockfd);
	c->lockfd = -1;
}
