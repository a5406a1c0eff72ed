/* test_safeio.c - checked reads of files a VM controls (symlink, FIFO, directory, hard
 * link, oversized, growing) and publication by temp+fsync+rename, with libfiu faults
 * injected at every step: each failure leaves NAME untouched and no temp file behind. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fiu.h>
#include <fiu-control.h>

#include "lib/crc_io.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "../common/testutil.h"

static char tdir[256];
static int dfd = -1;

static void setup(void)
{
	strcpy(tdir, "/tmp/test_safeio.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	dfd = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
}

static void teardown(void)
{
	static const char *const points[] = {
		"safeio/read/open", "safeio/read/read", "safeio/publish/open", "safeio/publish/write",
		"safeio/publish/short", "safeio/publish/fsync", "safeio/publish/close", "safeio/publish/rename",
	};
	char cmd[512];

	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		fiu_disable(points[i]);
	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void put(const char *name, const char *text)
{
	int fd = openat(dfd, name, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vgpu_write_full(fd, text, strlen(text)), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* Names in the test directory starting with PREFIX. */
static int count_prefix(const char *prefix)
{
	DIR *d = opendir(tdir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void assert_content(const char *name, const char *want)
{
	char buf[4096];
	size_t len = 0;

	ck_assert_int_eq(vgpu_safe_read(dfd, name, buf, sizeof(buf), &len, NULL), 0);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert(memcmp(buf, want, len) == 0);
}

START_TEST(test_read_plain)
{
	char buf[64];
	size_t len = 0;
	struct stat st;
	void *p = NULL;

	put("command.txt", "hello\n");
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, &st), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert(memcmp(buf, "hello\n", 6) == 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(vgpu_safe_read_alloc(dfd, "command.txt", 6, &p, &len), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert(memcmp(p, "hello\n", 6) == 0);
	free(p);
	put("empty", "");
	ck_assert_int_eq(vgpu_safe_read(dfd, "empty", buf, sizeof(buf), &len, NULL), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "missing", buf, sizeof(buf), &len, NULL), -ENOENT);
	ck_assert_int_eq(vgpu_safe_read(dfd, "../etc", buf, sizeof(buf), &len, NULL), -EINVAL);
	ck_assert_int_eq(vgpu_safe_read(dfd, "..", buf, sizeof(buf), &len, NULL), -EINVAL);
}
END_TEST

START_TEST(test_symlink_is_eloop)
{
	char buf[64];
	size_t len;
	int fd = -1;

	put("target", "secret\n");
	ck_assert_int_eq(symlinkat("target", dfd, "command.txt"), 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL), -ELOOP);
	ck_assert_int_eq(vgpu_safe_open(dfd, "command.txt", 64, &fd, NULL), -ELOOP);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(symlinkat("/etc/passwd", dfd, "abs"), 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "abs", buf, sizeof(buf), &len, NULL), -ELOOP);
}
END_TEST

START_TEST(test_fifo_does_not_block)
{
	char buf[64];
	size_t len;

	ck_assert_int_eq(mkfifoat(dfd, "command.txt", 0644), 0);
	alarm(5);     /* a blocking open (no writer) would hang: SIGALRM fails the test */
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL), VGPU_EBADTYPE);
	alarm(0);
}
END_TEST

START_TEST(test_directory_and_device)
{
	char buf[64];
	size_t len;
	int fd;

	ck_assert_int_eq(mkdirat(dfd, "command.txt", 0755), 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL), VGPU_EBADTYPE);
	fd = open("/dev", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vgpu_safe_read(fd, "null", buf, sizeof(buf), &len, NULL), VGPU_EBADTYPE);
	close(fd);
}
END_TEST

START_TEST(test_hard_link)
{
	char buf[64];
	size_t len;

	put("other", "x\n");
	ck_assert_int_eq(linkat(dfd, "other", dfd, "command.txt", 0), 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL), VGPU_ELINKS);
}
END_TEST

