/* client_out.c - see client_out.h: vgpu-client's usage errors, status and answer lines,
 * the files it reads and writes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_out.h"
#include "lib/safeio.h"
#include "lib/status.h"

static const char *usage_what;

void vgpu_client_usage_context(const char *what)
{
	usage_what = what;
}

int vgpu_client_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vgpu-client: ");
	if (usage_what)
		fprintf(stderr, "%s: ", usage_what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vgpu-client --help'.\n");
	return VGPU_CLIENT_EUSAGE;
}

void vgpu_client_print_status_error(const struct vgpu_response *resp)
{
	fprintf(stderr, "vgpu-client: seq=%" PRId64 " status=%s op=%s: %s\n", resp->seq, vgpu_status_name(resp->status),
		vgpu_op_name(resp->op), resp->error);
}

int vgpu_client_print_answer(const struct vgpu_response *resp, int quiet)
{
	if (!quiet)
		printf("seq=%" PRId64 " status=%s op=%s prio=%s queue_us=%" PRIu64 " exec_us=%" PRIu64
		       " executor=%s result=%s\n", resp->seq, vgpu_status_name(resp->status), vgpu_op_name(resp->op),
		       vgpu_prio_name(resp->priority), resp->queue_us, resp->exec_us, resp->executor, resp->result);
	return fflush(stdout) != 0 ? VGPU_CLIENT_EIO : VGPU_CLIENT_OK;
}

int vgpu_client_read_file(const char *path, uint64_t cap, char **bufp, size_t *lenp)
{
	struct stat st;
	char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > cap) {
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	if (!(p = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return -ENOMEM;
	}
	rc = vgpu_read_full(fd, p, (size_t)st.st_size);
	close(fd);
	if (rc < 0) {
		free(p);
		return rc;
	}
	p[st.st_size] = '\0';
	*bufp = p;
	*lenp = (size_t)st.st_size;
	return 0;
}

int vgpu_client_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc;

	if (fd < 0)
		return -errno;
	rc = vgpu_write_full(fd, buf, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}
