/* naive_mtime_poller.h - ERRORS_LOG error 7's "solution", on purpose: the VM writes
 * command.txt in place with fprintf+fflush+fclose, and the mediator polls
 * "stat(); if (st.st_mtime > last_mtime) read". Two commands within one second share
 * an st_mtime, so the second is never read; a reader that runs while the file is being
 * written reads half a command. The negative control of
 * tests/fault/err07_updates_not_seen.c; never used by the product. */
#ifndef VGPU_NAIVE_MTIME_POLLER_H
#define VGPU_NAIVE_MTIME_POLLER_H

#include <stddef.h>
#include <time.h>

struct naive_poller {
	char path[512];
	time_t last_mtime;       /* seconds, as in the errors log */
	int reads;               /* commands read so far */
};

void naive_poller_init(struct naive_poller *p, const char *path);
/* One poll. Returns 1 and the file's content in CMD when st_mtime advanced, 0 when it
 * did not (nothing new, as far as this poller can tell), -errno on error. */
int naive_poller_poll(struct naive_poller *p, char *cmd, size_t cap);

/* The errors log's writer: fopen(PATH, "w"), fprintf(TEXT), fflush, fclose. 0 or -errno. */
int naive_write_command(const char *path, const char *text);
/* The same in place, in two write()s: the first SPLIT bytes, a pause of PAUSE_MS (a
 * slow NFS WRITE, a descheduled VM), then the rest; a reader in between sees a prefix.
 * 0 or -errno. */
int naive_write_command_torn(const char *path, const char *text, size_t split, int pause_ms);

#endif
