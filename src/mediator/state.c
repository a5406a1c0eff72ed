/* state.c - per-VM persistent state for exactly-once answers: the two-slot journal
 * vmN.journal; see state.h and docs/PROTOCOL.md section 7.
 *
 * libfiu fault points, so that a test can fail the state directory's writes and not the
 * VMs' (failinfo: the errno, default EIO):
 *   state/journal/open     opening vmN.journal for writing (at load, or after creating it)
 *   state/journal/write    the slot's pwrite() fails, nothing written
 *   state/journal/short    the slot's pwrite() writes half of the slot, then fails (a
 *                          torn slot on disk, as a disk that fills or fails mid-write)
 *   state/journal/fsync    the fdatasync() after the slot's write fails
 *   state/journal/load-fsync  the fdatasync() at load, before the state read is used
 *   state/publish/{open,write,short,fsync,close,rename}  creating the journal (safeio's
 *                          publish steps; also the migration of an older state)
 *   state/fsync-dir        the state directory's fsync after creating the journal or
 *                          removing an older mediator's files */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fiu-local.h>

#include "state.h"
#include "state_legacy.h"
#include "lib/safeio.h"
#include "lib/strcopy.h"

#define JOURNAL_MAGIC "vgpu-journal 1\n"
#define HEADER_MAX 160             /* the longest header: 15 + 25 + 42 + 12 + 13 bytes */

static const struct vgpu_publish_how state_how = { .faults = "state/publish" };

static int fault(const char *point)
{
	(void)point;       /* unused when built without fault injection (FIU=0) */
	if (fiu_fail(point)) {
		intptr_t e = (intptr_t)fiu_failinfo();
		return e > 0 ? -(int)e : -EIO;
	}
	return 0;
}

static int state_fsync_dir(int dirfd)
{
	int rc = fault("state/fsync-dir");

	return rc < 0 ? rc : vgpu_fsync_dir(dirfd);
}

