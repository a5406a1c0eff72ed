/* fake_cuda_setup.c - the stand-in driver's re-exec and the no-CUDA skip (fake_cuda_setup.h). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_cuda_setup.h"

int fake_cuda_reexec(char **argv)
{
	char exe[PATH_MAX], dir[2 * PATH_MAX + 16];
	const char *old = getenv("LD_LIBRARY_PATH");
	ssize_t n;

	if (getenv("VGPU_FAKE_CUDA_RUN"))
		return 0;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return -1;
	exe[n] = '\0';
	/* first, before the paths the program's other libraries come from */
	snprintf(dir, sizeof(dir), "%.*s/fakecuda%s%.*s", (int)(strrchr(exe, '/') - exe), exe,
		 old && *old ? ":" : "", old && *old ? PATH_MAX : 0, old ? old : "");
	setenv("LD_LIBRARY_PATH", dir, 1);
	setenv("VGPU_FAKE_CUDA_RUN", "1", 1);
	execv(exe, argv);
	perror("execv");
	return -1;
}

static const char *skip_prog;

START_TEST(test_skip_without_cuda)
{
	printf("%s: SKIP: built without CUDA (nvcc was not found at build time)\n", skip_prog);
}
END_TEST

Suite *fake_cuda_skip_suite(const char *prog, const char *name)
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create("skip");

	skip_prog = prog;
	tcase_add_test(tc, test_skip_without_cuda);
	suite_add_tcase(s, tc);
	return s;
}
