/* state.c - per-VM persistent state for exactly-once answers; see state.h.
 *
 * Files in the mediator's private state directory, each replaced by temp+fsync+rename
 * and followed by an fsync of the directory, so a crash leaves the old or the new
 * version, never a mix.
 *
 * libfiu fault points, so that a test can fail the state directory's writes and not the
 * VMs' (failinfo: the errno, default EIO): state/publish/{open,write,short,fsync,close,
 * rename} (safeio's steps for a state file), state/unlink (dropping vmN.run) and
 * state/fsync-dir. */
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
#include "lib/safeio.h"

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

static int state_publish(int dirfd, const char *name, const void *buf, size_t len)
{
	return vgpu_publish_ex(dirfd, name, buf, len, NULL, 0, 0600, &state_how);
}

static int state_fsync_dir(int dirfd)
{
	int rc = fault("state/fsync-dir");

	return rc < 0 ? rc : vgpu_fsync_dir(dirfd);
}

int vgpu_state_open_dir(const char *path)
{
	int fd;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void state_name(char *buf, size_t cap, uint32_t vm, const char *ext)
{
	snprintf(buf, cap, "vm%" PRIu32 ".%s", vm, ext);
}

/* "seq NONCE\n" */
static int parse_intent(const char *buf, size_t len, int64_t *seq, char nonce[17])
{
	char tmp[64], *end;
	long long v;

	if (len == 0 || len >= sizeof(tmp) || buf[len - 1] != '\n')
		return -EBADMSG;
	memcpy(tmp, buf, len);
	tmp[len - 1] = '\0';
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno || v <= 0 || *end != ' ' || strlen(end + 1) != 16)
		return -EBADMSG;
	for (const char *p = end + 1; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -EBADMSG;
	*seq = v;
	memcpy(nonce, end + 1, 17);
	return 0;
}

int vgpu_state_load(int dirfd, uint32_t vm, struct vgpu_vm_state *st)
{
	char name[64], err[128];
	void *buf = NULL;
	size_t len = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	state_name(name, sizeof(name), vm, "last");
	rc = vgpu_safe_read_alloc(dirfd, name, VGPU_RECORD_MAX, &buf, &len);
	if (rc == 0) {
		struct vgpu_response *r = calloc(1, sizeof(*r));

		if (!r) {
			free(buf);
			return -ENOMEM;
		}
		rc = vgpu_response_decode(buf, len, r, err, sizeof(err));
		if (rc != VGPU_REC_OK || r->vm != vm) {
			free(r);
			free(buf);
			return -EBADMSG;
		}
		st->answered_seq = r->seq;
		memcpy(st->answered_nonce, r->nonce, sizeof(st->answered_nonce));
		st->last = buf;
		st->last_len = len;
		free(r);
	} else if (rc != -ENOENT) {
		return rc;
	}

	state_name(name, sizeof(name), vm, "run");
	buf = NULL;
	rc = vgpu_safe_read_alloc(dirfd, name, 128, &buf, &len);
	if (rc == 0) {
		st->run_file = 1;
		rc = parse_intent(buf, len, &st->running_seq, st->running_nonce);
		free(buf);
		if (rc < 0) {
			vgpu_state_release(st);
			return rc;
		}
	} else if (rc != -ENOENT) {
		vgpu_state_release(st);
		return rc;
	}
	return 0;
}

int vgpu_state_begin(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int64_t seq, const char *nonce)
{
	char name[64], line[64];
	int n, rc;

	state_name(name, sizeof(name), vm, "run");
	n = snprintf(line, sizeof(line), "%" PRId64 " %.16s\n", seq, nonce);
	st->run_file = 1;              /* even a failed publish may have left it */
	rc = state_publish(dirfd, name, line, (size_t)n);
	if (rc == 0)
		rc = state_fsync_dir(dirfd);
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
	char name[64];
	char *copy;
	int rc;

	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, record, len);
	state_name(name, sizeof(name), vm, "last");
	rc = state_publish(dirfd, name, record, len);
	if (rc == 0 && st->run_file) {
		state_name(name, sizeof(name), vm, "run");
		if ((rc = fault("state/unlink")) == 0 && unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			rc = -errno;
		if (rc == 0)
			st->run_file = 0;
	}
	if (rc == 0)
		rc = state_fsync_dir(dirfd);
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
}
