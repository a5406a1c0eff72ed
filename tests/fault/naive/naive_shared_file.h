/* naive_shared_file.h - ERRORS_LOG error 3's hazard, on purpose: writers share a command
 * file and a response file (ERR03 gives each VM its own pair, as the errors log's design
 * says, and runs several processes per VM on it), written in place with
 * fopen/fprintf/fclose, no locking, and a server loop that reads the command file,
 * answers into the response file and truncates the command file. The negative control
 * of tests/fault/err03_concurrent_writers.c; never used by the product. */
#ifndef VGPU_NAIVE_SHARED_FILE_H
#define VGPU_NAIVE_SHARED_FILE_H

#include <stddef.h>

struct naive_shared {
	char cmd[512];           /* DIR/command.txt, shared by every VM */
	char resp[512];          /* DIR/response.txt, shared by every VM */
};

void naive_shared_init(struct naive_shared *s, const char *dir);

/* A VM's client: note the response file's content, fopen(cmd, "w"), fprintf one line
 * "vm V seq S data DATA", fclose; then poll the response file every millisecond and
 * take the first content that differs from the noted one as "the answer" (into
 * ANSWER). 0, or -ETIMEDOUT after TIMEOUT_MS, or -errno. */
int naive_shared_submit(const struct naive_shared *s, int vm, int seq, const char *data,
			char *answer, size_t cap, int timeout_ms);

/* The server's loop body: read the command file line by line (fopen/fgets), answer
 * every line by rewriting the response file ("vm V seq S len L"), then truncate the
 * command file. LINE_CB (may be NULL) sees every line it acted on. Returns the number
 * of lines acted on, or -errno. */
int naive_shared_serve_once(const struct naive_shared *s, void (*line_cb)(const char *line, void *arg),
			    void *arg);

#endif
