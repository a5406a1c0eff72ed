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

#include "exec/backend.h"
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
#endif
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vgpu-worker --backend mock|cuda --device N --fd FD\n"
		"       vgpu-worker --backend mock|cuda --count\n"
		"\n"
		"Hosts one compute backend on device N for vgpu-mediator's worker pool; FD is\n"
		"its end of a SOCK_SEQPACKET socketpair (docs/EXECUTOR.md). Not run by hand,\n"
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
		"  5  the backend reported the device unusable (the job's result was sent first)\n");
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

/* Map FD for BYTES after checking the file is that large (a short memfd would SIGBUS). */
static int map_fd(int fd, size_t bytes, int writable, void **pp, char *err, size_t errlen)
{
	struct stat st;
	void *p;

	*pp = NULL;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "worker: fstat(%s memfd): %s", writable ? "output" : "input", strerror(errno));
		return -1;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size < bytes) {
		snprintf(err, errlen, "worker: %s memfd holds %lld bytes, the job says %zu",
			 writable ? "output" : "input", (long long)st.st_size, bytes);
		return -1;
	}
	p = mmap(NULL, bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED && !writable && errno == EPERM)
		/* Before Linux 6.7 a write-sealed memfd refuses any MAP_SHARED mapping. */
		p = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "worker: mmap(%s memfd, %zu bytes): %s",
			 writable ? "output" : "input", bytes, strerror(errno));
		return -1;
	}
	*pp = p;
	return 0;
}

/* Run one job message; returns the backend's run() value (negative: device unusable). */
static int do_job(const struct vgpu_backend_ops *be, void *ctx, const struct vgpu_wire_job *wj,
		  const int fds[2], struct vgpu_job_result *res)
{
	struct vgpu_job job;
	void *in = NULL, *out = NULL;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	memset(&job, 0, sizeof(job));
	job.op = (enum vgpu_op)wj->op;
	job.args = wj->args;
	if ((wj->in_bytes > 0) != (fds[0] >= 0) || (wj->out_bytes > 0) != (fds[1] >= 0) ||
	    wj->in_bytes > SIZE_MAX || wj->out_bytes > SIZE_MAX) {
		res->status = VGPU_EXEC_FAILED;
		snprintf(res->error, sizeof(res->error), "worker: job %llu: memfds do not match its byte counts",
			 (unsigned long long)wj->id);
		return 0;
	}
	if (fds[0] >= 0 && map_fd(fds[0], (size_t)wj->in_bytes, 0, &in, res->error, sizeof(res->error)) != 0)
		goto failed;
	if (fds[1] >= 0 && map_fd(fds[1], (size_t)wj->out_bytes, 1, &out, res->error, sizeof(res->error)) != 0)
		goto failed;
	job.in = in;
	job.in_count = (size_t)wj->in_bytes / sizeof(float);
	job.out = out;
	/* Without an output memfd the caller wants only the summary: out stays NULL. */
	job.out_count = out ? (size_t)wj->out_bytes / sizeof(float) : (size_t)wj->out_count;
	if (out && wj->out_count && wj->out_count != job.out_count) {
		res->status = VGPU_EXEC_FAILED;
		snprintf(res->error, sizeof(res->error), "worker: job %llu: output memfd of %llu floats, job says %llu",
			 (unsigned long long)wj->id, (unsigned long long)job.out_count,
			 (unsigned long long)wj->out_count);
		goto out;
	}
	rc = be->run(ctx, &job, res);
	res->error[sizeof(res->error) - 1] = 0;
	if (rc < 0 && res->status == VGPU_OK) {
		res->status = VGPU_EXEC_FAILED;
		snprintf(res->error, sizeof(res->error), "%s: the device is unusable (%d); worker restarts",
			 be->name, rc);
	}
	goto out;
failed:
	res->status = VGPU_EXEC_FAILED;
out:
	if (in)
		munmap(in, (size_t)wj->in_bytes);
	if (out)
		munmap(out, (size_t)wj->out_bytes);
	return rc;
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
		be->fini(ctx);
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
			be->fini(ctx);
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
			be->fini(ctx);
			return EXIT_WIRE;
		}
		if (run < 0) {
			vgpu_err("%s:%d: device unusable (%d); exiting so that the pool restarts the worker",
				 be->name, dev, run);
			be->fini(ctx);
			return EXIT_DEVICE;
		}
	}
	be->fini(ctx);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "device", required_argument, NULL, 'd' },
		{ "fd", required_argument, NULL, 'f' },
		{ "count", no_argument, NULL, 'c' },
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
	while ((c = getopt_long(argc, argv, "b:d:f:ch", longopts, NULL)) != -1) {
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
