/* client_lock.c - the local lock that serialises one VM's vgpu-client processes, and
 * the seq counter stored in it ("seq N"), so that a seq is spent before it is published.
 * Taken with flock(LOCK_EX|LOCK_NB) in a loop until the call's deadline, never a
 * blocking flock, and never on NFS (NFS locks need lockd/statd and can hang).
 * Depends on src/lib only: client.c calls it, never the other way (its errors are
 * lib/errbuf's, as vgpu_client_fail() formats them). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <linux/magic.h>
#include <unistd.h>

#include "client_int.h"
#include "../lib/errbuf.h"

#define LOCK_POLL_MS 5
#define LOCK_SUBDIR "vgpu-client"

/* Where the default lock directory lives: the first of these that is a directory. The
 * choice depends on the machine only, never on the caller's environment, so that every
 * client of a VM (an ssh login, cron, a service) finds the same lock. */
static const char *const lock_bases[] = { "/run/lock", "/var/lock", "/tmp" };

/* Create (mode 1777, like /tmp) or check BASE/vgpu-client into OUT. It must be a real
 * directory, owned by root or by us (another user who owns it could swap the lock files),
 * and sticky when others may write it (else they could). */
static int default_lock_dir(char *out, size_t cap, char *err, size_t errlen)
{
	const char *base = lock_bases[sizeof(lock_bases) / sizeof(lock_bases[0]) - 1];
	struct stat st;
	int n;

	for (size_t i = 0; i < sizeof(lock_bases) / sizeof(lock_bases[0]); i++)
		if (stat(lock_bases[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			base = lock_bases[i];
			break;
		}
	n = snprintf(out, cap, "%s/" LOCK_SUBDIR, base);
	if (n < 0 || (size_t)n >= cap)
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK, "lock directory path too long");
	if (mkdir(out, 01777) == 0)
		chmod(out, 01777);      /* past the umask */
	else if (errno != EEXIST)
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK,
					"cannot create the lock directory %s: %s; create it once as root "
					"(install -d -m 1777 %s, or a tmpfiles.d line: docs/CLIENT.md), or pass --lock-dir",
					out, strerror(errno), out);
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode))
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK,
					"lock directory %s is not a directory (a symlink?): remove it, or pass --lock-dir",
					out);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK,
					"lock directory %s belongs to uid %ju, neither root nor us: its owner could swap "
					"the locks; remove it and create it as root (install -d -m 1777 %s), or pass "
					"--lock-dir", out, (uintmax_t)st.st_uid, out);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK,
					"lock directory %s is writable by others without the sticky bit: chmod 1777 %s",
					out, out);
	return VGPU_CLIENT_OK;
}

/* FNV-1a, 64 bits, over LEN bytes, continuing from H. */
static uint64_t fnv1a64(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* LOCKDIR/vgpu-client-HASH-vmN.lock, HASH over the VM directory's real path, device and
 * inode: the same for every client of it, never from the environment. The path keeps a
 * directory made anew, which may get a freed inode back, from inheriting the counter of
 * a removed one; device and inode keep a directory removed and made again under the same
 * path apart (inodes being rarely equal). */
int vgpu_client_lock_locate(struct vgpu_client *c, const struct vgpu_client_opts *opts, char *err, size_t errlen)
{
	char def[PATH_MAX];
	const char *lock_dir = opts && opts->lock_dir && opts->lock_dir[0] ? opts->lock_dir : NULL;
	struct statfs sf;
	struct stat st;
	int n, rc;

	if (!lock_dir) {
		if ((rc = default_lock_dir(def, sizeof(def), err, errlen)) != VGPU_CLIENT_OK)
			return rc;
		lock_dir = def;
	} else if (stat(lock_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK, "lock directory %s is not a directory (--lock-dir)",
					lock_dir);
	}
	/* The lock file is as open as its directory: every client of the VM that may
	 * create it there must be able to store the counter in it. */
	c->lock_mode = 0600;
	if (stat(lock_dir, &st) == 0)
		c->lock_mode |= (st.st_mode & S_IWGRP ? 0060 : 0) | (st.st_mode & S_IWOTH ? 0006 : 0);
	if (statfs(lock_dir, &sf) == 0 && sf.f_type == NFS_SUPER_MAGIC)
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK,
					"lock directory %s is on NFS: a lock there needs lockd and can hang; give a local "
					"directory (--lock-dir)", lock_dir);
	if (fstat(c->dirfd, &st) < 0)
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_EIO, "fstat(%s): %s", c->dir, strerror(errno));
	uint64_t id[2] = { (uint64_t)st.st_dev, (uint64_t)st.st_ino };
	uint64_t h = fnv1a64(0xcbf29ce484222325ULL, c->dir, strlen(c->dir) + 1);
	h = fnv1a64(h, id, sizeof(id));
	n = snprintf(c->lock_path, sizeof(c->lock_path), "%s/vgpu-client-%016" PRIx64 "-vm%" PRIu32 ".lock", lock_dir,
		     h, c->vm);
	if (n < 0 || (size_t)n >= sizeof(c->lock_path))
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_EUSAGE, "lock directory path too long");
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
	/* No ftruncate: seqs only grow, so "seq N\n" covers the one it replaces, and
	 * lock_counter() reads up to the first newline (what follows is ignored). */
	ssize_t w = pwrite(c->lockfd, buf, (size_t)n, 0);
	if (w < 0)
		return -errno;
	return w == n ? 0 : -EIO;
}

