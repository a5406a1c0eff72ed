/* bench-scale - the scaling table of `make bench` (issue 13): NVMS VMs, each sending
 * pings back to back (one request in flight per VM) through a running vgpu-mediator on
 * ROOT/vm1..vmNVMS, for SECS seconds after a 0.5 s warm-up; then, with IDLE > 0, IDLE
 * seconds with nothing to do (the mediator's status.txt heartbeats still running).
 *
 * The requester: THREADS threads (default 1), each owning the VMs i with i % THREADS ==
 * its index, one inotify fd with a watch (IN_MOVED_TO) on each of its VM directories,
 * blocking in read() on it; a response.txt event of a VM with our seq and nonce ends its
 * request and publishes the next (command.txt by temp + rename, as libvgpu-client does:
 * vgpu_request_encode, vgpu_publish). A 100 ms silence, or an inotify overflow, makes it
 * look at every VM's response.txt (no lost event can stall a VM).
 *
 * The mediator's cost, from /proc: utime + stime (clock ticks) of MEDPID and of every
 * process below it (its vgpu-worker), plus MEDPID's reaped children (cutime + cstime),
 * at the window's start and end; VmRSS of MEDPID and of its descendants at the end.
 * The requester's own CPU (getrusage, all its threads) over the same window shows
 * whether it could have been the bottleneck: req_busy is its CPU over the window's wall
 * time times THREADS (1.0: every requester thread always running).
 *
 *   bench-scale ROOT NVMS SECS MEDPID [IDLE_S [THREADS]]
 * prints one line: vms= requests= secs= rps= p50_us= p99_us= mean_us= in_flight= (rps x mean
 *   latency: NVMS when every VM always has its request in the mediator) med_cpu_us_per_req=
 *   med_busy= worker_busy= req_busy= req_cpu_us_per_req= med_rss_kb= worker_rss_kb=
 *   [idle_s= idle_cpu_ms_per_s= idle_beats=]   (busy: CPU seconds per wall second) */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "bench_time.h"

#define WARM_US 500000.0
#define DRAIN_S 10

enum { PH_WARM, PH_MEASURE, PH_STOP, PH_IDLE, PH_DONE };

struct vm {
	uint32_t id;
	int dirfd, wd, busy;
	int64_t seq;
	char nonce[17];
	double t0;
};

struct thr {
	pthread_t tid;
	struct vm *vms;
	size_t nvms, nlat, caplat;
	int ifd, maxwd;
	struct vm **by_wd;
	double *lat;
	uint64_t done, beats, nonce_state;
	const char *err;
};

static _Atomic int phase;
static _Atomic int inflight;

static double pct(const double *v, size_t n, double p)
{
	long i = (long)(p / 100.0 * (double)n + 0.999999) - 1;
	return n ? v[i < 0 ? 0 : (size_t)i >= n ? n - 1 : (size_t)i] : 0;
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench-scale: %s: %s\n", what, why);
	exit(1);
}

/* --- the mediator's side, from /proc ------------------------------------------------ */

struct proc_sample {
	uint64_t med_ticks, worker_ticks;   /* MEDPID (+ reaped children); its descendants */
	long med_rss_kb, worker_rss_kb;
};

/* utime, stime, cutime, cstime and ppid of PID; 0 or -1. */
static int read_stat(pid_t pid, pid_t *ppid, uint64_t *ticks, uint64_t *cticks)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	long cut, cst;
	int pp, fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	if (!(p = strrchr(buf, ')')))   /* comm may hold spaces and parentheses */
		return -1;
	/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime */
	if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %ld %ld", &pp, &ut, &st, &cut, &cst) != 5)
		return -1;
	*ppid = pp;
	*ticks = ut + st;
	*cticks = (uint64_t)(cut + cst);
	return 0;
}

