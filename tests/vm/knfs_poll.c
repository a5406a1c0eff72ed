/* knfs_poll.c - the protocol's reader and publisher against each other, for measuring
 * what a real NFS client does while the server side replaces a file by rename
 * (tests/vm/fidelity.sh; docs/NFSSIM.md, "Kernel NFS in a guest").
 *
 *   knfs-poll publish DIR NAME COUNT GAP_US
 *       COUNT times: write a record to DIR/.tmp-PID, fsync, close, rename over DIR/NAME,
 *       sleep GAP_US. Prints "ok COUNT".
 *   knfs-poll read DIR NAME MS RETRIES
 *       For MS ms, poll DIR/NAME as the client does (openat O_RDONLY|O_NOFOLLOW|
 *       O_NONBLOCK, fstat, read to EOF, close); a poll that fails with ESTALE is retried
 *       up to RETRIES times at once. Prints one line:
 *       "polls=P ok=K enoent=N estale_open=A estale_fstat=B estale_read=C
 *        recovered=R unrecovered=U other=O torn=T"
 *       (estale_*: first attempts that failed there; recovered: polls whose retries
 *       succeeded; unrecovered: polls still failing after RETRIES; torn: a complete
 *       read of a record that is not whole). Exit 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REC 512

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int publish(const char *dir, const char *name, long count, long gap_us)
{
	char tmp[4096], dst[4096], buf[REC];
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%ld", dir, (long)getpid());
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	for (long i = 1; i <= count; i++) {
		memset(buf, 'a' + (int)(i % 26), sizeof(buf));
		int n = snprintf(buf, sizeof(buf), "rec %ld ", i);
		buf[n] = ' ';
		memcpy(buf + REC - 4, "end\n", 4);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, buf, REC) != REC || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, dst) < 0) {
			printf("publish %ld: %s\n", i, strerror(errno));
			return 1;
		}
		if (gap_us > 0)
			usleep((useconds_t)gap_us);
	}
	printf("ok %ld\n", count);
	return 0;
}

/* One poll: 0 ok, 1 torn, -errno; *stage: 0 open, 1 fstat, 2 read. */
static int poll_once(int dirfd, const char *name, int *stage)
{
	char buf[REC * 2];
	struct stat st;
	size_t got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	*stage = 0;
	if (fd < 0)
		return -errno;
	*stage = 1;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	*stage = 2;
	for (;;) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - got);
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0 || got + (size_t)r >= sizeof(buf)) {
			got += (size_t)r;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	return (got == REC && memcmp(buf, "rec ", 4) == 0 && memcmp(buf + REC - 4, "end\n", 4) == 0) ? 0 : 1;
}

static int reader(const char *dir, const char *name, long ms, int retries)
{
	long polls = 0, ok = 0, enoent = 0, est[3] = { 0, 0, 0 }, recovered = 0, unrecovered = 0, other = 0, torn = 0;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		printf("open %s: %s\n", dir, strerror(errno));
		return 1;
	}
	long long end = now_ms() + ms;
	while (now_ms() < end) {
		int stage, rc = poll_once(dirfd, name, &stage);
		polls++;
		if (rc == -ESTALE) {
			est[stage]++;
			int k;
			for (k = 0; k < retries && rc == -ESTALE; k++)
				rc = poll_once(dirfd, name, &stage);
			if (rc == -ESTALE)
				unrecovered++;
			else
				recovered++;
		}
		if (rc == 0)
			ok++;
		else if (rc == 1)
			torn++;
		else if (rc == -ENOENT)
			enoent++;
		else if (rc != -ESTALE)
			other++;
	}
	close(dirfd);
	printf("polls=%ld ok=%ld enoent=%ld estale_open=%ld estale_fstat=%ld estale_read=%ld recovered=%ld "
	       "unrecovered=%ld other=%ld torn=%ld\n", polls, ok, enoent, est[0], est[1], est[2], recovered, unrecovered,
	       other, torn);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "publish") == 0)
		return publish(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
	if (argc == 6 && strcmp(argv[1], "read") == 0)
		return reader(argv[2], argv[3], atol(argv[4]), atoi(argv[5]));
	fprintf(stderr, "usage: knfs-poll publish DIR NAME COUNT GAP_US | read DIR NAME MS RETRIES\n");
	return 2;
}
