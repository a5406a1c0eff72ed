/* client.c - libvgpu-client's client object: open (the VM directory checked: it exists,
 * is a directory, is writable as the NFS server sees us; its VM number), close, and the
 * small things the other parts share (errors with their fixes, the clock).
 * The protocol is client_core.c, the blocking call client_call.c, the local lock
 * client_lock.c. Never prints. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../lib/errbuf.h"
#include "client_int.h"
#include "../lib/safeio.h"

#define DEF_TIMEOUT_MS 30000
#define DEF_POLL_MIN_US 250
#define DEF_POLL_MAX_MS 100

const char vgpu_client_squash_hint[] =
	"the NFS export most likely maps root to nobody (root_squash, uid 65534): on the host, "
	"chown the VM directories to 65534:65534 (or export with no_root_squash); see docs/XEN.md";

int vgpu_client_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vgpu_verrbuf(err, errlen, rc, fmt, ap);
	va_end(ap);
	return rc;
}

const char *vgpu_client_strerror(int rc)
{
	switch (rc) {
	case VGPU_CLIENT_PENDING: return "no answer yet";
	case VGPU_CLIENT_OK: return "ok";
	case VGPU_CLIENT_ESTATUS: return "the mediator answered with an error status";
	case VGPU_CLIENT_EUSAGE: return "bad arguments";
	case VGPU_CLIENT_ETIMEOUT: return "timeout: no answer";
	case VGPU_CLIENT_EPERM: return "permission denied (root_squash?)";
	case VGPU_CLIENT_ENODIR: return "VM directory missing (export not mounted?)";
	case VGPU_CLIENT_EIO: return "I/O error";
	case VGPU_CLIENT_EPROTO: return "protocol error (unreadable or forged answer, or another writer)";
	case VGPU_CLIENT_ELOCK: return "could not take the local lock";
	default: return "unknown error";
	}
}

void vgpu_client_sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

uint32_t vgpu_client_dir_vm(const char *path)
{
	size_t len = strlen(path);
	const char *b;
	unsigned long v = 0;

	while (len > 1 && path[len - 1] == '/')
		len--;
	b = path + len;
	while (b > path && b[-1] != '/')
		b--;
	if (path + len - b < 3 || path + len - b > 7 || strncmp(b, "vm", 2) != 0 || b[2] < '1' || b[2] > '9')
		return 0;
	for (const char *p = b + 2; p < path + len; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v <= VGPU_VM_MAX ? (uint32_t)v : 0;
}

int vgpu_client_write_error(const struct vgpu_client *c, const char *what, int e, char *err, size_t errlen)
{
	if (e == -EACCES || e == -EPERM || e == -EROFS)
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_EPERM, "cannot create %s in %s: %s; %s", what, c->dir,
					vgpu_safeio_strerror(e), vgpu_client_squash_hint);
	if (e == -ENOENT || e == -ENOTDIR)
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_ENODIR,
					"cannot create %s: VM directory %s missing: is the export mounted? "
					"(mount -t nfs HOST:/var/vgpu /mnt/vgpu)", what, c->dir);
	return vgpu_client_fail(err, errlen, VGPU_CLIENT_EIO,
				"writing %s in %s failed: %s (NFS server full, stale or unreachable?)", what, c->dir,
				vgpu_safeio_strerror(e));
}

/* The error for a failed open() of the VM directory DIR. */
static int open_error(const char *dir, int e, char *err, size_t errlen)
{
	if (e == ENOENT)
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_ENODIR,
					"VM directory %s missing: is the export mounted? (mount -t nfs HOST:/var/vgpu "
					"/mnt/vgpu)", dir);
	if (e == ENOTDIR)
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_ENODIR,
					"%s is not a directory: give the VM's directory vmN", dir);
	if (e == EACCES || e == EPERM)
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_EPERM, "cannot open VM directory %s: %s; %s", dir,
					strerror(e), vgpu_client_squash_hint);
	return vgpu_client_fail(err, errlen, VGPU_CLIENT_EIO, "cannot open VM directory %s: %s", dir, strerror(e));
}

