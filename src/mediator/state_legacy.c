/* state_legacy.c - an older mediator's vmN.last and vmN.run, read for the migration to
 * vmN.journal; see state_legacy.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state_legacy.h"
#include "lib/safeio.h"

static void legacy_name(char *buf, size_t cap, uint32_t vm, const char *ext)
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

int vgpu_state_legacy_load(int dirfd, uint32_t vm, struct vgpu_vm_state *st, int *found)
{
	char name[64], err[128];
	void *buf = NULL;
	size_t len = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	*found = 0;
	legacy_name(name, sizeof(name), vm, "last");
	rc = vgpu_safe_read_alloc(dirfd, name, VGPU_RECORD_MAX, &buf, &len);
	if (rc == 0) {
		struct vgpu_response *r = calloc(1, sizeof(*r));

		*found = 1;
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

	legacy_name(name, sizeof(name), vm, "run");
	buf = NULL;
	rc = vgpu_safe_read_alloc(dirfd, name, 128, &buf, &len);
	if (rc == 0) {
		*found = 1;
		rc = parse_intent(buf, len, &st->running_seq, st->running_nonce);
		free(buf);
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	if (rc < 0) {
		free(st->last);
		memset(st, 0, sizeof(*st));
	}
	return rc;
}

int vgpu_state_legacy_remove(int dirfd, uint32_t vm, int *removed)
{
	static const char *const ext[] = { "last", "run" };
	char name[64];

	*removed = 0;
	for (size_t i = 0; i < 2; i++) {
		legacy_name(name, sizeof(name), vm, ext[i]);
		if (unlinkat(dirfd, name, 0) == 0)
			*removed = 1;
		else if (errno != ENOENT)
			return -errno;
	}
	return 0;
}
