/* naive_cuda_forced.h - ERR05's naive control: CUDA forced in Dom0 although it does not
 * work there (the errors log: "Do NOT force CUDA in Dom0 if sanity fails").
 *
 * naive_cuda_forced.c is two things: compiled by nvcc (-x cu, tests/fault/cuda_naive.mk)
 * it is the program $(BUILD)/tests/fault/naive_cuda_forced, which does cudaMalloc, copies,
 * a vadd kernel and a copy back without checking a single return code, prints the
 * result as if all went well and looks at errors only at the very end; compiled by cc
 * (as every tests/fault/naive/ file is) it is the parser of that program's output. */
#ifndef VGPU_NAIVE_CUDA_FORCED_H
#define VGPU_NAIVE_CUDA_FORCED_H

#define NAIVE_CUDA_N 4096     /* c = a + b over this many floats, a[i] = i, b[i] = 2i */

/* Output lines of the program, one per fact:
 *   naive-cuda: call NAME rc N MSG     every CUDA call and what it returned (not acted on)
 *   naive-cuda: devices N              what cudaGetDeviceCount left in its output
 *   naive-cuda: result wrong W of N first F expected E
 *   naive-cuda: late-check rc N MSG    the only check, after everything ran
 *   naive-cuda: done                   it "finished" (exit 0) */
struct naive_cuda_report {
	int calls;            /* CUDA calls made */
	int failed_calls;     /* of them, returned non-zero */
	int devices;
	int wrong, n;         /* wrong elements of n */
	double first, expected;
	int late_rc;          /* the late check's error, 0 if none */
	int done;             /* printed "done" */
	char first_msg[240];  /* the first failing call's message */
};

/* Parse the program's OUTPUT into REP. Returns 0, or -1 when nothing of it was found. */
int naive_cuda_parse(const char *output, struct naive_cuda_report *rep);

#endif