START_TEST(test_oversized_not_read)
{
	char buf[8];
	size_t len;
	void *p = NULL;

	put("command.txt", "0123456789");
	/* Any read would fail with EIO: a VGPU_ETOOBIG proves the size was checked first. */
	ck_assert_int_eq(fiu_enable("safeio/read/read", 1, NULL, 0), 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL), VGPU_ETOOBIG);
	ck_assert_int_eq(vgpu_safe_read_alloc(dfd, "command.txt", 9, &p, &len), VGPU_ETOOBIG);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, 0, &len, NULL), VGPU_ETOOBIG);
	/* the same read, within the cap, does reach read() */
	ck_assert_int_eq(vgpu_safe_read_alloc(dfd, "command.txt", 10, &p, &len), -EIO);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_growth_detected)
{
	/* /proc files are regular with st_size 0 but have content: exactly a file that grew
	 * after fstat(). */
	char buf[8192];
	size_t len;
	int fd = open("/proc/self", O_RDONLY | O_DIRECTORY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(vgpu_safe_read(fd, "status", buf, sizeof(buf), &len, NULL), VGPU_ESHORT);
	close(fd);
}
END_TEST

/* External callbacks: count the calls of a point and fail only call number NTH. */
/* (libfiu's FIU_ONETIME leaks the point's name; these do not.) */
static int calls, nth, hits, inject = ENOSPC;
static int fail_nth(const char *name, int *failnum, void **failinfo, unsigned int *flags)
{
	(void)name; (void)failnum; (void)flags;
	*failinfo = (void *)(intptr_t)inject;
	if (++calls == nth) {
		hits++;
		return 1;
	}
	return 0;
}

static int fail_always_count(const char *name, int *failnum, void **failinfo, unsigned int *flags)
{
	(void)name; (void)failnum; (void)failinfo; (void)flags;
	hits++;
	return 1;
}

static void fail_once(const char *point, int e)
{
	calls = 0;
	nth = 1;
	inject = e;
	ck_assert_int_eq(fiu_enable_external(point, 1, NULL, 0, fail_nth), 0);
}

START_TEST(test_estale_retried_once)
{
	char buf[64];
	size_t len;

	put("response.txt", "answer\n");
	fail_once("safeio/read/open", ESTALE);
	ck_assert_int_eq(vgpu_safe_read(dfd, "response.txt", buf, sizeof(buf), &len, NULL), 0);
	ck_assert_uint_eq(len, 7);
	ck_assert_int_eq(calls, 2);               /* failed once, retried once */
	fiu_disable("safeio/read/open");
	fail_once("safeio/read/read", ESTALE);
	ck_assert_int_eq(vgpu_safe_read(dfd, "response.txt", buf, sizeof(buf), &len, NULL), 0);
	fiu_disable("safeio/read/read");
	/* persistent ESTALE: retried once, then reported */
	ck_assert_int_eq(fiu_enable("safeio/read/open", 1, (void *)(intptr_t)ESTALE, 0), 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "response.txt", buf, sizeof(buf), &len, NULL), -ESTALE);
	fiu_disable("safeio/read/open");
	/* other errors are not retried */
	fail_once("safeio/read/read", EIO);
	ck_assert_int_eq(vgpu_safe_read(dfd, "response.txt", buf, sizeof(buf), &len, NULL), -EIO);
	ck_assert_int_eq(calls, 1);
}
END_TEST

/* The flags of the descriptor this process holds on TDIR/NAME (from /proc/self/fdinfo),
 * -1 when it holds none. */
static long held_flags(const char *name)
{
	char want[512], link[512], path[300];
	long flags = -1;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	snprintf(want, sizeof(want), "%s/%s", tdir, name);
	while ((e = readdir(d)) != NULL) {
		ssize_t n;
		FILE *f;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, want) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%s", e->d_name);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		while (fgets(link, sizeof(link), f))
			if (sscanf(link, "flags: %lo", &flags) == 1)
				break;
		fclose(f);
	}
	closedir(d);
	return flags;
}

