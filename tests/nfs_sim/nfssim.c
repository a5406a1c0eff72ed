/* nfssim.c - a FUSE filesystem that behaves like a Linux NFS client in front of a
 * backing store (a local directory or a real NFS server through libnfs).
 * What it simulates, each a mount option (docs/NFSSIM.md): the attribute cache
 * (actimeo, lookupcache, close-to-open revalidation at open), write-back at
 * close/fsync in wsize chunks with a delay between them, server-side squashing, a
 * fault schedule, latency and an unreachable server. Counters are read from the
 * control file /.nfssim/stats (JSON) and the schedule is changed by writing to
 * /.nfssim/ctl. The kernel's own FUSE caches are off so that this cache decides. */
#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faults.h"
#include "powerloss.h"
#include "store.h"

#define MAX_RULES 32
#define CTL_DIR "/.nfssim"
#define CTL_STATS "/.nfssim/stats"
#define CTL_CTL "/.nfssim/ctl"

enum squash { SQUASH_NONE, SQUASH_ROOT, SQUASH_ALL };
enum lookupcache { LC_ALL, LC_POSITIVE, LC_NONE };
static const char *const squash_names[] = { "none", "root", "all" };
static const char *const lc_names[] = { "all", "positive", "none" };

struct config {
	char *backend;
	char *stats_path;
	long acreg_ms, acdir_ms;     /* attribute cache timeouts: files; dirs and negatives */
	enum lookupcache lookupcache;
	long wsize, wdelay_ms, wbuf_max;
	bool wsync;                  /* write-through: each write(2) reaches the store */
	enum squash squash;
	uid_t anonuid;
	gid_t anongid;
	long latency_ms;
	bool unreachable;
	long unreach_ms;             /* how long an op waits for the server; 0: forever */
	bool kcache;                 /* kernel page cache as the client's data cache */
	uint64_t seed;
};

struct counters {
	unsigned long ops[NFSSIM_OP_COUNT];
	unsigned long injected[NFSSIM_OP_COUNT][NFSSIM_NERR + 1];
	unsigned long faults_total;
	unsigned long attr_hits, attr_misses, neg_hits, neg_misses, revalidations;
	unsigned long cto_invalidations;
	unsigned long flushes, chunks, bytes_pushed;
	unsigned long latency_injected, unreachable_timeouts, squashed;
};

struct seg {
	off_t off;
	size_t len;
	char *data;
};

struct handle {
	int kind;                    /* 0 file, 1 stats, 2 ctl */
	void *sfh;
	char *path;
	ino_t ino;
	int flags;
	pthread_mutex_t lock;        /* serialises I/O on this handle */
	struct seg *segs;
	size_t nsegs, cap, dirty;
	off_t dirty_end;             /* read under g.lock by getattr */
	char *buf;                   /* control files */
	size_t buflen;
	struct handle *next, *prev;  /* g.open_files, under g.lock */
};

struct centry {
	char *path;
	bool valid;                  /* attributes (or negative result) valid */
	int err;                     /* 0, or ENOENT for a negative entry */
	struct stat st;
	long long t_ms;
	bool cto_known;              /* data as of the last open, for kcache */
	struct timespec cto_mtime;
	off_t cto_size;
	struct centry *next;
};

#define NBUCKETS 1024

static struct {
	pthread_mutex_t lock;
	struct config cfg;
	struct nfssim_store *store;
	struct nfssim_fault rules[MAX_RULES];
	int nrules;
	struct counters c;
	struct centry *cache[NBUCKETS];
	struct handle *open_files;
	unsigned long stats_gen;
	pthread_t stats_thread;
	bool stats_running, stop;
	pthread_cond_t stop_cv;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER, .stop_cv = PTHREAD_COND_INITIALIZER };

