/* store_nfs.c - nfssim backing store on a real NFS server, through libnfs.
 * One libnfs context, used with its synchronous API under a mutex (libnfs contexts are
 * not thread-safe). Before each call the context's AUTH_SYS uid/gid are set to the
 * (squashed) caller, so the server applies its own export rules: with ganesha's
 * root_squash a root create in a root-owned 0755 directory fails with NFS3ERR_ACCES,
 * which arrives here as -EACCES. libnfs's directory cache is off so that nfssim's own
 * attribute cache is the only one. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <nfsc/libnfs.h>

struct nfs_store {
	struct nfssim_store base; /* Base class. Must be first */
	struct nfs_context *nfs;
	pthread_mutex_t lock;
};

#define NS(s) ((struct nfs_store *)(s))

static void lock_as(struct nfssim_store *s, const struct nfssim_cred *c)
{
	pthread_mutex_lock(&NS(s)->lock);
	nfs_set_uid(NS(s)->nfs, (int)c->uid);
	nfs_set_gid(NS(s)->nfs, (int)c->gid);
}

static void lock_fh(struct nfssim_store *s)
{
	pthread_mutex_lock(&NS(s)->lock);
}

static void unlock(struct nfssim_store *s)
{
	pthread_mutex_unlock(&NS(s)->lock);
}

static void st_from_nfs(struct stat *st, const struct nfs_stat_64 *n)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = (dev_t)n->nfs_dev;
	st->st_ino = (ino_t)n->nfs_ino;
	st->st_mode = (mode_t)n->nfs_mode;
	st->st_nlink = (nlink_t)n->nfs_nlink;
	st->st_uid = (uid_t)n->nfs_uid;
	st->st_gid = (gid_t)n->nfs_gid;
	st->st_rdev = (dev_t)n->nfs_rdev;
	st->st_size = (off_t)n->nfs_size;
	st->st_blksize = (blksize_t)n->nfs_blksize;
	st->st_blocks = (blkcnt_t)n->nfs_blocks;
	st->st_atim.tv_sec = (time_t)n->nfs_atime;
	st->st_atim.tv_nsec = (long)n->nfs_atime_nsec;
	st->st_mtim.tv_sec = (time_t)n->nfs_mtime;
	st->st_mtim.tv_nsec = (long)n->nfs_mtime_nsec;
	st->st_ctim.tv_sec = (time_t)n->nfs_ctime;
	st->st_ctim.tv_nsec = (long)n->nfs_ctime_nsec;
}

static int n_getattr(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     struct stat *st)
{
	struct nfs_stat_64 n;
	lock_as(s, c);
	int r = nfs_lstat64(NS(s)->nfs, path, &n);
	unlock(s);
	if (r == 0)
		st_from_nfs(st, &n);
	return r < 0 ? r : 0;
}

static int n_open(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		  int flags, mode_t mode, void **fh)
{
	struct nfsfh *f = NULL;
	int r;
	flags &= O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_SYNC;
	lock_as(s, c);
	if (flags & O_CREAT)
		r = nfs_open2(NS(s)->nfs, path, flags, (int)mode, &f);
	else
		r = nfs_open(NS(s)->nfs, path, flags, &f);
	unlock(s);
	if (r < 0)
		return r;
	*fh = f;
	return 0;
}

static ssize_t n_pread(struct nfssim_store *s, void *fh, void *buf, size_t n, off_t off)
{
	lock_fh(s);
	int r = nfs_pread(NS(s)->nfs, fh, (uint64_t)off, n, buf);
	unlock(s);
	return r;
}

static ssize_t n_pwrite(struct nfssim_store *s, void *fh, const void *buf, size_t n, off_t off)
{
	lock_fh(s);
	int r = nfs_pwrite(NS(s)->nfs, fh, (uint64_t)off, n, buf);
	unlock(s);
	return r;
}

static int n_fstat(struct nfssim_store *s, void *fh, struct stat *st)
{
	struct nfs_stat_64 n;
	lock_fh(s);
	int r = nfs_fstat64(NS(s)->nfs, fh, &n);
	unlock(s);
	if (r == 0)
		st_from_nfs(st, &n);
	return r < 0 ? r : 0;
}

