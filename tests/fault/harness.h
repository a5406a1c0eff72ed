/* harness.h - what every fault scenario reports, and how.
 *
 * A scenario (tests/fault/errNN_*.c, one program each) runs a naive control that must
 * show the documented symptom, then our code under the same fault, counts the faults it
 * actually injected, accounts for every request, and writes one JSON record into
 * $VGPU_REPORT_DIR (default build/reports/scenarios). tools/report.py merges them into
 * build/reports/harness.json and prints the table. See docs/HARNESS.md. */
#ifndef VGPU_HARNESS_H
#define VGPU_HARNESS_H

#include <stdint.h>

struct h_requests {
	long submitted, answered, lost, duplicated, misrouted, corrupted;
};

struct h_result {
	char id[24];            /* "ERR01" .. "ERR10", or a name of its own ("ENOSPC", ...) */
	char title[160];
	char backend[32];       /* "local", "nfssim-local", "nfssim-ganesha", "cudart", ... */
	int reproduced;         /* the naive control showed the documented symptom */
	int handled;            /* ours passed every check */
	long injections;        /* faults actually injected (counters), > 0 */
	struct h_requests req;
	char evidence[600];     /* one line: what the naive control did, what ours did */
	uint64_t seed;
	char skipped[256];      /* non-empty: not run, and why (printed, reported) */
};

/* Start a result: copies ID, TITLE, BACKEND; seed from $VGPU_SEED or the clock, printed
 * as "ID: seed N (VGPU_SEED=N replays)". */
void h_begin(struct h_result *r, const char *id, const char *title, const char *backend);

/* Append to r->evidence ("; " between parts). */
void h_evidence(struct h_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record a check: prints "  ok: ..." or "  FAIL: ..." and clears r->handled on failure.
 * Returns COND. */
int h_check(struct h_result *r, int cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record the naive control's outcome the same way (clears r->reproduced on failure:
 * "fault not reproduced"). */
int h_naive(struct h_result *r, int showed_symptom, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write the JSON record and print the verdict. Returns the process exit status:
 * 0 when reproduced, handled, injections > 0 and lost = duplicated = misrouted =
 * corrupted = 0; 77 (printed reason) when skipped; 1 otherwise. */
int h_finish(struct h_result *r);

/* Deterministic PRNG for scenarios (xorshift64*), seeded from r->seed. */
uint64_t h_rand(uint64_t *state);

#endif