/* ---- time ----------------------------------------------------------------------- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- stats ---------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static const char *errno_label(int i)
{
	static const int order[NFSSIM_NERR] = { EIO, ESTALE, ENOSPC, EACCES, ETIMEDOUT, EPERM,
						EROFS, EDQUOT, ENOENT, EAGAIN, EINTR };
	return i < NFSSIM_NERR ? nfssim_errno_name(order[i]) : "other";
}

/* JSON snapshot of the configuration and counters; caller holds g.lock. */
static char *stats_json_locked(size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);
	if (!f)
		return NULL;
	const struct config *c = &g.cfg;
	fprintf(f, "{\n  \"pid\": %ld,\n  \"backend\": ", (long)getpid());
	json_str(f, g.store ? g.store->name : "none");
	fprintf(f, ",\n  \"config\": {\"acregmin_ms\": %ld, \"acdirmin_ms\": %ld, \"lookupcache\": \"%s\", "
		"\"wsize\": %ld, \"wdelay_ms\": %ld, \"wsync\": %d, \"squash\": \"%s\", \"anonuid\": %u, "
		"\"anongid\": %u, \"latency_ms\": %ld, \"unreachable\": %d, \"unreach_ms\": %ld, "
		"\"kcache\": %d, \"seed\": %llu},\n",
		c->acreg_ms, c->acdir_ms, lc_names[c->lookupcache], c->wsize, c->wdelay_ms, c->wsync,
		squash_names[c->squash], (unsigned)c->anonuid, (unsigned)c->anongid, c->latency_ms,
		c->unreachable, c->unreach_ms, c->kcache, (unsigned long long)c->seed);
	fprintf(f, "  \"ops\": {");
	for (int i = 0; i < NFSSIM_OP_COUNT; i++)
		fprintf(f, "%s\"%s\": %lu", i ? ", " : "", nfssim_op_name(i), g.c.ops[i]);
	fprintf(f, "},\n  \"faults_total\": %lu,\n  \"faults\": {", g.c.faults_total);
	bool first = true;
	for (int i = 0; i < NFSSIM_OP_COUNT; i++)
		for (int e = 0; e <= NFSSIM_NERR; e++)
			if (g.c.injected[i][e]) {
				fprintf(f, "%s\"%s:%s\": %lu", first ? "" : ", ", nfssim_op_name(i),
					errno_label(e), g.c.injected[i][e]);
				first = false;
			}
	fprintf(f, "},\n  \"rules\": [");
	for (int i = 0; i < g.nrules; i++) {
		char spec[256];
		nfssim_fault_format(&g.rules[i], spec, sizeof(spec));
		fprintf(f, "%s\n    {\"rule\": ", i ? "," : "");
		json_str(f, spec);
		fprintf(f, ", \"calls\": %lu, \"hits\": %lu}", g.rules[i].calls, g.rules[i].hits);
	}
	fprintf(f, "%s],\n", g.nrules ? "\n  " : "");
	fprintf(f, "  \"attr_cache\": {\"hits\": %lu, \"misses\": %lu, \"neg_hits\": %lu, "
		"\"neg_misses\": %lu, \"revalidations\": %lu, \"cto_invalidations\": %lu},\n",
		g.c.attr_hits, g.c.attr_misses, g.c.neg_hits, g.c.neg_misses, g.c.revalidations,
		g.c.cto_invalidations);
	fprintf(f, "  \"writeback\": {\"flushes\": %lu, \"chunks\": %lu, \"bytes\": %lu},\n",
		g.c.flushes, g.c.chunks, g.c.bytes_pushed);
	fprintf(f, "  \"latency_injected\": %lu,\n  \"unreachable_timeouts\": %lu,\n"
		"  \"squashed\": %lu\n}\n", g.c.latency_injected, g.c.unreachable_timeouts,
		g.c.squashed);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Rewrite the stats= file atomically (temporary name, rename). */
static void stats_write_file(void)
{
	if (!g.cfg.stats_path)
		return;
	size_t len = 0;
	pthread_mutex_lock(&g.lock);
	char *json = stats_json_locked(&len);
	pthread_mutex_unlock(&g.lock);
	if (!json)
		return;
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", g.cfg.stats_path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (f) {
		bool ok = fwrite(json, 1, len, f) == len;
		ok = (fclose(f) == 0) && ok;
		if (!ok || rename(tmp, g.cfg.stats_path) < 0)
			unlink(tmp);
	}
	free(json);
}

static void *stats_thread_main(void *arg)
{
	(void)arg;
	unsigned long written = (unsigned long)-1;
	pthread_mutex_lock(&g.lock);
	while (!g.stop) {
		unsigned long gen = g.stats_gen;
		if (gen != written) {
			pthread_mutex_unlock(&g.lock);
			stats_write_file();
			written = gen;
			pthread_mutex_lock(&g.lock);
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g.stop_cv, &g.lock, &ts);
	}
	pthread_mutex_unlock(&g.lock);
	return NULL;
}

/* ---- attribute cache ------------------------------------------------------------ */

static unsigned hash_path(const char *p)
{
	uint32_t h = 2166136261u;
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % NBUCKETS;
}

/* Find (or with create, add) the entry of path; caller holds g.lock. */
static struct centry *cache_find(const char *path, bool create)
{
	unsigned b = hash_path(path);
	for (struct centry *e = g.cache[b]; e; e = e->next)
		if (!strcmp(e->path, path))
			return e;
	if (!create)
		return NULL;
	struct centry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->path = strdup(path);
	if (!e->path) {
		free(e);
		return NULL;
	}
	e->next = g.cache[b];
	g.cache[b] = e;
	return e;
}

static void cache_put(const char *path, int err, const struct stat *st)
{
	if (err && err != ENOENT)
		return;
	pthread_mutex_lock(&g.lock);
	struct centry *e = cache_find(path, true);
	if (e) {
		e->valid = true;
		e->err = err;
		if (st)
			e->st = *st;
		e->t_ms = now_ms();
	}
	pthread_mutex_unlock(&g.lock);
}

static void parent_of(const char *path, char *out, size_t len)
{
	snprintf(out, len, "%s", path);
	char *slash = strrchr(out, '/');
	if (slash == out)
		out[1] = '\0';
	else if (slash)
		*slash = '\0';
}

/* Our own change to path: its attributes and its directory's are no longer known.
 * With subtree, also every name below path (a renamed directory). */
static void cache_invalidate(const char *path, bool subtree)
{
	char parent[4096];
	size_t n = strlen(path);
	parent_of(path, parent, sizeof(parent));
	pthread_mutex_lock(&g.lock);
	for (int b = 0; b < NBUCKETS; b++)
		for (struct centry *e = g.cache[b]; e; e = e->next)
			if (!strcmp(e->path, path) || !strcmp(e->path, parent) ||
			    (subtree && !strncmp(e->path, path, n) && e->path[n] == '/'))
				e->valid = false;
	pthread_mutex_unlock(&g.lock);
}

