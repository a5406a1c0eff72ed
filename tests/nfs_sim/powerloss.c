/* powerloss.c - nfssim's power-loss mode (`nfssim DIR MNT -o powerloss`): a FUSE
 * passthrough over a local directory that keeps track of every change not yet made
 * durable and throws those changes away at a "cut", as a power failure does.
 * It stands for the server's own disk (Dom0's file system under the export and the
 * mediator's --state), not for an NFS client: no caches, no squash, no write-back.
 *
 * The durability model (docs/NFSSIM.md, "Power-loss mode"), the POSIX minimum:
 *   - file data and size are durable only after fsync()/fdatasync() of that file;
 *   - a directory entry (create, mkdir, rename, unlink, rmdir, link, symlink) is
 *     durable only after fsync() of the directory that holds it;
 *   - an fsync of a file does not make its name durable, an fsync of a directory does
 *     not make the data of its files durable.
 * At a cut, the process that made the change (or the one named) is SIGKILLed with its
 * process group, every unsynced file gets back its last synced contents (a file never
 * synced is empty), and every unsynced directory change is undone, newest first.
 *
 * Control (as nfssim's): MNT/.nfssim/ctl takes `cut_after=N` (cut right after the Nth
 * change counted from now), `pause_after=N` (hold the caller of the Nth change until
 * `cut` or `release`), `cut`, `release`, `victim=PID`, `sync` (everything durable, as a
 * journal commit), `reset`; MNT/.nfssim/stats (JSON counters), MNT/.nfssim/trace (the
 * changes counted since the last arm, one per line: "N OP PATH [PATH2]"). */
#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include "powerloss.h"

#define CTL_DIR "/.nfssim"
#define CTL_STATS "/.nfssim/stats"
#define CTL_CTL "/.nfssim/ctl"
#define CTL_TRACE "/.nfssim/trace"
#define TRACE_MAX 512

/* The changes counted (cut points), in this order in the stats. */
enum { OP_CREATE, OP_WRITE, OP_TRUNCATE, OP_FSYNC, OP_FSYNCDIR, OP_RENAME, OP_UNLINK, OP_MKDIR,
       OP_RMDIR, OP_LINK, OP_SYMLINK, OP_MKNOD, OP_COUNT };
static const char *const op_names[OP_COUNT] = { "create", "write", "truncate", "fsync", "fsyncdir",
	"rename", "unlink", "mkdir", "rmdir", "link", "symlink", "mknod" };

/* A file written since its last fsync: FD (ours, O_RDWR) and its last synced contents. */
struct dfile {
	dev_t dev;
	ino_t ino;
	int fd;
	char *synced;
	size_t synced_len;
	unsigned long writes;
	struct dfile *next;
};

/* Contents kept for a name that a rename replaced or an unlink removed. */
struct saved {
	bool present;             /* a regular file whose contents we kept */
	char *data;
	size_t len;
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

enum ekind { E_CREATE, E_MKDIR, E_RENAME, E_UNLINK, E_RMDIR };

/* One directory change not yet made durable; undone newest first. */
struct entry {
	enum ekind kind;
	char *name;               /* E_RENAME: the old name */
	char *name2;              /* E_RENAME: the new name */
	ino_t ino;                /* E_CREATE/E_MKDIR: the inode made */
	mode_t mode;              /* E_RMDIR */
	struct saved sv;          /* E_RENAME: the replaced target; E_UNLINK: the file */
	struct entry *prev;
};

struct ddir {
	char *path;               /* FUSE path of the directory, "/" for the root */
	struct entry *last;
	struct ddir *next;
};

struct handle {
	int kind;                 /* 0 file, 1 stats/trace snapshot, 2 ctl, 3 directory */
	int fd;
	char *buf;
	size_t len;
};

enum arm { ARM_NONE, ARM_CUT, ARM_PAUSE };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	char *backing;
	int rootfd;
	struct dfile *files;
	struct ddir *dirs;
	enum arm arm;
	unsigned long arm_n;
	unsigned long counted;        /* changes since the last arm or reset */
	int held;                     /* 1: a caller is held at pause_after; 2: let go */
	bool held_cut;                /* the held caller was cut */
	pid_t held_tid;
	unsigned long held_at;
	pid_t victim;                 /* set by victim=PID; after a cut, the process cut */
	unsigned long ops[OP_COUNT];
	unsigned long cuts, syncs_file, syncs_dir, reverted_files, reverted_entries;
	unsigned long lost_writes, revert_errors, full_syncs;
	char *trace[TRACE_MAX];
	unsigned long ntrace;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .rootfd = -1 };

/* ---- paths ------------------------------------------------------------------------ */

static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

/* Parent directory (FUSE form) and last component of PATH. */
static void split(const char *path, char *dir, size_t cap, const char **base)
{
	const char *s = strrchr(path, '/');

	if (!s || s == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(s - path), path);
	*base = s ? s + 1 : path;
}

