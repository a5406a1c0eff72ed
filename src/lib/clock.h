/* clock.h - the one monotonic clock: every timer, deadline and duration in src/ reads
 * it (CLOCK_MONOTONIC: never jumps with the wall clock or NTP). Can't fail. */
#ifndef VGPU_CLOCK_H
#define VGPU_CLOCK_H

#include <stdint.h>

/* Microseconds / milliseconds since an unspecified start (the same for every process
 * on the host: deadlines may cross a fork/exec or a socket). */
uint64_t vgpu_now_us(void);
uint64_t vgpu_now_ms(void);

#endif