/* safeio/read/read: the first call says EAGAIN; each call notes whether the record's
 * descriptor is O_NONBLOCK then. */
static long nb_at[4];
static int eagain_first(const char *name, int *failnum, void **failinfo, unsigned int *flags)
{
	long f = held_flags("command.txt");

	(void)name; (void)failnum; (void)flags;
	if (calls < 4)
		nb_at[calls] = f < 0 ? -1 : (f & O_NONBLOCK) != 0;
	*failinfo = (void *)(intptr_t)EAGAIN;
	return ++calls == 1;
}

/* A record read keeps the open's O_NONBLOCK (no fcntl per read) unless a read says
 * EAGAIN (a file system that honours it): then it is cleared and the read made again,
 * once; the descriptors vgpu_safe_open() returns are cleared as before. */
START_TEST(test_eagain_clears_nonblock)
{
	char buf[64];
	size_t len = 0;
	struct stat st;
	int fd;

	put("command.txt", "hello\n");
	calls = 0;
	ck_assert_int_eq(fiu_enable_external("safeio/read/read", 1, NULL, 0, eagain_first), 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL), 0);
	fiu_disable("safeio/read/read");
	ck_assert_uint_eq(len, 6);
	ck_assert(memcmp(buf, "hello\n", 6) == 0);
	ck_assert_int_eq(calls, 2);                 /* EAGAIN, then the whole record */
	ck_assert_msg(nb_at[0] == 1, "the record's descriptor was not O_NONBLOCK at the first read (%ld)", nb_at[0]);
	ck_assert_msg(nb_at[1] == 0, "O_NONBLOCK not cleared after EAGAIN (%ld)", nb_at[1]);
	/* EAGAIN again after clearing: reported, no loop */
	ck_assert_int_eq(fiu_enable("safeio/read/read", 1, (void *)(intptr_t)EAGAIN, 0), 0);
	ck_assert_int_eq(vgpu_safe_read(dfd, "command.txt", buf, sizeof(buf), &len, NULL), -EAGAIN);
	fiu_disable("safeio/read/read");
	ck_assert_int_eq(vgpu_safe_open(dfd, "command.txt", 64, &fd, &st), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	close(fd);
	/* the mediator's command.txt read: vgpu_safe_open_rec() + vgpu_read_rec() */
	ck_assert_int_eq(vgpu_safe_open_rec(dfd, "command.txt", 64, &fd, &st), 0);
	ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	calls = 0;
	ck_assert_int_eq(fiu_enable_external("safeio/read/read", 1, NULL, 0, eagain_first), 0);
	ck_assert_int_eq(vgpu_read_rec(fd, buf, 6), 0);
	fiu_disable("safeio/read/read");
	ck_assert(memcmp(buf, "hello\n", 6) == 0);
	ck_assert_int_eq(calls, 2);
	ck_assert_msg(fcntl(fd, F_GETFL) & O_NONBLOCK ? 0 : 1, "O_NONBLOCK not cleared after EAGAIN (vgpu_read_rec)");
	close(fd);
}
END_TEST

START_TEST(test_read_write_full)
{
	int p[2];
	char buf[16];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(vgpu_write_full(p[1], "abcdef", 6), 0);
	close(p[1]);
	ck_assert_int_eq(vgpu_read_full(p[0], buf, 4), 0);
	ck_assert(memcmp(buf, "abcd", 4) == 0);
	ck_assert_int_eq(vgpu_read_full(p[0], buf, 4), VGPU_ESHORT);    /* only 2 left */
	close(p[0]);
	ck_assert_int_eq(vgpu_write_full(-1, "x", 1), -EBADF);
}
END_TEST