static bool is_ctl(const char *path)
{
	return path && !strncmp(path, CTL_DIR, 8) && (path[8] == '\0' || path[8] == '/');
}

/* ---- bookkeeping ---------------------------------------------------------------- */

static void trace_add(const char *op, const char *a, const char *b)
{
	char *line = NULL;

	if (g.ntrace >= TRACE_MAX)
		return;
	if (asprintf(&line, "%lu %s %s%s%s\n", g.counted, op, a ? a : "-", b ? " " : "", b ? b : "") < 0)
		return;
	g.trace[g.ntrace++] = line;
}

static void trace_clear(void)
{
	for (unsigned long i = 0; i < g.ntrace; i++)
		free(g.trace[i]);
	g.ntrace = 0;
}

static struct dfile *dfile_find(dev_t dev, ino_t ino)
{
	for (struct dfile *f = g.files; f; f = f->next)
		if (f->dev == dev && f->ino == ino)
			return f;
	return NULL;
}

static void dfile_free(struct dfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->synced);
	free(f);
}

/* Read all of FD into *DATA. 0 or -errno. */
static int read_all(int fd, char **data, size_t *len)
{
	struct stat st;
	size_t got = 0;
	char *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	p = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!p)
		return -ENOMEM;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, p + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*data = p;
	*len = got;
	return 0;
}

