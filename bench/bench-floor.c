/* bench-floor - the floors: only the mechanism a request needs, none of the project's
 * code (the CRC-32 is src/lib/crc.c's, the protocol's own function). `make bench` puts
 * each project figure next to the floor it can at best reach (bench/run.sh).
 *
 * ping: two processes on one directory. The requester publishes a ~90-byte command.txt
 * (open a temp name, write, [fsync], close, rename), then waits for response.txt; the
 * responder waits for command.txt, reads it (open O_NOFOLLOW, fstat, read, close),
 * [exactly-once: publishes a ~60-byte state record in a state directory beside it,
 * always fsync'ed, as the answer's record must be on disk before the answer: eo by
 * temp+fsync+rename, eoslot written in place into one of two slots of a file kept open,
 * pwrite + fdatasync], and
 * publishes a ~150-byte response.txt the same way; the requester reads it and checks
 * its seq. Temp names are fixed per process. Waiting:
 *   inotify    both sides block in read() on an inotify fd (IN_MOVED_TO) of the directory
 *   poll:US    the requester reads response.txt every US microseconds until it holds its
 *              seq (as a VM on NFS must); the responder waits with inotify, as the
 *              mediator does on a local directory
 *   policy     the requester looks at response.txt on libvgpu-client's polling schedule
 *              (docs/CLIENT.md "Waiting", src/client/client_wait.c), E the time since
 *              the publish: back to back while E < 1 ms, yielding the CPU before each
 *              look from E = 200 us on, then sleeping max(250 us, E/32), at most 100 ms;
 *              the responder as for poll:US. The client's polling (VGPU_CLIENT_WAIT_POLL,
 *              what a VM over NFS does) at its floor: only the looks, none of its work
 *
 * payload: one process, the byte moves of a payload job with buffers allocated once:
 *   vm_write   the VM publishes IN bytes (temp, write in chunks with the CRC fused, fsync,
 *              close, rename)
 *   read       open O_NOFOLLOW, fstat, read in chunks into one reused buffer (pinned with
 *              CUDA) with the CRC fused, checked; the read to EOF
 *   h2d, d2h   cudaMemcpy from/to pinned host buffers kept across jobs when built with
 *              nvcc and a GPU is present; else a memcpy into/out of a reused buffer
 *   write      the OUT bytes published (CRC fused, fsync, rename)
 *   vm_read    the VM reads them into a reused buffer, CRC fused and checked
 * then both files are unlinked (counted). No op runs: the executor's exec_us is printed
 * beside it by run.sh.
 *
 *   bench-floor ping DIR REPS inotify|poll:US|policy fsync|nofsync eo|eoslot|noeo
 *   bench-floor payload DIR REPS IN_BYTES OUT_BYTES
 * prints one line: p50_us=.. p99_us=.. min_us=.. reps=.. [copy=memcpy|cuda and phase p50s]
 * BENCH_FLOOR_COPY=memcpy forces the CPU copy on a GPU host. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/record.h"
#include "bench_time.h"

#ifdef VGPU_HAVE_CUDA
#include <cuda_runtime.h>
#endif

#define WARMUP 20

static void die(const char *what)
{
	fprintf(stderr, "bench-floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* p-th percentile of N sorted values (nearest rank). */
static double pct(const double *v, int n, double p)
{
	int i = (int)(p / 100.0 * n + 0.999999) - 1;
	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* --- ping ------------------------------------------------------------------------- */

static void put(int dirfd, const char *tmp, const char *name, const char *buf, size_t len, int sync)
{
	int fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);

	if (fd < 0)
		die(tmp);
	if (write(fd, buf, len) != (ssize_t)len)
		die("write");
	if (sync && fsync(fd) < 0)
		die("fsync");
	if (close(fd) < 0)
		die("close");
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		die("rename");
}

/* The state record written in place (eoslot): one file kept open, two slots used in
 * turn, one pwrite and one fdatasync per record (what a two-slot journal needs: the slot
 * not holding the current record is the one written, so a torn write loses nothing). */
