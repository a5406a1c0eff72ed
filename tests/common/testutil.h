/* testutil.h - what every test program shares (unit, e2e, fault scenarios, nfssim's
 * Check program): a sleep, a clock, a bounded wait for a condition another process
 * makes true, and the standard Check main.
 *
 * A test waits for state that another process writes (a journal or log line, a state
 * file, a response) with TU_WAIT_FOR or tu_wait_for and a bound, never with a fixed
 * sleep: the writer may be slow on a loaded machine, and a fixed sleep either wastes
 * time or loses the race. */
#ifndef VGPU_TESTUTIL_H
#define VGPU_TESTUTIL_H

#include <check.h>
#include <stdint.h>

/* Sleep MS milliseconds (restarted after a signal). */
void msleep(int ms);

/* Monotonic milliseconds. */
uint64_t tu_now_ms(void);

/* Poll COND(ARG) every few milliseconds until it returns non-zero or BOUND_MS have
 * passed; COND is evaluated once more at the bound. Returns COND's last value. */
int tu_wait_for(int (*cond)(void *arg), void *arg, int bound_ms);

/* The same for an expression: TU_WAIT_FOR(e2e_journal_count(...) >= 3, 5000) evaluates to
 * the expression's last value (non-zero: it became true within the bound). */
#define TU_WAIT_FOR(expr, bound_ms)                                                   \
	({                                                                            \
		uint64_t tu_deadline_ = tu_now_ms() + (uint64_t)(bound_ms);            \
		int tu_ok_;                                                           \
		while (!(tu_ok_ = !!(expr)) && tu_now_ms() < tu_deadline_)            \
			msleep(5);                                                    \
		tu_ok_;                                                               \
	})

/* The standard Check main: run SUITE with MODE (CK_ENV: $CK_VERBOSITY, default normal).
 * Check itself logs to $CK_LOG_FILE_NAME when set (make check keeps every program's log
 * in build/reports/check/). Returns EXIT_SUCCESS, or EXIT_FAILURE when a test failed. */
int tu_run(Suite *suite, enum print_output mode);

/* int main(void) running SUITE_FN() with CK_ENV, for programs with nothing to set up. */
#define TU_CHECK_MAIN(suite_fn)                                                       \
	int main(void)                                                                \
	{                                                                             \
		return tu_run(suite_fn(), CK_ENV);                                    \
	}

#endif
