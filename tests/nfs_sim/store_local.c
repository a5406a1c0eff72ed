/* store_local.c - nfssim backing store on a local directory.
 * Every operation goes through one descriptor of the backing directory with *at()
 * calls. Access control is the kernel's: each path operation first switches this
 * thread's fsuid/fsgid and supplementary groups to the (squashed) caller, as knfsd
 * does per request, so a squashed root gets EACCES exactly where uid 65534 would.
 * setfsuid/setfsgid and the raw setgroups syscall act on the calling thread only. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

struct local_store {
	struct nfssim_store base; /* Base class. Must be first */
	int dirfd;
};

struct local_fh {
	int fd;
};

static int dirfd_of(struct nfssim_store *s)
{
	return ((struct local_store *)s)->dirfd;
}

/* "/a/b" -> "a/b", "/" -> "." */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static void become(const struct nfssim_cred *c)
{
	/* Raw syscall: glibc's setgroups() would change every thread of the process. */
	syscall(SYS_setgroups, (size_t)c->ngroups, c->groups);
	setfsgid(c->gid);
	setfsuid(c->uid);
}

static void become_root(void)
{
	setfsuid(0);
	setfsgid(0);
}

#define AS(c, expr) ({ become(c); int r_ = (expr) < 0 ? -errno : 0; become_root(); r_; })

static int l_getattr(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     struct stat *st)
{
	return AS(c, fstatat(dirfd_of(s), rel(path), st, AT_SYMLINK_NOFOLLOW));
}

static int l_open(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		  int flags, mode_t mode, void **fh)
{
	struct local_fh *h = malloc(sizeof(*h));
	if (!h)
		return -ENOMEM;
	become(c);
	h->fd = openat(dirfd_of(s), rel(path), (flags & ~O_APPEND) | O_CLOEXEC | O_NOFOLLOW, mode);
	int r = h->fd < 0 ? -errno : 0;
	become_root();
	if (r < 0) {
		free(h);
		return r;
	}
	*fh = h;
	return 0;
}

static ssize_t l_pread(struct nfssim_store *s, void *fh, void *buf, size_t n, off_t off)
{
	(void)s;
	ssize_t r = pread(((struct local_fh *)fh)->fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static ssize_t l_pwrite(struct nfssim_store *s, void *fh, const void *buf, size_t n, off_t off)
{
	(void)s;
	ssize_t r = pwrite(((struct local_fh *)fh)->fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static int l_fstat(struct nfssim_store *s, void *fh, struct stat *st)
{
	(void)s;
	return fstat(((struct local_fh *)fh)->fd, st) < 0 ? -errno : 0;
}

static int l_ftruncate(struct nfssim_store *s, void *fh, off_t len)
{
	(void)s;
	return ftruncate(((struct local_fh *)fh)->fd, len) < 0 ? -errno : 0;
}

static int l_fsync(struct nfssim_store *s, void *fh)
{
	(void)s;
	return fsync(((struct local_fh *)fh)->fd) < 0 ? -errno : 0;
}

static int l_close(struct nfssim_store *s, void *fh)
{
	(void)s;
	struct local_fh *h = fh;
	int r = close(h->fd) < 0 ? -errno : 0;
	free(h);
	return r;
}

static int l_truncate(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		      off_t len)
{
	become(c);
	int fd = openat(dirfd_of(s), rel(path), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int r = fd < 0 ? -errno : 0;
	if (fd >= 0) {
		r = ftruncate(fd, len) < 0 ? -errno : 0;
		close(fd);
	}
	become_root();
	return r;
}

static int l_unlink(struct nfssim_store *s, const struct nfssim_cred *c, const char *path)
{
	return AS(c, unlinkat(dirfd_of(s), rel(path), 0));
}

static int l_rename(struct nfssim_store *s, const struct nfssim_cred *c, const char *from,
		    const char *to)
{
	return AS(c, renameat(dirfd_of(s), rel(from), dirfd_of(s), rel(to)));
}

static int l_mkdir(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		   mode_t mode)
{
	return AS(c, mkdirat(dirfd_of(s), rel(path), mode));
}

static int l_rmdir(struct nfssim_store *s, const struct nfssim_cred *c, const char *path)
{
	return AS(c, unlinkat(dirfd_of(s), rel(path), AT_REMOVEDIR));
}

static int l_readdir(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     nfssim_dirent_fn fn, void *arg)
{
	become(c);
	int fd = openat(dirfd_of(s), rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int r = fd < 0 ? -errno : 0;
	become_root();
	if (r < 0)
		return r;
	DIR *d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d))) {
		struct stat st;
		memset(&st, 0, sizeof(st));
		st.st_ino = e->d_ino;
		st.st_mode = (mode_t)DTTOIF(e->d_type);
		if (fn(arg, e->d_name, &st))
			break;
		errno = 0;
	}
	r = errno ? -errno : 0;
	closedir(d);
	return r;
}

static int l_chmod(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		   mode_t mode)
{
	return AS(c, fchmodat(dirfd_of(s), rel(path), mode, 0));
}

static int l_chown(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		   uid_t uid, gid_t gid)
{
	return AS(c, fchownat(dirfd_of(s), rel(path), uid, gid, AT_SYMLINK_NOFOLLOW));
}

static int l_utimens(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     const struct timespec ts[2])
{
	return AS(c, utimensat(dirfd_of(s), rel(path), ts, AT_SYMLINK_NOFOLLOW));
}

static int l_statfs(struct nfssim_store *s, const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(dirfd_of(s), sv) < 0 ? -errno : 0;
}

static void l_free(struct nfssim_store *s)
{
	close(dirfd_of(s));
	free(s);
}

static const struct nfssim_store local_methods = {
	.version = 1,
	.name = "local",
	.getattr = l_getattr,
	.open = l_open,
	.pread = l_pread,
	.pwrite = l_pwrite,
	.fstat = l_fstat,
	.ftruncate = l_ftruncate,
	.fsync = l_fsync,
	.close = l_close,
	.truncate = l_truncate,
	.unlink = l_unlink,
	.rename = l_rename,
	.mkdir = l_mkdir,
	.rmdir = l_rmdir,
	.readdir = l_readdir,
	.chmod = l_chmod,
	.chown = l_chown,
	.utimens = l_utimens,
	.statfs = l_statfs,
	.free = l_free,
};

int nfssim_store_local_new(const char *dir, struct nfssim_store **out, char *err, size_t errlen)
{
	struct local_store *ls = calloc(1, sizeof(*ls));
	if (!ls) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ls->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ls->dirfd < 0) {
		int e = errno;
		snprintf(err, errlen, "open(%s): %s", dir, strerror(e));
		free(ls);
		return -e;
	}
	ls->base = local_methods;
	ls->base.priv = ls;
	*out = &ls->base;
	return 0;
}
