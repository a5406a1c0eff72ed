/* lock.h - one mediator per root and per state directory. Two mediators on one root
 * would each read every command.txt and run every request twice; on one state
 * directory they would overwrite each other's exactly-once records. flock(2) locks go
 * away with the process (also on SIGKILL), so a crash never leaves a stale lock.
 * Not an API: src/mediator and vgpu-mediator's start-up include it. */
#ifndef VGPU_MEDIATOR_LOCK_H
#define VGPU_MEDIATOR_LOCK_H

#include <stddef.h>

/* Take an exclusive, non-blocking flock on DIRFD/NAME (created 0600; our pid is written
 * into it for people), or on the directory DIRFD itself when NAME is NULL (nothing is
 * written into a directory VMs can see). Returns the lock's fd (NAME) or DIRFD (NULL),
 * or -EBUSY when another process holds it, with *HOLDER its pid (0 when unknown), or
 * another -errno. A file system without flock (-ENOLCK, -EOPNOTSUPP) is no error: the
 * lock is then not taken and 0 (NAME: the fd) is returned. */
int vgpu_lock_take(int dirfd, const char *name, int *holder);

/* vgpu_lock_take(), and the lock is kept for the life of the process: the caller never
 * closes the returned descriptor (for NAME NULL: DIRFD), and a later vgpu_lock_take() of
 * the same file in this process returns as if it took it (the lock is ours already).
 * vgpu-mediator claims its locks before it starts its executor, so that a second
 * mediator fails having started nothing, and vgpu_mediator_new() finds them its own. */
int vgpu_lock_claim(int dirfd, const char *name, int *holder);

/* The pid of a process holding a flock on the file DEV:INO per /proc/locks, or 0. */
int vgpu_lock_holder(int fd);

#endif
