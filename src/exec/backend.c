/* backend.c - the table of backends by name (backend.h): which exist and what a build
 * needs to have each. Names only, no backend code: the pool checks and passes a name
 * without linking the backend, which only vgpu-worker hosts. And the one way to fill a
 * job's result with a status and its text, for backends and executors alike. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

static const struct vgpu_backend_info backends[] = {
	{ .name = "mock", .needs = NULL, .bare_single = 1 },
	{ .name = "cuda", .needs = "CUDA", .bare_single = 0, .kernel = "cuda-kernel" },
	{ .name = "cuda-kernel", .needs = "CUDA", .bare_single = 0 },
};

const struct vgpu_backend_info *vgpu_backend_info_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i].name, name) == 0)
			return &backends[i];
	return NULL;
}

void vgpu_job_result_set(struct vgpu_job_result *res, int status, const char *fmt, ...)
{
	va_list ap;

	memset(res, 0, sizeof(*res));
	res->status = status;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
}