int vgpu_client_open(struct vgpu_client **cp, const char *dir, const struct vgpu_client_opts *opts,
		     char *err, size_t errlen)
{
	struct vgpu_client *c;
	char real[PATH_MAX];
	int rc;

	*cp = NULL;
	if (!dir || !dir[0])
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_EUSAGE, "no VM directory given (--dir /mnt/vgpu/vmN)");
	c = calloc(1, sizeof(*c));
	if (!c)
		return vgpu_client_fail(err, errlen, VGPU_CLIENT_EIO, "out of memory");
	c->dirfd = c->lockfd = c->inofd = -1;
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : DEF_TIMEOUT_MS;
	c->poll_min_us = opts && opts->poll_min_ms > 0 ? (uint64_t)opts->poll_min_ms * 1000 : DEF_POLL_MIN_US;
	c->poll_max_ms = opts && opts->poll_max_ms > 0 ? opts->poll_max_ms : DEF_POLL_MAX_MS;
	if ((uint64_t)c->poll_max_ms * 1000 < c->poll_min_us)
		c->poll_max_ms = (int)((c->poll_min_us + 999) / 1000);
	c->poll_min_ms = (int)(c->poll_min_us / 1000);

	c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		rc = open_error(dir, errno, err, errlen);
		goto fail_free;
	}
	if (!realpath(dir, real)) {
		rc = vgpu_client_fail(err, errlen, VGPU_CLIENT_EIO, "realpath(%s): %s", dir, strerror(errno));
		goto fail_close;
	}
	if (!(c->dir = strdup(real))) {
		rc = vgpu_client_fail(err, errlen, VGPU_CLIENT_EIO, "out of memory");
		goto fail_close;
	}
	c->vm = opts && opts->vm ? opts->vm : vgpu_client_dir_vm(real);
	if (c->vm == 0 || c->vm > VGPU_VM_MAX) {
		rc = vgpu_client_fail(err, errlen, VGPU_CLIENT_EUSAGE,
				      "cannot tell the VM number from %s: name the directory vmN (N 1..65535) or pass "
				      "--vm N", real);
		goto fail_dir;
	}
	/* Writable for us as the server sees us (over NFS, access() asks the server, which
	 * applies root_squash); publishing checks again for real. */
	if (faccessat(c->dirfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		int e = errno;
		if (e == EACCES || e == EPERM || e == EROFS)
			rc = vgpu_client_fail(err, errlen, VGPU_CLIENT_EPERM,
					      "VM directory %s is not writable for uid %ld: %s; %s", real, (long)geteuid(),
					      strerror(e), vgpu_client_squash_hint);
		else
			rc = vgpu_client_fail(err, errlen, VGPU_CLIENT_EIO, "access(%s): %s", real, strerror(e));
		goto fail_dir;
	}

	c->no_lock = opts && opts->no_lock;
	if (!c->no_lock && (rc = vgpu_client_lock_locate(c, opts, err, errlen)) != VGPU_CLIENT_OK)
		goto fail_dir;
	if (!(c->buf = malloc(VGPU_RECORD_MAX))) {
		rc = vgpu_client_fail(err, errlen, VGPU_CLIENT_EIO, "out of memory");
		goto fail_dir;
	}
	*cp = c;
	return VGPU_CLIENT_OK;

fail_dir:
	free(c->dir);
fail_close:
	close(c->dirfd);
fail_free:
	free(c);
	return rc;
}

void vgpu_client_close(struct vgpu_client *c)
{
	if (!c)
		return;
	vgpu_client_lock_close(c);
	if (c->inofd >= 0)
		close(c->inofd);
	close(c->dirfd);
	free(c->dir);
	free(c->buf);
	free(c);
}

int64_t vgpu_client_last_seq(const struct vgpu_client *c)
{
	return c ? c->last_seq : 0;
}