static void cache_clear(void)
{
	for (int b = 0; b < NBUCKETS; b++)
		while (g.cache[b]) {
			struct centry *e = g.cache[b];
			g.cache[b] = e->next;
			free(e->path);
			free(e);
		}
}

/* ---- credentials ---------------------------------------------------------------- */

struct creds {
	struct nfssim_cred c;
	gid_t groups[64];
};

static void caller_creds(struct creds *cr)
{
	struct fuse_context *ctx = fuse_get_context();
	cr->c.uid = ctx->uid;
	cr->c.gid = ctx->gid;
	cr->c.groups = cr->groups;
	cr->c.ngroups = 0;
	pthread_mutex_lock(&g.lock);
	enum squash sq = g.cfg.squash;
	bool squash = sq == SQUASH_ALL || (sq == SQUASH_ROOT && ctx->uid == 0);
	if (squash) {
		/* knfsd: a squashed caller gets the anonymous uid and gid and no groups. */
		cr->c.uid = g.cfg.anonuid;
		cr->c.gid = g.cfg.anongid;
		g.c.squashed++;
	} else if (sq == SQUASH_ROOT && ctx->gid == 0) {
		cr->c.gid = g.cfg.anongid;
	}
	pthread_mutex_unlock(&g.lock);
	if (!squash) {
		int n = fuse_getgroups(64, cr->groups);
		cr->c.ngroups = n > 0 && n <= 64 ? n : 0;
	}
}

/* ---- the fault seam: every operation starts here -------------------------------- */

static bool is_ctl(const char *path)
{
	return path && !strncmp(path, CTL_DIR, 8) && (path[8] == '\0' || path[8] == '/');
}

static int begin(int op, const char *path)
{
	if (is_ctl(path))
		return 0;
	pthread_mutex_lock(&g.lock);
	g.c.ops[op]++;
	long lat = g.cfg.latency_ms;
	bool unreach = g.cfg.unreachable;
	long unreach_ms = g.cfg.unreach_ms;
	pthread_mutex_unlock(&g.lock);

	if (lat > 0) {
		sleep_ms(lat);
		pthread_mutex_lock(&g.lock);
		g.c.latency_injected++;
		pthread_mutex_unlock(&g.lock);
	}
	if (unreach) {
		/* A server that does not answer: wait like a mount with timeo; if it comes
		 * back (ctl unreachable=0) go on, else fail with ETIMEDOUT as soft,softerr. */
		long long deadline = now_ms() + unreach_ms;
		for (;;) {
			pthread_mutex_lock(&g.lock);
			unreach = g.cfg.unreachable;
			pthread_mutex_unlock(&g.lock);
			if (!unreach || (unreach_ms > 0 && now_ms() >= deadline))
				break;
			sleep_ms(10);
		}
		if (unreach) {
			pthread_mutex_lock(&g.lock);
			g.c.unreachable_timeouts++;
			g.c.injected[op][nfssim_errno_index(ETIMEDOUT)]++;
			g.c.faults_total++;
			g.stats_gen++;
			pthread_mutex_unlock(&g.lock);
			stats_write_file();
			return -ETIMEDOUT;
		}
	}
	int err = 0;
	pthread_mutex_lock(&g.lock);
	for (int i = 0; i < g.nrules && !err; i++)
		err = nfssim_fault_check(&g.rules[i], op, path);
	if (err) {
		g.c.injected[op][nfssim_errno_index(err)]++;
		g.c.faults_total++;
	}
	g.stats_gen++;
	pthread_mutex_unlock(&g.lock);
	if (err)
		stats_write_file();
	return -err;
}

/* ---- settings: mount options and ctl commands share one parser ------------------ */

static int parse_long(const char *v, long min, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < min)
		return -1;
	*out = x;
	return 0;
}

static int parse_secs_ms(const char *v, long *out)
{
	char *end;
	errno = 0;
	double s = strtod(v, &end);
	if (errno || end == v || *end || !(s >= 0.0 && s < 1e6))
		return -1;
	*out = (long)(s * 1000.0 + 0.5);
	return 0;
}

/* Apply one key[=value]. at_mount: also the settings that only a mount may give.
 * Caller holds g.lock once the filesystem runs. 0, or -1 with a reason in err. */
