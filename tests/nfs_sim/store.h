/* store.h - the backing store behind nfssim: what the "server" holds.
 * One interface (a versioned struct of function pointers, like sqlite3_vfs), one file
 * per backend: store_local.c (a directory, *at() calls), store_nfs.c (a real NFS
 * server through libnfs's synchronous API). Paths are absolute within the store
 * ("/" is its root). Every method returns 0 (or a byte count) or -errno; none prints.
 * Path methods run with the caller's credentials (cred), already squashed by nfssim;
 * file methods run on a handle opened earlier, as NFS checks access at OPEN/ACCESS. */
#ifndef NFSSIM_STORE_H
#define NFSSIM_STORE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

struct nfssim_cred {
	uid_t uid;
	gid_t gid;
	int ngroups;          /* supplementary groups; 0 for a squashed caller */
	const gid_t *groups;
};

/* Called once per directory entry by readdir; return non-zero to stop. */
typedef int (*nfssim_dirent_fn)(void *arg, const char *name, const struct stat *st);

struct nfssim_store {
	int version;          /* 1; methods are only ever appended */
	const char *name;     /* "local" or "nfs" */
	void *priv;

	int (*getattr)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		       struct stat *st);
	/* flags as open(2), O_CREAT included; *fh receives an opaque handle. */
	int (*open)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		    int flags, mode_t mode, void **fh);
	ssize_t (*pread)(struct nfssim_store *s, void *fh, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(struct nfssim_store *s, void *fh, const void *buf, size_t n, off_t off);
	int (*fstat)(struct nfssim_store *s, void *fh, struct stat *st);
	int (*ftruncate)(struct nfssim_store *s, void *fh, off_t len);
	int (*fsync)(struct nfssim_store *s, void *fh);
	int (*close)(struct nfssim_store *s, void *fh);   /* always frees fh */

	int (*truncate)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
			off_t len);
	int (*unlink)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path);
	int (*rename)(struct nfssim_store *s, const struct nfssim_cred *c, const char *from,
		      const char *to);
	int (*mkdir)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     mode_t mode);
	int (*rmdir)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path);
	int (*readdir)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		       nfssim_dirent_fn fn, void *arg);
	int (*chmod)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     mode_t mode);
	int (*chown)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		     uid_t uid, gid_t gid);
	int (*utimens)(struct nfssim_store *s, const struct nfssim_cred *c, const char *path,
		       const struct timespec ts[2]);
	int (*statfs)(struct nfssim_store *s, const char *path, struct statvfs *sv);
	void (*free)(struct nfssim_store *s);
};

/* Constructors: 0 and *out set, or -errno with a reason in err. */
int nfssim_store_local_new(const char *dir, struct nfssim_store **out, char *err, size_t errlen);
int nfssim_store_nfs_new(const char *url, struct nfssim_store **out, char *err, size_t errlen);

#endif
