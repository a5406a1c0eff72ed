/* executor.c - vgpu_executor_open(): turns --executor mock|cuda|auto|remote:DIR into an
 * executor. "auto" runs cuda-sanity in a child and falls back only as configured, saying
 * why in one line. The mediator never links CUDA: cuda is reached through vgpu-worker. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "executor.h"
#include "proc.h"

#define SANITY_TIMEOUT_MS 60000u

static void setf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Run cuda-sanity. 0 when it passed; otherwise -1 with REASON (one line). */
static int run_sanity(const char *path, char *reason, size_t rlen)
{
	char out[200], how[64];
	int status, rc;

	if (!path || !path[0]) {
		setf(reason, rlen, "no cuda-sanity binary configured");
		return -1;
	}
	char *argv[] = { (char *)path, NULL };
	rc = vgpu_run_capture(argv, SANITY_TIMEOUT_MS, out, sizeof(out), &status);
	if (rc == -ETIMEDOUT) {
		setf(reason, rlen, "no answer within %u ms%s%s", SANITY_TIMEOUT_MS, out[0] ? ": " : "", out);
		return -1;
	}
	if (rc < 0) {
		setf(reason, rlen, "cannot run %s: %s", path, strerror(-rc));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	vgpu_describe_status(status, how, sizeof(how));
	setf(reason, rlen, "%s", out[0] ? out : how);
	return -1;
}

static int open_auto(const struct vgpu_exec_opts *opts, struct vgpu_executor **exp,
		     char *why, size_t whylen, char *err, size_t errlen)
{
	char reason[256], what[300], sub[256];
	int rc;

	if (run_sanity(opts->sanity_path, reason, sizeof(reason)) == 0) {
		rc = vgpu_pool_open("cuda", opts, exp, sub, sizeof(sub));
		if (rc == 0) {
			setf(why, whylen, "executor auto: cuda-sanity passed; using cuda (%d GPU%s)",
			     (*exp)->nslots, (*exp)->nslots == 1 ? "" : "s");
			return 0;
		}
		setf(what, sizeof(what), "cuda-sanity passed but the cuda workers did not start: %s", sub);
	} else {
		setf(what, sizeof(what), "cuda-sanity failed (%s)", reason);
	}
	if (opts->remote_dir && opts->remote_dir[0]) {
		rc = vgpu_remote_open(opts->remote_dir, opts, exp, sub, sizeof(sub));
		if (rc != 0) {
			setf(err, errlen, "executor auto: %s; the configured fallback remote:%s failed too: %s",
			     what, opts->remote_dir, sub);
			return rc;
		}
		setf(why, whylen, "executor auto: %s; using remote:%s as configured (--fallback remote:%s)",
		     what, opts->remote_dir, opts->remote_dir);
		return 0;
	}
	if (opts->fallback_mock) {
		rc = vgpu_pool_open("mock", opts, exp, sub, sizeof(sub));
		if (rc != 0) {
			setf(err, errlen, "executor auto: %s; the configured fallback mock failed too: %s", what, sub);
			return rc;
		}
		setf(why, whylen, "executor auto: %s; using mock as configured (--fallback mock)", what);
		return 0;
	}
	if (strncmp(what, "cuda-sanity failed ", 19) == 0)
		setf(err, errlen, "CUDA sanity check failed (%s); refusing to start: configure "
		     "--fallback remote:DIR (Plan B) or --fallback mock", reason);
	else
		setf(err, errlen, "%s; refusing to start: configure --fallback remote:DIR (Plan B) or "
		     "--fallback mock", what);
	return -ENODEV;
}

int vgpu_executor_open(const char *spec, const struct vgpu_exec_opts *opts,
		       struct vgpu_executor **exp, char *why, size_t whylen,
		       char *err, size_t errlen)
{
	char sub[256];
	int rc;

	*exp = NULL;
	setf(why, whylen, "%s", "");
	setf(err, errlen, "%s", "");
	if (!spec || !opts) {
		setf(err, errlen, "no executor given");
		return -EINVAL;
	}
	if (strcmp(spec, "mock") == 0) {
		rc = vgpu_pool_open("mock", opts, exp, sub, sizeof(sub));
		if (rc != 0) {
			setf(err, errlen, "executor mock: %s", sub);
			return rc;
		}
		setf(why, whylen, "executor mock: CPU reference in a worker process, as configured");
		return 0;
	}
	if (strcmp(spec, "cuda") == 0) {
		rc = vgpu_pool_open("cuda", opts, exp, sub, sizeof(sub));
		if (rc != 0) {
			setf(err, errlen, "executor cuda: %s", sub);
			return rc;
		}
		setf(why, whylen, "executor cuda: %d GPU%s, one worker process each, as configured",
		     (*exp)->nslots, (*exp)->nslots == 1 ? "" : "s");
		return 0;
	}
	if (strncmp(spec, "remote:", 7) == 0) {
		if (!spec[7]) {
			setf(err, errlen, "executor remote: needs a directory (remote:DIR)");
			return -EINVAL;
		}
		rc = vgpu_remote_open(spec + 7, opts, exp, sub, sizeof(sub));
		if (rc != 0) {
			setf(err, errlen, "executor %s: %s", spec, sub);
			return rc;
		}
		setf(why, whylen, "executor remote: forwarding jobs to the GPU worker VM through %s, as configured",
		     spec + 7);
		return 0;
	}
	if (strcmp(spec, "auto") == 0)
		return open_auto(opts, exp, why, whylen, err, errlen);
	setf(err, errlen, "unknown executor '%s' (expected mock, cuda, auto or remote:DIR)", spec);
	return -EINVAL;
}
