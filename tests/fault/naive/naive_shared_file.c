/* naive_shared_file.c - one command file and one response file shared by all VMs; see
 * naive_shared_file.h. Written the way the errors log's design sketch would be, so
 * that the harness can show what goes wrong with it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "naive_shared_file.h"

void naive_shared_init(struct naive_shared *s, const char *dir)
{
	snprintf(s->cmd, sizeof(s->cmd), "%s/command.txt", dir);
	snprintf(s->resp, sizeof(s->resp), "%s/response.txt", dir);
}

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

int naive_shared_submit(const struct naive_shared *s, int vm, int seq, const char *data,
			char *answer, size_t cap, int timeout_ms)
{
	char before[4096];
	struct timespec ms = { 0, 1000000 };
	FILE *f;

	slurp(s->resp, before, sizeof(before));
	f = fopen(s->cmd, "w");
	if (!f)
		return -errno;
	fprintf(f, "vm %d seq %d data %s\n", vm, seq, data);
	fflush(f);
	fclose(f);
	for (int waited = 0; waited < timeout_ms; waited++) {
		slurp(s->resp, answer, cap);
		if (answer[0] && strcmp(answer, before) != 0)
			return 0;
		nanosleep(&ms, NULL);
	}
	return -ETIMEDOUT;
}

int naive_shared_serve_once(const struct naive_shared *s, void (*line_cb)(const char *line, void *arg),
			    void *arg)
{
	char line[16384];
	int done = 0;
	FILE *f = fopen(s->cmd, "r");

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), f)) {
		int vm = 0, seq = 0;
		FILE *r;

		if (sscanf(line, "vm %d seq %d", &vm, &seq) != 2)
			continue;
		if (line_cb)
			line_cb(line, arg);
		r = fopen(s->resp, "w");
		if (r) {
			fprintf(r, "vm %d seq %d len %zu\n", vm, seq, strlen(line));
			fclose(r);
		}
		done++;
	}
	fclose(f);
	if (done) {
		f = fopen(s->cmd, "w");   /* "consumed": truncate */
		if (f)
			fclose(f);
	}
	return done;
}