static int apply_setting(const char *kv, bool at_mount, char *err, size_t errlen)
{
	char key[64];
	const char *eq = strchr(kv, '=');
	const char *v = eq ? eq + 1 : "";
	size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
	struct config *c = &g.cfg;
	long x;

	if (kl >= sizeof(key))
		goto unknown;
	memcpy(key, kv, kl);
	key[kl] = '\0';
#define IS(k) (!strcmp(key, k))
#define NUM(min) do { if (parse_long(v, (min), &x)) goto bad; } while (0)
	if (IS("backend") || IS("stats")) {
		if (!at_mount)
			goto mountonly;
		char **dst = IS("backend") ? &c->backend : &c->stats_path;
		free(*dst);
		*dst = strdup(v);
	} else if (IS("actimeo")) {
		if (parse_secs_ms(v, &c->acreg_ms))
			goto bad;
		c->acdir_ms = c->acreg_ms;
	} else if (IS("acregmin") || IS("acreg")) {
		if (parse_secs_ms(v, &c->acreg_ms))
			goto bad;
	} else if (IS("acdirmin") || IS("acdir")) {
		if (parse_secs_ms(v, &c->acdir_ms))
			goto bad;
	} else if (IS("noac")) {
		c->acreg_ms = c->acdir_ms = 0;
		c->wsync = true;
	} else if (IS("lookupcache")) {
		if (!strcmp(v, "all"))
			c->lookupcache = LC_ALL;
		else if (!strcmp(v, "positive") || !strcmp(v, "pos"))
			c->lookupcache = LC_POSITIVE;
		else if (!strcmp(v, "none"))
			c->lookupcache = LC_NONE;
		else
			goto bad;
	} else if (IS("wsize")) {
		NUM(1);
		c->wsize = x;
	} else if (IS("wdelay_ms")) {
		NUM(0);
		c->wdelay_ms = x;
	} else if (IS("wbuf_max")) {
		NUM(1);
		c->wbuf_max = x;
	} else if (IS("wsync")) {
		NUM(0);
		c->wsync = x != 0;
	} else if (IS("squash")) {
		if (!strcmp(v, "none"))
			c->squash = SQUASH_NONE;
		else if (!strcmp(v, "root"))
			c->squash = SQUASH_ROOT;
		else if (!strcmp(v, "all"))
			c->squash = SQUASH_ALL;
		else
			goto bad;
	} else if (IS("anonuid")) {
		NUM(0);
		c->anonuid = (uid_t)x;
	} else if (IS("anongid")) {
		NUM(0);
		c->anongid = (gid_t)x;
	} else if (IS("latency_ms")) {
		NUM(0);
		c->latency_ms = x;
	} else if (IS("unreachable")) {
		NUM(0);
		c->unreachable = x != 0;
	} else if (IS("unreach_ms")) {
		NUM(0);
		c->unreach_ms = x;
	} else if (IS("kcache")) {
		if (!at_mount)
			goto mountonly;
		NUM(0);
		c->kcache = x != 0;
	} else if (IS("seed")) {
		NUM(0);
		c->seed = (uint64_t)x;
	} else if (IS("fault")) {
		if (g.nrules >= MAX_RULES) {
			snprintf(err, errlen, "too many fault rules (max %d)", MAX_RULES);
			return -1;
		}
		if (nfssim_fault_parse(v, c->seed, &g.rules[g.nrules], err, errlen))
			return -1;
		g.nrules++;
	} else if (IS("clear_faults") || IS("nofault")) {
		g.nrules = 0;
	} else if (IS("reset")) {
		memset(&g.c, 0, sizeof(g.c));
		for (int i = 0; i < g.nrules; i++)
			g.rules[i].calls = g.rules[i].hits = 0;
	} else if (IS("drop_caches")) {
		for (int b = 0; b < NBUCKETS; b++)
			for (struct centry *e = g.cache[b]; e; e = e->next)
				e->valid = false;
	} else {
		goto unknown;
	}
	return 0;
#undef IS
#undef NUM
bad:
	snprintf(err, errlen, "bad value in '%s'", kv);
	return -1;
mountonly:
	snprintf(err, errlen, "'%s' can only be given at mount time", key);
	return -1;
unknown:
	snprintf(err, errlen, "unknown setting '%s'", kv);
	return -1;
}

/* ---- dirty data: close-to-open write-back ----------------------------------------- */

static int push(struct handle *h, const char *buf, size_t len, off_t off, bool *first)
{
	pthread_mutex_lock(&g.lock);
	size_t wsize = (size_t)g.cfg.wsize;
	long delay = g.cfg.wdelay_ms;
	pthread_mutex_unlock(&g.lock);
	while (len > 0) {
		size_t n = len < wsize ? len : wsize;
		if (!*first && delay > 0)
			sleep_ms(delay);
		*first = false;
		size_t done = 0;
		while (done < n) {
			ssize_t w = g.store->pwrite(g.store, h->sfh, buf + done, n - done,
						    off + (off_t)done);
			if (w < 0)
				return (int)w;
			if (w == 0)
				return -EIO;
			done += (size_t)w;
		}
		pthread_mutex_lock(&g.lock);
		g.c.chunks++;
		g.c.bytes_pushed += n;
		g.stats_gen++;
		pthread_mutex_unlock(&g.lock);
		buf += n;
		off += (off_t)n;
		len -= n;
	}
	return 0;
}

static void drop_dirty(struct handle *h)
{
	for (size_t i = 0; i < h->nsegs; i++)
		free(h->segs[i].data);
	h->nsegs = 0;
	h->dirty = 0;
	pthread_mutex_lock(&g.lock);
	h->dirty_end = 0;
	pthread_mutex_unlock(&g.lock);
}

/* Write the buffered data to the store, in order, in wsize chunks. Caller holds h->lock.
 * On error the data is dropped, as the NFS client does after reporting it. */
static int flush_dirty(struct handle *h)
{
	if (!h->nsegs)
		return 0;
	bool first = true;
	int r = 0;
	for (size_t i = 0; i < h->nsegs && !r; i++)
		r = push(h, h->segs[i].data, h->segs[i].len, h->segs[i].off, &first);
	drop_dirty(h);
	pthread_mutex_lock(&g.lock);
	g.c.flushes++;
	pthread_mutex_unlock(&g.lock);
	cache_invalidate(h->path, false);
	return r;
}

