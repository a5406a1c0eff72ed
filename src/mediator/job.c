/* job.c - a VM's request inside the mediator; see job.h. */
#include <errno.h>
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
	/* names first, then the last references go to the closer: freeing the pages of
	 * a big payload or an output never published happens off the loop */
	if (job->out_tmp[0])
		unlinkat(job->vm->dirfd, job->out_tmp, 0);
	if (job->in_fd >= 0)
		vgpu_closer_close(job->closer, job->in_fd);
	if (job->out_fd >= 0)
		vgpu_closer_close(job->closer, job->out_fd);
	if (job->held_from)
		*job->held_from -= job->held;
	free(job);
}

void vgpu_job_to_exec(const struct job *job, uint64_t deadline_ms, struct vgpu_exec_job *xj)
{
	memset(xj, 0, sizeof(*xj));
	xj->job.op = job->req.op;
	xj->job.args = job->req.args;
	if (xj->job.op == VGPU_OP_KERNEL)   /* its own GPU context per VM (docs/KERNELS.md) */
		xj->job.args.kernel.vm = job->req.vm;
	xj->job.out_count = job->out_count;
	xj->in_fd = job->in_fd;
	xj->in_bytes = job->in_bytes;
	xj->in_check = job->in_fd >= 0;
	xj->in_crc = job->in_crc;
	xj->out_fd = job->out_fd;
	xj->out_bytes = job->out_bytes;
	xj->deadline_ms = deadline_ms;
}

static void *closer_main(void *arg)
{
	struct vgpu_closer *c = arg;
	int fd;

	while (read(c->pipe[0], &fd, sizeof(fd)) == (ssize_t)sizeof(fd))
		close(fd);
	return NULL;
}

int vgpu_closer_start(struct vgpu_closer *c)
{
	int rc;

	c->pipe[0] = c->pipe[1] = -1;
	c->handed = 0;
	if (pipe2(c->pipe, O_CLOEXEC) != 0)
		goto fail_errno;
	rc = pthread_create(&c->thread, NULL, closer_main, c);
	if (rc != 0) {
		errno = rc;
		goto fail_errno;
	}
	return 0;
fail_errno:
	rc = -errno;
	if (c->pipe[0] >= 0)
		close(c->pipe[0]);
	if (c->pipe[1] >= 0)
		close(c->pipe[1]);
	c->pipe[0] = c->pipe[1] = -1;
	return rc;
}

void vgpu_closer_close(struct vgpu_closer *c, int fd)
{
	/* a pipe write of one int is atomic; a full pipe blocks only while the thread
	 * closes (it does nothing else) */
	if (c && c->pipe[1] >= 0 && write(c->pipe[1], &fd, sizeof(fd)) == (ssize_t)sizeof(fd)) {
		c->handed++;
		return;
	}
	close(fd);
}

void vgpu_closer_stop(struct vgpu_closer *c)
{
	if (c->pipe[1] < 0)
		return;
	close(c->pipe[1]);             /* the thread reads what is left, then EOF */
	pthread_join(c->thread, NULL);
	close(c->pipe[0]);
	c->pipe[0] = c->pipe[1] = -1;
}
