/* wire.h - what the pool (exec_pool.c, pool_worker.c) and a vgpu-worker process say to
 * each other.
 *
 * One SOCK_SEQPACKET socketpair per worker; every message is one fixed-size
 * struct vgpu_wire_msg; a job's memfds travel with it as SCM_RIGHTS. docs/EXECUTOR.md. */
#ifndef VGPU_WIRE_H
#define VGPU_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include "backend.h"

#define VGPU_WIRE_MAGIC 0x31574756u   /* "VGW1" little-endian */

enum vgpu_wire_type { VGPU_WIRE_HELLO = 1, VGPU_WIRE_JOB = 2, VGPU_WIRE_RESULT = 3 };

/* Worker -> pool, once, after backend init (ok) or instead of it (!ok, then it exits). */
struct vgpu_wire_hello {
	int32_t ok;
	int32_t dev;
	char device[64];          /* e.g. "mock", "NVIDIA H200" */
	char error[256];          /* why init failed; "" when ok */
};

#define VGPU_WIRE_IN_FD   1u  /* an input file follows (first): read with pread */
#define VGPU_WIRE_OUT_FD  2u  /* an output file follows (after the input one): pwrite */

/* Pool -> worker. The fields of struct vgpu_job, without pointers. */
struct vgpu_wire_job {
	uint64_t id;
	uint32_t op;              /* enum vgpu_op */
	struct vgpu_op_args args; /* copied whole: both ends are one build */
	uint64_t in_bytes, out_bytes;
	uint64_t out_count;       /* floats of output (compute ops); no out fd: summary only */
	uint32_t fds;             /* VGPU_WIRE_IN_FD | VGPU_WIRE_OUT_FD */
	uint32_t in_check;        /* 1: the input's CRC-32 must be IN_CRC (a VM's payload) */
	uint32_t in_crc;
};

/* Worker -> pool. */
struct vgpu_wire_result {
	uint64_t id;
	int32_t exiting;          /* the backend found the device unusable (run() < 0): the
	                           * worker exits right after this message; the pool restarts
	                           * it before the next job, which must not go to the dying one */
	struct vgpu_job_result res;
};

struct vgpu_wire_msg {
	uint32_t magic;           /* VGPU_WIRE_MAGIC; set by vgpu_wire_send() */
	uint32_t type;            /* enum vgpu_wire_type */
	union {
		struct vgpu_wire_hello hello;
		struct vgpu_wire_job job;
		struct vgpu_wire_result result;
	} u;
};

/* Send MSG on SOCK with the descriptors FDS[0..NFDS) (NFDS <= 2; a JOB's must match
 * its .fds bits). Never raises SIGPIPE. 0, or -errno (-EPIPE/-ECONNRESET: peer gone). */
int vgpu_wire_send(int sock, struct vgpu_wire_msg *msg, const int *fds, int nfds);

/* Receive one message. FLAGS: 0 or MSG_DONTWAIT. FDS[0] (input) and FDS[1] (output)
 * get a JOB's descriptors (close-on-exec, owned by the caller) or -1. Returns the
 * message type (> 0), 0 at EOF, -EAGAIN when nothing is there (MSG_DONTWAIT), -EBADMSG
 * for a message of the wrong size, magic or type, or with descriptors it should not
 * have (those are closed), or another -errno. Strings are NUL-terminated. */
int vgpu_wire_recv(int sock, struct vgpu_wire_msg *msg, int fds[2], int flags);


#endif
