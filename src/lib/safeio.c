/* safeio.c - reading files a VM controls, and publishing files by temp+fsync+rename
 * (docs/PROTOCOL.md sections 2 and 8). Every step that can fail on NFS is checked.
 *
 * libfiu fault points (enable with fiu_enable(); failinfo, if set, is the positive
 * errno to inject, else EIO):
 *   safeio/read/open       openat() of a file to read fails
 *   safeio/read/read       a read() fails
 *   safeio/publish/open    creating the temp file fails
 *   safeio/publish/write   a write() of the temp file fails
 *   safeio/publish/short   a write() writes fewer bytes than asked (half, at least one)
 *   safeio/publish/fsync   fsync() of the temp file fails
 *   safeio/publish/close   close() of the temp file fails (the fd is still closed)
 *   safeio/publish/rename  renameat() over the final name fails
 *   safeio/publish/chown   fchown() of the temp file fails (vgpu_publish_ex with chown)
 * vgpu_publish_ex() can name another prefix for the same points (the mediator's state
 * directory: state/publish/open, ...). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fiu-local.h>

#include "crc_io.h"
#include "record.h"
#include "safeio.h"
#include "strcopy.h"

/* Negative errno for an injected fault: failinfo carries the errno, default EIO. */
static int fault_errno(void)
{
	intptr_t e = (intptr_t)fiu_failinfo();
	return e > 0 ? -(int)e : -EIO;
}

#define FAULT(name) (fiu_fail(name) ? fault_errno() : 0)

/* A publish's fault points, PREFIX/STEP. The prefixes in use are spelled out here, so
 * that a publish names its points without formatting them (six to eight per publish,
 * on every answer); another prefix is formatted at each point. */
enum pstep { PS_OPEN, PS_WRITE, PS_SHORT, PS_CHOWN, PS_FSYNC, PS_CLOSE, PS_RENAME, PS_COUNT };
static const char *const pstep_name[PS_COUNT] = { "open", "write", "short", "chown", "fsync", "close", "rename" };
#define PUBLISH_POINTS(p) { p, { p "/open", p "/write", p "/short", p "/chown", p "/fsync", p "/close", p "/rename" } }
static const struct {
	const char *prefix;
	const char *point[PS_COUNT];
} known_points[] = { PUBLISH_POINTS("safeio/publish"), PUBLISH_POINTS("state/publish"),
		     PUBLISH_POINTS("status/publish") };

/* FAULT() for PREFIX/STEP. */
static int fault_at(const char *prefix, enum pstep step)
{
	char name[96];

	for (size_t i = 0; i < sizeof(known_points) / sizeof(known_points[0]); i++)
		if (strcmp(prefix, known_points[i].prefix) == 0)
			return FAULT(known_points[i].point[step]);
	snprintf(name, sizeof(name), "%s/%s", prefix, pstep_name[step]);
	return FAULT(name);
}

const char *vgpu_safeio_strerror(int code)
{
	switch (code) {
	case 0: return "success";
	case VGPU_EBADTYPE: return "not a regular file";
	case VGPU_ELINKS: return "file has more than one hard link";
	case VGPU_ETOOBIG: return "file is larger than allowed";
	case VGPU_ESHORT: return "file changed size while being read";
	default:
		return code < 0 ? strerror(-code) : "unknown error";
	}
}

