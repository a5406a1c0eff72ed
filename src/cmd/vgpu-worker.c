/* vgpu-worker - hosts one compute backend on one device, in its own process, for the
 * mediator's worker pool (src/exec/exec_pool.c): init, hello, then job after job over a
 * SOCK_SEQPACKET socket until EOF. Killed and restarted by the pool's watchdog when a
 * job hangs or crashes it. Also answers --count for the pool's device probe. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec/arena.h"
#include "exec/backend.h"
#include "exec/executor.h"
#include "exec/wire.h"
#include "lib/log.h"
#include "lib/status.h"
#include "lib/version.h"

enum {
	EXIT_OK = 0,          /* EOF on the socket, or --count printed */
	EXIT_COUNT = 1,       /* --count: backend error or backend not built in */
	EXIT_USAGE = 2,
	EXIT_INIT = 3,        /* backend init failed (said so in the hello) */
	EXIT_WIRE = 4,        /* socket or protocol error */
	EXIT_DEVICE = 5,      /* backend: device unusable; result sent first */
};

static const struct vgpu_backend_ops *const backends[] = {
	&vgpu_backend_mock,
#ifdef VGPU_HAVE_CUDA
	&vgpu_backend_cuda,
	&vgpu_backend_cuda_kernel,
#endif
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vgpu-worker --backend mock|cuda --device N --fd FD\n"
		"       vgpu-worker --backend cuda-kernel --device N --fd FD --vm V\n"
		"       vgpu-worker --backend mock|cuda --count\n"
		"\n"
		"Hosts one compute backend on device N for vgpu-mediator's worker pool; FD is\n"
		"its end of a SOCK_SEQPACKET socketpair (docs/EXECUTOR.md). With --vm V it runs\n"
		"only VM V's kernel jobs (its kernel worker, docs/KERNELS.md). Not run by hand,\n"
		"except --count, which prints the number of devices the backend can drive.\n"
		"Backends built in:");
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		fprintf(f, " %s", backends[i]->name);
	fprintf(f,
		"\n\nexit status:\n"
		"  0  EOF on the socket (the pool closed it), or --count printed the count\n"
		"  1  --count: the backend reported an error or is not built in (printed)\n"
		"  2  usage error\n"
		"  3  the backend's init failed (the error was sent in the hello)\n"
		"  4  socket or protocol error\n"
		"  5  the backend reported the device unusable, or with --vm the kernel faulted (the\n"
		"     job's result was sent first)\n");
}

/* The backend NAME built into this program, or NULL with ERR saying why not. */
static const struct vgpu_backend_ops *find_backend(const char *name, char *err, size_t errlen)
{
	const struct vgpu_backend_info *info;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	info = vgpu_backend_info_find(name);
	if (info) {
		snprintf(err, errlen, "backend %s is not built into this vgpu-worker (built without %s support)",
			 name, info->needs ? info->needs : name);
		return NULL;
	}
	snprintf(err, errlen, "unknown backend '%s'", name);
	return NULL;
}

