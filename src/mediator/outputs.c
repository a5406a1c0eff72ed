/* outputs.c - the lifetime of the output files the mediator writes into a VM's
 * directory (out-SEQ.bin, PROTOCOL.md s.1.1): removed once the VM's next request shows
 * it has read them, or after --output-ttl-ms however the VM behaves; the bytes one VM
 * holds are capped (--max-vm-bytes, checked by intake before a job runs). And their
 * birth: a private file the executor writes (off the event loop), named once written. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fiu-local.h>

#include "mediator_int.h"
#include "lib/log.h"

/* "out-SEQ.bin" -> SEQ; 0 when NAME is not an output's name. */
static int64_t output_seq(const char *name)
{
	char *end;
	long long v;

	if (strncmp(name, "out-", 4) != 0 || name[4] < '1' || name[4] > '9')
		return 0;
	errno = 0;
	v = strtoll(name + 4, &end, 10);
	if (errno || v <= 0 || strcmp(end, ".bin") != 0)
		return 0;
	return (int64_t)v;
}

/* ".tmp-out-SEQ-PID" of another process than ours (outputs_create()'s name where the
 * file system has no O_TMPFILE): left by a mediator that died while a job ran. */
static int stale_tmp(const char *name)
{
	const char *dash;
	char *end;
	long pid;

	if (strncmp(name, ".tmp-out-", 9) != 0 || !(dash = strrchr(name + 9, '-')))
		return 0;
	errno = 0;
	pid = strtol(dash + 1, &end, 10);
	return !errno && *end == '\0' && end != dash + 1 && pid != (long)getpid();
}

/* Call FN for every out-*.bin in VM's directory (and, with seq -1, stale_tmp() ones)
 * (lstat'ed, regular files only). 0, or -1 when the directory could not be listed. */
