/* vmproc.c - a process in a VM for the isolation scenarios (vmproc.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/safeio.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "vmproc.h"

int vmproc_as(uid_t uid, enum vm_act act, const char *dir, const char *name, const void *bytes, size_t len)
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		char buf[VGPU_RECORD_MAX];
		size_t n = 0;
		int dfd, rc;

		if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
			_exit(200);
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			_exit(errno & 0xff);
		if (act == ACT_PUBLISH)
			rc = vgpu_publish(dfd, name, bytes, len, 0644);
		else
			rc = vgpu_safe_read(dfd, name, buf, sizeof(buf), &n, NULL);
		_exit(rc < 0 && rc > -256 ? -rc : rc < 0 ? 201 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int vmproc_ping_record(uint32_t vm, int64_t seq, uint64_t *rng, char *nonce, char *buf, size_t cap)
{
	struct vgpu_request q;

	memset(&q, 0, sizeof(q));
	q.vm = vm;
	q.seq = seq;
	snprintf(q.nonce, sizeof(q.nonce), "%016" PRIx64, h_rand(rng));
	q.op = VGPU_OP_PING;
	q.priority = VGPU_PRIO_HIGH;
	q.output_file = -1;
	memcpy(nonce, q.nonce, 17);
	return vgpu_request_encode(&q, buf, cap);
}

int vmproc_wait_response(const char *dir, int64_t seq, int bound_ms, struct vgpu_response *out)
{
	char buf[VGPU_RECORD_MAX];
	uint64_t t0 = e2e_mono_ms();
	int dfd;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	while (e2e_mono_ms() - t0 < (uint64_t)bound_ms) {
		size_t n = 0;

		if (vgpu_safe_read(dfd, "response.txt", buf, sizeof(buf), &n, NULL) == 0 &&
		    vgpu_response_decode(buf, n, out, NULL, 0) == VGPU_REC_OK && out->seq == seq &&
		    (seq != 0 || out->status != VGPU_OK)) {   /* seq 0 OK: the initial response.txt */
			close(dfd);
			return out->status;
		}
		e2e_msleep(10);
	}
	close(dfd);
	return -1;
}

int vmproc_journal_count(const char *journal, const char *event, const char *nonce)
{
	FILE *f = fopen(journal, "r");
	char line[512];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, event, strlen(event)) == 0 && strstr(line, nonce))
			n++;
	fclose(f);
	return n;
}

