/* lock.c - exclusive flock(2) locks that keep a second mediator off a root or a state
 * directory, naming the first one's pid; see lock.h. */
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

int vgpu_lock_take(int dirfd, const char *name, int *holder)
{
	int fd = dirfd, rc;

	*holder = 0;
	if (name) {
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
	}
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
