/* ratelimit.c - token bucket (GCRA) for per-VM error answers and log lines; see
 * ratelimit.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "ratelimit.h"
#include "lib/log.h"

void vgpu_ratelimit_init(struct vgpu_ratelimit *rl, unsigned burst, unsigned per_s)
{
	rl->tat_ms = 0;
	rl->interval_ms = 1000 / (per_s ? per_s : 1);
	if (!rl->interval_ms)
		rl->interval_ms = 1;
	rl->burst = burst ? burst : 1;
	rl->suppressed = 0;
}

uint64_t vgpu_ratelimit_next(const struct vgpu_ratelimit *rl, uint64_t now_ms)
{
	uint64_t window = rl->burst * rl->interval_ms;
	uint64_t t = rl->tat_ms + rl->interval_ms;

	/* allowed when max(tat, now) + interval - now <= burst * interval */
	return t > window && t - window > now_ms ? t - window : now_ms;
}

int vgpu_ratelimit_take(struct vgpu_ratelimit *rl, uint64_t now_ms)
{
	uint64_t t = rl->tat_ms > now_ms ? rl->tat_ms : now_ms;

	if (t + rl->interval_ms - now_ms > rl->burst * rl->interval_ms) {
		rl->suppressed++;
		return 0;
	}
	rl->tat_ms = t + rl->interval_ms;
	return 1;
}

void vgpu_ratelimit_warn(struct vgpu_ratelimit *rl, uint64_t now_ms, const char *fmt, ...)
{
	char msg[1024];
	uint64_t before = rl->suppressed;
	va_list ap;

	if (!vgpu_ratelimit_take(rl, now_ms))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rl->suppressed = 0;
	if (before)
		vgpu_warn("%s (%" PRIu64 " similar lines suppressed)", msg, before);
	else
		vgpu_warn("%s", msg);
}