/* FD's file is about to change: keep its synced contents unless already kept. */
static int make_dirty(int fd)
{
	struct stat st;
	struct dfile *f;
	char proc[64];
	int rc;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	if ((f = dfile_find(st.st_dev, st.st_ino)) != NULL) {
		f->writes++;
		return 0;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->writes = 1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	f->fd = open(proc, O_RDWR | O_CLOEXEC);
	if (f->fd < 0) {
		rc = -errno;
		free(f);
		return rc;
	}
	if ((rc = read_all(f->fd, &f->synced, &f->synced_len)) < 0) {
		dfile_free(f);
		return rc;
	}
	f->next = g.files;
	g.files = f;
	return 0;
}

static void file_synced(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return;
	for (struct dfile **pp = &g.files; *pp; pp = &(*pp)->next)
		if ((*pp)->dev == st.st_dev && (*pp)->ino == st.st_ino) {
			struct dfile *f = *pp;
			*pp = f->next;
			dfile_free(f);
			return;
		}
}

static void saved_free(struct saved *sv)
{
	free(sv->data);
	memset(sv, 0, sizeof(*sv));
}

/* Keep the durable contents of the regular file REL (about to be replaced or removed). */
static void save_file(const char *relpath, struct saved *sv)
{
	struct stat st;
	struct dfile *f;
	int fd;

	memset(sv, 0, sizeof(*sv));
	if (fstatat(g.rootfd, relpath, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return;
	sv->mode = st.st_mode & 07777;
	sv->uid = st.st_uid;
	sv->gid = st.st_gid;
	if ((f = dfile_find(st.st_dev, st.st_ino)) != NULL) {
		sv->data = malloc(f->synced_len ? f->synced_len : 1);
		if (!sv->data)
			return;
		memcpy(sv->data, f->synced, f->synced_len);
		sv->len = f->synced_len;
		sv->present = true;
		return;
	}
	fd = openat(g.rootfd, relpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return;
	if (read_all(fd, &sv->data, &sv->len) == 0)
		sv->present = true;
	close(fd);
}

static struct ddir *ddir_get(const char *dirpath)
{
	struct ddir *d;

	for (d = g.dirs; d; d = d->next)
		if (!strcmp(d->path, dirpath))
			return d;
	d = calloc(1, sizeof(*d));
	if (!d || !(d->path = strdup(dirpath))) {
		free(d);
		return NULL;
	}
	d->next = g.dirs;
	g.dirs = d;
	return d;
}

static void entry_free(struct entry *e)
{
	free(e->name);
	free(e->name2);
	saved_free(&e->sv);
	free(e);
}

static void ddir_free(struct ddir *d)
{
	while (d->last) {
		struct entry *e = d->last;
		d->last = e->prev;
		entry_free(e);
	}
	free(d->path);
	free(d);
}

/* Record a change in the directory of PATH (an entry E, names relative to the root). */
static void dir_change(const char *path, struct entry *e)
{
	char dir[4096];
	const char *base;
	struct ddir *d;

	split(path, dir, sizeof(dir), &base);
	if (!(d = ddir_get(dir))) {
		entry_free(e);
		g.revert_errors++;       /* could not track it: say so in the stats */
		return;
	}
	e->prev = d->last;
	d->last = e;
}

static struct entry *entry_new(enum ekind kind, const char *name, const char *name2)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->kind = kind;
	e->name = strdup(rel(name));
	e->name2 = name2 ? strdup(rel(name2)) : NULL;
	if (!e->name || (name2 && !e->name2)) {
		entry_free(e);
		return NULL;
	}
	return e;
}

static void dir_synced(const char *path)
{
	for (struct ddir **pp = &g.dirs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->path, path)) {
			struct ddir *d = *pp;
			*pp = d->next;
			ddir_free(d);
			return;
		}
}

static void forget_all(void)
{
	while (g.files) {
		struct dfile *f = g.files;
		g.files = f->next;
		dfile_free(f);
	}
	while (g.dirs) {
		struct ddir *d = g.dirs;
		g.dirs = d->next;
		ddir_free(d);
	}
}

/* ---- the cut -------------------------------------------------------------------- */

static void remove_tree_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd >= 0 && (d = fdopendir(fd)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno == EISDIR)
				remove_tree_at(dirfd(d), de->d_name);
		}
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static int restore_file(const char *relpath, const struct saved *sv)
{
	int fd = openat(g.rootfd, relpath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, sv->mode);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < sv->len) {
		ssize_t n = pwrite(fd, sv->data + off, sv->len - off, (off_t)off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (fchown(fd, sv->uid, sv->gid) < 0 || fchmod(fd, sv->mode) < 0)
		off = (size_t)-1;
	close(fd);
	return off == sv->len ? 0 : -1;
}

static int undo(const struct entry *e)
{
	struct stat st;

	switch (e->kind) {
	case E_CREATE:
		if (fstatat(g.rootfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_ino != e->ino)
			return -1;   /* someone else's since (the durable state is unknown) */
		return unlinkat(g.rootfd, e->name, 0);
	case E_MKDIR:
		if (fstatat(g.rootfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_ino != e->ino)
			return -1;
		remove_tree_at(g.rootfd, e->name);
		return 0;
	case E_RENAME:
		if (renameat(g.rootfd, e->name2, g.rootfd, e->name) < 0)
			return -1;
		return e->sv.present ? restore_file(e->name2, &e->sv) : 0;
	case E_UNLINK:
		return e->sv.present ? restore_file(e->name, &e->sv) : -1;
	case E_RMDIR:
		return mkdirat(g.rootfd, e->name, e->mode);
	}
	return -1;
}

static int depth(const char *p)
{
	int n = 0;
	for (; *p; p++)
		n += *p == '/';
	return n;
}

/* Throw away every change not made durable. */
static void revert_all(void)
{
	for (struct dfile *f = g.files; f; f = f->next) {
		size_t off = 0;
		if (ftruncate(f->fd, (off_t)f->synced_len) < 0)
			g.revert_errors++;
		while (off < f->synced_len) {
			ssize_t n = pwrite(f->fd, f->synced + off, f->synced_len - off, (off_t)off);
			if (n <= 0) {
				g.revert_errors++;
				break;
			}
			off += (size_t)n;
		}
		g.reverted_files++;
		g.lost_writes += f->writes;
	}
	/* deepest directories first: a subdirectory's changes before its own creation's */
	for (;;) {
		struct ddir **best = NULL, *d;
		for (struct ddir **pp = &g.dirs; *pp; pp = &(*pp)->next)
			if (!best || depth((*pp)->path) > depth((*best)->path))
				best = pp;
		if (!best)
			break;
		d = *best;
		*best = d->next;
		for (struct entry *e = d->last; e; e = e->prev) {
			if (undo(e) < 0) {
				g.revert_errors++;
				fprintf(stderr, "nfssim-powerloss: could not undo %s of %s%s%s: %s\n",
					e->kind == E_CREATE ? "create" : e->kind == E_MKDIR ? "mkdir" :
					e->kind == E_RENAME ? "rename" : e->kind == E_UNLINK ? "unlink" : "rmdir",
					e->name, e->name2 ? " -> " : "", e->name2 ? e->name2 : "", strerror(errno));
			}
			g.reverted_entries++;
		}
		ddir_free(d);
	}
	forget_all();
}

static pid_t tgid_of(pid_t tid)
{
	char path[64], line[128];
	pid_t tgid = tid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	if (!(f = fopen(path, "r")))
		return tid;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Tgid:", 5)) {
			tgid = (pid_t)atoi(line + 5);
			break;
		}
	fclose(f);
	return tgid;
}

/* SIGKILL VICTIM (and its process group when it leads one), then revert. Under g.lock. */
static void do_cut(pid_t victim)
{
	if (victim > 0 && victim != getpid()) {
		pid_t pg = getpgid(victim);
		kill(victim, SIGKILL);
		if (pg == victim && pg != getpgid(0))
			kill(-pg, SIGKILL);
		g.victim = victim;
	}
	revert_all();
	g.cuts++;
	fprintf(stderr, "nfssim-powerloss: cut %lu after change %lu (victim %d)\n", g.cuts, g.counted, (int)victim);
}

/* A change by the caller went through: count it; cut or hold when armed. Under g.lock.
 * Returns RC, or -EIO when the caller was cut. */
static int step(int op, const char *a, const char *b, int rc)
{
	struct fuse_context *cx = fuse_get_context();

	g.ops[op]++;
	g.counted++;
	trace_add(op_names[op], a, b);
	if (g.arm == ARM_NONE || g.counted != g.arm_n)
		return rc;
	if (g.arm == ARM_CUT) {
		g.arm = ARM_NONE;
		do_cut(tgid_of(cx->pid));
		return -EIO;
	}
	g.arm = ARM_NONE;
	g.held = 1;
	g.held_cut = false;
	g.held_tid = cx->pid;
	g.held_at = g.counted;
	while (g.held == 1)
		pthread_cond_wait(&g.cv, &g.lock);
	g.held = 0;
	return g.held_cut ? -EIO : rc;
}

/* A process cut is dead for us: its changes in flight are refused. Under g.lock. */
static bool caller_cut(void)
{
	struct fuse_context *cx = fuse_get_context();

	return g.victim > 0 && (cx->pid == g.victim || tgid_of(cx->pid) == g.victim);
}

/* ---- control files ------------------------------------------------------------ */

static char *stats_json(size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	unsigned long dfiles = 0, ddirs = 0, entries = 0;

	if (!f)
		return NULL;
	for (struct dfile *x = g.files; x; x = x->next)
		dfiles++;
	for (struct ddir *d = g.dirs; d; d = d->next) {
		ddirs++;
		for (struct entry *e = d->last; e; e = e->prev)
			entries++;
	}
	fprintf(f, "{\n  \"pid\": %d, \"backend\": \"powerloss\",\n", (int)getpid());
	fprintf(f, "  \"powerloss\": {\"counted\": %lu, \"cuts\": %lu, \"held\": %d, \"held_at\": %lu, "
		"\"armed\": %d, \"arm_n\": %lu,\n", g.counted, g.cuts, g.held == 1, g.held == 1 ? g.held_at : 0,
		(int)g.arm, g.arm_n);
	fprintf(f, "    \"unsynced_files\": %lu, \"unsynced_dirs\": %lu, \"unsynced_entries\": %lu,\n",
		dfiles, ddirs, entries);
	fprintf(f, "    \"file_syncs\": %lu, \"dir_syncs\": %lu, \"full_syncs\": %lu,\n", g.syncs_file,
		g.syncs_dir, g.full_syncs);
	fprintf(f, "    \"reverted_files\": %lu, \"reverted_entries\": %lu, \"lost_writes\": %lu, "
		"\"revert_errors\": %lu, \"victim\": %d},\n", g.reverted_files, g.reverted_entries,
		g.lost_writes, g.revert_errors, (int)g.victim);
	fprintf(f, "  \"ops\": {");
	for (int i = 0; i < OP_COUNT; i++)
		fprintf(f, "%s\"%s\": %lu", i ? ", " : "", op_names[i], g.ops[i]);
	fprintf(f, "},\n  \"faults_total\": %lu\n}\n", g.cuts);
	fclose(f);
	*len = n;
	return buf;
}

static char *trace_text(size_t *len)
{
	size_t n = 0, off = 0;
	char *buf;

	for (unsigned long i = 0; i < g.ntrace; i++)
		n += strlen(g.trace[i]);
	if (!(buf = malloc(n + 1)))
		return NULL;
	for (unsigned long i = 0; i < g.ntrace; i++) {
		size_t l = strlen(g.trace[i]);
		memcpy(buf + off, g.trace[i], l);
		off += l;
	}
	buf[off] = '\0';
	*len = off;
	return buf;
}

static int parse_ulong(const char *v, unsigned long *out)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-')
		return -1;
	*out = x;
	return 0;
}

/* One setting (mount option or ctl command). Under g.lock. 0 or -1 (unknown or bad). */
static int apply_setting(const char *kv)
{
	const char *eq = strchr(kv, '=');
	const char *v = eq ? eq + 1 : "";
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	unsigned long n;

#define IS(name) (klen == strlen(name) && !strncmp(kv, name, klen))
	if (IS("powerloss"))
		return 0;
	if (IS("cut_after") || IS("pause_after")) {
		if (parse_ulong(v, &n) < 0 || n == 0)
			return -1;
		g.arm = IS("cut_after") ? ARM_CUT : ARM_PAUSE;
		g.arm_n = n;
		g.counted = 0;
		trace_clear();
		return 0;
	}
	if (IS("disarm")) {
		g.arm = ARM_NONE;
		return 0;
	}
	if (IS("victim")) {
		if (parse_ulong(v, &n) < 0)
			return -1;
		g.victim = (pid_t)n;
		return 0;
	}
	if (IS("cut")) {
		pid_t who = g.held == 1 ? tgid_of(g.held_tid) : g.victim;
		do_cut(who);
		if (g.held == 1) {
			g.held = 2;
			g.held_cut = true;
			pthread_cond_broadcast(&g.cv);
		}
		return 0;
	}
	if (IS("release")) {
		if (g.held == 1) {
			g.held = 2;
			g.held_cut = false;
			pthread_cond_broadcast(&g.cv);
		}
		return 0;
	}
	if (IS("sync")) {
		forget_all();
		g.full_syncs++;
		return 0;
	}
	if (IS("reset")) {
		memset(g.ops, 0, sizeof(g.ops));
		g.counted = g.cuts = g.syncs_file = g.syncs_dir = g.reverted_files = 0;
		g.reverted_entries = g.lost_writes = g.revert_errors = g.full_syncs = 0;
		g.victim = 0;
		trace_clear();
		return 0;
	}
#undef IS
	return -1;
}

static int ctl_apply(const char *buf, size_t len)
{
	char line[256];
	size_t i = 0;
	int r = 0;

	while (i < len && !r) {
		size_t n = 0;
		while (i < len && strchr("\n \t,", buf[i]))
			i++;
		while (i < len && !strchr("\n \t,", buf[i])) {
			if (n + 1 < sizeof(line))
				line[n++] = buf[i];
			i++;
		}
		line[n] = '\0';
		if (!n)
			continue;
		pthread_mutex_lock(&g.lock);
		r = apply_setting(line);
		pthread_mutex_unlock(&g.lock);
		if (r)
			fprintf(stderr, "nfssim-powerloss: ctl: bad setting '%s'\n", line);
	}
	return r ? -EINVAL : 0;
}

static int ctl_getattr(const char *path, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_nlink = 1;
	if (!strcmp(path, CTL_DIR)) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else if (!strcmp(path, CTL_STATS) || !strcmp(path, CTL_TRACE)) {
		st->st_mode = S_IFREG | 0444;
	} else if (!strcmp(path, CTL_CTL)) {
		st->st_mode = S_IFREG | 0666;
	} else {
		return -ENOENT;
	}
	return 0;
}

/* ---- FUSE operations -------------------------------------------------------------- */

static struct handle *hnew(int kind, int fd)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (h) {
		h->kind = kind;
		h->fd = fd;
	}
	return h;
}

#define H(fi) ((struct handle *)(uintptr_t)(fi)->fh)

static void *pl_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->use_ino = 1;
	cfg->hard_remove = 1;      /* no .fuse_hidden renames of our own */
	cfg->nullpath_ok = 0;      /* paths for the trace (NULL only for unlinked files) */
	cfg->direct_io = 1;        /* no kernel page cache: after a cut, readers see the disk */
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	return NULL;
}