static int add_dirty(struct handle *h, const char *buf, size_t len, off_t off)
{
	if (h->nsegs == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 8;
		struct seg *s = realloc(h->segs, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		h->segs = s;
		h->cap = cap;
	}
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	h->segs[h->nsegs++] = (struct seg){ off, len, copy };
	h->dirty += len;
	pthread_mutex_lock(&g.lock);
	if (off + (off_t)len > h->dirty_end)
		h->dirty_end = off + (off_t)len;
	pthread_mutex_unlock(&g.lock);
	return 0;
}

/* Size as this client sees it: the store's, grown by its own unwritten data. */
static void overlay_size(struct stat *st)
{
	pthread_mutex_lock(&g.lock);
	for (struct handle *h = g.open_files; h; h = h->next)
		if (h->ino == st->st_ino && h->dirty_end > st->st_size)
			st->st_size = h->dirty_end;
	pthread_mutex_unlock(&g.lock);
}

/* ---- control files ------------------------------------------------------------ */

static int ctl_getattr(const char *path, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_nlink = 1;
	if (!strcmp(path, CTL_DIR)) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else if (!strcmp(path, CTL_STATS)) {
		st->st_mode = S_IFREG | 0444;
	} else if (!strcmp(path, CTL_CTL)) {
		st->st_mode = S_IFREG | 0666;
	} else {
		return -ENOENT;
	}
	return 0;
}

static int ctl_apply(const char *buf, size_t len)
{
	char line[1024], err[256];
	size_t i = 0;
	int r = 0;
	while (i < len && !r) {
		size_t n = 0;
		while (i < len && (buf[i] == '\n' || buf[i] == ' ' || buf[i] == '\t' || buf[i] == ','))
			i++;
		while (i < len && buf[i] != '\n' && buf[i] != ' ' && buf[i] != '\t' && buf[i] != ',') {
			if (n + 1 < sizeof(line))
				line[n++] = buf[i];
			i++;
		}
		line[n] = '\0';
		if (!n)
			continue;
		pthread_mutex_lock(&g.lock);
		r = apply_setting(line, false, err, sizeof(err));
		g.stats_gen++;
		pthread_mutex_unlock(&g.lock);
		if (r)
			fprintf(stderr, "nfssim: ctl: %s\n", err);
	}
	stats_write_file();
	return r ? -EINVAL : 0;
}

/* ---- FUSE operations -------------------------------------------------------------- */

static void *ns_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* The kernel must not cache on its own: every stat and lookup comes here. */
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->use_ino = 1;
	cfg->hard_remove = 1;
	cfg->direct_io = g.cfg.kcache ? 0 : 1;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	/* kcache: the page cache is invalidated only at open (close-to-open), not by a
	 * changed mtime seen in getattr, so a mapping keeps its stale pages as on NFS. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (g.cfg.stats_path && pthread_create(&g.stats_thread, NULL, stats_thread_main, NULL) == 0)
		g.stats_running = true;
	return NULL;
}

static void ns_destroy(void *data)
{
	(void)data;
	if (g.stats_running) {
		pthread_mutex_lock(&g.lock);
		g.stop = true;
		pthread_cond_signal(&g.stop_cv);
		pthread_mutex_unlock(&g.lock);
		pthread_join(g.stats_thread, NULL);
		g.stats_running = false;
	}
	stats_write_file();
}

static int ns_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	if (is_ctl(path))
		return ctl_getattr(path, st);
	int r = begin(NFSSIM_OP_GETATTR, path);
	if (r)
		return r;

	pthread_mutex_lock(&g.lock);
	struct centry *e = cache_find(path, false);
	bool hit = false;
	long long age = e ? now_ms() - e->t_ms : 0;
	if (e && e->valid) {
		if (e->err == 0 && g.cfg.lookupcache != LC_NONE &&
		    age < (S_ISDIR(e->st.st_mode) ? g.cfg.acdir_ms : g.cfg.acreg_ms)) {
			*st = e->st;
			g.c.attr_hits++;
			hit = true;
		} else if (e->err && g.cfg.lookupcache == LC_ALL && age < g.cfg.acdir_ms) {
			r = -e->err;
			g.c.neg_hits++;
			hit = true;
		}
	}
	pthread_mutex_unlock(&g.lock);
	if (!hit) {
		struct creds cr;
		caller_creds(&cr);
		r = g.store->getattr(g.store, &cr.c, path, st);
		pthread_mutex_lock(&g.lock);
		if (r == -ENOENT)
			g.c.neg_misses++;
		else
			g.c.attr_misses++;
		pthread_mutex_unlock(&g.lock);
		cache_put(path, -r, r ? NULL : st);
	}
	if (r == 0)
		overlay_size(st);
	return r;
}

static struct handle *handle_new(const char *path, int kind)
{
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->path = strdup(path);
	if (!h->path) {
		free(h);
		return NULL;
	}
	h->kind = kind;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

static void handle_free(struct handle *h)
{
	pthread_mutex_lock(&g.lock);
	if (h->prev)
		h->prev->next = h->next;
	else if (g.open_files == h)
		g.open_files = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&g.lock);
	drop_dirty(h);
	free(h->segs);
	free(h->buf);
	free(h->path);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void handle_link(struct handle *h)
{
	pthread_mutex_lock(&g.lock);
	h->next = g.open_files;
	if (h->next)
		h->next->prev = h;
	g.open_files = h;
	pthread_mutex_unlock(&g.lock);
}

static int ctl_open(const char *path, struct fuse_file_info *fi)
{
	struct handle *h;
	if (!strcmp(path, CTL_STATS)) {
		h = handle_new(path, 1);
		if (!h)
			return -ENOMEM;
		pthread_mutex_lock(&g.lock);
		h->buf = stats_json_locked(&h->buflen);
		pthread_mutex_unlock(&g.lock);
		if (!h->buf) {
			handle_free(h);
			return -ENOMEM;
		}
	} else if (!strcmp(path, CTL_CTL)) {
		h = handle_new(path, 2);
		if (!h)
			return -ENOMEM;
	} else {
		return strcmp(path, CTL_DIR) ? -ENOENT : -EISDIR;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	return 0;
}

/* Close-to-open: open asks the server for fresh attributes, whatever the cache says. */
static int open_common(const char *path, struct fuse_file_info *fi, bool create, mode_t mode)
{
	struct creds cr;
	struct stat st;
	int r;
	caller_creds(&cr);
	struct handle *h = handle_new(path, 0);
	if (!h)
		return -ENOMEM;
	if (!create) {
		r = g.store->getattr(g.store, &cr.c, path, &st);
		pthread_mutex_lock(&g.lock);
		g.c.revalidations++;
		pthread_mutex_unlock(&g.lock);
		cache_put(path, -r, r ? NULL : &st);
		if (r)
			goto fail;
	}
	r = g.store->open(g.store, &cr.c, path, fi->flags | (create ? O_CREAT : 0), mode, &h->sfh);
	if (r)
		goto fail;
	if (g.store->fstat(g.store, h->sfh, &st) == 0)
		h->ino = st.st_ino;
	h->flags = fi->flags;
	if (create || (fi->flags & O_TRUNC))
		cache_invalidate(path, false);

	fi->direct_io = g.cfg.kcache ? 0 : 1;
	fi->keep_cache = 0;
	if (g.cfg.kcache) {
		/* Keep the client's cached pages only if the file did not change since the
		 * last open, as the NFS client compares mtime/size (change attr) at open. */
		pthread_mutex_lock(&g.lock);
		struct centry *e = cache_find(path, true);
		if (e) {
			bool same = e->cto_known && !create && !(fi->flags & O_TRUNC) &&
				    e->cto_mtime.tv_sec == st.st_mtim.tv_sec &&
				    e->cto_mtime.tv_nsec == st.st_mtim.tv_nsec &&
				    e->cto_size == st.st_size;
			fi->keep_cache = same;
			if (!same && e->cto_known)
				g.c.cto_invalidations++;
			e->cto_known = true;
			e->cto_mtime = st.st_mtim;
			e->cto_size = st.st_size;
		}
		pthread_mutex_unlock(&g.lock);
	}
	handle_link(h);
	fi->fh = (uint64_t)(uintptr_t)h;
	return 0;
fail:
	handle_free(h);
	return r;
}

static int ns_open(const char *path, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return ctl_open(path, fi);
	int r = begin(NFSSIM_OP_OPEN, path);
	return r ? r : open_common(path, fi, false, 0);
}

static int ns_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return -EACCES;
	int r = begin(NFSSIM_OP_CREATE, path);
	return r ? r : open_common(path, fi, true, mode);
}

