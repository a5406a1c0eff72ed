/* naive_no_cleanup.c - see naive_no_cleanup.h: the server loop runs every job inline,
 * without a watchdog and without reclaiming what a job leaves allocated. Deliberately
 * wrong; used only as ERR08's negative control. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/opref.h"
#include "naive_no_cleanup.h"

/* Where the leaked pointer goes, so that the compiler keeps the allocation; nothing
 * ever reads it back, like a device pointer dropped by a job. */
void *volatile naive_last_leak;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t naive_rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

void naive_no_cleanup_serve(const struct naive_job *jobs, int n, int fd)
{
	uint64_t t0 = mono_ms();

	for (int i = 0; i < n; i++) {
		const struct naive_job *j = &jobs[i];
		struct naive_event ev;

		memset(&ev, 0, sizeof(ev));
		if (j->op == NAIVE_SPIN) {
			/* "the kernel": runs as long as it runs; j->timeout_ms is not looked at */
			uint64_t end = mono_ms() + j->ms;
			while (mono_ms() < end)
				;
		} else if (j->op == NAIVE_LEAK) {
			char *p = malloc(j->bytes);   /* cudaMalloc without the cudaFree */
			if (p)
				memset(p, 0xa5, j->bytes);
			naive_last_leak = p;
		} else {
			float *a = malloc(3 * j->n * sizeof(float));
			if (a) {
				vgpu_gen_fill(a, j->n, j->seed, 0);
				vgpu_gen_fill(a + j->n, j->n, j->seed, 1);
				vgpu_ref_vadd(a, a + j->n, a + 2 * j->n, j->n);
				ev.first = a[2 * j->n];
				free(a);
			}
		}
		ev.vm = j->vm;
		ev.index = i;
		ev.done_ms = mono_ms() - t0;
		ev.rss_bytes = naive_rss_bytes();
		if (write(fd, &ev, sizeof(ev)) != (ssize_t)sizeof(ev))
			return;
	}
}
