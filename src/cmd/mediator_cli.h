/* mediator_cli.h - vgpu-mediator's command line (mediator_cli.c): its exit statuses,
 * the options parsed into a struct vgpu_config, and the file with them over it. */
#ifndef VGPU_MEDIATOR_CLI_H
#define VGPU_MEDIATOR_CLI_H

#include <stddef.h>
#include "mediator/config.h"

#define EXIT_USAGE 2
#define EXIT_START 3
#define EXIT_EXECUTOR 4
#define EXIT_NOT_RUNNING 3      /* `status`: no daemon (LSB's "program is not running") */

/* A release build (make install) has no test ops unless built with TEST_OPS=1: 1 with
 * ERR when CFG asks for them there, else 0. */
int vgpu_cli_test_ops_refused(const struct vgpu_config *cfg, char *err, size_t errlen);
/* Parse the options into FLAGS (marking what was given), --config into *CONFIG,
 * --check-config into *CHECK. 0, 1 to exit 0 (help, version), or EXIT_USAGE after
 * saying why. */
int vgpu_cli_parse_args(int argc, char **argv, struct vgpu_config *flags, const char **config, int *check);
/* FILE (if any) with FLAGS over it, checked, into CFG. 0 or EXIT_USAGE after saying why. */
int vgpu_cli_configure(const char *file, const struct vgpu_config *flags, struct vgpu_config *cfg);

#endif