static long read_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* MEDPID and every process below it (any depth). */
static void sample(pid_t med, struct proc_sample *s)
{
	pid_t pids[4096], ppids[4096], tree[256];
	uint64_t ticks[4096], ct;
	size_t n = 0, nt = 1;
	struct dirent *d;
	DIR *dir = opendir("/proc");
	pid_t pp;

	memset(s, 0, sizeof(*s));
	if (!dir || read_stat(med, &pp, &s->med_ticks, &ct) < 0)
		die("/proc", "cannot read the mediator's stat (has it exited?)");
	s->med_ticks += ct;
	s->med_rss_kb = read_rss_kb(med);
	while ((d = readdir(dir)) && n < 4096) {
		pid_t pid = (pid_t)atoi(d->d_name);
		if (pid > 0 && pid != med && read_stat(pid, &ppids[n], &ticks[n], &ct) == 0)
			pids[n++] = pid;
	}
	closedir(dir);
	tree[0] = med;
	for (int grew = 1; grew;) {   /* add children of the tree until it stops growing */
		grew = 0;
		for (size_t i = 0; i < n; i++) {
			int in = 0, parent = 0;
			for (size_t j = 0; j < nt; j++) {
				in |= tree[j] == pids[i];
				parent |= tree[j] == ppids[i];
			}
			if (!in && parent && nt < 256) {
				tree[nt++] = pids[i];
				s->worker_ticks += ticks[i];
				s->worker_rss_kb += read_rss_kb(pids[i]);
				grew = 1;
			}
		}
	}
}

static double cpu_s(struct rusage *r)
{
	return (double)r->ru_utime.tv_sec + r->ru_utime.tv_usec / 1e6 + (double)r->ru_stime.tv_sec +
	       r->ru_stime.tv_usec / 1e6;
}

/* --- the requester ------------------------------------------------------------------ */

static void next_nonce(struct thr *t, char out[17])
{
	uint64_t x = t->nonce_state;   /* xorshift64*: unique per request, no syscall */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->nonce_state = x;
	snprintf(out, 17, "%016" PRIx64, x * UINT64_C(2685821657736338717));
}

static void send_ping(struct thr *t, struct vm *v)
{
	struct vgpu_request req;
	char buf[1024];
	int n, rc;

	memset(&req, 0, sizeof(req));
	req.vm = v->id;
	req.seq = ++v->seq;
	req.op = VGPU_OP_PING;
	req.priority = VGPU_PRIO_MEDIUM;
	req.output_file = -1;
	next_nonce(t, v->nonce);
	memcpy(req.nonce, v->nonce, sizeof(v->nonce));
	if ((n = vgpu_request_encode(&req, buf, sizeof(buf))) < 0)
		die("encode", strerror(-n));
	v->t0 = now_us();
	if ((rc = vgpu_publish(v->dirfd, "command.txt", buf, (size_t)n, 0644)) < 0)
		die("publish command.txt", vgpu_safeio_strerror(rc));
	v->busy = 1;
}

/* V's response.txt: ours now? Then count it and send the next unless stopping. */
static void check(struct thr *t, struct vm *v)
{
	struct vgpu_response r;
	char buf[VGPU_RECORD_MAX];
	size_t len;
	int ph;

	if (!v->busy || vgpu_safe_read(v->dirfd, "response.txt", buf, sizeof(buf), &len, NULL) != 0 ||
	    vgpu_response_decode(buf, len, &r, NULL, 0) != VGPU_REC_OK || r.seq != v->seq ||
	    strcmp(r.nonce, v->nonce) != 0)
		return;
	if (r.status != VGPU_OK) {
		fprintf(stderr, "bench-scale: vm%" PRIu32 " seq %" PRId64 ": status %d: %s\n", v->id, r.seq, r.status,
			r.error);
		exit(1);
	}
	v->busy = 0;
	ph = atomic_load(&phase);
	if (ph == PH_MEASURE) {
		if (t->nlat == t->caplat) {
			t->caplat = t->caplat ? 2 * t->caplat : 65536;
			if (!(t->lat = realloc(t->lat, t->caplat * sizeof(double))))
				die("realloc", "out of memory");
		}
		t->lat[t->nlat++] = now_us() - v->t0;
		t->done++;
	}
	if (ph <= PH_MEASURE)
		send_ping(t, v);
	else
		atomic_fetch_sub(&inflight, 1);
}

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	char ev[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (size_t i = 0; i < t->nvms; i++)
		send_ping(t, &t->vms[i]);
	while (atomic_load(&phase) != PH_DONE) {
		struct pollfd p = { .fd = t->ifd, .events = POLLIN };
		int all = 0;
		ssize_t n;

		if (poll(&p, 1, 100) == 0) {
			all = 1;
		} else if ((n = read(t->ifd, ev, sizeof(ev))) > 0) {
			for (char *q = ev; q < ev + n;) {
				const struct inotify_event *e = (const struct inotify_event *)q;
				q += sizeof(*e) + e->len;
				if (e->mask & IN_Q_OVERFLOW) {
					all = 1;
				} else if (e->wd >= 0 && e->wd <= t->maxwd && t->by_wd[e->wd] && e->len) {
					if (strcmp(e->name, "response.txt") == 0)
						check(t, t->by_wd[e->wd]);
					else if (strcmp(e->name, "status.txt") == 0)
						t->beats += atomic_load(&phase) == PH_IDLE;
				}
			}
		} else if (n < 0 && errno != EINTR && errno != EAGAIN) {
			die("inotify read", strerror(errno));
		}
		if (all)
			for (size_t i = 0; i < t->nvms; i++)
				check(t, &t->vms[i]);
	}
	return NULL;
}

