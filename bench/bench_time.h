/* bench_time.h - what every bench program times with: the monotonic clock in
 * microseconds and the comparison qsort sorts its samples by. Header-only: each bench
 * program is one file linked with the project's libraries. */
#ifndef VGPU_BENCH_TIME_H
#define VGPU_BENCH_TIME_H

#include <time.h>

static inline double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#endif
