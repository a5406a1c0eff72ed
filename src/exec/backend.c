/* backend.c - the table of backends by name (backend.h): which exist and what a build
 * needs to have each. Names only, no backend code: the pool checks and passes a name
 * without linking the backend, which only vgpu-worker hosts. */
#include <string.h>

#include "backend.h"

static const struct vgpu_backend_info backends[] = {
	{ .name = "mock", .needs = NULL, .bare_single = 1 },
	{ .name = "cuda", .needs = "CUDA", .bare_single = 0 },
};

const struct vgpu_backend_info *vgpu_backend_info_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i].name, name) == 0)
			return &backends[i];
	return NULL;
}
