/* ratelimit.h - a token bucket per VM: how many error answers and log lines one VM may
 * cause per second, so that a VM flooding invalid records cannot keep the event loop
 * (fsync'd answers, log writes) busy for the others (docs/SECURITY.md, "Flooding").
 * GCRA form: one timestamp, no timer. Not an API: only src/mediator includes it. */
#ifndef VGPU_MEDIATOR_RATELIMIT_H
#define VGPU_MEDIATOR_RATELIMIT_H

#include <stdint.h>

struct vgpu_ratelimit {
	uint64_t tat_ms;             /* "theoretical arrival time" of the next event */
	uint64_t interval_ms;        /* 1000 / rate */
	uint64_t burst;              /* events allowed at once */
	uint64_t suppressed;         /* events refused since the last one allowed */
};

/* BURST events at once, then PER_S per second (both at least 1). Can't fail. */
void vgpu_ratelimit_init(struct vgpu_ratelimit *rl, unsigned burst, unsigned per_s);
/* Take one event at NOW_MS: 1 allowed, 0 refused (counted in rl->suppressed). */
int vgpu_ratelimit_take(struct vgpu_ratelimit *rl, uint64_t now_ms);
/* vgpu_warn() the message if take() allows it at NOW_MS; the next line allowed after
 * refusals ends with how many were suppressed. */
void vgpu_ratelimit_warn(struct vgpu_ratelimit *rl, uint64_t now_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The earliest time at or after NOW_MS when take() would allow an event. */
uint64_t vgpu_ratelimit_next(const struct vgpu_ratelimit *rl, uint64_t now_ms);

#endif
