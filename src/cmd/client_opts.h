/* client_opts.h - the options every vgpu-client request takes (--dir, --priority,
 * --timeout, --vm, --lock-dir, --quiet): one parser for vgpu-client's own command line
 * (before the operation) and for the kernel subcommand's (after the word "kernel"). */
#ifndef VGPU_CLIENT_OPTS_H
#define VGPU_CLIENT_OPTS_H

#include "client_kernel_cmd.h"

/* "--name=value" or "--name value" at ARGV[*I]: the value, advancing *I past it; NULL
 * when ARGV[*I] is not NAME or its value is missing. */
const char *vgpu_client_opt_value(int argc, char **argv, int *i, const char *name);

/* ARGV[*I] as one of the common options, into CM (*I advanced past its value): 0 when
 * it is one, -1 when it is not (or its value is missing), or VGPU_CLIENT_EUSAGE when its
 * value is bad, the reason printed by vgpu_client_usage_error() (client_out.h). */
int vgpu_client_common_opt(int argc, char **argv, int *i, struct kernel_cmd_common *cm);

#endif
