/* faults.h - nfssim's fault schedule: which operation fails, when, with what errno.
 * A rule is written OP:ERRNO:WHEN[:path=SUBSTR] where
 *   OP    getattr open create read write flush (alias close) fsync release unlink rename
 *         mkdir rmdir readdir truncate chmod chown utimens statfs, or any
 *   ERRNO EIO ESTALE ENOSPC EACCES ETIMEDOUT EPERM EROFS EDQUOT ENOENT EAGAIN EINTR,
 *         or a decimal number
 *   WHEN  nth=N   the Nth matching call only (transient; N counts from 1)
 *         from=N  the Nth and every later matching call (persistent)
 *         prob=P  each matching call with probability P (0..1), seeded: seed=S in the
 *                 rule (prob=P:seed=S), else the mount's seed= option
 *   path=SUBSTR  only calls whose path contains SUBSTR count and fail.
 * Counters of calls and hits live in the rule; the caller serialises access. */
#ifndef NFSSIM_FAULTS_H
#define NFSSIM_FAULTS_H

#include <stddef.h>
#include <stdint.h>

enum nfssim_op {
	NFSSIM_OP_GETATTR, NFSSIM_OP_OPEN, NFSSIM_OP_CREATE, NFSSIM_OP_READ, NFSSIM_OP_WRITE,
	NFSSIM_OP_FLUSH, NFSSIM_OP_FSYNC, NFSSIM_OP_RELEASE, NFSSIM_OP_UNLINK, NFSSIM_OP_RENAME,
	NFSSIM_OP_MKDIR, NFSSIM_OP_RMDIR, NFSSIM_OP_READDIR, NFSSIM_OP_TRUNCATE,
	NFSSIM_OP_CHMOD, NFSSIM_OP_CHOWN, NFSSIM_OP_UTIMENS, NFSSIM_OP_STATFS,
	NFSSIM_OP_COUNT
};
#define NFSSIM_OP_ANY (-1)

enum nfssim_when { NFSSIM_NTH, NFSSIM_FROM, NFSSIM_PROB };

struct nfssim_fault {
	int op;                 /* enum nfssim_op or NFSSIM_OP_ANY */
	int err;                /* positive errno */
	enum nfssim_when when;
	unsigned long n;        /* nth / from */
	double p;               /* prob */
	uint64_t seed, rng;
	char path[128];         /* substring filter, "" for none */
	unsigned long calls;    /* matching calls seen */
	unsigned long hits;     /* faults injected */
};

/* Names of ops and errnos known to the parser; NULL / "other" outside the tables. */
const char *nfssim_op_name(int op);
int nfssim_op_parse(const char *name);            /* op, NFSSIM_OP_ANY, or -2 if unknown */
const char *nfssim_errno_name(int err);           /* "EIO", ..., or NULL */
int nfssim_errno_parse(const char *name);         /* positive errno or 0 if unknown */
/* The errnos that get their own counter, in order; index NFSSIM_NERR is "other". */
#define NFSSIM_NERR 11
int nfssim_errno_index(int err);

/* Parse one rule. 0 on success; -EINVAL with a reason in err otherwise. */
int nfssim_fault_parse(const char *spec, uint64_t default_seed, struct nfssim_fault *f,
		       char *err, size_t errlen);
/* Format a rule back into its spec (for the stats). */
void nfssim_fault_format(const struct nfssim_fault *f, char *buf, size_t len);
/* Count one call of op on path; return the errno to inject, or 0. */
int nfssim_fault_check(struct nfssim_fault *f, int op, const char *path);

#endif
