/* naive_mmap_reader.c - a mapped protocol file; see naive_mmap_reader.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "naive_mmap_reader.h"

int naive_map_open(struct naive_map *m, const char *path)
{
	struct stat st;
	void *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	m->p = NULL;
	m->len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size <= 0) {
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	m->p = p;
	m->len = (size_t)st.st_size;
	return 0;
}

long naive_map_seq(const struct naive_map *m)
{
	for (size_t i = 0; m->p && i + 5 < m->len; i++) {
		if ((i == 0 || m->p[i - 1] == '\n') && memcmp(m->p + i, "seq ", 4) == 0) {
			long v = 0;
			size_t j = i + 4;
			if (j >= m->len || m->p[j] < '0' || m->p[j] > '9')
				return -1;
			for (; j < m->len && m->p[j] >= '0' && m->p[j] <= '9'; j++)
				v = v * 10 + (m->p[j] - '0');
			return v;
		}
	}
	return -1;
}

void naive_map_close(struct naive_map *m)
{
	if (m->p)
		munmap((void *)m->p, m->len);
	m->p = NULL;
	m->len = 0;
}
