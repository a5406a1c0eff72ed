/* client_kernel_cmd.h - `vgpu-client ... kernel --ptx FILE ...` (docs/KERNELS.md, section 2):
 * the kernel subcommand of vgpu-client, in its own file. */
#ifndef VGPU_CLIENT_KERNEL_CMD_H
#define VGPU_CLIENT_KERNEL_CMD_H

#include <stdio.h>
#include "client/client.h"

/* What vgpu-client's main() parsed before the word "kernel". */
struct kernel_cmd_common {
	const char *dir;
	const char *prio;
	struct vgpu_client_opts opts;
	int quiet;
};

/* Run the subcommand with the ARGC words after "kernel"; returns vgpu-client's exit
 * status (enum vgpu_client_rc), having printed the answer line or the error. */
int vgpu_client_kernel_cmd(int argc, char **argv, const struct kernel_cmd_common *cm);

/* The subcommand's lines of vgpu-client --help. */
void vgpu_client_kernel_usage(FILE *f);

#endif
