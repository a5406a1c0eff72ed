/* env.h - a numeric setting from the environment, bounded. */
#ifndef VGPU_LIB_ENV_H
#define VGPU_LIB_ENV_H

#include <stdint.h>

/* NAME's decimal value in LO..HI; DEF when unset or empty, and DEF with a warning when
 * it is not a number in that range. */
uint64_t vgpu_env_u64(const char *name, uint64_t def, uint64_t lo, uint64_t hi);

#endif