int vgpu_state_open_dir(const char *path)
{
	int fd, rc;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* The names an earlier mediator created (a journal whose directory fsync failed, or
	 * that it was killed before) are on disk before this one acts on them */
	rc = vgpu_fsync_dir(fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

static void journal_name(char *buf, size_t cap, uint32_t vm)
{
	snprintf(buf, cap, "vm%" PRIu32 ".journal", vm);
}

/* --- one slot: parse ------------------------------------------------------------------ */

struct slot {
	uint64_t gen;
	int64_t run_seq;               /* 0: "run -" */
	char run_nonce[17];
	const char *rec;
	size_t len;
	int64_t seq;                   /* the record's seq and nonce, when len > 0 */
	char nonce[17];
};

/* Expect the literal WORD at *P (before END). */
static int take(const char **p, const char *end, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(end - *p) < n || memcmp(*p, word, n) != 0)
		return -1;
	*p += n;
	return 0;
}

/* A decimal number in 0..MAX, no sign, no leading zero, then the byte STOP. */
static int take_dec(const char **p, const char *end, uint64_t max, char stop, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	while (s < end && *s >= '0' && *s <= '9') {
		if (s - *p >= 19)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
		s++;
	}
	if (s == *p || s == end || *s != stop || (**p == '0' && s - *p > 1) || x > max)
		return -1;
	*v = x;
	*p = s + 1;
	return 0;
}

/* N lower-case hex digits into OUT (N + 1 bytes), then the byte STOP. */
static int take_hex(const char **p, const char *end, size_t n, char stop, char *out)
{
	if ((size_t)(end - *p) < n + 1 || (*p)[n] != stop)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = (*p)[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		out[i] = c;
	}
	out[n] = '\0';
	*p += n + 1;
	return 0;
}

/* Is BUF (LEN bytes, a slot's region of the file) a valid slot of VM? 0 and *S, or -1. */
static int slot_parse(const char *buf, size_t len, uint32_t vm, struct slot *s)
{
	const char *p = buf, *end = buf + len, *crc_line;
	char crc_hex[9], want[9], err[128];
	uint64_t v;

	memset(s, 0, sizeof(*s));
	if (take(&p, end, JOURNAL_MAGIC) < 0 || take(&p, end, "gen ") < 0 ||
	    take_dec(&p, end, UINT64_MAX / 2, '\n', &s->gen) < 0 || s->gen == 0 || take(&p, end, "run ") < 0)
		return -1;
	if (take(&p, end, "-\n") < 0) {
		if (take_dec(&p, end, INT64_MAX, ' ', &v) < 0 || v == 0 ||
		    take_hex(&p, end, 16, '\n', s->run_nonce) < 0)
			return -1;
		s->run_seq = (int64_t)v;
	}
	if (take(&p, end, "len ") < 0 || take_dec(&p, end, VGPU_RECORD_MAX, '\n', &v) < 0)
		return -1;
	s->len = (size_t)v;
	crc_line = p;
	if (take(&p, end, "crc ") < 0 || take_hex(&p, end, 8, '\n', crc_hex) < 0 || (size_t)(end - p) < s->len)
		return -1;
	s->rec = p;
	snprintf(want, sizeof(want), "%08" PRIx32,
		 vgpu_crc32_update(vgpu_crc32_update(0, buf, (size_t)(crc_line - buf)), s->rec, s->len));
	if (strcmp(want, crc_hex) != 0)
		return -1;
	if (s->len > 0) {
		struct vgpu_response *r = calloc(1, sizeof(*r));
		int ok = r && vgpu_response_decode(s->rec, s->len, r, err, sizeof(err)) == VGPU_REC_OK && r->vm == vm;

		if (ok) {
			s->seq = r->seq;
			memcpy(s->nonce, r->nonce, sizeof(s->nonce));
		}
		free(r);
		if (!ok)
			return -1;
	}
	return 0;
}

/* --- one slot: build and write ---------------------------------------------------------- */

/* The slot for (GEN, run RSEQ/RNONCE, record REC/LEN), malloc'ed into *OUT; its length. */
static ssize_t slot_build(uint64_t gen, int64_t rseq, const char *rnonce, const char *rec, size_t len, char **out)
{
	char *buf = malloc(HEADER_MAX + len);
	size_t n = sizeof(JOURNAL_MAGIC) - 1;

	if (!buf)
		return -ENOMEM;
	/* JOURNAL_MAGIC "gen G\nrun SEQ NONCE\n" (or "run -\n") "len N\ncrc XXXXXXXX\n", no
	 * format string: one of these per answer (HEADER_MAX holds the longest) */
	memcpy(buf, JOURNAL_MAGIC "gen ", n + 4);
	n += 4;
	n += vgpu_fmt_u64(buf + n, gen);
	memcpy(buf + n, "\nrun ", 5);
	n += 5;
	if (rseq > 0) {
		size_t k = strnlen(rnonce, 16);

		n += vgpu_fmt_u64(buf + n, (uint64_t)rseq);
		buf[n++] = ' ';
		memcpy(buf + n, rnonce, k);
		n += k;
	} else {
		buf[n++] = '-';
	}
	memcpy(buf + n, "\nlen ", 5);
	n += 5;
	n += vgpu_fmt_u64(buf + n, len);
	memcpy(buf + n, "\ncrc ", 5);
	n += 5;
	vgpu_fmt_hex(buf + n, vgpu_crc32_update(vgpu_crc32_update(0, buf, n - 4), rec, len), 8);
	n += 8;
	buf[n++] = '\n';
	if (len)
		memcpy(buf + n, rec, len);
	*out = buf;
	return (ssize_t)(n + len);
}

/* Open vmN.journal for the slot writes: a regular file with one link. 0 or -errno. */
static int journal_open(int dirfd, uint32_t vm, struct vgpu_vm_state *st)
{
	char name[64];
	struct stat sb;
	int fd, rc;

	if ((rc = fault("state/journal/open")) < 0)
		return rc;
	journal_name(name, sizeof(name), vm);
	fd = openat(dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
		close(fd);
		return -EBADMSG;
	}
	st->fd = fd;
	st->fd_open = 1;
	return 0;
}

/* Make (run RSEQ/RNONCE, record REC/LEN) VM's durable state: create the journal with it,
 * or write it into the slot that is not the current one and fdatasync. Only the
 * journal's fields of ST change, and only on success. 0 or -errno. */
static int journal_write(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int64_t rseq, const char *rnonce,
			 const char *rec, size_t len)
{
	char name[64], *buf;
	ssize_t n = slot_build(st->journal ? st->gen + 1 : 1, rseq, rnonce, rec, len, &buf);
	unsigned other = st->slot ^ 1;
	off_t off = (off_t)other * (off_t)VGPU_STATE_SLOT;
	int rc;

	if (n < 0)
		return (int)n;
	if (!st->journal) {
		journal_name(name, sizeof(name), vm);
		rc = vgpu_publish_ex(dirfd, name, buf, (size_t)n, NULL, 0, 0600, &state_how);
		if (rc == 0)
			rc = state_fsync_dir(dirfd);
		free(buf);
		if (rc < 0)
			return rc;
		st->journal = 1;
		st->gen = 1;
		st->slot = 0;
		(void)journal_open(dirfd, vm, st);   /* else the next write opens it */
		return 0;
	}
	rc = st->fd_open ? 0 : journal_open(dirfd, vm, st);
	if (rc == 0)
		rc = fault("state/journal/write");
	if (rc == 0 && fault("state/journal/short") < 0) {
		rc = vgpu_pwrite_full(st->fd, buf, (size_t)n / 2, off);
		rc = rc < 0 ? rc : fault("state/journal/short");
		if (rc == 0)
			rc = -EIO;
	}
	if (rc == 0)
		rc = vgpu_pwrite_full(st->fd, buf, (size_t)n, off);
	free(buf);
	if (rc == 0)
		rc = fault("state/journal/fsync");
	if (rc == 0 && fdatasync(st->fd) < 0)
		rc = -errno;
	if (rc < 0) {
		/* The slot may sit whole and valid in the page cache, not known to be on disk:
		 * a mediator restarted in this boot would load it and act on it (publish an
		 * answer a power cut then takes back). Spoil its first line there, best effort;
		 * the retry writes the whole slot again. */
		static const char spoil[sizeof(JOURNAL_MAGIC) - 1];

		if (st->fd_open && pwrite(st->fd, spoil, sizeof(spoil), off) < 0) {
			/* nothing more to do: the load's fdatasync reports it, or the slot is old */
		}
		return rc;
	}
	st->gen++;
	st->slot = other;
	return 0;
}

/* --- load ------------------------------------------------------------------------------- */

/* The state in the journal's bytes BUF (LEN). 0, or -EBADMSG when no slot is valid. */
static int journal_parse(const char *buf, size_t len, uint32_t vm, struct vgpu_vm_state *st)
{
	struct slot s[2];
	int ok[2], pick;

	ok[0] = slot_parse(buf, len < VGPU_STATE_SLOT ? len : VGPU_STATE_SLOT, vm, &s[0]) == 0;
	ok[1] = len > VGPU_STATE_SLOT && slot_parse(buf + VGPU_STATE_SLOT, len - VGPU_STATE_SLOT, vm, &s[1]) == 0;
	if (!ok[0] && !ok[1])
		return -EBADMSG;
	if (ok[0] && ok[1] && s[0].gen == s[1].gen)
		return -EBADMSG;             /* never written so: which one is newer? */
	pick = ok[1] && (!ok[0] || s[1].gen > s[0].gen);
	if (s[pick].len) {
		if (!(st->last = malloc(s[pick].len)))
			return -ENOMEM;
		memcpy(st->last, s[pick].rec, s[pick].len);
		st->last_len = s[pick].len;
		st->answered_seq = s[pick].seq;
		memcpy(st->answered_nonce, s[pick].nonce, sizeof(st->answered_nonce));
	}
	if (s[pick].run_seq) {
		st->running_seq = s[pick].run_seq;
		memcpy(st->running_nonce, s[pick].run_nonce, sizeof(st->running_nonce));
	}
	st->journal = 1;
	st->gen = s[pick].gen;
	st->slot = (unsigned)pick;
	return 0;
}

/* Remove an older mediator's files (the journal holds the state); fsync the directory
 * when one was there. */
static int legacy_drop(int dirfd, uint32_t vm)
{
	int removed, rc = vgpu_state_legacy_remove(dirfd, vm, &removed);

	return rc == 0 && removed ? state_fsync_dir(dirfd) : rc;
}

int vgpu_state_load(int dirfd, uint32_t vm, struct vgpu_vm_state *st)
{
	char name[64];
	void *buf = NULL;
	size_t len = 0;
	int rc, found;

	journal_name(name, sizeof(name), vm);
	rc = vgpu_safe_read_alloc(dirfd, name, 2 * VGPU_STATE_SLOT, &buf, &len);
	if (rc == -ENOENT) {
		/* fresh, or an older mediator's files: migrate them */
		rc = vgpu_state_legacy_load(dirfd, vm, st, &found);
		if (rc < 0 || !found)
			return rc;
		rc = journal_write(dirfd, vm, st, st->running_seq, st->running_nonce, st->last, st->last_len);
		if (rc == 0)
			rc = legacy_drop(dirfd, vm);
	} else {
		memset(st, 0, sizeof(*st));
		if (rc < -10000)             /* safeio's own codes: not a file, two links, too large */
			rc = -EBADMSG;
		if (rc == 0)
			rc = journal_parse(buf, len, vm, st);
		free(buf);
		if (rc == 0)                 /* a stop during a migration */
			rc = legacy_drop(dirfd, vm);
		if (rc == 0)
			rc = journal_open(dirfd, vm, st);
		/* What was read may be a slot a stopped mediator wrote and never synced (killed
		 * between its pwrite and its fdatasync): on disk before anything acts on it */
		if (rc == 0 && (rc = fault("state/journal/load-fsync")) == 0 && fdatasync(st->fd) < 0)
			rc = -errno;
	}
	if (rc < 0)
		vgpu_state_release(st);
	return rc;
}

/* --- changes ---------------------------------------------------------------------------- */

int vgpu_state_begin(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int64_t seq, const char *nonce)
{
	int rc = journal_write(dirfd, vm, st, seq, nonce, st->last, st->last_len);

	if (rc == 0) {
		st->running_seq = seq;
		memcpy(st->running_nonce, nonce, 16);
		st->running_nonce[16] = '\0';
	}
	return rc;
}

int vgpu_state_answered(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int64_t seq,
			const char *nonce, const char *record, size_t len)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, record, len);
	rc = journal_write(dirfd, vm, st, 0, NULL, record, len);
	if (rc < 0) {
		free(copy);
		return rc;
	}
	free(st->last);
	st->last = copy;
	st->last_len = len;
	st->answered_seq = seq;
	memcpy(st->answered_nonce, nonce, 16);
	st->answered_nonce[16] = '\0';
	st->running_seq = 0;
	st->running_nonce[0] = '\0';
	return 0;
}

void vgpu_state_release(struct vgpu_vm_state *st)
{
	free(st->last);
	st->last = NULL;
	st->last_len = 0;
	if (st->fd_open)
		close(st->fd);
	st->fd_open = 0;
	st->journal = 0;
}
