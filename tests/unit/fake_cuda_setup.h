/* fake_cuda_setup.h - what the unit tests over the stand-in libcuda.so.1
 * (tests/unit/fake_libcuda.c, built into $(BUILD)/tests/fakecuda) share: the program
 * runs itself again with the stand-in first in LD_LIBRARY_PATH, and, built without nvcc,
 * is one test that says why it skips. */
#ifndef VGPU_TESTS_FAKE_CUDA_SETUP_H
#define VGPU_TESTS_FAKE_CUDA_SETUP_H

#include <check.h>

/* First call (VGPU_FAKE_CUDA_RUN unset): exec this program again (ARGV) with
 * $(dir of the program)/fakecuda first in LD_LIBRARY_PATH, the caller's paths kept after
 * it (the GPU host finds libfiu and the others there), for this program and the
 * processes it starts; returns -1 only when that fails. Under the stand-in: returns 0. */
int fake_cuda_reexec(char **argv);

/* The suite NAME of one test that prints "PROG: SKIP: built without CUDA ...". */
Suite *fake_cuda_skip_suite(const char *prog, const char *name);

#endif
