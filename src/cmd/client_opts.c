/* client_opts.c - see client_opts.h: vgpu-client's common options. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client_opts.h"
#include "client_out.h"
#include "lib/record.h"

const char *vgpu_client_opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int vgpu_client_common_opt(int argc, char **argv, int *i, struct kernel_cmd_common *cm)
{
	const char *a = argv[*i], *v;

	if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
		cm->quiet = 1;
	} else if ((v = vgpu_client_opt_value(argc, argv, i, "--dir"))) {
		cm->dir = v;
	} else if ((v = vgpu_client_opt_value(argc, argv, i, "--priority"))) {
		cm->prio = v;
	} else if ((v = vgpu_client_opt_value(argc, argv, i, "--lock-dir"))) {
		cm->opts.lock_dir = v;
	} else if ((v = vgpu_client_opt_value(argc, argv, i, "--timeout"))) {
		char *end;
		double d;

		errno = 0;
		d = strtod(v, &end);
		if (!v[0] || *end || errno || !isfinite(d) || d <= 0 || d > 86400)
			return vgpu_client_usage_error("--timeout: '%s' is not a number of seconds (0 < S <= 86400)", v);
		cm->opts.timeout_ms = (int)ceil(d * 1000.0);
	} else if ((v = vgpu_client_opt_value(argc, argv, i, "--vm"))) {
		uint64_t u;

		if (vgpu_value_u64(v, strlen(v), &u) < 0 || u == 0 || u > VGPU_VM_MAX)
			return vgpu_client_usage_error("--vm: '%s' is not a VM number 1..65535", v);
		cm->opts.vm = (uint32_t)u;
	} else {
		return -1;
	}
	return 0;
}
