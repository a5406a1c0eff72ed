/* proc.h - child processes for the executors (proc.c): preparing a child between fork
 * and exec, a wait status as text, running a program with its output captured and a
 * timeout. Used by the pool (its workers and device probe) and by "auto" (cuda-sanity). */
#ifndef VGPU_PROC_H
#define VGPU_PROC_H

#include <stddef.h>
#include <stdint.h>

/* "exit 3", "signal 11 SIGSEGV" for a waitpid() status. Can't fail. */
void vgpu_describe_status(int status, char *buf, size_t len);

/* In a child between fork and exec: stdin from /dev/null (when DEVNULL >= 0), every
 * descriptor above 2 close-on-exec except KEEP (-1: none), and SIGKILL when the parent
 * dies. Only async-signal-safe calls. */
void vgpu_child_prepare(int devnull, int keep);

/* Run ARGV (ARGV[0] a path) as a child in its own process group, stdin /dev/null,
 * stdout and stderr captured. Waits at most TIMEOUT_MS, then SIGKILLs the group.
 * OUT (OUTLEN bytes) gets the first non-empty line of the output, trimmed ("" if
 * none); *STATUSP the waitpid() status. Returns 0 when the child ran and was reaped,
 * -ETIMEDOUT when it was killed (and reaped), -errno when it could not be started (an
 * exec failure is a child that exits 127 with "cannot run PATH: ..." as its output).
 * Logs nothing. */
int vgpu_run_capture(char *const argv[], uint64_t timeout_ms, char *out, size_t outlen, int *statusp);

#endif
