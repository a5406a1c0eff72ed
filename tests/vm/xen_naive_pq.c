/* xen_naive_pq.c - ERRORS_LOG error 9's naive queue (tests/fault/naive/naive_pqueue.c)
 * fed with the arrivals that Dom0's mediator journaled in make check-xen
 * (tests/vm/xen_tests.sh): the negative control of the ERR09-xen record.
 *
 *   xen_naive_pq BUG PRIO...    BUG: inverted | prio-only; PRIO: low | medium | high,
 *                               in arrival order
 * Pushes every job, then pops them all (the executor was busy while they arrived) and
 * prints the served priorities on one line, e.g. "low medium high". Exit 0; 2 on bad
 * arguments. */
#include <stdio.h>
#include <string.h>

#include "../fault/naive/naive_pqueue.h"

static const char *const names[] = { "low", "medium", "high" };

int main(int argc, char **argv)
{
	struct naive_pq q;
	struct naive_job j;
	enum naive_pq_bug bug;

	if (argc < 3)
		return 2;
	if (!strcmp(argv[1], "inverted"))
		bug = NAIVE_PQ_INVERTED;
	else if (!strcmp(argv[1], "prio-only"))
		bug = NAIVE_PQ_PRIO_ONLY;
	else
		return 2;
	if (naive_pq_init(&q, (size_t)argc, bug) != 0)
		return 2;
	for (int i = 2; i < argc; i++) {
		int p = -1;

		for (int k = 0; k < 3; k++)
			if (!strcmp(argv[i], names[k]))
				p = k;
		if (p < 0 || naive_pq_push(&q, (struct naive_job){ .prio = p, .id = i - 2 }) != 0) {
			naive_pq_release(&q);
			return 2;
		}
	}
	for (int first = 1; naive_pq_pop(&q, &j); first = 0)
		printf("%s%s", first ? "" : " ", names[j.prio]);
	printf("\n");
	naive_pq_release(&q);
	return 0;
}
