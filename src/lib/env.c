/* env.c - a numeric setting from the environment, bounded (env.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "log.h"

uint64_t vgpu_env_u64(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long u;

	if (!v || !*v)
		return def;
	errno = 0;
	u = strtoull(v, &end, 10);
	if (errno || *end || strchr(v, '-') || u < lo || u > hi) {   /* strtoull takes "-1" as 2^64-1 */
		vgpu_warn("%s=%s: not a number in %llu..%llu; using %llu", name, v, (unsigned long long)lo,
			  (unsigned long long)hi, (unsigned long long)def);
		return def;
	}
	return (uint64_t)u;
}
