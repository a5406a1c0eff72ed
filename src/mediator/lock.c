/* lock.c - exclusive flock(2) locks that keep a second mediator off a root or a state
 * directory, naming the first one's pid, and locks claimed for the life of the process
 * (taken before anything else starts); see lock.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "lock.h"

int vgpu_lock_holder(int fd)
{
	struct stat st;
	char line[256];
	FILE *f;
	int pid = 0;

	if (fstat(fd, &st) < 0 || !(f = fopen("/proc/locks", "re")))
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (major:minor in hex) */
	while (!pid && fgets(line, sizeof(line), f)) {
		char type[16], kind[16], mode[16];
		unsigned maj, min;
		unsigned long long ino;
		int p;

		if (sscanf(line, "%*[^:]: %15s %15s %15s %d %x:%x:%llu", type, kind, mode, &p, &maj, &min, &ino) == 7 &&
		    strcmp(type, "FLOCK") == 0 && maj == major(st.st_dev) && min == minor(st.st_dev) &&
		    ino == (unsigned long long)st.st_ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

/* The files whose locks vgpu_lock_claim() holds for this process. */
#define MAX_CLAIMED 4
static struct { dev_t dev; ino_t ino; } claimed[MAX_CLAIMED];
static int nclaimed;

static int is_claimed(int fd)
{
	struct stat st;

	if (!nclaimed || fstat(fd, &st) < 0)
		return 0;
	for (int i = 0; i < nclaimed; i++)
		if (claimed[i].dev == st.st_dev && claimed[i].ino == st.st_ino)
			return 1;
	return 0;
}

int vgpu_lock_take(int dirfd, const char *name, int *holder)
{
	int fd = dirfd, rc;

	*holder = 0;
	if (name) {
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
	}
	if (is_claimed(fd))
		return fd;     /* ours already, through the claiming descriptor */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		if (rc == -EWOULDBLOCK) {
			char buf[32] = "";
			ssize_t n;

			*holder = vgpu_lock_holder(fd);
			if (!*holder && name && (n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
				buf[n] = '\0';
				*holder = atoi(buf);
			}
			rc = -EBUSY;
		} else if (rc == -ENOLCK || rc == -EOPNOTSUPP || rc == -ENOSYS) {
			return name ? fd : 0;   /* no locks here: nothing to take */
		}
		if (name)
			close(fd);
		return rc;
	}
	if (name) {
		char buf[32];
		int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

		if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
			/* the lock holds; the pid in the file is only for people */
		}
	}
	return fd;
}

int vgpu_lock_claim(int dirfd, const char *name, int *holder)
{
	struct stat st;
	int fd = vgpu_lock_take(dirfd, name, holder);

	if (fd < 0 || (!name && fd != dirfd))
		return fd;   /* busy or failed; or no locks on this file system */
	if (nclaimed < MAX_CLAIMED && fstat(fd, &st) == 0 && !is_claimed(fd)) {
		claimed[nclaimed].dev = st.st_dev;
		claimed[nclaimed].ino = st.st_ino;
		nclaimed++;
	}
	return fd;
}
