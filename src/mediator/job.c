/* job.c - a VM's request inside the mediator; see job.h. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "mediator_int.h"

struct job *vgpu_job_new(struct vm *vm, const struct vgpu_request *req)
{
	struct job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->vm = vm;
	job->req = *req;
	job->in_fd = job->out_fd = -1;
	return job;
}

void vgpu_job_free(struct job *job)
{
	if (!job)
		return;
	if (job->in_fd >= 0)
		close(job->in_fd);
	if (job->out_fd >= 0)
		close(job->out_fd);
	if (job->out_tmp[0])
		unlinkat(job->vm->dirfd, job->out_tmp, 0);
	if (job->held_from)
		*job->held_from -= job->held;
	free(job);
}

void vgpu_job_to_exec(const struct job *job, uint64_t deadline_ms, struct vgpu_exec_job *xj)
{
	memset(xj, 0, sizeof(*xj));
	xj->job.op = job->req.op;
	xj->job.args = job->req.args;
	xj->job.out_count = job->out_count;
	xj->in_fd = job->in_fd;
	xj->in_bytes = job->in_bytes;
	xj->in_check = job->in_fd >= 0;
	xj->in_crc = job->in_crc;
	xj->out_fd = job->out_fd;
	xj->out_bytes = job->out_bytes;
	xj->deadline_ms = deadline_ms;
}