/* Open the lock file, creating it with MODE. An existing file is opened without O_CREAT,
 * which fs.protected_regular refuses for another user's file in a sticky directory. */
static int open_lock(const char *path, mode_t mode)
{
	int fd;

	for (int tries = 0; tries < 3; tries++) {
		fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT)
			return fd < 0 ? -errno : fd;
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0) {
			fchmod(fd, mode);       /* past the umask */
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static void lock_sleep(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = LOCK_POLL_MS * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Open the lock file into c->lockfd for this process. */
static int lock_open(struct vgpu_client *c, char *err, size_t errlen)
{
	struct stat st;
	int fd = open_lock(c->lock_path, c->lock_mode);

	if (fd < 0)
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK, "cannot open lock file %s: %s%s", c->lock_path,
					strerror(-fd), fd == -EACCES ? " (made by another user without group or other "
					"write permission: remove it)" : "");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK, "lock file %s is not a regular file",
					c->lock_path);
	}
	c->lockfd = fd;
	c->lock_gen = vgpu_client_fork_gen();
	return VGPU_CLIENT_OK;
}

static void lock_close(struct vgpu_client *c)
{
	if (c->lockfd >= 0)
		close(c->lockfd);
	c->lockfd = -1;
	c->lock_held = 0;
}

/* How many names FD's file has: statx() asking for the link count only (0.4 us where a
 * full fstat() took 1.7 us, per call), fstat() where there is no statx. 0 on error. */
static unsigned lock_links(int fd)
{
	struct statx sx;
	struct stat st;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_NLINK, &sx) == 0 && (sx.stx_mask & STATX_NLINK))
		return sx.stx_nlink;
	return fstat(fd, &st) == 0 ? (unsigned)st.st_nlink : 0;
}

/* The lock file stays open across the calls of one handle (an open, fstat and close less
 * per call: docs/CLIENT.md step 1), flocked only during a call. Two things would make the
 * kept descriptor lock nothing: a fork (the child shares the parent's open file, and
 * flock() locks are per open file: parent and child would both hold it), so a child
 * opens its own; and the file removed or replaced under its name (another client then
 * locks the new file), so once locked, a descriptor whose file has no name left
 * (link count 0) is dropped and the name opened again. */
int vgpu_client_lock_take(struct vgpu_client *c, uint64_t deadline, char *err, size_t errlen)
{
	int rc;

	if (c->lockfd >= 0 && c->lock_gen != vgpu_client_fork_gen()) {
		close(c->lockfd);       /* the parent's: closing our copy leaves its lock alone */
		c->lockfd = -1;
	}
	c->lock_held = 0;
	for (;;) {
		if (c->lockfd < 0 && (rc = lock_open(c, err, errlen)) != VGPU_CLIENT_OK)
			return rc;
		if (flock(c->lockfd, LOCK_EX | LOCK_NB) == 0) {
			if (lock_links(c->lockfd) > 0)
				break;
			lock_close(c);  /* removed or replaced: lock what the name is now */
			if (vgpu_now_ms() >= deadline)
				return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK, "lock file %s is removed or replaced "
							"each time it is locked", c->lock_path);
			continue;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;
			lock_close(c);
			return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK, "flock(%s): %s", c->lock_path, strerror(e));
		}
		if (vgpu_now_ms() >= deadline)
			return vgpu_errbuf(err, errlen, VGPU_CLIENT_ELOCK,
						"lock %s still held after %d ms: another vgpu-client for vm%" PRIu32
						" is waiting for its answer (one request per VM at a time)",
						c->lock_path, c->timeout_ms, c->vm);
		lock_sleep();
	}
	c->lock_held = 1;
	c->counter = lock_counter(c->lockfd);
	return VGPU_CLIENT_OK;
}

const char *vgpu_client_lock_path(const struct vgpu_client *c)
{
	return c->lock_path;
}

void vgpu_client_lock_release(struct vgpu_client *c)
{
	if (c->lock_held)
		flock(c->lockfd, LOCK_UN);
	c->lock_held = 0;
}

void vgpu_client_lock_close(struct vgpu_client *c)
{
	vgpu_client_lock_release(c);
	lock_close(c);
}