static int parse_int(const char *s, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* The payload buffers, kept from job to job (no per-job allocation; with CUDA pinned
 * once by the backend's host_alloc). */
static struct vgpu_hostbuf inbuf, outbuf;

/* Run one job message; returns the backend's run() value (negative: device unusable).
 * The input is read from its file into INBUF (CRC-32 checked while reading, for a VM's
 * payload), the output written from OUTBUF into its file (CRC-32 while writing, then
 * fdatasync): the mediator's loop touches neither (docs/EXECUTOR.md). */
/* With --vm: the VM this worker serves (its kernel worker), else -1. */
static long only_vm = -1;

/* A kernel job's JIT log (PROTOCOL.md section 5.1), allocated on the first kernel job. */
static char *jit_log;

/* After a BAD_KERNEL with a log: the log becomes the job's output file (CRC-32 while
 * writing, fdatasync), in place of the buffers that were never computed. Without a
 * file, or when writing fails, the answer goes without it (its error line stays). */
static void write_log(int fd, struct vgpu_job_result *res)
{
	struct vgpu_job_result keep = *res;

	if (fd < 0 || !jit_log || res->log_bytes == 0 || res->log_bytes > VGPU_KERNEL_LOG_MAX) {
		res->log_bytes = 0;
		return;
	}
	if (vgpu_exec_write_output(fd, jit_log, (size_t)res->log_bytes, res) == 0) {
		uint32_t crc = res->out_crc;

		*res = keep;
		res->has_out_crc = 1;
		res->out_crc = crc;
		return;
	}
	vgpu_warn("the JIT's log (%llu bytes) could not be written: %s", (unsigned long long)keep.log_bytes, res->error);
	*res = keep;
	res->log_bytes = 0;
}

static int do_job(const struct vgpu_backend_ops *be, void *ctx, const struct vgpu_wire_job *wj,
		  const int fds[2], struct vgpu_job_result *res)
{
	struct vgpu_job job;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	memset(&job, 0, sizeof(job));
	job.op = (enum vgpu_op)wj->op;
	job.args = wj->args;
	if (only_vm >= 0 && (job.op != VGPU_OP_KERNEL || job.args.kernel.vm != (uint32_t)only_vm)) {
		/* a VM's process never runs another VM's job, nor another op */
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "worker: job %llu (op %d, vm%u) sent to vm%ld's kernel worker",
				    (unsigned long long)wj->id, (int)job.op,
				    job.op == VGPU_OP_KERNEL ? job.args.kernel.vm : 0, only_vm);
		return 0;
	}
	if ((wj->in_bytes > 0) != (fds[0] >= 0) || (wj->out_bytes > 0) != (fds[1] >= 0) ||
	    wj->in_bytes > SIZE_MAX || wj->out_bytes > SIZE_MAX) {
		res->status = VGPU_EXEC_FAILED;
		snprintf(res->error, sizeof(res->error), "worker: job %llu: files do not match its byte counts",
			 (unsigned long long)wj->id);
		return 0;
	}
	if (fds[1] >= 0 && wj->out_count && wj->out_count * sizeof(float) != wj->out_bytes) {
		/* the whole buffer is written out: it must be exactly the output (the mediator
		 * sizes it so), never bytes of an earlier job */
		res->status = VGPU_EXEC_FAILED;
		snprintf(res->error, sizeof(res->error), "worker: job %llu: output file of %llu bytes, the job says %llu floats",
			 (unsigned long long)wj->id, (unsigned long long)wj->out_bytes,
			 (unsigned long long)wj->out_count);
		return 0;
	}
	if (fds[1] >= 0) {
		const struct vgpu_op_desc *d = vgpu_op_get(job.op);
		uint64_t counts[VGPU_OP_OPERANDS], outc = 0;

		if (d && (d->flags & VGPU_OPF_DATA) &&
		    (d->sizes(&job.args, counts, &outc) < 0 || outc > SIZE_MAX / sizeof(float) ||
		     outc * sizeof(float) != wj->out_bytes)) {
			vgpu_job_result_set(res, VGPU_EXEC_FAILED, "worker: job %llu: output file of %llu bytes, op %s "
					    "needs %llu floats", (unsigned long long)wj->id,
					    (unsigned long long)wj->out_bytes, d->name, (unsigned long long)outc);
			return 0;
		}
	}
	if (vgpu_hostbuf_reserve(&inbuf, (size_t)wj->in_bytes, be, ctx) != 0 ||
	    vgpu_hostbuf_reserve(&outbuf, (size_t)wj->out_bytes, be, ctx) != 0) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "worker: no memory for %llu input and %llu output bytes",
				    (unsigned long long)wj->in_bytes, (unsigned long long)wj->out_bytes);
		return 0;
	}
	if (fds[0] >= 0) {
		if (vgpu_exec_read_input(fds[0], (size_t)wj->in_bytes, wj->in_check != 0, wj->in_crc, inbuf.p, res) != 0)
			return 0;
		job.in = inbuf.p;
		job.in_count = (size_t)wj->in_bytes / sizeof(float);
	}
	/* Without an output file the caller wants only the summary: out stays NULL. */
	job.out = fds[1] >= 0 ? outbuf.p : NULL;
	job.out_count = fds[1] >= 0 ? (size_t)wj->out_bytes / sizeof(float) : (size_t)wj->out_count;
	if (job.op == VGPU_OP_KERNEL && fds[1] >= 0 && (jit_log || (jit_log = malloc(VGPU_KERNEL_LOG_MAX)))) {
		job.log = jit_log;
		job.log_cap = VGPU_KERNEL_LOG_MAX;
	}
	rc = be->run(ctx, &job, res);
	res->error[sizeof(res->error) - 1] = 0;
	if (res->status == VGPU_BAD_KERNEL && res->log_bytes)
		write_log(fds[1], res);
	else
		res->log_bytes = 0;
	if (rc < 0 && res->status == VGPU_OK) {
		res->status = VGPU_EXEC_FAILED;
		snprintf(res->error, sizeof(res->error), "%s: the device is unusable (%d); worker restarts",
			 be->name, rc);
	}
	if (res->status == VGPU_OK && fds[1] >= 0) {
		struct vgpu_job_result keep = *res;

		if (vgpu_exec_write_output(fds[1], outbuf.p, (size_t)wj->out_bytes, res) == 0) {
			uint32_t crc = res->out_crc;

			*res = keep;
			res->has_out_crc = 1;
			res->out_crc = crc;
		} else {
			res->exec_us = keep.exec_us;
		}
	}
	return rc;
}

