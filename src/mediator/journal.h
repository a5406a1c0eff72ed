/* journal.h - the mediator's journal for tests and audits: one line per event
 * ("queue vm=N seq=S ...", "exec ...", "answer ... status=X") appended to a file, from
 * which tests prove exactly-once and order (tests/e2e/e2e_util.h, docs/HARNESS.md).
 * Without a path it writes nothing. */
#ifndef VGPU_MEDIATOR_JOURNAL_H
#define VGPU_MEDIATOR_JOURNAL_H

#include <stddef.h>

struct vgpu_journal {
	int fd;                      /* -1: off */
};

/* Open PATH for appending (created 0644); PATH NULL: a journal that is off.
 * 0, or -errno (J is then off). */
int vgpu_journal_init(struct vgpu_journal *j, const char *path);
/* Append one line (the newline is added; cut at 254 bytes) with one write(2): lines of
 * concurrent mediators never interleave. A failed write is logged, never returned. */
void vgpu_journal_add(struct vgpu_journal *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vgpu_journal_release(struct vgpu_journal *j);

#endif
