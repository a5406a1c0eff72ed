/* pingtime.h - how the scenarios that prove one VM cannot hold up another time a VM's
 * pings (x_payload_stall, x_vm_flood, x_two_mediators): a ping record published straight
 * into the VM's directory and its answer awaited, and the latency of a series of them
 * (p50, p99, max). */
#ifndef VGPU_PINGTIME_H
#define VGPU_PINGTIME_H

#include <stdint.h>

struct e2e_env;

/* Publish a ping of VM with SEQ and PRIO (enum vgpu_priority; its nonce from h_rand(RNG))
 * as ENV's vmN/command.txt and wait up to BOUND_MS for the answer to it (polled every
 * 0.2 ms). Milliseconds from the publish to the answer, *STATUS its status; -1 when no
 * answer came (or the ping could not be published). */
double pt_ping(const struct e2e_env *env, uint32_t vm, int64_t seq, int prio, int bound_ms, uint64_t *rng,
	       int *status);

struct pt_lat {
	int n, answered;          /* pings sent; answered with status OK */
	double p50, max;          /* of the answered ones */
	double p99;               /* of all: an unanswered ping counts as 1e9 (the slowest) */
};

/* The pings taken so far: N sent, ANSWERED with status OK, their latencies in V (room
 * for CAP). Several processes may add to one series in shared memory at once. */
struct pt_series {
	double *v;
	int cap, n, answered;
};

/* Pings of VM at medium priority added to S, seqs from *SEQ on (*SEQ is advanced past
 * them), each awaited up to BOUND_MS: N of them, or, N 0, until DONE(ARG) is true (asked
 * before each ping) or S is full; stops early after GIVEUP unanswered in a row. */
void pt_series_ping(struct pt_series *s, const struct e2e_env *env, uint32_t vm, int64_t *seq, int n, int bound_ms,
		    int giveup, uint64_t *rng, int (*done)(void *), void *arg);

/* The latency of S's pings (its latencies sorted in place). */
struct pt_lat pt_lat_of(struct pt_series *s);

/* Pings of VM at medium priority, seqs from *SEQ on (*SEQ is advanced past them), each
 * awaited up to BOUND_MS: N of them, or, N 0, until DONE(ARG) is true (asked before each
 * ping; 100000 at most); stops early after GIVEUP unanswered in a row. */
struct pt_lat pt_pings(const struct e2e_env *env, uint32_t vm, int64_t *seq, int n, int bound_ms, int giveup,
		       uint64_t *rng, int (*done)(void *), void *arg);

/* Remove command.txt and response.txt from ENV's vm1..vmVMS (a clean slate after a naive
 * control's pings, for ours). */
void pt_forget(const struct e2e_env *env, uint32_t vms);

/* Print "  WHAT: N pings, A answered; p50 X ms, p99 Y ms, max Z ms (of those answered)";
 * a p99 or max of 1e9 or more as "unanswered". */
void pt_print(const char *what, const struct pt_lat *l);

#endif
