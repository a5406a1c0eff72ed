/* notify_none.c - notify.h for builds without libsystemd: nothing to tell anyone. */
#include "notify.h"

void vgpu_notify(const char *state)
{
	(void)state;
}

uint64_t vgpu_notify_watchdog_usec(void)
{
	return 0;
}

const char *vgpu_notify_backend(void)
{
	return "none";
}