static int pl_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return ctl_getattr(path, st);
	if (fi && H(fi) && H(fi)->fd >= 0)
		return fstat(H(fi)->fd, st) < 0 ? -errno : 0;
	return fstatat(g.rootfd, rel(path), st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int pl_readlink(const char *path, char *buf, size_t size)
{
	ssize_t n = readlinkat(g.rootfd, rel(path), buf, size - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int ctl_open(const char *path, struct fuse_file_info *fi)
{
	struct handle *h;

	if (!strcmp(path, CTL_STATS) || !strcmp(path, CTL_TRACE)) {
		if (!(h = hnew(1, -1)))
			return -ENOMEM;
		pthread_mutex_lock(&g.lock);
		h->buf = !strcmp(path, CTL_STATS) ? stats_json(&h->len) : trace_text(&h->len);
		pthread_mutex_unlock(&g.lock);
		if (!h->buf) {
			free(h);
			return -ENOMEM;
		}
	} else if (!strcmp(path, CTL_CTL)) {
		if (!(h = hnew(2, -1)))
			return -ENOMEM;
	} else {
		return strcmp(path, CTL_DIR) ? -ENOENT : -EISDIR;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	return 0;
}

static int pl_open(const char *path, struct fuse_file_info *fi)
{
	int flags = fi->flags & ~(O_CREAT | O_EXCL), fd, rc = 0;
	bool trunc = (flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY;
	struct handle *h;

	if (is_ctl(path))
		return ctl_open(path, fi);
	pthread_mutex_lock(&g.lock);
	if (trunc && caller_cut()) {
		pthread_mutex_unlock(&g.lock);
		return -EIO;
	}
	fd = openat(g.rootfd, rel(path), (flags & ~O_TRUNC) | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
	} else if (trunc) {
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
			if ((rc = make_dirty(fd)) == 0 && ftruncate(fd, 0) < 0)
				rc = -errno;
			if (rc == 0)
				rc = step(OP_TRUNCATE, path, NULL, 0);
		}
	}
	pthread_mutex_unlock(&g.lock);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!(h = hnew(0, fd))) {
		close(fd);
		return -ENOMEM;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	return 0;
}

static int pl_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct stat st;
	struct handle *h;
	struct entry *e;
	int fd, rc = 0;

	if (is_ctl(path))
		return -EACCES;
	pthread_mutex_lock(&g.lock);
	if (caller_cut()) {
		pthread_mutex_unlock(&g.lock);
		return -EIO;
	}
	if (fstatat(g.rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0) {
		/* it exists (a race with someone on the backing directory): an open */
		pthread_mutex_unlock(&g.lock);
		if (fi->flags & O_EXCL)
			return -EEXIST;
		return pl_open(path, fi);
	}
	fd = openat(g.rootfd, rel(path), fi->flags | O_CREAT | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
	} else if (fstat(fd, &st) < 0 || !(e = entry_new(E_CREATE, path, NULL))) {
		rc = -EIO;
	} else {
		e->ino = st.st_ino;
		dir_change(path, e);
		if ((rc = make_dirty(fd)) == 0)
			rc = step(OP_CREATE, path, NULL, 0);
	}
	pthread_mutex_unlock(&g.lock);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!(h = hnew(0, fd))) {
		close(fd);
		return -ENOMEM;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	return 0;
}

static int pl_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	ssize_t n;

	(void)path;
	if (h->kind == 1) {
		if ((size_t)off >= h->len)
			return 0;
		if (size > h->len - (size_t)off)
			size = h->len - (size_t)off;
		memcpy(buf, h->buf + off, size);
		return (int)size;
	}
	if (h->kind != 0)
		return -EBADF;
	n = pread(h->fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int pl_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	ssize_t n;
	int rc;

	if (h->kind == 2) {
		rc = ctl_apply(buf, size);
		return rc < 0 ? rc : (int)size;
	}
	if (h->kind != 0)
		return -EBADF;
	pthread_mutex_lock(&g.lock);
	if (caller_cut()) {
		pthread_mutex_unlock(&g.lock);
		return -EIO;
	}
	if ((rc = make_dirty(h->fd)) < 0) {
		pthread_mutex_unlock(&g.lock);
		return rc;
	}
	n = pwrite(h->fd, buf, size, off);
	rc = n < 0 ? -errno : step(OP_WRITE, path, NULL, (int)n);
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int pl_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd = fi && H(fi) && H(fi)->kind == 0 ? H(fi)->fd : -1, own = -1, rc;

	if (is_ctl(path))
		return 0;    /* "echo cmd > ctl" truncates first */
	if (fd < 0) {
		own = fd = openat(g.rootfd, rel(path), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
	}
	pthread_mutex_lock(&g.lock);
	if (caller_cut())
		rc = -EIO;
	else if ((rc = make_dirty(fd)) == 0)
		rc = ftruncate(fd, size) < 0 ? -errno : step(OP_TRUNCATE, path, NULL, 0);
	pthread_mutex_unlock(&g.lock);
	if (own >= 0)
		close(own);
	return rc;
}

static int pl_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	int rc;

	(void)datasync;
	if (h->kind != 0)
		return 0;
	pthread_mutex_lock(&g.lock);
	if (caller_cut()) {
		pthread_mutex_unlock(&g.lock);
		return -EIO;
	}
	file_synced(h->fd);
	g.syncs_file++;
	rc = step(OP_FSYNC, path, NULL, 0);
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int pl_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;
}

static int pl_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);

	(void)path;
	if (h->fd >= 0)
		close(h->fd);
	free(h->buf);
	free(h);
	return 0;
}

static int pl_opendir(const char *path, struct fuse_file_info *fi)
{
	struct handle *h;
	int fd;

	if (is_ctl(path))
		fd = -1;
	else if ((fd = openat(g.rootfd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (!(h = hnew(3, fd)) || !(h->buf = strdup(path))) {
		free(h);
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
}

static int pl_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dirent *de;
	DIR *d;
	int fd;

	(void)off;
	(void)flags;
	if (is_ctl(path)) {
		filler(buf, ".", NULL, 0, 0);
		filler(buf, "..", NULL, 0, 0);
		filler(buf, "stats", NULL, 0, 0);
		filler(buf, "ctl", NULL, 0, 0);
		filler(buf, "trace", NULL, 0, 0);
		return 0;
	}
	/* a fresh descriptor each time: fdopendir() owns it, and starts at the beginning */
	if (fi && H(fi) && H(fi)->fd >= 0)
		fd = openat(H(fi)->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else
		fd = openat(g.rootfd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		memset(&st, 0, sizeof(st));
		st.st_ino = de->d_ino;
		st.st_mode = (mode_t)DTTOIF(de->d_type);
		if (filler(buf, de->d_name, &st, 0, 0))
			break;
	}
	closedir(d);
	return 0;
}

static int pl_releasedir(const char *path, struct fuse_file_info *fi)
{
	return pl_release(path, fi);
}

static int pl_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	int rc;

	(void)datasync;
	if (!path && fi && H(fi))
		path = H(fi)->buf;   /* the directory's path at opendir (directories never move) */
	if (!path || is_ctl(path))
		return 0;
	pthread_mutex_lock(&g.lock);
	if (caller_cut()) {
		pthread_mutex_unlock(&g.lock);
		return -EIO;
	}
	dir_synced(path);
	g.syncs_dir++;
	rc = step(OP_FSYNCDIR, path, NULL, 0);
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int pl_mkdir(const char *path, mode_t mode)
{
	struct stat st;
	struct entry *e;
	int rc;

	if (is_ctl(path))
		return -EEXIST;
	pthread_mutex_lock(&g.lock);
	if (caller_cut())
		rc = -EIO;
	else if (mkdirat(g.rootfd, rel(path), mode) < 0)
		rc = -errno;
	else if (fstatat(g.rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) < 0 || !(e = entry_new(E_MKDIR, path, NULL)))
		rc = -EIO;
	else {
		e->ino = st.st_ino;
		dir_change(path, e);
		rc = step(OP_MKDIR, path, NULL, 0);
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int pl_rmdir(const char *path)
{
	struct stat st;
	struct entry *e;
	int rc;

	if (is_ctl(path))
		return -EACCES;
	pthread_mutex_lock(&g.lock);
	if (caller_cut())
		rc = -EIO;
	else if (fstatat(g.rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	else if (unlinkat(g.rootfd, rel(path), AT_REMOVEDIR) < 0)
		rc = -errno;
	else if (!(e = entry_new(E_RMDIR, path, NULL)))
		rc = -EIO;
	else {
		e->mode = st.st_mode & 07777;
		dir_change(path, e);
		rc = step(OP_RMDIR, path, NULL, 0);
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int pl_unlink(const char *path)
{
	struct entry *e;
	int rc;

	if (is_ctl(path))
		return -EACCES;
	pthread_mutex_lock(&g.lock);
	if (caller_cut()) {
		rc = -EIO;
	} else if (!(e = entry_new(E_UNLINK, path, NULL))) {
		rc = -ENOMEM;
	} else {
		save_file(rel(path), &e->sv);
		if (unlinkat(g.rootfd, rel(path), 0) < 0) {
			rc = -errno;
			entry_free(e);
		} else {
			dir_change(path, e);
			rc = step(OP_UNLINK, path, NULL, 0);
		}
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int pl_rename(const char *from, const char *to, unsigned int flags)
{
	char d1[4096], d2[4096];
	const char *b1, *b2;
	struct stat st;
	struct entry *e;
	int rc;

	if (is_ctl(from) || is_ctl(to))
		return -EACCES;
	if (flags)
		return -EINVAL;
	split(from, d1, sizeof(d1), &b1);
	split(to, d2, sizeof(d2), &b2);
	/* The model keeps changes per directory; the file protocol never renames across
	 * directories, nor renames directories: refuse both (mv copies instead). */
	if (strcmp(d1, d2))
		return -EXDEV;
	if (fstatat(g.rootfd, rel(from), &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EXDEV;
	pthread_mutex_lock(&g.lock);
	if (caller_cut()) {
		rc = -EIO;
	} else if (!(e = entry_new(E_RENAME, from, to))) {
		rc = -ENOMEM;
	} else {
		save_file(rel(to), &e->sv);
		if (renameat(g.rootfd, rel(from), g.rootfd, rel(to)) < 0) {
			rc = -errno;
			entry_free(e);
		} else {
			dir_change(to, e);
			rc = step(OP_RENAME, from, to, 0);
		}
	}
	pthread_mutex_unlock(&g.lock);
	return rc;
}

/* A new name made by F(): tracked as a create in its directory. */
static int new_name(int op, const char *path, const char *from, int r)
{
	struct stat st;
	struct entry *e;

	if (r < 0)
		return -errno;
	if (fstatat(g.rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) < 0 || !(e = entry_new(E_CREATE, path, NULL)))
		return -EIO;
	e->ino = st.st_ino;
	dir_change(path, e);
	return step(op, from ? from : path, from ? path : NULL, 0);
}

static int pl_link(const char *from, const char *to)
{
	int rc;

	if (is_ctl(from) || is_ctl(to))
		return -EACCES;
	pthread_mutex_lock(&g.lock);
	rc = caller_cut() ? -EIO : new_name(OP_LINK, to, from, linkat(g.rootfd, rel(from), g.rootfd, rel(to), 0));
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int pl_symlink(const char *target, const char *path)
{
	int rc;

	if (is_ctl(path))
		return -EACCES;
	pthread_mutex_lock(&g.lock);
	rc = caller_cut() ? -EIO : new_name(OP_SYMLINK, path, NULL, symlinkat(target, g.rootfd, rel(path)));
	pthread_mutex_unlock(&g.lock);
	return rc;
}

static int pl_mknod(const char *path, mode_t mode, dev_t dev)
{
	int rc;

	if (is_ctl(path))
		return -EACCES;
	pthread_mutex_lock(&g.lock);
	rc = caller_cut() ? -EIO : new_name(OP_MKNOD, path, NULL, mknodat(g.rootfd, rel(path), mode, dev));
	pthread_mutex_unlock(&g.lock);
	return rc;
}

/* Inode attributes other than the size are not part of the model: applied at once. */
static int pl_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (fi && H(fi) && H(fi)->fd >= 0)
		return fchmod(H(fi)->fd, mode) < 0 ? -errno : 0;
	if (is_ctl(path))
		return -EACCES;
	return fchmodat(g.rootfd, rel(path), mode, 0) < 0 ? -errno : 0;
}

static int pl_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	if (fi && H(fi) && H(fi)->fd >= 0)
		return fchown(H(fi)->fd, uid, gid) < 0 ? -errno : 0;
	if (is_ctl(path))
		return -EACCES;
	return fchownat(g.rootfd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int pl_utimens(const char *path, const struct timespec ts[2], struct fuse_file_info *fi)
{
	if (fi && H(fi) && H(fi)->fd >= 0)
		return futimens(H(fi)->fd, ts) < 0 ? -errno : 0;
	if (is_ctl(path))
		return 0;
	return utimensat(g.rootfd, rel(path), ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int pl_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(g.rootfd, sv) < 0 ? -errno : 0;
}

static void pl_destroy(void *data)
{
	(void)data;
	pthread_mutex_lock(&g.lock);
	if (g.held == 1) {
		g.held = 2;
		pthread_cond_broadcast(&g.cv);
	}
	pthread_mutex_unlock(&g.lock);
}

static const struct fuse_operations pl_ops = {
	.init = pl_init,
	.destroy = pl_destroy,
	.getattr = pl_getattr,
	.readlink = pl_readlink,
	.mknod = pl_mknod,
	.mkdir = pl_mkdir,
	.unlink = pl_unlink,
	.rmdir = pl_rmdir,
	.symlink = pl_symlink,
	.rename = pl_rename,
	.link = pl_link,
	.chmod = pl_chmod,
	.chown = pl_chown,
	.truncate = pl_truncate,
	.open = pl_open,
	.read = pl_read,
	.write = pl_write,
	.statfs = pl_statfs,
	.flush = pl_flush,
	.release = pl_release,
	.fsync = pl_fsync,
	.opendir = pl_opendir,
	.readdir = pl_readdir,
	.releasedir = pl_releasedir,
	.fsyncdir = pl_fsyncdir,
	.create = pl_create,
	.utimens = pl_utimens,
};

/* ---- main ----------------------------------------------------------------------- */

static bool opts_have(const char *opts, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = opts; p && *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l == n && !strncmp(p, word, n))
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

int nfssim_powerloss_wanted(int argc, char *argv[])
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc && opts_have(argv[i + 1], "powerloss"))
			return 1;
		if (!strncmp(argv[i], "-o", 2) && argv[i][2] && opts_have(argv[i] + 2, "powerloss"))
			return 1;
	}
	return 0;
}

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT && !g.backing) {
		g.backing = strdup(arg);
		return 0;
	}
	if (key != FUSE_OPT_KEY_OPT || arg[0] == '-')
		return 1;
	return apply_setting(arg) == 0 ? 0 : 1;   /* else a FUSE or mount option */
}

int nfssim_powerloss_main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	static const struct fuse_opt spec[] = { FUSE_OPT_END };
	int r;

	if (fuse_opt_parse(&args, NULL, spec, opt_proc) < 0 || !g.backing) {
		fprintf(stderr, "usage: nfssim DIR MOUNTPOINT [-f] -o powerloss[,cut_after=N|pause_after=N]\n");
		return 2;
	}
	if (!strncmp(g.backing, "nfs://", 6)) {
		fprintf(stderr, "nfssim: powerloss: the backing store must be a local directory\n");
		return 3;
	}
	g.rootfd = open(g.backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g.rootfd < 0) {
		fprintf(stderr, "nfssim: powerloss: backend: %s: %s\n", g.backing, strerror(errno));
		return 3;
	}
	fuse_opt_add_arg(&args, "-osubtype=nfssim,fsname=nfssim-powerloss");
	if (geteuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other");
	r = fuse_main(args.argc, args.argv, &pl_ops, NULL);
	pthread_mutex_lock(&g.lock);
	forget_all();
	trace_clear();
	pthread_mutex_unlock(&g.lock);
	close(g.rootfd);
	fuse_opt_free_args(&args);
	free(g.backing);
	return r;
}
