/* notify.h - telling the service manager how the daemon is doing (the sd_notify
 * protocol: READY=1, STATUS=..., WATCHDOG=1, RELOADING=1, STOPPING=1). The build picks
 * the backend: notify_systemd.c (libsystemd) or notify_none.c (no libsystemd: every
 * call does nothing). Outside a Type=notify service both do nothing. */
#ifndef VGPU_NOTIFY_H
#define VGPU_NOTIFY_H

#include <stdint.h>

/* Send STATE ("READY=1", "STATUS=serving 3 VMs", ...), newline-separated assignments.
 * Errors are ignored: the service manager is a listener, not a dependency. */
void vgpu_notify(const char *state);
/* The watchdog interval systemd asked for (WatchdogSec=), in microseconds; 0: none. */
uint64_t vgpu_notify_watchdog_usec(void);
/* "systemd" or "none": which backend this binary was built with. */
const char *vgpu_notify_backend(void);

#endif
