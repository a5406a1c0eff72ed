/* bench-files - the floor of a payload job through the file protocol, without a
 * mediator or a GPU: only the byte moves the protocol itself requires, done the way the
 * project does them (safeio publish and reads, memfds, CRC-32).
 *
 * Per repetition, for IN input bytes and OUT output bytes:
 *   client:   CRC the input, publish in-SEQ.bin (temp, write, fsync, rename)
 *   mediator: read in-SEQ.bin into a fresh memfd, CRC it
 *   worker:   (nothing: the GPU's copies are the native program's too)
 *   mediator: CRC the output (a fresh memfd), publish out-SEQ.bin
 *   client:   read out-SEQ.bin, CRC it; unlink both files
 * A mediated payload job can only be slower than native by at least this much.
 *
 *   bench-files DIR REPS vadd|saxpy N | sgemm M N K
 * prints: floor_us=MEDIAN min_us=MIN in_bytes=.. out_bytes=.. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/record.h"
#include "lib/safeio.h"
#include "bench_time.h"

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench-files: %s: %s\n", what, vgpu_safeio_strerror(rc < 0 ? rc : -rc));
	exit(1);
}

int main(int argc, char **argv)
{
	size_t in_bytes, out_bytes;
	int reps, dirfd;
	float *in, *out;
	double *t;
	volatile uint32_t sink = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: bench-files DIR REPS vadd|saxpy N | sgemm M N K\n");
		return 2;
	}
	reps = atoi(argv[2]);
	if (strcmp(argv[3], "sgemm") == 0 && argc >= 7) {
		size_t m = strtoull(argv[4], NULL, 10), n = strtoull(argv[5], NULL, 10), k = strtoull(argv[6], NULL, 10);
		in_bytes = (m * k + k * n) * sizeof(float);
		out_bytes = m * n * sizeof(float);
	} else {
		size_t n = strtoull(argv[4], NULL, 10);
		in_bytes = 2 * n * sizeof(float);
		out_bytes = n * sizeof(float);
	}
	if (reps < 1 || !(dirfd = open(argv[1], O_RDONLY | O_DIRECTORY)) || dirfd < 0)
		return 2;
	in = malloc(in_bytes);
	out = malloc(out_bytes);
	t = calloc((size_t)reps + 1, sizeof(double));
	if (!in || !out || !t)
		return 1;
	for (size_t i = 0; i < in_bytes / sizeof(float); i++)
		in[i] = (float)(i % 1000) / 7.0f;
	for (int r = 0; r <= reps; r++) {    /* repetition 0 is the warm-up */
		double t0 = now_us();
		int rc, mfd, ofd;
		void *map, *back = NULL;
		size_t len = 0;

		/* client: the input */
		sink += vgpu_crc32(in, in_bytes);
		if ((rc = vgpu_publish(dirfd, "in-1.bin", in, in_bytes, 0644)) < 0)
			die("publish in-1.bin", rc);
		/* mediator: into a fresh memfd, checked */
		if ((rc = vgpu_safe_open(dirfd, "in-1.bin", in_bytes, &ofd, NULL)) < 0)
			die("open in-1.bin", rc);
		mfd = memfd_create("bench-in", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, (off_t)in_bytes) < 0)
			die("memfd", errno);
		map = mmap(NULL, in_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		if (map == MAP_FAILED)
			die("mmap", errno);
		if ((rc = vgpu_read_full(ofd, map, in_bytes)) < 0)
			die("read in-1.bin", rc);
		sink += vgpu_crc32(map, in_bytes);
		munmap(map, in_bytes);
		close(mfd);
		close(ofd);
		/* mediator: the output from a fresh memfd */
		mfd = memfd_create("bench-out", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, (off_t)out_bytes) < 0)
			die("memfd", errno);
		map = mmap(NULL, out_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		if (map == MAP_FAILED)
			die("mmap", errno);
		memcpy(map, out, out_bytes);     /* what the worker's copy back writes */
		sink += vgpu_crc32(map, out_bytes);
		if ((rc = vgpu_publish(dirfd, "out-1.bin", map, out_bytes, 0644)) < 0)
			die("publish out-1.bin", rc);
		munmap(map, out_bytes);
		close(mfd);
		/* client: the output, checked */
		if ((rc = vgpu_safe_read_alloc(dirfd, "out-1.bin", out_bytes, &back, &len)) < 0)
			die("read out-1.bin", rc);
		sink += vgpu_crc32(back, len);
		free(back);
		unlinkat(dirfd, "in-1.bin", 0);
		unlinkat(dirfd, "out-1.bin", 0);
		t[r] = now_us() - t0;
	}
	qsort(t + 1, (size_t)reps, sizeof(double), cmp_double);
	printf("floor_us=%.1f min_us=%.1f in_bytes=%zu out_bytes=%zu (checksum %08x)\n", t[1 + reps / 2], t[1],
	       in_bytes, out_bytes, (unsigned)sink);
	free(in);
	free(out);
	free(t);
	close(dirfd);
	return 0;
}
