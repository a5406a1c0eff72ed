/* naive_mmap_reader.h - ERRORS_LOG error 4's hazard, on purpose: a VM maps a protocol
 * file (response.txt, or a "shared memory" file the host rewrites in place) once with
 * mmap(MAP_SHARED) and reads the answer from the mapping. Over NFS the client revalidates
 * mapped pages only at mmap time, so the mapping keeps showing old data (and a file
 * replaced by rename is another inode: the mapping never changes at all). The negative
 * control of tests/fault/err04_mmap_stale.c; never used by the product. */
#ifndef VGPU_NAIVE_MMAP_READER_H
#define VGPU_NAIVE_MMAP_READER_H

#include <stddef.h>

struct naive_map {
	const char *p;
	size_t len;
};

/* open, fstat, mmap(PROT_READ, MAP_SHARED) the whole file, close the descriptor.
 * 0 or -errno. */
int naive_map_open(struct naive_map *m, const char *path);
/* The "seq N" the mapping shows now (a "seq " line anywhere in it), -1 when none. */
long naive_map_seq(const struct naive_map *m);
void naive_map_close(struct naive_map *m);

#endif