#define H(fi) ((struct handle *)(uintptr_t)(fi)->fh)

static int ns_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	if (h->kind == 1) {
		if (off < 0 || (size_t)off >= h->buflen)
			return 0;
		size_t n = h->buflen - (size_t)off < size ? h->buflen - (size_t)off : size;
		memcpy(buf, h->buf + off, n);
		return (int)n;
	}
	if (h->kind == 2)
		return 0;
	int r = begin(NFSSIM_OP_READ, path);
	if (r)
		return r;
	pthread_mutex_lock(&h->lock);
	ssize_t n = g.store->pread(g.store, h->sfh, buf, size, off);
	if (n >= 0) {
		/* The client reads its own unwritten data from its page cache. */
		for (size_t i = 0; i < h->nsegs; i++) {
			struct seg *s = &h->segs[i];
			off_t a = s->off > off ? s->off : off;
			off_t b = s->off + (off_t)s->len;
			if (b > off + (off_t)size)
				b = off + (off_t)size;
			if (a >= b)
				continue;
			if (b - off > n) {
				memset(buf + n, 0, (size_t)(b - off - n));
				n = b - off;
			}
			memcpy(buf + (a - off), s->data + (a - s->off), (size_t)(b - a));
		}
	}
	pthread_mutex_unlock(&h->lock);
	return (int)n;
}