static int each_output(const struct vm *vm, void (*fn)(const struct vm *, const char *, int64_t,
							 const struct stat *, void *), void *arg)
{
	int fd = openat(vm->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return -1;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		struct stat st;
		int64_t seq = output_seq(e->d_name);

		if (!seq && stale_tmp(e->d_name))
			seq = -1;    /* a previous mediator's unfinished output: removed by a sweep */

		if (seq && fstatat(vm->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			fn(vm, e->d_name, seq, &st, arg);
	}
	closedir(d);
	return 0;
}

static void add_size(const struct vm *vm, const char *name, int64_t seq, const struct stat *st, void *arg)
{
	(void)vm;
	(void)name;
	(void)seq;
	*(uint64_t *)arg += (uint64_t)st->st_size;
}

uint64_t vgpu_outputs_held(struct vm *vm)
{
	uint64_t n = 0;

	each_output(vm, add_size, &n);
	vm->outputs_none = 0;   /* asked before a job with an output runs */
	return n;
}

struct sweep {
	int64_t below;               /* remove outputs of seqs below this */
	int64_t now_s, ttl_s;        /* and those older than TTL_S (0: no age limit) */
	unsigned removed, seen;
	uint64_t bytes;
	struct vgpu_closer *closer;
};

static void remove_one(const struct vm *vm, const char *name, int64_t seq, const struct stat *st, void *arg)
{
	struct sweep *sw = arg;

	sw->seen++;
	/* Our own file's mtime, on the server's clock: good enough for an age limit of
	 * minutes (a VM touching it only keeps its own bytes, within its cap, longer). */
	if (seq < sw->below || (sw->ttl_s && sw->now_s - (int64_t)st->st_mtime >= sw->ttl_s)) {
		if (vgpu_unlink_later(sw->closer, vm, name) == 0) {
			sw->removed++;
			sw->bytes += (uint64_t)st->st_size;
		}
	}
}

int vgpu_unlink_later(struct vgpu_closer *closer, const struct vm *vm, const char *name)
{
	/* held open across the unlink: the last reference goes to the closer */
	int fd = openat(vm->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), rc = 0;

	if (unlinkat(vm->dirfd, name, 0) != 0)
		rc = -errno;
	if (fd >= 0)
		vgpu_closer_close(closer, fd);
	return rc;
}

static void sweep(struct vgpu_mediator *m, struct vm *vm, int64_t below, int use_ttl)
{
	struct sweep sw = { .below = below, .closer = &m->closer };

	if (use_ttl) {
		sw.now_s = (int64_t)time(NULL);
		sw.ttl_s = (int64_t)((m->cfg.output_ttl_ms + 999) / 1000);
	}
	vm->outputs_none = each_output(vm, remove_one, &sw) == 0 && sw.seen == sw.removed;
	if (sw.removed)
		vgpu_debug("vm%" PRIu32 ": removed %u output file%s (%" PRIu64 " bytes)", vm->id, sw.removed,
			   sw.removed == 1 ? "" : "s", sw.bytes);
}

void vgpu_outputs_superseded(struct vgpu_mediator *m, struct vm *vm, int64_t new_seq)
{
	/* Every output of an earlier seq: the client reads its output before it sends
	 * the next request (one request at a time per VM). Nothing to look for when the
	 * last sweep left none and no job with an output came since (a ping's case); a
	 * file the VM made itself goes at the periodic sweep. */
	if (!vm->outputs_none)
		sweep(m, vm, new_seq, 0);
}

void vgpu_outputs_sweep(struct vgpu_mediator *m, struct vm *vm, int force)
{
	uint64_t now = vgpu_now_ms();

	if (!force && now < vm->next_sweep_ms)
		return;
	vm->next_sweep_ms = now + 1000;
	/* Outputs below the answered mark were superseded already (a restart lost the
	 * moment); the last answer's output stays until its TTL. */
	sweep(m, vm, vm->st.answered_seq, 1);
}

int vgpu_outputs_create(struct vm *vm, struct job *job)
{
	int fd;

	job->out_tmp[0] = '\0';
	fd = openat(vm->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if (fd < 0) {
		/* no O_TMPFILE here: a dot name (clients ignore it), ours alone (O_EXCL) */
		snprintf(job->out_tmp, sizeof(job->out_tmp), ".tmp-out-%" PRId64 "-%ld", job->req.seq, (long)getpid());
		fd = openat(vm->dirfd, job->out_tmp, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST && unlinkat(vm->dirfd, job->out_tmp, 0) == 0)
			fd = openat(vm->dirfd, job->out_tmp, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			int e = errno;

			job->out_tmp[0] = '\0';
			return -e;
		}
	}
	job->out_fd = fd;
	return 0;
}

int vgpu_outputs_commit(struct vm *vm, struct job *job, const char *name)
{
	char tmp[64], proc[64];
	int rc = 0;

	vm->outputs_none = 0;   /* an out-*.bin is about to exist: the next superseded sweep looks */
	fiu_return_on("mediator/output/chown", -EPERM);
	if (vm->has_uid && fchown(job->out_fd, vm->uid, vm->gid) != 0)
		return -errno;
	if (fchmod(job->out_fd, 0644) != 0 || fsync(job->out_fd) != 0)
		return -errno;
	if (job->out_tmp[0]) {
		if (renameat(vm->dirfd, job->out_tmp, vm->dirfd, name) != 0)
			return -errno;
		job->out_tmp[0] = '\0';
		return 0;
	}
	/* O_TMPFILE: a name for it, then renamed over NAME (atomic, whatever NAME was) */
	snprintf(tmp, sizeof(tmp), ".tmp-out-%" PRId64 "-%ld", job->req.seq, (long)getpid());
	unlinkat(vm->dirfd, tmp, 0);
	fiu_return_on("mediator/output/link", -ENOSPC);
	if (linkat(job->out_fd, "", vm->dirfd, tmp, AT_EMPTY_PATH) != 0) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", job->out_fd);
		if (linkat(AT_FDCWD, proc, vm->dirfd, tmp, AT_SYMLINK_FOLLOW) != 0)
			return -errno;
	}
	if (renameat(vm->dirfd, tmp, vm->dirfd, name) != 0) {
		rc = -errno;
		unlinkat(vm->dirfd, tmp, 0);
	}
	return rc;
}