START_TEST(test_publish_replaces_atomically)
{
	struct stat a, b;
	char buf[64];
	int old;
	ssize_t n;

	ck_assert_int_eq(vgpu_publish(dfd, "response.txt", "first\n", 6, 0644), 0);
	ck_assert_int_eq(fstatat(dfd, "response.txt", &a, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert_int_eq(a.st_mode & 07777, 0644);
	old = openat(dfd, "response.txt", O_RDONLY);
	ck_assert_int_ge(old, 0);
	ck_assert_int_eq(vgpu_publish2(dfd, "response.txt", "sec", 3, "ond\n", 4, 0644), 0);
	ck_assert_int_eq(fstatat(dfd, "response.txt", &b, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(a.st_ino != b.st_ino);           /* a new inode, never rewritten in place */
	assert_content("response.txt", "second\n");
	n = pread(old, buf, sizeof(buf), 0);         /* an open reader keeps the whole old record */
	ck_assert_int_eq(n, 6);
	ck_assert(memcmp(buf, "first\n", 6) == 0);
	close(old);
	ck_assert_int_eq(count_prefix(".tmp-"), 0);
	ck_assert_int_eq(vgpu_publish(dfd, "a/b", "x", 1, 0644), -EINVAL);
	ck_assert_int_eq(vgpu_publish(dfd, ".tmp-x", "x", 1, 0644), -EINVAL);
	ck_assert_int_eq(vgpu_publish(dfd, "", "x", 1, 0644), -EINVAL);
	ck_assert_int_eq(vgpu_publish(dfd, "empty", NULL, 0, 0644), 0);
	assert_content("empty", "");
}
END_TEST

START_TEST(test_publish_over_symlink_replaces_link)
{
	/* rename replaces the link itself; the link's target is never written. */
	put("target", "keep\n");
	ck_assert_int_eq(symlinkat("target", dfd, "command.txt"), 0);
	ck_assert_int_eq(vgpu_publish(dfd, "command.txt", "new\n", 4, 0644), 0);
	assert_content("target", "keep\n");
	assert_content("command.txt", "new\n");
}
END_TEST

/* Each publish step fails with each errno: the call reports it, NAME keeps its old
 * content, and no temp file is left. */
static const char *const publish_points[] = {
	"safeio/publish/open", "safeio/publish/write", "safeio/publish/fsync",
	"safeio/publish/close", "safeio/publish/rename",
};
static const int publish_errnos[] = { EIO, ENOSPC, EDQUOT, ESTALE };

START_TEST(test_publish_fault_each_step)
{
	const char *point = publish_points[_i / 4];
	int e = publish_errnos[_i % 4];

	ck_assert_int_eq(vgpu_publish(dfd, "command.txt", "old\n", 4, 0644), 0);
	ck_assert_int_eq(fiu_enable(point, 1, (void *)(intptr_t)e, 0), 0);
	ck_assert_msg(vgpu_publish(dfd, "command.txt", "new record\n", 11, 0644) == -e, "%s errno %d", point, e);
	fiu_disable(point);
	assert_content("command.txt", "old\n");
	ck_assert_msg(count_prefix(".tmp-") == 0, "%s left a temp file", point);
	ck_assert_int_eq(count_prefix(""), 3);       /* ".", "..", command.txt */
}
END_TEST

START_TEST(test_publish_short_writes)
{
	enum { BIG = 100000 };
	char *data = malloc(BIG), *back;
	void *p = NULL;
	size_t len = 0;

	ck_assert_ptr_nonnull(data);
	for (int i = 0; i < BIG; i++)
		data[i] = (char)('a' + i % 26);
	hits = 0;
	ck_assert_int_eq(fiu_enable_external("safeio/publish/short", 1, NULL, 0, fail_always_count), 0);
	ck_assert_int_eq(vgpu_publish2(dfd, "out-1.bin", data, BIG / 2, data + BIG / 2, BIG - BIG / 2, 0644), 0);
	fiu_disable("safeio/publish/short");
	ck_assert_int_ge(hits, 16);    /* halving 50000 down to 1 byte: many short writes */
	ck_assert_int_eq(vgpu_safe_read_alloc(dfd, "out-1.bin", BIG, &p, &len), 0);
	back = p;
	ck_assert_uint_eq(len, BIG);
	ck_assert(memcmp(back, data, BIG) == 0);
	free(p);
	free(data);
}
END_TEST

/* vgpu_publish_how.crc: the CRC-32 of what was written, A then B, computed as each chunk
 * is written (more than one VGPU_CRC_CHUNK here), also across short writes. */
START_TEST(test_publish_crc_fused)
{
	size_t big = 3 * (size_t)VGPU_CRC_CHUNK + 12345, half = VGPU_CRC_CHUNK + 7;
	char *data = malloc(big);
	uint32_t crc = 0xdeadbeef;
	struct vgpu_publish_how how = { .crc = &crc };
	void *p = NULL;
	size_t len = 0;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)(i * 2654435761u >> 13);
	ck_assert_int_eq(vgpu_publish_ex(dfd, "in-1.bin", data, half, data + half, big - half, 0644, &how), 0);
	ck_assert_uint_eq(crc, vgpu_crc32(data, big));
	/* short writes: the CRC covers the bytes each write took, once */
	crc = 1;
	hits = 0;
	ck_assert_int_eq(fiu_enable_external("safeio/publish/short", 1, NULL, 0, fail_always_count), 0);
	ck_assert_int_eq(vgpu_publish_ex(dfd, "in-2.bin", data, 100000, NULL, 0, 0644, &how), 0);
	fiu_disable("safeio/publish/short");
	ck_assert_int_ge(hits, 16);
	ck_assert_uint_eq(crc, vgpu_crc32(data, 100000));
	ck_assert_int_eq(vgpu_safe_read_alloc(dfd, "in-2.bin", 100000, &p, &len), 0);
	ck_assert_uint_eq(len, 100000);
	ck_assert(memcmp(p, data, len) == 0);
	free(p);
	free(data);
}
END_TEST

/* Fail the Nth write (of many, through short writes) for every N. */
START_TEST(test_publish_fail_nth_write)
{
	char data[300];
	int total;

	memset(data, 'z', sizeof(data));
	ck_assert_int_eq(fiu_enable("safeio/publish/short", 1, NULL, 0), 0);
	calls = 0;
	nth = -1;
	inject = ENOSPC;
	ck_assert_int_eq(fiu_enable_external("safeio/publish/write", 1, NULL, 0, fail_nth), 0);
	ck_assert_int_eq(vgpu_publish(dfd, "command.txt", data, sizeof(data), 0644), 0);
	total = calls;
	ck_assert_int_ge(total, 8);
	for (int n = 1; n <= total; n++) {
		nth = -1;
		ck_assert_int_eq(vgpu_publish(dfd, "command.txt", "x\n", 2, 0644), 0);
		nth = n;
		calls = 0;
		hits = 0;
		ck_assert_int_eq(vgpu_publish(dfd, "command.txt", data, sizeof(data), 0644), -ENOSPC);
		ck_assert_int_eq(hits, 1);
		assert_content("command.txt", "x\n");
		ck_assert_int_eq(count_prefix(".tmp-"), 0);
	}
}
END_TEST

START_TEST(test_names_and_strerror)
{
	ck_assert(vgpu_is_ignored_name(".tmp-host-1-abc"));
	ck_assert(vgpu_is_ignored_name(".nfs000000001"));
	ck_assert(vgpu_is_ignored_name("."));
	ck_assert(vgpu_is_ignored_name(""));
	ck_assert(vgpu_is_ignored_name(NULL));
	ck_assert(!vgpu_is_ignored_name("command.txt"));
	ck_assert(!vgpu_is_ignored_name("in-3.bin"));
	ck_assert_str_eq(vgpu_safeio_strerror(-ENOENT), strerror(ENOENT));
	ck_assert_str_ne(vgpu_safeio_strerror(VGPU_EBADTYPE), vgpu_safeio_strerror(VGPU_ELINKS));
	ck_assert_str_ne(vgpu_safeio_strerror(VGPU_ETOOBIG), vgpu_safeio_strerror(VGPU_ESHORT));
	ck_assert_ptr_nonnull(vgpu_safeio_strerror(12345));
	ck_assert_int_eq(vgpu_fsync_dir(dfd), 0);
	ck_assert_int_eq(vgpu_fsync_dir(-1), -EBADF);
}
END_TEST

/* The temp names' host, pid and random base are looked up once per thread: a forked
 * child must look them up again (its names carry its own pid, not its parent's), and
 * two publishes of one process use two names. */
START_TEST(test_temp_names_per_process)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	char want[64], names[3][NAME_MAX + 1];
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), n = 0, status;
	pid_t pid;
	ssize_t len;

	ck_assert_int_ge(ifd, 0);
	ck_assert_int_ge(inotify_add_watch(ifd, tdir, IN_CREATE), 0);
	ck_assert_int_eq(vgpu_publish(dfd, "a", "1", 1, 0644), 0);
	ck_assert_int_eq(vgpu_publish(dfd, "a", "2", 1, 0644), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(vgpu_publish(dfd, "b", "3", 1, 0644) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	while ((len = read(ifd, ev, sizeof(ev))) > 0)
		for (char *p = ev; p < ev + len && n < 3;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			p += sizeof(*e) + e->len;
			if (e->len && strncmp(e->name, ".tmp-", 5) == 0)
				snprintf(names[n++], sizeof(names[0]), "%s", e->name);
		}
	close(ifd);
	ck_assert_int_eq(n, 3);
	ck_assert_str_ne(names[0], names[1]);
	snprintf(want, sizeof(want), "-%ld-", (long)getpid());
	ck_assert_msg(strstr(names[0], want) && strstr(names[1], want), "%s, %s: not pid %ld", names[0], names[1],
		      (long)getpid());
	snprintf(want, sizeof(want), "-%ld-", (long)pid);
	ck_assert_msg(strstr(names[2], want), "the child's temp name %s does not carry its pid %ld", names[2], (long)pid);
}
END_TEST

static Suite *safeio_suite(void)
{
	Suite *s = suite_create("safeio");
	TCase *r = tcase_create("read");
	TCase *p = tcase_create("publish");

	tcase_add_checked_fixture(r, setup, teardown);
	tcase_add_test(r, test_read_plain);
	tcase_add_test(r, test_symlink_is_eloop);
	tcase_add_test(r, test_fifo_does_not_block);
	tcase_add_test(r, test_directory_and_device);
	tcase_add_test(r, test_hard_link);
	tcase_add_test(r, test_oversized_not_read);
	tcase_add_test(r, test_growth_detected);
	tcase_add_test(r, test_estale_retried_once);
	tcase_add_test(r, test_eagain_clears_nonblock);
	tcase_add_test(r, test_read_write_full);
	suite_add_tcase(s, r);
	tcase_add_checked_fixture(p, setup, teardown);
	tcase_add_test(p, test_publish_replaces_atomically);
	tcase_add_test(p, test_publish_over_symlink_replaces_link);
	tcase_add_loop_test(p, test_publish_fault_each_step, 0,
			    (int)(sizeof(publish_points) / sizeof(publish_points[0]) * 4));
	tcase_add_test(p, test_publish_short_writes);
	tcase_add_test(p, test_publish_crc_fused);
	tcase_add_test(p, test_publish_fail_nth_write);
	tcase_add_test(p, test_names_and_strerror);
	tcase_add_test(p, test_temp_names_per_process);
	suite_add_tcase(s, p);
	return s;
}

int main(void)
{
	fiu_init(0);
	umask(022);
	return tu_run(safeio_suite(), CK_ENV);
}
