/* client_kernel_cmd.c - vgpu-client's `kernel` subcommand (docs/KERNELS.md, section 2):
 * reads the PTX and the input files, checks every argument against the op's grammar
 * (src/lib/kernel_args.c) before anything is sent, calls vgpu_client_kernel() and writes
 * each output buffer to its file. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_kernel_cmd.h"
#include "client_opts.h"
#include "client_out.h"
#include "client/client_kernel.h"
#include "lib/safeio.h"
#include "lib/status.h"

void vgpu_client_kernel_usage(FILE *f)
{
	fputs("  kernel --ptx FILE --entry NAME --grid X[,Y,Z] --block X[,Y,Z] [--shared BYTES]\n"
	      "         [--arg in:FILE | out:BYTES:FILE | inout:FILE:FILE | i32:V | u32:V | i64:V\n"
	      "          | f32:V | f64:V]...\n"
	      "                       your own PTX kernel; arguments in the kernel's order\n"
	      "                       (docs/KERNELS.md); out files are written on status OK\n", f);
}

static const char *slurp_error(int rc)
{
	return rc == -EFBIG ? "too large" : rc == -EINVAL ? "not a regular file" : vgpu_safeio_strerror(rc);
}

/* "X", "X,Y" or "X,Y,Z" -> dims (missing ones 1), checked against the grammar's caps. */
static int parse_dims(const char *s, int block, uint32_t dim[3])
{
	char full[64];
	int commas = 0;

	for (const char *p = s; *p; p++)
		commas += *p == ',';
	if (commas > 2 || strlen(s) > 40)
		return -1;
	snprintf(full, sizeof(full), "%s%s", s, commas == 0 ? ",1,1" : commas == 1 ? ",1" : "");
	return vgpu_kernel_parse_dim3(full, strlen(full), block, dim);
}

struct kstate {
	struct vgpu_kernel_call k;
	const char *out_path[VGPU_KERNEL_ARGS_MAX];
	char *data[VGPU_KERNEL_ARGS_MAX];      /* input buffers read, and output buffers */
	char *ptx;
};

static void kstate_free(struct kstate *s)
{
	for (int i = 0; i < VGPU_KERNEL_ARGS_MAX; i++)
		free(s->data[i]);
	free(s->ptx);
}