static void put_slot(int statefd, int i, const char *buf, size_t len)
{
	static int fd = -1;

	if (fd < 0 && (fd = openat(statefd, "vm1.journal", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		die("vm1.journal");
	if (pwrite(fd, buf, len, (off_t)(i & 1) * 4096) != (ssize_t)len)
		die("pwrite");
	if (fdatasync(fd) < 0)
		die("fdatasync");
}

/* Read NAME (O_NOFOLLOW, fstat: a regular file of at most CAP-1 bytes). -1 if absent. */
static ssize_t get(int dirfd, const char *name, char *buf, size_t cap)
{
	struct stat st;
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return -1;
		die(name);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink > 1 || (size_t)st.st_size >= cap)
		die("fstat");
	n = read(fd, buf, cap - 1);
	if (n < 0)
		die("read");
	close(fd);
	buf[n] = 0;
	return n;
}

/* Block until an IN_MOVED_TO of NAME arrives on IFD. */
static void wait_name(int ifd, const char *name)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(ifd, ev, sizeof(ev));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("inotify read");
		for (char *p = ev; p < ev + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			p += sizeof(*e) + e->len;
			if (e->len && strcmp(e->name, name) == 0)
				return;
		}
	}
}

static long seq_of(const char *buf)
{
	const char *s = strstr(buf, "\nseq ");
	return s ? strtol(s + 5, NULL, 10) : -1;
}

static void responder(int dirfd, int statefd, int ifd, int sync, int eo, int total)
{
	char cmd[512], resp[512], st[256];
	/* BENCH_FLOOR_PHASES=1: the responder's own time per ping, from its wake-up to the
	 * answer's rename (the mediator's woke_us with VGPU_MEDIATOR_PHASES=1), p50 on stderr */
	const char *ph = getenv("BENCH_FLOOR_PHASES");
	double *w = ph && strcmp(ph, "1") == 0 ? calloc((size_t)total, sizeof(double)) : NULL;

	for (int i = 0; i < total; i++) {
		long seq;
		int len;
		double t0;

		wait_name(ifd, "command.txt");
		t0 = w ? now_us() : 0;
		if (get(dirfd, "command.txt", cmd, sizeof(cmd)) < 0)
			die("command.txt vanished");
		seq = seq_of(cmd);
		if (eo) {
			len = snprintf(st, sizeof(st), "vgpu-state 1\nseq %ld\nnonce 0123456789abcdef\nstatus OK\n", seq);
			if (eo == 2)
				put_slot(statefd, i, st, (size_t)len);
			else
				put(statefd, ".tmp-state", "vm1.state", st, (size_t)len, 1);
		}
		len = snprintf(resp, sizeof(resp), "vgpu 1\nseq %ld\nnonce 0123456789abcdef\nstatus OK\nop ping\n"
			       "executor floor\nqueue_us 0\nexec_us 0\noutput none\nerror \nend\n", seq);
		put(dirfd, ".tmp-resp", "response.txt", resp, (size_t)len, sync);
		if (w)
			w[i] = now_us() - t0;
	}
	if (w) {
		qsort(w, (size_t)total, sizeof(double), cmp_double);
		fprintf(stderr, "bench-floor: responder woke_us p50=%.1f p90=%.1f\n", pct(w, total, 50), pct(w, total, 90));
		free(w);
	}
}

/* The client's polling schedule (src/client/client_wait.c's constants): wait for the
 * next look at E us since the publish. */
#define POLICY_SPIN_US 1000
#define POLICY_YIELD_US 200
#define POLICY_MIN_US 250
#define POLICY_MAX_US 100000

static void policy_wait(double e)
{
	double s = e / 32;
	struct timespec ts;

	if (e < POLICY_SPIN_US) {
		if (e >= POLICY_YIELD_US)
			sched_yield();
		return;
	}
	s = s < POLICY_MIN_US ? POLICY_MIN_US : s > POLICY_MAX_US ? POLICY_MAX_US : s;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(s * 1000);
	nanosleep(&ts, NULL);
}

