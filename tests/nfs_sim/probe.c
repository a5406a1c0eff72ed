/* probe.c - nfssim-probe: the POSIX calls the nfs_sim tests make, with exact errno
 * names in the output so that shell tests can compare them.
 *   nfssim-probe create FILE [MODE]         open(O_CREAT|O_EXCL|O_WRONLY), close
 *   nfssim-probe write FILE N CHUNK [HOLD_MS]
 *                                           create/truncate, write N bytes in CHUNK-byte
 *                                           write(2)s, sleep HOLD_MS, close
 *   nfssim-probe size FILE                  stat(2) and print st_size
 *   nfssim-probe read FILE                  open, read to EOF, print the byte count
 *   nfssim-probe watch FILE FULL MS         poll FILE's size (stat) every 0.2 ms for MS
 *                                           ms; print "partial=P full=F absent=A"
 *   nfssim-probe mmap FILE MS               map 8 bytes shared, print them, wait MS ms
 *                                           (stat'ing FILE), print them again
 * Prints "ok ..." and exits 0, or "CALL: ENAME" and exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *call)
{
	const char *n = strerrorname_np(errno);
	printf("%s: %s\n", call, n ? n : "unknown");
	return 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int do_write(const char *file, long n, long chunk, long hold_ms)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("open");
	char *buf = malloc((size_t)chunk);
	if (!buf)
		return fail("malloc");
	for (long i = 0; i < chunk; i++)
		buf[i] = (char)('a' + i % 26);
	long done = 0, k = 0;
	while (done < n) {
		size_t len = (size_t)(n - done < chunk ? n - done : chunk);
		k++;
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			char call[32];
			snprintf(call, sizeof(call), "write#%ld", k);
			free(buf);
			int r = fail(call);
			close(fd);
			return r;
		}
		done += w;
	}
	free(buf);
	if (hold_ms > 0)
		sleep_ms(hold_ms);
	if (close(fd) < 0)
		return fail("close");
	printf("ok %ld\n", done);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: nfssim-probe create|write|size|read|watch FILE ...\n");
		return 2;
	}
	const char *cmd = argv[1], *file = argv[2];
	if (!strcmp(cmd, "create")) {
		mode_t mode = argc > 3 ? (mode_t)strtol(argv[3], NULL, 8) : 0644;
		int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd < 0)
			return fail("open");
		if (close(fd) < 0)
			return fail("close");
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "write") && argc >= 5)
		return do_write(file, atol(argv[3]), atol(argv[4]), argc > 5 ? atol(argv[5]) : 0);
	if (!strcmp(cmd, "size")) {
		struct stat st;
		if (stat(file, &st) < 0)
			return fail("stat");
		printf("ok %lld\n", (long long)st.st_size);
		return 0;
	}
	if (!strcmp(cmd, "read")) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("open");
		char buf[65536];
		long long total = 0;
		ssize_t r;
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			total += r;
		if (r < 0) {
			int rc = fail("read");
			close(fd);
			return rc;
		}
		if (close(fd) < 0)
			return fail("close");
		printf("ok %lld\n", total);
		return 0;
	}
	if (!strcmp(cmd, "watch") && argc >= 5) {
		long long full = atoll(argv[3]), end = now_us() + atoll(argv[4]) * 1000;
		long partial = 0, complete = 0, absent = 0;
		while (now_us() < end) {
			struct stat st;
			if (stat(file, &st) < 0)
				absent++;
			else if (st.st_size > 0 && st.st_size < full)
				partial++;
			else if (st.st_size >= full)
				complete++;
			usleep(200);
		}
		printf("partial=%ld full=%ld absent=%ld\n", partial, complete, absent);
		return 0;
	}
	if (!strcmp(cmd, "mmap") && argc >= 4) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("open");
		char *p = mmap(NULL, 8, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			return fail("mmap");
		printf("%.8s\n", p);
		fflush(stdout);
		long long end = now_us() + atoll(argv[3]) * 1000;
		while (now_us() < end) {
			struct stat st;
			stat(file, &st);
			sleep_ms(20);
		}
		printf("%.8s\n", p);
		munmap(p, 8);
		close(fd);
		return 0;
	}
	fprintf(stderr, "nfssim-probe: bad command\n");
	return 2;
}
