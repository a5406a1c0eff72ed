/* safeio.h - file I/O on a directory we do not trust (a VM's directory).
 *
 * Reads open by name through the directory's fd with O_NOFOLLOW|O_NONBLOCK, check the
 * file with fstat() (regular, one link, size under a cap) before reading a byte, and
 * read to EOF. Writes publish: temp name, full write, fsync, close, renameat.
 * All functions return 0 or a negative errno; none prints. */
#ifndef VGPU_SAFEIO_H
#define VGPU_SAFEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Extra negative codes beside -errno, for the checks done after open(). */
#define VGPU_EBADTYPE  (-10001)   /* not a regular file (FIFO, directory, device, ...) */
#define VGPU_ELINKS    (-10002)   /* regular file with more than one hard link */
#define VGPU_ETOOBIG   (-10003)   /* larger than the cap */
#define VGPU_ESHORT    (-10004)   /* file shrank or grew while being read */

/* strerror() for -errno and the codes above. Can't fail. */
const char *vgpu_safeio_strerror(int code);

/* Open DIRFD/NAME for reading as above and check it. On success returns 0, *fdp holds
 * the descriptor (caller closes) and *st its fstat(). A symlink gives -ELOOP, a FIFO
 * VGPU_EBADTYPE (O_NONBLOCK: the open itself never blocks), size > CAP VGPU_ETOOBIG. */
int vgpu_safe_open(int dirfd, const char *name, uint64_t cap, int *fdp, struct stat *st);

/* vgpu_safe_open() for a record read with vgpu_read_rec(): the descriptor keeps the
 * open's O_NONBLOCK (no fcntl), which vgpu_read_rec() clears only if a read says EAGAIN
 * (a file system that honours it on regular files), reading again then, blocking. */
int vgpu_safe_open_rec(int dirfd, const char *name, uint64_t cap, int *fdp, struct stat *st);
/* vgpu_read_full() of a descriptor from vgpu_safe_open_rec() (see there). */
int vgpu_read_rec(int fd, void *buf, size_t len);

/* Read all of DIRFD/NAME (checked as above) into BUF (CAP bytes); *lenp gets the length.
 * Its descriptor keeps O_NONBLOCK until a read says EAGAIN, as vgpu_safe_open_rec()'s.
 * ESTALE on open or read is retried once. */
int vgpu_safe_read(int dirfd, const char *name, char *buf, size_t cap, size_t *lenp, struct stat *st);

/* Read all of DIRFD/NAME into a new malloc'ed buffer; *bufp and *lenp on success
 * (caller frees). CAP bounds the size as above. */
int vgpu_safe_read_alloc(int dirfd, const char *name, uint64_t cap, void **bufp, size_t *lenp);

/* Read exactly LEN bytes from FD at its current offset (handles short reads, EINTR).
 * Returns 0, VGPU_ESHORT at early EOF, or -errno. */
int vgpu_read_full(int fd, void *buf, size_t len);
/* Write exactly LEN bytes (handles short writes, EINTR). 0 or -errno. */
int vgpu_write_full(int fd, const void *buf, size_t len);
/* The same at offset OFF (pwrite; FD's offset unchanged). 0 or -errno. */
int vgpu_pwrite_full(int fd, const void *buf, size_t len, off_t off);

/* Publish LEN bytes as DIRFD/NAME: create ".tmp-HOST-PID-RANDOM" with O_EXCL (HOST, PID and
 * a random base looked up once per thread, RANDOM = base + counter), write all,
 * fsync, close (both checked), renameat over NAME. On any failure the temp file is
 * unlinked and NAME is untouched. MODE is the new file's mode (e.g. 0644). */
int vgpu_publish(int dirfd, const char *name, const void *buf, size_t len, mode_t mode);

/* Same, taking the data from two buffers (header + body), to avoid a copy. */
int vgpu_publish2(int dirfd, const char *name, const void *a, size_t alen,
		  const void *b, size_t blen, mode_t mode);

/* How vgpu_publish_ex() publishes, beyond vgpu_publish(). Zeroed: as vgpu_publish(). */
struct vgpu_publish_how {
	int chown;                   /* 1: fchown the temp file to UID:GID before its fsync
				      * (a VM's output, so that the VM's quota counts it) */
	uid_t uid;
	gid_t gid;
	int nosync;                  /* 1: no fsync (a record nobody needs after a crash:
				      * status.txt, rewritten every few seconds) */
	const char *faults;          /* libfiu point prefix; NULL: "safeio/publish" (the
				      * state directory uses "state/publish": faults in one
				      * directory, not the other) */
	uint32_t *crc;               /* non-NULL: the CRC-32 of the bytes written (A then B),
				      * computed chunk by chunk as each is written (lib/crc_io.h:
				      * one pass over a payload, not a second one), into *CRC */
};
/* vgpu_publish2() with HOW (NULL: as vgpu_publish2). Fault points PREFIX/open, /write,
 * /short, /fsync, /close, /rename and /chown. */
int vgpu_publish_ex(int dirfd, const char *name, const void *a, size_t alen, const void *b, size_t blen,
		    mode_t mode, const struct vgpu_publish_how *how);

/* fsync a directory fd (for the mediator's own state directory). 0 or -errno. */
int vgpu_fsync_dir(int dirfd);

/* Is NAME a name readers must ignore (".tmp-*", ".nfs*", any dot file)? */
int vgpu_is_ignored_name(const char *name);

#endif