static int ping(const char *dir, int reps, const char *wait, int sync, int eo)
{
	char statedir[4096], cmd[512], resp[512];
	int dirfd, statefd, ifd, poll_us = 0, policy = 0, total = reps + WARMUP, status;
	double *t = calloc((size_t)reps, sizeof(double));
	pid_t pid;

	if (strncmp(wait, "poll:", 5) == 0 && atoi(wait + 5) > 0)
		poll_us = atoi(wait + 5);
	else if (strcmp(wait, "policy") == 0)
		policy = 1;
	else if (strcmp(wait, "inotify") != 0)
		return 2;
	snprintf(statedir, sizeof(statedir), "%s/.floor-state", dir);
	if (mkdir(statedir, 0700) < 0 && errno != EEXIST)
		die(statedir);
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (statefd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die(dir);
	unlinkat(dirfd, "response.txt", 0);
	unlinkat(dirfd, "command.txt", 0);
	/* Both watches exist before the first publish: no event can be missed. */
	ifd = inotify_init1(IN_CLOEXEC);
	if (ifd < 0 || inotify_add_watch(ifd, dir, IN_MOVED_TO) < 0)
		die("inotify");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		responder(dirfd, statefd, ifd, sync, eo, total);
		_exit(0);
	}
	if (!poll_us && !policy) {
		close(ifd);
		if ((ifd = inotify_init1(IN_CLOEXEC)) < 0 || inotify_add_watch(ifd, dir, IN_MOVED_TO) < 0)
			die("inotify");
	}
	for (int i = 0; i < total; i++) {
		double t0 = now_us();
		int len = snprintf(cmd, sizeof(cmd), "vgpu 1\nvm 1\nseq %d\nnonce 0123456789abcdef\nop ping\n"
				   "priority medium\nend\n", i + 1);

		put(dirfd, ".tmp-req", "command.txt", cmd, (size_t)len, sync);
		if (policy) {
			double ref = now_us();
			while (get(dirfd, "response.txt", resp, sizeof(resp)) < 0 || seq_of(resp) != i + 1)
				policy_wait(now_us() - ref);
		} else if (poll_us) {
			struct timespec ts = { 0, poll_us * 1000L };
			while (get(dirfd, "response.txt", resp, sizeof(resp)) < 0 || seq_of(resp) != i + 1)
				nanosleep(&ts, NULL);
		} else {
			wait_name(ifd, "response.txt");
			if (get(dirfd, "response.txt", resp, sizeof(resp)) < 0 || seq_of(resp) != i + 1)
				die("response.txt: wrong seq");
		}
		if (i >= WARMUP)
			t[i - WARMUP] = now_us() - t0;
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	qsort(t, (size_t)reps, sizeof(double), cmp_double);
	printf("p50_us=%.1f p99_us=%.1f min_us=%.1f reps=%d wait=%s fsync=%d eo=%d\n", pct(t, reps, 50),
	       pct(t, reps, 99), t[0], reps, wait, sync, eo);
	unlinkat(statefd, "vm1.state", 0);
	unlinkat(statefd, "vm1.journal", 0);
	unlinkat(dirfd, "response.txt", 0);
	unlinkat(dirfd, "command.txt", 0);
	rmdir(statedir);
	close(ifd);
	close(statefd);
	close(dirfd);
	free(t);
	return 0;
}

/* --- payload ---------------------------------------------------------------------- */

#define CHUNK ((size_t)1 << 20)

/* Publish LEN bytes of BUF as NAME, CRC fused with the writes. */
static uint32_t write_crc(int dirfd, const char *tmp, const char *name, const char *buf, size_t len)
{
	uint32_t crc = 0;
	int fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0644);

	if (fd < 0)
		die(tmp);
	for (size_t off = 0; off < len;) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		ssize_t w;
		crc = vgpu_crc32_update(crc, buf + off, n);
		w = write(fd, buf + off, n);
		if (w <= 0)
			die("write");
		if ((size_t)w < n)   /* a short write: the CRC of the rest on the next turn */
			crc = vgpu_crc32_update(0, buf, off + (size_t)w);
		off += (size_t)w;
	}
	if (fsync(fd) < 0 || close(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0)
		die("publish");
	return crc;
}

/* Read NAME (LEN bytes) into BUF, CRC fused, then the read to EOF; returns the CRC. */
static uint32_t read_crc(int dirfd, const char *name, char *buf, size_t len)
{
	struct stat st;
	uint32_t crc = 0;
	char extra;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len)
		die(name);
	for (size_t off = 0; off < len;) {
		ssize_t n = read(fd, buf + off, len - off < CHUNK ? len - off : CHUNK);
		if (n <= 0)
			die("read");
		crc = vgpu_crc32_update(crc, buf + off, (size_t)n);
		off += (size_t)n;
	}
	if (read(fd, &extra, 1) != 0)
		die("not at EOF");
	close(fd);
	return crc;
}

struct copier {
	int cuda;
	void *dev_in, *dev_out;
};

static void *host_buf(struct copier *c, size_t len)
{
	void *p = NULL;
#ifdef VGPU_HAVE_CUDA
	if (c->cuda) {
		if (cudaMallocHost(&p, len ? len : 1) != cudaSuccess)
			die("cudaMallocHost");
		return p;
	}
#endif
	(void)c;
	if (!(p = malloc(len ? len : 1)))
		die("malloc");
	return p;
}