/* One --arg: a buffer with its files, or a scalar token of the grammar. */
static int add_arg(struct kstate *s, const char *a)
{
	uint32_t i = s->k.spec.nargs, bufs = 0;
	struct vgpu_karg *ka = &s->k.spec.args[i];
	char tok[48];
	size_t len;
	int rc;

	if (i >= VGPU_KERNEL_ARGS_MAX)
		return vgpu_client_usage_error("--arg %s: more than %d arguments", a, VGPU_KERNEL_ARGS_MAX);
	for (uint32_t j = 0; j < i; j++)
		bufs += vgpu_karg_is_buffer(s->k.spec.args[j].kind);
	if (strncmp(a, "in:", 3) == 0 || strncmp(a, "inout:", 6) == 0) {
		int inout = a[2] == 'o';
		const char *path = a + (inout ? 6 : 3);
		char in_path[4096];
		const char *colon = inout ? strchr(path, ':') : NULL;

		if (inout && !colon)
			return vgpu_client_usage_error("--arg %s: inout takes inout:FILE:OUTFILE", a);
		len = inout ? (size_t)(colon - path) : strlen(path);
		if (len == 0 || len >= sizeof(in_path) || (inout && !colon[1]))
			return vgpu_client_usage_error("--arg %s: a file name is missing", a);
		memcpy(in_path, path, len);
		in_path[len] = '\0';
		if (bufs >= VGPU_KERNEL_BUFS_MAX)
			return vgpu_client_usage_error("--arg %s: more than %d buffers", a, VGPU_KERNEL_BUFS_MAX);
		if ((rc = vgpu_client_read_file(in_path, VGPU_KERNEL_BUF_MAX, &s->data[i], &len)) < 0) {
			fprintf(stderr, "vgpu-client: kernel: --arg %s: %s: %s\n", a, in_path, slurp_error(rc));
			return VGPU_CLIENT_EUSAGE;
		}
		snprintf(tok, sizeof(tok), "%s:%zu", inout ? "inout" : "in", len);
		if (vgpu_kernel_parse_arg(tok, strlen(tok), ka) < 0)
			return vgpu_client_usage_error("--arg %s: %s holds %zu bytes; a buffer is 4 bytes to 1 GiB, "
						       "a multiple of 4", a, in_path, len);
		s->k.in[i] = s->data[i];
		if (inout) {
			s->out_path[i] = colon + 1;
			s->k.out[i] = s->data[i];      /* the answer overwrites the input copy */
		}
	} else if (strncmp(a, "out:", 4) == 0) {
		const char *colon = strchr(a + 4, ':');

		if (!colon || !colon[1])
			return vgpu_client_usage_error("--arg %s: out takes out:BYTES:FILE", a);
		len = (size_t)(colon - a);
		if (len >= sizeof(tok) || (memcpy(tok, a, len), tok[len] = '\0', vgpu_kernel_parse_arg(tok, len, ka) < 0))
			return vgpu_client_usage_error("--arg %s: BYTES is 4 to 1073741824, a multiple of 4", a);
		if (bufs >= VGPU_KERNEL_BUFS_MAX)
			return vgpu_client_usage_error("--arg %s: more than %d buffers", a, VGPU_KERNEL_BUFS_MAX);
		if (!(s->data[i] = malloc((size_t)ka->v.bytes)))
			return vgpu_client_usage_error("--arg %s: out of memory", a);
		s->out_path[i] = colon + 1;
		s->k.out[i] = s->data[i];
	} else if (vgpu_kernel_parse_arg(a, strlen(a), ka) < 0 || vgpu_karg_is_buffer(ka->kind)) {
		memset(ka, 0, sizeof(*ka));
		return vgpu_client_usage_error("--arg '%s': not in:FILE, out:BYTES:FILE, inout:FILE:FILE, i32:V, "
					       "u32:V, i64:V, f32:V or f64:V (a value in the type's range)", a);
	}
	s->k.spec.nargs++;
	return 0;
}

static int parse(int argc, char **argv, struct kernel_cmd_common *cm, struct kstate *s)
{
	const char *ptx_path = NULL, *entry = NULL, *v;
	int have_grid = 0, have_block = 0, rc;
	size_t len;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if ((v = vgpu_client_opt_value(argc, argv, &i, "--ptx"))) {
			ptx_path = v;
		} else if ((v = vgpu_client_opt_value(argc, argv, &i, "--entry"))) {
			entry = v;
		} else if ((v = vgpu_client_opt_value(argc, argv, &i, "--grid"))) {
			if (parse_dims(v, 0, s->k.spec.grid) < 0)
				return vgpu_client_usage_error("--grid '%s': X[,Y[,Z]] with X 1..2147483647, Y and Z 1..65535", v);
			have_grid = 1;
		} else if ((v = vgpu_client_opt_value(argc, argv, &i, "--block"))) {
			if (parse_dims(v, 1, s->k.spec.block) < 0)
				return vgpu_client_usage_error("--block '%s': X[,Y[,Z]] with X and Y 1..1024, Z 1..64", v);
			have_block = 1;
		} else if ((v = vgpu_client_opt_value(argc, argv, &i, "--shared"))) {
			if (vgpu_value_u64(v, strlen(v), &s->k.spec.shared) < 0 || s->k.spec.shared > VGPU_KERNEL_SHARED_MAX)
				return vgpu_client_usage_error("--shared '%s': 0 to %u bytes", v, VGPU_KERNEL_SHARED_MAX);
		} else if ((v = vgpu_client_opt_value(argc, argv, &i, "--arg"))) {
			if ((rc = add_arg(s, v)) != 0)
				return rc;
		} else if ((rc = vgpu_client_common_opt(argc, argv, &i, cm)) >= 0) {
			if (rc)
				return rc;
		} else {
			return vgpu_client_usage_error("unknown option or missing value: %s", a);
		}
	}
	if (!cm->dir)
		return vgpu_client_usage_error("%s", "--dir DIR/vmN is required");
	if (!ptx_path || !entry || !have_grid || !have_block)
		return vgpu_client_usage_error("%s", "--ptx FILE, --entry NAME, --grid and --block are required");
	if (vgpu_kernel_parse_entry(entry, strlen(entry), s->k.spec.entry) < 0)
		return vgpu_client_usage_error("--entry '%s': not a PTX identifier of 1..%d bytes", entry, VGPU_KERNEL_ENTRY_MAX);
	if ((rc = vgpu_client_read_file(ptx_path, VGPU_KERNEL_PTX_MAX - 1, &s->ptx, &len)) < 0) {
		fprintf(stderr, "vgpu-client: kernel: --ptx %s: %s\n", ptx_path, slurp_error(rc));
		return VGPU_CLIENT_EUSAGE;
	}
	if (strlen(s->ptx) != len)
		return vgpu_client_usage_error("--ptx %s: holds a NUL byte; PTX is text", ptx_path);
	s->k.ptx = s->ptx;
	int p = vgpu_prio_parse(cm->prio);
	if (p < 0)
		return vgpu_client_usage_error("--priority: '%s' is not low, medium or high", cm->prio);
	s->k.priority = (enum vgpu_prio)p;
	return 0;
}