/* The buffers go back first: pinned host memory belongs to the backend's context. */
static void end_backend(const struct vgpu_backend_ops *be, void *ctx)
{
	vgpu_hostbuf_release(&inbuf, be, ctx);
	vgpu_hostbuf_release(&outbuf, be, ctx);
	be->fini(ctx);
}

static int serve(const struct vgpu_backend_ops *be, int dev, int sock)
{
	struct vgpu_wire_msg msg;
	void *ctx = NULL;
	char err[256] = "";
	int rc;

	memset(&msg, 0, sizeof(msg));
	msg.type = VGPU_WIRE_HELLO;
	msg.u.hello.dev = dev;
	rc = be->init(&ctx, dev, err, sizeof(err));
	if (rc < 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s: init of device %d failed (%d)", be->name, dev, rc);
		vgpu_err("%s", err);
		snprintf(msg.u.hello.error, sizeof(msg.u.hello.error), "%s", err);
		vgpu_wire_send(sock, &msg, NULL, 0);
		return EXIT_INIT;
	}
	msg.u.hello.ok = 1;
	snprintf(msg.u.hello.device, sizeof(msg.u.hello.device), "%s:%d", be->name, dev);
	if ((rc = vgpu_wire_send(sock, &msg, NULL, 0)) != 0) {
		vgpu_err("send(hello): %s", strerror(-rc));
		end_backend(be, ctx);
		return EXIT_WIRE;
	}
	for (;;) {
		struct vgpu_wire_result wr;
		int fds[2];

		rc = vgpu_wire_recv(sock, &msg, fds, 0);
		if (rc == 0)
			break;   /* the pool closed the socket: orderly end */
		if (rc < 0 || rc != VGPU_WIRE_JOB) {
			vgpu_err("recv(job): %s", rc < 0 ? strerror(-rc) : "unexpected message type");
			if (rc > 0)
				continue;
			end_backend(be, ctx);
			return EXIT_WIRE;
		}
		memset(&wr, 0, sizeof(wr));
		wr.id = msg.u.job.id;
		int run = do_job(be, ctx, &msg.u.job, fds, &wr.res);
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		wr.exiting = run < 0;
		memset(&msg, 0, sizeof(msg));
		msg.type = VGPU_WIRE_RESULT;
		msg.u.result = wr;
		if ((rc = vgpu_wire_send(sock, &msg, NULL, 0)) != 0) {
			vgpu_err("send(result): %s", strerror(-rc));
			end_backend(be, ctx);
			return EXIT_WIRE;
		}
		if (run < 0 && only_vm >= 0) {
			vgpu_err("%s:%d: vm%ld's kernel faulted; exiting (the VM's next kernel job gets a new worker)",
				 be->name, dev, only_vm);
			end_backend(be, ctx);
			return EXIT_DEVICE;
		}
		if (run < 0) {
			vgpu_err("%s:%d: device unusable (%d); exiting so that the pool restarts the worker",
				 be->name, dev, run);
			end_backend(be, ctx);
			return EXIT_DEVICE;
		}
	}
	end_backend(be, ctx);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "device", required_argument, NULL, 'd' },
		{ "fd", required_argument, NULL, 'f' },
		{ "count", no_argument, NULL, 'c' },
		{ "vm", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct vgpu_backend_ops *be;
	const char *bname = NULL;
	int dev = 0, fd = -1, count = 0, have_dev = 0, c;
	static char tag[64];
	char err[256] = "";

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("vgpu-worker %s\n", VGPU_VERSION);
		return 0;
	}
	while ((c = getopt_long(argc, argv, "b:d:f:cv:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': bname = optarg; break;
		case 'd':
			if (parse_int(optarg, 1023, &dev) != 0) {
				fprintf(stderr, "vgpu-worker: --device: not a device number: %s\n", optarg);
				return EXIT_USAGE;
			}
			have_dev = 1;
			break;
		case 'f':
			if (parse_int(optarg, INT_MAX, &fd) != 0 || fd < 3) {
				fprintf(stderr, "vgpu-worker: --fd: not a descriptor above 2: %s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'c': count = 1; break;
		case 'v': {
			int v;
			if (parse_int(optarg, VGPU_VM_MAX + 1, &v) != 0) {
				fprintf(stderr, "vgpu-worker: --vm: not a VM number: %s\n", optarg);
				return EXIT_USAGE;
			}
			only_vm = v;
			break;
		}
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !bname || (!count && (fd < 0 || !have_dev))) {
		usage(stderr);
		return EXIT_USAGE;
	}
	be = find_backend(bname, err, sizeof(err));
	if (count) {
		int n;

		if (!be) {
			printf("%s\n", err);
			return EXIT_COUNT;
		}
		n = be->device_count(err, sizeof(err));
		if (n < 0) {
			printf("%s\n", err[0] ? err : "device_count failed");
			return EXIT_COUNT;
		}
		printf("%d\n", n);
		return EXIT_OK;
	}
	if (only_vm >= 0)
		snprintf(tag, sizeof(tag), "worker[%s:%d/vm%ld]", bname, dev, only_vm);
	else
		snprintf(tag, sizeof(tag), "worker[%s:%d]", bname, dev);
	vgpu_log_set_tag(tag);
	/* The mediator decides when its workers stop (EOF, SIGTERM): a terminal's ^C to
	 * the process group must not kill a job mid-way. */
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (fcntl(fd, F_GETFD) < 0) {
		fprintf(stderr, "vgpu-worker: --fd %d: %s\n", fd, strerror(errno));
		return EXIT_USAGE;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (!be) {
		struct vgpu_wire_msg msg;

		vgpu_err("%s", err);
		memset(&msg, 0, sizeof(msg));
		msg.type = VGPU_WIRE_HELLO;
		msg.u.hello.dev = dev;
		snprintf(msg.u.hello.error, sizeof(msg.u.hello.error), "%s", err);
		vgpu_wire_send(fd, &msg, NULL, 0);
		return EXIT_INIT;
	}
	return serve(be, dev, fd);
}
