/* naive_fscanf_reader.h - ERRORS_LOG error 10's crash-prone reader, on purpose: fopen
 * by name (follows symlinks, blocks on a FIFO), no size check, fscanf("%s") into fixed
 * buffers, atoi() for numbers, and it then "allocates the job" from the n it read.
 * The negative control of tests/fault/err10_crash_corpus.c (run in a child process,
 * under alarm() and valgrind); never used by the product. */
#ifndef VGPU_NAIVE_FSCANF_READER_H
#define VGPU_NAIVE_FSCANF_READER_H

struct naive_cmd {
	int vm, seq, n;
	char op[32];
	char prio[32];
	float first;             /* the job's first element, so the allocation is used */
};

/* Read PATH the literal way into *CMD. Returns 1 when it accepted a command (it has an
 * op and an n and would run it), 0 when it found none, -1 when fopen failed. May crash
 * or hang on hostile input: that is what it is for. */
int naive_fscanf_read(const char *path, struct naive_cmd *cmd);

#endif