static void sleep_until(double t_us)
{
	for (double d; (d = t_us - now_us()) > 0;) {
		struct timespec ts = { (time_t)(d / 1e6), (long)((d - (double)(time_t)(d / 1e6) * 1e6) * 1000) };
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	struct proc_sample s0, s1, i0, i1;
	struct rusage r0, r1;
	struct thr *th;
	struct vm *vms;
	double secs, idle, t_start, t_end, req_cpu, med_s, work_s, tick, mean = 0;
	size_t nvms, total = 0, k = 0;
	uint64_t done = 0, beats = 0;
	double *lat;
	pid_t med;
	int nthr;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: bench-scale ROOT NVMS SECS MEDPID [IDLE_S [THREADS]]\n");
		return 2;
	}
	nvms = strtoul(argv[2], NULL, 10);
	secs = atof(argv[3]);
	med = (pid_t)atoi(argv[4]);
	idle = argc > 5 ? atof(argv[5]) : 0;
	nthr = argc > 6 ? atoi(argv[6]) : 1;
	if (nvms < 1 || nvms > 65535 || secs <= 0 || med <= 0 || idle < 0 || nthr < 1 || (size_t)nthr > nvms)
		die("usage", "NVMS 1..65535, SECS > 0, MEDPID > 0, IDLE_S >= 0, 1 <= THREADS <= NVMS");
	tick = (double)sysconf(_SC_CLK_TCK);
	vms = calloc(nvms, sizeof(*vms));
	th = calloc((size_t)nthr, sizeof(*th));
	if (!vms || !th)
		die("calloc", "out of memory");
	for (int i = 0; i < nthr; i++) {
		th[i].vms = vms + k;
		th[i].nvms = nvms / (size_t)nthr + ((size_t)i < nvms % (size_t)nthr);
		k += th[i].nvms;
		th[i].nonce_state = (uint64_t)now_us() * 2654435761u + (uint64_t)i * 0x9E3779B97F4A7C15u + 1;
		if ((th[i].ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) < 0)
			die("inotify_init1", strerror(errno));
	}
	/* VM i in thread i % nthr's slice: the slices are contiguous, ids interleaved */
	for (int i = 0; i < nthr; i++) {
		size_t j = 0;
		for (size_t id = (size_t)i + 1; id <= nvms; id += (size_t)nthr, j++) {
			struct vm *v = &th[i].vms[j];
			char path[4096], buf[VGPU_RECORD_MAX];
			struct vgpu_response last;
			size_t len;

			v->id = (uint32_t)id;
			snprintf(path, sizeof(path), "%s/vm%zu", argv[1], id);
			if ((v->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
				die(path, strerror(errno));
			if ((v->wd = inotify_add_watch(th[i].ifd, path, IN_MOVED_TO)) < 0)
				die(path, strerror(errno));
			if (vgpu_safe_read(v->dirfd, "response.txt", buf, sizeof(buf), &len, NULL) == 0 &&
			    vgpu_response_decode(buf, len, &last, NULL, 0) == VGPU_REC_OK)
				v->seq = last.seq;
			if (v->wd > th[i].maxwd)
				th[i].maxwd = v->wd;
		}
		if (!(th[i].by_wd = calloc((size_t)th[i].maxwd + 1, sizeof(struct vm *))))
			die("calloc", "out of memory");
		for (j = 0; j < th[i].nvms; j++)
			th[i].by_wd[th[i].vms[j].wd] = &th[i].vms[j];
	}
	atomic_store(&phase, PH_WARM);
	atomic_store(&inflight, (int)nvms);
	t_start = now_us();
	for (int i = 0; i < nthr; i++)
		if (pthread_create(&th[i].tid, NULL, thread_main, &th[i]) != 0)
			die("pthread_create", "failed");
	sleep_until(t_start + WARM_US);
	sample(med, &s0);
	getrusage(RUSAGE_SELF, &r0);
	t_start = now_us();
	atomic_store(&phase, PH_MEASURE);
	sleep_until(t_start + secs * 1e6);
	atomic_store(&phase, PH_STOP);
	t_end = now_us();
	getrusage(RUSAGE_SELF, &r1);
	sample(med, &s1);
	for (int w = 0; atomic_load(&inflight) > 0; w++) {   /* the requests in flight answered */
		if (w > DRAIN_S * 100)
			die("drain", "requests still unanswered after 10 s");
		usleep(10000);
	}
	if (idle > 0) {
		double i_start;
		sample(med, &i0);
		i_start = now_us();
		atomic_store(&phase, PH_IDLE);
		sleep_until(i_start + idle * 1e6);
		atomic_store(&phase, PH_DONE);
		sample(med, &i1);
		idle = (now_us() - i_start) / 1e6;
	}
	atomic_store(&phase, PH_DONE);
	for (int i = 0; i < nthr; i++) {
		pthread_join(th[i].tid, NULL);
		total += th[i].nlat;
		done += th[i].done;
		beats += th[i].beats;
	}
	if (!(lat = malloc((total ? total : 1) * sizeof(double))))
		die("malloc", "out of memory");
	k = 0;
	for (int i = 0; i < nthr; i++) {
		memcpy(lat + k, th[i].lat, th[i].nlat * sizeof(double));
		k += th[i].nlat;
	}
	qsort(lat, total, sizeof(double), cmp_double);
	secs = (t_end - t_start) / 1e6;
	req_cpu = cpu_s(&r1) - cpu_s(&r0);
	med_s = (double)(s1.med_ticks - s0.med_ticks) / tick;
	work_s = (double)(s1.worker_ticks - s0.worker_ticks) / tick;
	for (size_t i = 0; i < total; i++)
		mean += lat[i];
	mean = total ? mean / (double)total : 0;
	/* Little's law: requests inside the mediator on average; NVMS when the requester
	 * republishes at once (it never holds a VM back) */
	printf("vms=%zu requests=%" PRIu64 " secs=%.2f rps=%.0f p50_us=%.1f p99_us=%.1f mean_us=%.1f in_flight=%.1f "
	       "med_cpu_us_per_req=%.1f "
	       "med_busy=%.2f worker_busy=%.2f req_busy=%.2f req_cpu_us_per_req=%.1f med_rss_kb=%ld worker_rss_kb=%ld",
	       nvms, done, secs, (double)done / secs, pct(lat, total, 50), pct(lat, total, 99), mean,
	       (double)done / secs * mean / 1e6,
	       done ? (med_s + work_s) * 1e6 / (double)done : 0, med_s / secs, work_s / secs, req_cpu / secs / nthr,
	       done ? req_cpu * 1e6 / (double)done : 0, s1.med_rss_kb, s1.worker_rss_kb);
	if (idle > 0)
		printf(" idle_s=%.1f idle_cpu_ms_per_s=%.2f idle_beats=%" PRIu64, idle,
		       (double)(i1.med_ticks + i1.worker_ticks - i0.med_ticks - i0.worker_ticks) / tick * 1e3 / idle,
		       beats);
	printf(" threads=%d\n", nthr);
	for (int i = 0; i < nthr; i++) {
		for (size_t j = 0; j < th[i].nvms; j++)
			close(th[i].vms[j].dirfd);
		close(th[i].ifd);
		free(th[i].lat);
		free(th[i].by_wd);
	}
	free(lat);
	free(th);
	free(vms);
	return fflush(stdout) == 0 ? 0 : 1;
}
