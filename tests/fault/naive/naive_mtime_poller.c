/* naive_mtime_poller.c - mtime polling and in-place writes; see naive_mtime_poller.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "naive_mtime_poller.h"

void naive_poller_init(struct naive_poller *p, const char *path)
{
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->last_mtime = 0;
	p->reads = 0;
}

int naive_poller_poll(struct naive_poller *p, char *cmd, size_t cap)
{
	struct stat st;
	FILE *f;
	size_t n;

	if (stat(p->path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!(st.st_mtime > p->last_mtime))
		return 0;
	p->last_mtime = st.st_mtime;
	f = fopen(p->path, "r");
	if (!f)
		return -errno;
	n = fread(cmd, 1, cap - 1, f);
	cmd[n] = '\0';
	fclose(f);
	p->reads++;
	return 1;
}

int naive_write_command(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "%s", text);
	fflush(f);
	fclose(f);
	return 0;
}

int naive_write_command_torn(const char *path, const char *text, size_t split, int pause_ms)
{
	struct timespec ts = { pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L };
	size_t len = strlen(text);
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	if (split > len)
		split = len;
	fwrite(text, 1, split, f);
	fflush(f);
	nanosleep(&ts, NULL);
	fwrite(text + split, 1, len - split, f);
	fflush(f);
	fclose(f);
	return 0;
}