static int ns_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	if (h->kind == 2) {
		int r = ctl_apply(buf, size);
		return r ? r : (int)size;
	}
	if (h->kind == 1)
		return -EBADF;
	int r = begin(NFSSIM_OP_WRITE, path);
	if (r)
		return r;
	pthread_mutex_lock(&h->lock);
	if (h->flags & O_APPEND) {
		struct stat st;
		if (g.store->fstat(g.store, h->sfh, &st) == 0)
			off = st.st_size;
		pthread_mutex_lock(&g.lock);
		if (h->dirty_end > off)
			off = h->dirty_end;
		pthread_mutex_unlock(&g.lock);
	}
	pthread_mutex_lock(&g.lock);
	bool wsync = g.cfg.wsync;
	size_t wbuf_max = (size_t)g.cfg.wbuf_max;
	pthread_mutex_unlock(&g.lock);
	if (wsync) {
		bool first = true;
		r = push(h, buf, size, off, &first);
		cache_invalidate(h->path, false);
	} else {
		r = add_dirty(h, buf, size, off);
		if (!r && h->dirty > wbuf_max)
			r = flush_dirty(h);   /* memory pressure: write-back before close */
	}
	pthread_mutex_unlock(&h->lock);
	return r ? r : (int)size;
}

static int ns_flush(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	if (h->kind)
		return 0;
	int r = begin(NFSSIM_OP_FLUSH, path);
	pthread_mutex_lock(&h->lock);
	if (r)
		drop_dirty(h);       /* the write-back failed: the data is lost */
	else
		r = flush_dirty(h);
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int ns_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	struct handle *h = H(fi);
	if (h->kind)
		return 0;
	int r = begin(NFSSIM_OP_FSYNC, path);
	pthread_mutex_lock(&h->lock);
	if (r) {
		drop_dirty(h);
	} else {
		r = flush_dirty(h);
		if (!r)
			r = g.store->fsync(g.store, h->sfh);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int ns_release(const char *path, struct fuse_file_info *fi)
{
	struct handle *h = H(fi);
	if (h->kind == 0) {
		/* Counted, never failed: close(2) has already returned. */
		pthread_mutex_lock(&g.lock);
		g.c.ops[NFSSIM_OP_RELEASE]++;
		pthread_mutex_unlock(&g.lock);
		(void)path;
		pthread_mutex_lock(&h->lock);
		flush_dirty(h);
		pthread_mutex_unlock(&h->lock);
		g.store->close(g.store, h->sfh);
	}
	handle_free(h);
	return 0;
}

static int ns_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;   /* "echo x > ctl" truncates first */
	int r = begin(NFSSIM_OP_TRUNCATE, path);
	if (r)
		return r;
	if (fi && H(fi)->kind == 0) {
		struct handle *h = H(fi);
		pthread_mutex_lock(&h->lock);
		r = flush_dirty(h);
		if (!r)
			r = g.store->ftruncate(g.store, h->sfh, size);
		pthread_mutex_unlock(&h->lock);
	} else {
		struct creds cr;
		caller_creds(&cr);
		r = g.store->truncate(g.store, &cr.c, path, size);
	}
	cache_invalidate(path, false);
	return r;
}

#define PATH_OP(name, OP, call, subtree)                                       \
	static int name                                                        \
	{                                                                      \
		if (is_ctl(path))                                              \
			return -EACCES;                                        \
		int r = begin(OP, path);                                       \
		if (r)                                                         \
			return r;                                              \
		struct creds cr;                                               \
		caller_creds(&cr);                                             \
		r = call;                                                      \
		cache_invalidate(path, subtree);                               \
		return r;                                                      \
	}

PATH_OP(ns_unlink(const char *path), NFSSIM_OP_UNLINK,
	g.store->unlink(g.store, &cr.c, path), false)
PATH_OP(ns_mkdir(const char *path, mode_t mode), NFSSIM_OP_MKDIR,
	g.store->mkdir(g.store, &cr.c, path, mode), false)
PATH_OP(ns_rmdir(const char *path), NFSSIM_OP_RMDIR,
	g.store->rmdir(g.store, &cr.c, path), true)
PATH_OP(ns_chmod(const char *path, mode_t mode, struct fuse_file_info *fi), NFSSIM_OP_CHMOD,
	((void)fi, g.store->chmod(g.store, &cr.c, path, mode)), false)
PATH_OP(ns_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi),
	NFSSIM_OP_CHOWN, ((void)fi, g.store->chown(g.store, &cr.c, path, uid, gid)), false)
PATH_OP(ns_utimens(const char *path, const struct timespec ts[2], struct fuse_file_info *fi),
	NFSSIM_OP_UTIMENS, ((void)fi, g.store->utimens(g.store, &cr.c, path, ts)), false)

static int ns_rename(const char *from, const char *to, unsigned int flags)
{
	if (is_ctl(from) || is_ctl(to))
		return -EACCES;
	if (flags)
		return -EINVAL;   /* NFS has no RENAME_NOREPLACE / RENAME_EXCHANGE */
	int r = begin(NFSSIM_OP_RENAME, from);
	if (r)
		return r;
	struct creds cr;
	caller_creds(&cr);
	r = g.store->rename(g.store, &cr.c, from, to);
	cache_invalidate(from, true);
	cache_invalidate(to, true);
	return r;
}

struct fill_arg {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_one(void *arg, const char *name, const struct stat *st)
{
	struct fill_arg *fa = arg;
	(void)st;
	return fa->filler(fa->buf, name, NULL, 0, 0);
}

static int ns_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (is_ctl(path)) {
		filler(buf, ".", NULL, 0, 0);
		filler(buf, "..", NULL, 0, 0);
		filler(buf, "stats", NULL, 0, 0);
		filler(buf, "ctl", NULL, 0, 0);
		return 0;
	}
	int r = begin(NFSSIM_OP_READDIR, path);
	if (r)
		return r;
	struct creds cr;
	caller_creds(&cr);
	struct fill_arg fa = { buf, filler };
	return g.store->readdir(g.store, &cr.c, path, fill_one, &fa);
}

