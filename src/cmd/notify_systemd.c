/* notify_systemd.c - notify.h through libsystemd's sd_notify(3) and sd_watchdog_enabled(3). */
#include <systemd/sd-daemon.h>

#include "notify.h"

void vgpu_notify(const char *state)
{
	(void)sd_notify(0, state);
}

uint64_t vgpu_notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

const char *vgpu_notify_backend(void)
{
	return "systemd";
}
