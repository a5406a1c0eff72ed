/* payload_io.c - the payload I/O every executor does the same way (executor.h, struct
 * vgpu_exec_job): the input read and checked, the output written and made durable, each
 * with its CRC-32 computed while the bytes pass (lib/crc_io.h). Used by vgpu-worker,
 * Plan B and the tests' fake executors. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fiu-local.h>

#include "executor.h"
#include "../lib/crc_io.h"
#include "../lib/status.h"

int vgpu_exec_read_input(int fd, size_t bytes, int check, uint32_t crc, void *buf, struct vgpu_job_result *res)
{
	uint32_t got_crc = 0;
	size_t got = 0;
	struct stat st;
	int rc;

	if (fstat(fd, &st) != 0) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "input: fstat: %s", strerror(errno));
		return -1;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size < bytes) {
		vgpu_job_result_set(res, check ? VGPU_BAD_PAYLOAD : VGPU_EXEC_FAILED,
				    "input file holds %lld bytes, the job says %zu%s", (long long)st.st_size, bytes,
				    check ? " (the payload shrank after it was checked)" : "");
		return -1;
	}
	rc = vgpu_pread_crc(fd, buf, bytes, &got_crc, &got);
	fiu_do_on("exec/input/read", rc = -EIO);
	if (rc == -ENODATA) {
		vgpu_job_result_set(res, check ? VGPU_BAD_PAYLOAD : VGPU_EXEC_FAILED,
				    "input file ended after %zu of %zu bytes%s", got, bytes,
				    check ? " (the payload shrank after it was checked)" : "");
		return -1;
	}
	if (rc < 0) {
		vgpu_job_result_set(res, check ? VGPU_BAD_PAYLOAD : VGPU_EXEC_FAILED, "reading the input: %s",
				    strerror(-rc));
		return -1;
	}
	if (check && got_crc != crc) {
		vgpu_job_result_set(res, VGPU_BAD_PAYLOAD, "the payload's CRC-32 differs from the record's %08x (it is %08x)",
				    crc, got_crc);
		return -1;
	}
	return 0;
}

int vgpu_exec_write_output(int fd, const void *buf, size_t bytes, struct vgpu_job_result *res)
{
	uint32_t crc = 0;
	int rc = vgpu_pwrite_crc(fd, buf, bytes, &crc);

	fiu_do_on("exec/output/write", rc = -ENOSPC);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	if (rc < 0) {
		vgpu_job_result_set(res, VGPU_EXEC_FAILED, "writing the %zu-byte output: %s", bytes, strerror(-rc));
		return -1;
	}
	res->has_out_crc = 1;
	res->out_crc = crc;
	return 0;
}