/* A single file name in the directory: no path, no "." or "..". */
static int name_ok(const char *name)
{
	return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Open and check DIRFD/NAME as vgpu_safe_open() says. NONBLOCK: the descriptor keeps
 * O_NONBLOCK (a record read below clears it only if a read says EAGAIN: one fcntl less per
 * read); else it is cleared here, for callers that read it themselves. */
static int open_checked(int dirfd, const char *name, uint64_t cap, int *fdp, struct stat *st, int nonblock)
{
	struct stat sb;
	int fd, rc;

	if (!name_ok(name))
		return -EINVAL;
	if ((rc = FAULT("safeio/read/open")) < 0)
		return rc;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = 0;
	if (!S_ISREG(sb.st_mode))
		rc = VGPU_EBADTYPE;
	/* nlink 0 is fine: the name was renamed over (or unlinked) after our open, and the
	 * inode still holds a whole record. More than one link is someone else's file. */
	else if (sb.st_nlink > 1)
		rc = VGPU_ELINKS;
	else if (sb.st_size < 0 || (uint64_t)sb.st_size > cap)
		rc = VGPU_ETOOBIG;
	if (rc < 0)
		goto fail;
	/* Checked: a regular file. Reads may now block as usual (e.g. on a hard NFS mount).
	 * One F_SETFL, no F_GETFL: of the flags F_SETFL changes (O_APPEND, O_ASYNC,
	 * O_DIRECT, O_NOATIME, O_NONBLOCK) the open above set only O_NONBLOCK. */
	if (!nonblock && fcntl(fd, F_SETFL, 0) < 0) {
		rc = -errno;
		goto fail;
	}
	*fdp = fd;
	if (st)
		*st = sb;
	return 0;
fail:
	close(fd);
	return rc;
}

int vgpu_safe_open(int dirfd, const char *name, uint64_t cap, int *fdp, struct stat *st)
{
	return open_checked(dirfd, name, cap, fdp, st, 0);
}

static int read_some(int fd, void *buf, size_t len, size_t *got)
{
	ssize_t n;
	int rc;

	if ((rc = FAULT("safeio/read/read")) < 0)
		return rc;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	*got = (size_t)n;
	return 0;
}

/* read_some() on a record's descriptor, opened O_NONBLOCK while *NB. A regular file's
 * read ignores O_NONBLOCK on the usual file systems; one that honours it (a FUSE server
 * passing the flag on, a mandatory lock on an old kernel) says EAGAIN: then O_NONBLOCK is
 * cleared and the read made again, blocking as any read of the file may (what
 * vgpu_safe_open() does before every read, here only when needed). */
static int read_rec(int fd, void *buf, size_t len, size_t *got, int *nb)
{
	int rc = read_some(fd, buf, len, got);

	if (rc == -EAGAIN && nb && *nb) {
		*nb = 0;
		if (fcntl(fd, F_SETFL, 0) < 0)
			return -errno;
		rc = read_some(fd, buf, len, got);
	}
	return rc;
}

int vgpu_safe_open_rec(int dirfd, const char *name, uint64_t cap, int *fdp, struct stat *st)
{
	return open_checked(dirfd, name, cap, fdp, st, 1);
}

/* Exactly LEN bytes through read_rec() (NB: NULL for a plain descriptor). */
static int read_exact(int fd, void *buf, size_t len, int *nb)
{
	char *p = buf;

	while (len > 0) {
		size_t got = 0;
		int rc = read_rec(fd, p, len, &got, nb);
		if (rc < 0)
			return rc;
		if (got == 0)
			return VGPU_ESHORT;
		p += got;
		len -= got;
	}
	return 0;
}

int vgpu_read_full(int fd, void *buf, size_t len)
{
	return read_exact(fd, buf, len, NULL);
}

int vgpu_read_rec(int fd, void *buf, size_t len)
{
	int nb = 1;

	return read_exact(fd, buf, len, &nb);
}

/* Read exactly SIZE bytes (the fstat size), then make sure the file ends there. ROOM
 * (the buffer's size) > SIZE: the first read asks for SIZE + 1 bytes, so a record read
 * in one go needs no second read to see the end (a regular file's read returns fewer
 * bytes than asked only at its end); SIZE + 1 bytes mean the file grew. FD is
 * O_NONBLOCK while *NB (read_rec). */
static int read_exact_eof(int fd, void *buf, size_t size, size_t room, int *nb)
{
	char *p = buf, extra;
	size_t got = 0, left = size;
	int rc;

	if (room > size) {
		if ((rc = read_rec(fd, buf, size + 1, &got, nb)) < 0)
			return rc;
		if (got > size)
			return VGPU_ESHORT;
		if (got == size)
			return 0;
		if (got == 0)
			return VGPU_ESHORT;
		p += got;
		left -= got;
	}
	while (left > 0) {
		if ((rc = read_rec(fd, p, left, &got, nb)) < 0)
			return rc;
		if (got == 0)
			return VGPU_ESHORT;
		p += got;
		left -= got;
	}
	if ((rc = read_rec(fd, &extra, 1, &got, nb)) < 0)
		return rc;
	return got ? VGPU_ESHORT : 0;
}

/* One attempt of a checked read into BUF (or a new buffer when ALLOC). */
static int safe_read_once(int dirfd, const char *name, uint64_t cap, char *buf, void **bufp,
			  size_t *lenp, struct stat *st)
{
	struct stat sb;
	size_t size;
	char *p = buf;
	int fd, rc, nb = 1;

	rc = open_checked(dirfd, name, cap, &fd, &sb, 1);
	if (rc < 0)
		return rc;
	size = (size_t)sb.st_size;
	if (bufp && !(p = malloc(size + 1))) {
		close(fd);
		return -ENOMEM;
	}
	rc = read_exact_eof(fd, p, size, bufp ? size + 1 : (size_t)cap, &nb);
	close(fd);
	if (rc < 0) {
		if (bufp)
			free(p);
		return rc;
	}
	if (bufp)
		*bufp = p;
	*lenp = size;
	if (st)
		*st = sb;
	return 0;
}

int vgpu_safe_read(int dirfd, const char *name, char *buf, size_t cap, size_t *lenp, struct stat *st)
{
	int rc = safe_read_once(dirfd, name, cap, buf, NULL, lenp, st);

	if (rc == -ESTALE)      /* the name now points at a new inode: look it up again */
		rc = safe_read_once(dirfd, name, cap, buf, NULL, lenp, st);
	return rc;
}

int vgpu_safe_read_alloc(int dirfd, const char *name, uint64_t cap, void **bufp, size_t *lenp)
{
	int rc = safe_read_once(dirfd, name, cap, NULL, bufp, lenp, NULL);

	if (rc == -ESTALE)
		rc = safe_read_once(dirfd, name, cap, NULL, bufp, lenp, NULL);
	return rc;
}

/* Write loop, at FD's offset (OFF < 0) or at OFF with pwrite(); PUBLISH (a fault point
 * prefix, or NULL) enables the publish fault points. */
static int write_all(int fd, const void *buf, size_t len, off_t off, const char *publish, uint32_t *crc)
{
	const char *p = buf;
	int rc;

	while (len > 0) {
		size_t want = crc && len > VGPU_CRC_CHUNK ? VGPU_CRC_CHUNK : len;
		ssize_t n;
		if (publish) {
			if ((rc = fault_at(publish, PS_WRITE)) < 0)
				return rc;
			if (fault_at(publish, PS_SHORT) < 0)
				want = len > 1 ? len / 2 : 1;
		}
		n = off < 0 ? write(fd, p, want) : pwrite(fd, p, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		if (crc)    /* the bytes just written, while they are in the cache */
			*crc = vgpu_crc32_update(*crc, p, (size_t)n);
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

int vgpu_write_full(int fd, const void *buf, size_t len)
{
	return write_all(fd, buf, len, -1, NULL, NULL);
}

int vgpu_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	return off < 0 ? -EINVAL : write_all(fd, buf, len, off, NULL, NULL);
}

/* ".tmp-HOST-PID-RANDOM" into NAME. The host name, the pid and a random base are
 * looked up once per thread (no syscall per name); RANDOM is that base plus a counter.
 * A forked child looks them up again (its pid differs); names that still collide (O_EXCL
 * says so) take the next counter value. */
static __thread int tn_ready;
static __thread uint64_t tn_next;
static __thread char tn_prefix[64];
static pthread_once_t tn_once = PTHREAD_ONCE_INIT;

static void tn_forked(void)
{
	tn_ready = 0;
}

static void tn_register(void)
{
	pthread_atfork(NULL, NULL, tn_forked);
}

static void temp_name(char *name, size_t cap)
{
	if (!tn_ready) {
		char host[65] = "";

		pthread_once(&tn_once, tn_register);
		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
			strcpy(host, "host");
		host[32] = '\0';
		for (char *h = host; *h; h++)   /* keep the name one plain token */
			if (*h == '/' || *h == ' ' || (unsigned char)*h < 0x21 || (unsigned char)*h > 0x7e)
				*h = '_';
		if (getrandom(&tn_next, sizeof(tn_next), GRND_NONBLOCK) != (ssize_t)sizeof(tn_next)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			tn_next = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&ts;
		}
		snprintf(tn_prefix, sizeof(tn_prefix), ".tmp-%.32s-%ld-", host, (long)getpid());
		tn_ready = 1;
	}
	{
		size_t n = strlen(tn_prefix);

		if (n + 17 > cap) {    /* never with the callers' buffers; as snprintf would */
			snprintf(name, cap, "%s%016" PRIx64, tn_prefix, tn_next++);
			return;
		}
		memcpy(name, tn_prefix, n);
		vgpu_fmt_hex(name + n, tn_next++, 16);
	}
}

int vgpu_publish_ex(int dirfd, const char *name, const void *a, size_t alen, const void *b, size_t blen,
		    mode_t mode, const struct vgpu_publish_how *how)
{
	const char *pfx = how && how->faults ? how->faults : "safeio/publish";
	char tmp[128];
	int fd = -1, rc, tries = 0;

	if (!name_ok(name) || vgpu_is_ignored_name(name))
		return -EINVAL;
	do {
		temp_name(tmp, sizeof(tmp));
		if ((rc = fault_at(pfx, PS_OPEN)) < 0)
			return rc;
		fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, mode);
	} while (fd < 0 && errno == EEXIST && ++tries < 8);
	if (fd < 0)
		return -errno;

	if (how && how->crc)
		*how->crc = 0;
	if ((rc = write_all(fd, a, alen, -1, pfx, how ? how->crc : NULL)) < 0 ||
	    (rc = write_all(fd, b, blen, -1, pfx, how ? how->crc : NULL)) < 0)
		goto fail_close;
	/* Owned by the VM before its name appears: never a moment where the VM's file is
	 * someone else's, and the VM's quota counts it. */
	if (how && how->chown) {
		if ((rc = fault_at(pfx, PS_CHOWN)) < 0)
			goto fail_close;
		if (fchown(fd, how->uid, how->gid) < 0) {
			rc = -errno;
			goto fail_close;
		}
	}
	if ((rc = fault_at(pfx, PS_FSYNC)) < 0)
		goto fail_close;
	if (!(how && how->nosync) && fsync(fd) < 0) {
		rc = -errno;
		goto fail_close;
	}
	/* NFS reports delayed write errors at close: any error counts (even EINTR: we
	 * cannot tell whether the flush finished). The fd is gone either way. */
	rc = close(fd) < 0 ? -errno : 0;
	fd = -1;
	if (rc == 0)
		rc = fault_at(pfx, PS_CLOSE);
	if (rc < 0)
		goto fail_unlink;
	if ((rc = fault_at(pfx, PS_RENAME)) < 0)
		goto fail_unlink;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		rc = -errno;
		goto fail_unlink;
	}
	return 0;

fail_close:
	close(fd);
fail_unlink:
	unlinkat(dirfd, tmp, 0);
	return rc;
}

int vgpu_publish2(int dirfd, const char *name, const void *a, size_t alen, const void *b, size_t blen,
		  mode_t mode)
{
	return vgpu_publish_ex(dirfd, name, a, alen, b, blen, mode, NULL);
}

int vgpu_publish(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
	return vgpu_publish_ex(dirfd, name, buf, len, NULL, 0, mode, NULL);
}

int vgpu_fsync_dir(int dirfd)
{
	return fsync(dirfd) < 0 ? -errno : 0;
}

int vgpu_is_ignored_name(const char *name)
{
	return !name || !name[0] || name[0] == '.';
}
