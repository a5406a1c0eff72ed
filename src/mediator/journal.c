/* journal.c - the mediator's event journal; see journal.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "journal.h"
#include "lib/log.h"
#include "lib/safeio.h"

int vgpu_journal_init(struct vgpu_journal *j, const char *path)
{
	j->fd = -1;
	if (!path)
		return 0;
	j->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	return j->fd < 0 ? -errno : 0;
}

void vgpu_journal_add(struct vgpu_journal *j, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	if (j->fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* one write(2) with O_APPEND: lines of concurrent mediators never interleave */
	if (vgpu_write_full(j->fd, line, (size_t)n) < 0)
		vgpu_warn("journal: write failed");
}

void vgpu_journal_release(struct vgpu_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}