static void copier_init(struct copier *c, size_t in, size_t out)
{
	memset(c, 0, sizeof(*c));
#ifdef VGPU_HAVE_CUDA
	{
		const char *f = getenv("BENCH_FLOOR_COPY");
		int n = 0;
		if (!(f && strcmp(f, "memcpy") == 0) && cudaGetDeviceCount(&n) == cudaSuccess && n > 0) {
			c->cuda = 1;
			if (cudaMalloc(&c->dev_in, in ? in : 1) != cudaSuccess ||
			    cudaMalloc(&c->dev_out, out ? out : 1) != cudaSuccess ||
			    cudaMemset(c->dev_out, 0x3f, out) != cudaSuccess)
				die("cudaMalloc");
			return;
		}
	}
#endif
	if (!(c->dev_in = malloc(in ? in : 1)) || !(c->dev_out = malloc(out ? out : 1)))
		die("malloc");
	memset(c->dev_out, 0x3f, out);
}

static void copy(struct copier *c, void *dst, const void *src, size_t len, int h2d)
{
#ifdef VGPU_HAVE_CUDA
	if (c->cuda) {
		if (cudaMemcpy(dst, src, len, h2d ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost) != cudaSuccess)
			die("cudaMemcpy");
		return;
	}
#endif
	(void)c;
	(void)h2d;
	memcpy(dst, src, len);
}

enum { PH_VMW, PH_READ, PH_H2D, PH_D2H, PH_WRITE, PH_VMR, PH_N };
static const char *const ph_name[PH_N] = { "vm_write", "read", "h2d", "d2h", "write", "vm_read" };

static int payload(const char *dir, int reps, size_t in, size_t out)
{
	struct copier c;
	char *vin, *vout, *hin, *hout;
	double *t, *ph[PH_N];
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), total = reps + 1;

	if (dirfd < 0)
		die(dir);
	copier_init(&c, in, out);
	vin = malloc(in ? in : 1);
	vout = malloc(out ? out : 1);
	hin = host_buf(&c, in);
	hout = host_buf(&c, out);
	t = calloc((size_t)reps, sizeof(double));
	for (int p = 0; p < PH_N; p++)
		ph[p] = calloc((size_t)reps, sizeof(double));
	if (!vin || !vout || !t)
		die("malloc");
	for (size_t i = 0; i < in; i++)
		vin[i] = (char)(i * 2654435761u >> 13);
	for (int r = 0; r < total; r++) {   /* r = 0: the warm-up (first touch of every buffer) */
		double s[PH_N + 1];
		uint32_t crc;

		s[0] = now_us();
		crc = write_crc(dirfd, ".tmp-vm-in", "in-1.bin", vin, in);
		s[1] = now_us();
		if (read_crc(dirfd, "in-1.bin", hin, in) != crc)
			die("input CRC");
		s[2] = now_us();
		copy(&c, c.dev_in, hin, in, 1);
		s[3] = now_us();
		copy(&c, hout, c.dev_out, out, 0);
		s[4] = now_us();
		crc = write_crc(dirfd, ".tmp-med-out", "out-1.bin", hout, out);
		s[5] = now_us();
		if (read_crc(dirfd, "out-1.bin", vout, out) != crc)
			die("output CRC");
		if (unlinkat(dirfd, "in-1.bin", 0) < 0 || unlinkat(dirfd, "out-1.bin", 0) < 0)
			die("unlink");
		s[6] = now_us();
		if (r == 0)
			continue;
		t[r - 1] = s[6] - s[0];
		for (int p = 0; p < PH_N; p++)
			ph[p][r - 1] = s[p + 1] - s[p];
	}
	qsort(t, (size_t)reps, sizeof(double), cmp_double);
	printf("p50_us=%.1f p99_us=%.1f min_us=%.1f reps=%d in_bytes=%zu out_bytes=%zu copy=%s", pct(t, reps, 50),
	       pct(t, reps, 99), t[0], reps, in, out, c.cuda ? "cuda" : "memcpy");
	for (int p = 0; p < PH_N; p++) {
		qsort(ph[p], (size_t)reps, sizeof(double), cmp_double);
		printf(" %s_us=%.0f", ph_name[p], pct(ph[p], reps, 50));
	}
	printf("\n");
	close(dirfd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && strcmp(argv[1], "ping") == 0 && atoi(argv[3]) > 0)
		return ping(argv[2], atoi(argv[3]), argv[4], strcmp(argv[5], "fsync") == 0,
			    strcmp(argv[6], "eo") == 0 ? 1 : strcmp(argv[6], "eoslot") == 0 ? 2 : 0);
	if (argc == 6 && strcmp(argv[1], "payload") == 0 && atoi(argv[3]) > 0)
		return payload(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10));
	fprintf(stderr, "usage: bench-floor ping DIR REPS inotify|poll:US|policy fsync|nofsync eo|eoslot|noeo\n"
		"       bench-floor payload DIR REPS IN_BYTES OUT_BYTES\n");
	return 2;
}