static int n_ftruncate(struct nfssim_store *s, void *fh, off_t len)
{
	lock_fh(s);
	int r = nfs_ftruncate(NS(s)->nfs, fh, (uint64_t)len);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_fsync(struct nfssim_store *s, void *fh)
{
	lock_fh(s);
	int r = nfs_fsync(NS(s)->nfs, fh);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_close(struct nfssim_store *s, void *fh)
{
	lock_fh(s);
	int r = nfs_close(NS(s)->nfs, fh);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_truncate(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		      off_t len)
{
	lock_as(s, c);
	int r = nfs_truncate(NS(s)->nfs, path, (uint64_t)len);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_unlink(struct nfssim_store *s, const struct nfssim_cred *c, const char *path)
{
	lock_as(s, c);
	int r = nfs_unlink(NS(s)->nfs, path);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_rename(struct nfssim_store *s, const struct nfssim_cred *c, const char *from,
		    const char *to)
{
	lock_as(s, c);
	int r = nfs_rename(NS(s)->nfs, from, to);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_mkdir(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		   mode_t mode)
{
	lock_as(s, c);
	int r = nfs_mkdir2(NS(s)->nfs, path, (int)mode);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_rmdir(struct nfssim_store *s, const struct nfssim_cred *c, const char *path)
{
	lock_as(s, c);
	int r = nfs_rmdir(NS(s)->nfs, path);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_readdir(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     nfssim_dirent_fn fn, void *arg)
{
	struct nfsdir *d = NULL;
	lock_as(s, c);
	int r = nfs_opendir(NS(s)->nfs, path, &d);
	if (r == 0) {
		struct nfsdirent *e;
		while ((e = nfs_readdir(NS(s)->nfs, d))) {
			struct stat st;
			memset(&st, 0, sizeof(st));
			st.st_ino = (ino_t)e->inode;
			st.st_mode = (mode_t)e->mode;
			st.st_size = (off_t)e->size;
			if (fn(arg, e->name, &st))
				break;
		}
		nfs_closedir(NS(s)->nfs, d);
	}
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_chmod(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		   mode_t mode)
{
	lock_as(s, c);
	int r = nfs_chmod(NS(s)->nfs, path, (int)mode);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_chown(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		   uid_t uid, gid_t gid)
{
	lock_as(s, c);
	int r = nfs_chown(NS(s)->nfs, path, (int)uid, (int)gid);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_utimens(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     const struct timespec ts[2])
{
	struct timeval tv[2];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	for (int i = 0; i < 2; i++) {
		struct timespec t = ts ? ts[i] : now;
		if (t.tv_nsec == UTIME_NOW)
			t = now;
		/* UTIME_OMIT cannot be expressed with nfs_utimes: use now (documented limit). */
		if (t.tv_nsec == UTIME_OMIT)
			t = now;
		tv[i].tv_sec = t.tv_sec;
		tv[i].tv_usec = t.tv_nsec / 1000;
	}
	lock_as(s, c);
	int r = nfs_utimes(NS(s)->nfs, path, tv);
	unlock(s);
	return r < 0 ? r : 0;
}

static int n_statfs(struct nfssim_store *s, const char *path, struct statvfs *sv)
{
	struct nfs_statvfs_64 v;
	lock_fh(s);
	int r = nfs_statvfs64(NS(s)->nfs, path, &v);
	unlock(s);
	if (r < 0)
		return r;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = v.f_bsize;
	sv->f_frsize = v.f_frsize;
	sv->f_blocks = v.f_blocks;
	sv->f_bfree = v.f_bfree;
	sv->f_bavail = v.f_bavail;
	sv->f_files = v.f_files;
	sv->f_ffree = v.f_ffree;
	sv->f_favail = v.f_favail;
	sv->f_fsid = v.f_fsid;
	sv->f_namemax = v.f_namemax;
	return 0;
}

static void n_free(struct nfssim_store *s)
{
	nfs_umount(NS(s)->nfs);
	nfs_destroy_context(NS(s)->nfs);
	pthread_mutex_destroy(&NS(s)->lock);
	free(s);
}

static const struct nfssim_store nfs_methods = {
	.version = 1,
	.name = "nfs",
	.getattr = n_getattr,
	.open = n_open,
	.pread = n_pread,
	.pwrite = n_pwrite,
	.fstat = n_fstat,
	.ftruncate = n_ftruncate,
	.fsync = n_fsync,
	.close = n_close,
	.truncate = n_truncate,
	.unlink = n_unlink,
	.rename = n_rename,
	.mkdir = n_mkdir,
	.rmdir = n_rmdir,
	.readdir = n_readdir,
	.chmod = n_chmod,
	.chown = n_chown,
	.utimens = n_utimens,
	.statfs = n_statfs,
	.free = n_free,
};

int nfssim_store_nfs_new(const char *url, struct nfssim_store **out, char *err, size_t errlen)
{
	struct nfs_store *ns = calloc(1, sizeof(*ns));
	struct nfs_url *u = NULL;
	int r = -EIO;

	if (!ns) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ns->nfs = nfs_init_context();
	if (!ns->nfs) {
		snprintf(err, errlen, "nfs_init_context() failed");
		goto fail_ctx;
	}
	/* Sync calls give up after 10 s instead of hanging a FUSE thread forever. */
	nfs_set_timeout(ns->nfs, 10000);
	u = nfs_parse_url_dir(ns->nfs, url);
	if (!u) {
		snprintf(err, errlen, "bad NFS URL %s: %s", url, nfs_get_error(ns->nfs));
		r = -EINVAL;
		goto fail_url;
	}
	nfs_set_dircache(ns->nfs, 0);
	r = nfs_mount(ns->nfs, u->server, u->path);
	if (r < 0) {
		/* MNT3ERR_ACCES / NFS4ERR_ACCESS: the server refused this client. */
		const char *e = nfs_get_error(ns->nfs);
		/* v3: MNT3ERR_ACCES. v4: ganesha's pseudo-fs hides an export that the client
		 * may not see, so the refusal arrives as NFS4ERR_NOENT (or ACCESS/WRONGSEC). */
		bool denied = strstr(e, "ACCES") || strstr(e, "NFS4ERR_NOENT") ||
			      strstr(e, "WRONGSEC");
		snprintf(err, errlen, "mount %s:%s refused: %s%s", u->server, u->path, e,
			 denied ? " (access denied by server)" : "");
		goto fail_mount;
	}
	nfs_destroy_url(u);
	pthread_mutex_init(&ns->lock, NULL);
	ns->base = nfs_methods;
	ns->base.priv = ns;
	*out = &ns->base;
	return 0;

fail_mount:
	nfs_destroy_url(u);
fail_url:
	nfs_destroy_context(ns->nfs);
fail_ctx:
	free(ns);
	return r < 0 ? r : -EIO;
}
