/* testutil.c - shared test helpers (testutil.h). */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

uint64_t tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int tu_wait_for(int (*cond)(void *arg), void *arg, int bound_ms)
{
	uint64_t deadline = tu_now_ms() + (uint64_t)(bound_ms > 0 ? bound_ms : 0);
	int ok;

	while (!(ok = cond(arg)) && tu_now_ms() < deadline)
		msleep(5);
	return ok;
}

int tu_run(Suite *suite, enum print_output mode)
{
	SRunner *sr = srunner_create(suite);
	int failed;

	srunner_run_all(sr, mode);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