static int ns_statfs(const char *path, struct statvfs *sv)
{
	int r = begin(NFSSIM_OP_STATFS, path);
	return r ? r : g.store->statfs(g.store, "/", sv);
}

static const struct fuse_operations ns_ops = {
	.init = ns_init,
	.destroy = ns_destroy,
	.getattr = ns_getattr,
	.open = ns_open,
	.create = ns_create,
	.read = ns_read,
	.write = ns_write,
	.flush = ns_flush,
	.fsync = ns_fsync,
	.release = ns_release,
	.truncate = ns_truncate,
	.unlink = ns_unlink,
	.rename = ns_rename,
	.mkdir = ns_mkdir,
	.rmdir = ns_rmdir,
	.readdir = ns_readdir,
	.chmod = ns_chmod,
	.chown = ns_chown,
	.utimens = ns_utimens,
	.statfs = ns_statfs,
};

/* ---- main ----------------------------------------------------------------------- */

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data;
	(void)outargs;
	char err[256];
	if (key == FUSE_OPT_KEY_NONOPT && !g.cfg.backend) {
		g.cfg.backend = strdup(arg);
		return 0;
	}
	if (key != FUSE_OPT_KEY_OPT || arg[0] == '-')
		return 1;
	if (apply_setting(arg, true, err, sizeof(err)) == 0)
		return 0;
	if (strncmp(err, "unknown setting", 15) != 0) {
		fprintf(stderr, "nfssim: %s\n", err);
		return -1;
	}
	return 1;   /* a FUSE or mount option */
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nfssim BACKING MOUNTPOINT [-f] [-o opt,...]\n"
		"  BACKING: a directory, or nfs://HOST/EXPORT?version=3[&nfsport=P&mountport=P]\n"
		"  -o actimeo=S acregmin=S acdirmin=S noac lookupcache=all|positive|none\n"
		"     wsize=N wdelay_ms=D wsync=0|1 wbuf_max=N kcache=0|1\n"
		"     squash=root|all|none anonuid=U anongid=G\n"
		"     fault=OP:ERRNO:nth=N|from=N|prob=P[:seed=S][:path=SUB] seed=S\n"
		"     latency_ms=L unreachable=0|1 unreach_ms=T stats=FILE\n"
		"  -o powerloss[,cut_after=N|pause_after=N]: the power-loss mode instead (DIR only)\n"
		"  control files: MOUNTPOINT/.nfssim/stats (JSON), MOUNTPOINT/.nfssim/ctl\n"
		"  see docs/NFSSIM.md\n");
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	static const struct fuse_opt spec[] = { FUSE_OPT_END };
	char err[512];
	int r;

	/* Linux NFS client defaults: acregmin 3 s (acdirmin 30 s), lookupcache=all,
	 * wsize 1 MiB; knfsd/ganesha squash root to 65534 by default. */
	g.cfg.acreg_ms = 3000;
	g.cfg.acdir_ms = 30000;
	g.cfg.lookupcache = LC_ALL;
	g.cfg.wsize = 1048576;
	g.cfg.wbuf_max = 16 * 1048576;
	g.cfg.squash = SQUASH_ROOT;
	g.cfg.anonuid = 65534;
	g.cfg.anongid = 65534;
	g.cfg.unreach_ms = 1000;

	/* -o powerloss: the server's disk with a power switch, not an NFS client */
	if (nfssim_powerloss_wanted(argc, argv))
		return nfssim_powerloss_main(argc, argv);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		}
	if (fuse_opt_parse(&args, NULL, spec, opt_proc) < 0) {
		usage();
		return 2;
	}
	if (!g.cfg.backend) {
		usage();
		return 2;
	}
	if (!strncmp(g.cfg.backend, "nfs://", 6))
		r = nfssim_store_nfs_new(g.cfg.backend, &g.store, err, sizeof(err));
	else
		r = nfssim_store_local_new(g.cfg.backend, &g.store, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "nfssim: backend: %s\n", err);
		fuse_opt_free_args(&args);
		free(g.cfg.backend);
		free(g.cfg.stats_path);
		return 3;
	}
	if (g.cfg.stats_path && g.cfg.stats_path[0] != '/') {
		/* fuse_main's daemon mode changes to "/": keep the path meaning the same. */
		char cwd[4096], *abs = NULL;
		if (getcwd(cwd, sizeof(cwd)) && asprintf(&abs, "%s/%s", cwd, g.cfg.stats_path) > 0) {
			free(g.cfg.stats_path);
			g.cfg.stats_path = abs;
		}
	}
	fuse_opt_add_arg(&args, "-osubtype=nfssim,fsname=nfssim");
	if (geteuid() == 0)
		fuse_opt_add_arg(&args, "-oallow_other");

	r = fuse_main(args.argc, args.argv, &ns_ops, NULL);

	g.store->free(g.store);
	cache_clear();
	fuse_opt_free_args(&args);
	free(g.cfg.backend);
	free(g.cfg.stats_path);
	return r;
}