static int run(struct kernel_cmd_common *cm, struct kstate *s)
{
	struct vgpu_response resp;
	struct vgpu_client *c;
	char err[1024];
	void *payload;
	size_t bytes;
	int rc;

	/* The whole request checked (PTX text, caps) before the VM directory is touched. */
	if ((rc = vgpu_kernel_payload(&s->k, &payload, &bytes, err, sizeof(err))) != VGPU_CLIENT_OK) {
		fprintf(stderr, "vgpu-client: %s\n", err);
		return rc;
	}
	free(payload);
	rc = vgpu_client_open(&c, cm->dir, &cm->opts, err, sizeof(err));
	if (rc != VGPU_CLIENT_OK) {
		fprintf(stderr, "vgpu-client: %s\n", err);
		return rc;
	}
	rc = vgpu_client_kernel(c, &s->k, &resp, err, sizeof(err));
	vgpu_client_close(c);
	if (rc == VGPU_CLIENT_ESTATUS) {
		vgpu_client_print_status_error(&resp);
		if (s->k.log) {     /* the JIT's whole log (PROTOCOL.md section 5.1) */
			fprintf(stderr, "vgpu-client: the JIT's log (%zu bytes):\n", s->k.log_bytes);
			fwrite(s->k.log, 1, s->k.log_bytes, stderr);
			if (s->k.log_bytes && s->k.log[s->k.log_bytes - 1] != '\n')
				fputc('\n', stderr);
			free(s->k.log);
			s->k.log = NULL;
		}
		return rc;
	}
	if (rc != VGPU_CLIENT_OK) {
		fprintf(stderr, "vgpu-client: %s\n", err);
		return rc;
	}
	for (uint32_t i = 0; i < s->k.spec.nargs; i++) {
		int w;
		if (!s->out_path[i])
			continue;
		if ((w = vgpu_client_write_file(s->out_path[i], s->data[i], (size_t)s->k.spec.args[i].v.bytes)) < 0) {
			fprintf(stderr, "vgpu-client: kernel: --arg %u's output %s: %s\n", i + 1, s->out_path[i],
				strerror(-w));
			return VGPU_CLIENT_EIO;
		}
	}
	return vgpu_client_print_answer(&resp, cm->quiet);
}

int vgpu_client_kernel_cmd(int argc, char **argv, const struct kernel_cmd_common *common)
{
	struct kernel_cmd_common cm = *common;
	struct kstate *s = calloc(1, sizeof(*s));
	int rc;

	if (!s) {
		fprintf(stderr, "vgpu-client: kernel: out of memory\n");
		return VGPU_CLIENT_EIO;
	}
	vgpu_client_usage_context("kernel");
	rc = parse(argc, argv, &cm, s);
	if (rc == 0)
		rc = run(&cm, s);
	kstate_free(s);
	free(s);
	return rc;
}
