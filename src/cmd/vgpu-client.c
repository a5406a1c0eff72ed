/* vgpu-client.c - the VM-side command: one request to the mediator, one answer line.
 *
 * A thin user of libvgpu-client (src/client/client.h): parses arguments, reads --in,
 * writes --out, prints the result or the error. Exit codes are enum vgpu_client_rc;
 * docs/CLIENT.md has the table and what to do about each error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "client_kernel_cmd.h"
#include "client_opts.h"
#include "client_out.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "lib/version.h"

/* On a terminal, waits past a second show where the request is (docs/CLIENT.md,
 * "Waiting"): one line rewritten in place, erased when the answer comes. */
static int progress_shown;

static void show_progress(int64_t seq, double waited_s, const char *line, void *arg)
{
	(void)arg;
	fprintf(stderr, "\r\033[Kvgpu-client: seq %" PRId64 ", %.0f s: %s", seq, waited_s, line);
	fflush(stderr);
	progress_shown = 1;
}

static const char usage_head[] =
	"usage: vgpu-client --dir DIR/vmN [options] OP [ARGS]\n"
	"\n"
	"Send one request to vgpu-mediator through the VM directory DIR/vmN (on the NFS\n"
	"export) and print its answer on one line:\n"
	"  seq=S status=OK op=OP prio=P queue_us=Q exec_us=E executor=X result=...\n"
	"\n"
	"operations:\n";
static const char usage_tail[] =
	"  vadd, saxpy and sgemm need exactly one of --seed S (inputs generated on the\n"
	"  host, docs/PROTOCOL.md section 6) and --in FILE (raw little-endian float32).\n"
	"\n"
	"options:\n"
	"  --dir DIR            the VM's directory, e.g. /mnt/vgpu/vm3 (required)\n"
	"  --priority P         low, medium (default) or high; capped by the host\n"
	"  --timeout S          seconds to wait for the answer, lock included (default 30)\n"
	"  --vm N               VM number, when DIR is not named vmN\n"
	"  --lock-dir D         local lock directory (default /run/lock/vgpu-client, the\n"
	"                       same for every user and session of this machine)\n"
	"  --seed S             generate the inputs from seed S\n"
	"  --in FILE            send FILE as the input payload\n"
	"  --out FILE           ask for the output file and write it to FILE\n"
	"  --quiet              print nothing on success\n"
	"  --help               this text\n"
	"\n"
	"exit codes:\n"
	"  0 OK        answered with status OK\n"
	"  1 ESTATUS   answered with an error status (printed)\n"
	"  2 EUSAGE    bad arguments\n"
	"  3 ETIMEOUT  no answer in time; the message says why: mediator not running (no\n"
	"             heartbeat), queued behind N jobs, running for S s, waiting on Plan B\n"
	"  4 EPERM     permission denied: root_squash likely (see docs/XEN.md)\n"
	"  5 ENODIR    VM directory missing: is the export mounted?\n"
	"  6 EIO       I/O error (EIO, ENOSPC, ESTALE) on the export\n"
	"  7 EPROTO    unreadable or forged answer, response.txt not a file, seqs used up,\n"
	"             or another writer uses this VM directory\n"
	"  8 ELOCK     could not take the local lock (another vgpu-client still waiting)\n"
	"See docs/CLIENT.md.\n";

/* "N ALPHA": an op's argument names, upper case, for usage lines. */
static const char *param_names(enum vgpu_op op)
{
	static char buf[64];
	size_t i;
	const char *p = vgpu_op_get(op)->params;

	for (i = 0; p[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (char)(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 'a' + 'A' : p[i]);
	buf[i] = '\0';
	return buf;
}

static const char *arg_type_text(enum vgpu_arg_type t)
{
	return t == VGPU_ARGT_SIZE ? "a positive whole number" : t == VGPU_ARGT_FLOAT ? "a finite number" : "a whole number";
}

static void usage(FILE *f)
{
	fputs(usage_head, f);
	for (int op = VGPU_OP_NONE + 1; op < VGPU_OP_COUNT; op++) {
		char left[64];
		if (op == VGPU_OP_KERNEL) {
			vgpu_client_kernel_usage(f);
			continue;
		}
		snprintf(left, sizeof(left), "%s %s", vgpu_op_name((enum vgpu_op)op), param_names((enum vgpu_op)op));
		fprintf(f, "  %-20s %s\n", left, vgpu_op_get((enum vgpu_op)op)->help);
	}
	fputs(usage_tail, f);
}

/* Strict unsigned decimal: no sign, no leading zeros, must fit. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s[0] || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10u, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	const char *in_path = NULL, *out_path = NULL, *seed = NULL;
	const char *pos[8];
	int npos = 0, rc;
	struct kernel_cmd_common cm = { .prio = "medium" };
	struct vgpu_request req;
	struct vgpu_response resp;
	struct vgpu_client *c;
	char err[1024];
	char *in = NULL;
	void *out = NULL;
	size_t in_len = 0, out_len = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("vgpu-client %s\n", VGPU_VERSION);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if ((rc = vgpu_client_common_opt(argc, argv, &i, &cm)) >= 0) {
			if (rc)
				return rc;
		} else if ((v = vgpu_client_opt_value(argc, argv, &i, "--seed"))) {
			seed = v;
		} else if ((v = vgpu_client_opt_value(argc, argv, &i, "--in"))) {
			in_path = v;
		} else if ((v = vgpu_client_opt_value(argc, argv, &i, "--out"))) {
			out_path = v;
		} else if (strcmp(a, "--") == 0) {
			while (++i < argc && npos < 8)
				pos[npos++] = argv[i];
		} else if (strncmp(a, "--", 2) == 0) {
			return vgpu_client_usage_error("unknown option or missing value: %s", a);
		} else if (npos == 0 && strcmp(a, "kernel") == 0) {
			/* its own options (client_kernel_cmd.c); the common ones so far go with it */
			return vgpu_client_kernel_cmd(argc - i - 1, argv + i + 1, &cm);
		} else if (npos < 8) {
			pos[npos++] = a;    /* operands; "-2" is a number here, not an option */
		} else {
			return vgpu_client_usage_error("too many arguments at '%s'", a);
		}
	}
	if (!cm.dir)
		return vgpu_client_usage_error("%s", "--dir DIR/vmN is required");
	if (npos == 0)
		return vgpu_client_usage_error("%s", "no operation given (ping, vadd, saxpy, sgemm, kernel, spin, leak, crash)");

	memset(&req, 0, sizeof(req));
	req.output_file = -1;
	int op = vgpu_op_parse(pos[0]);
	if (op < 0)
		return vgpu_client_usage_error("unknown operation '%s'", pos[0]);
	req.op = (enum vgpu_op)op;
	int p = vgpu_prio_parse(cm.prio);
	if (p < 0)
		return vgpu_client_usage_error("--priority: '%s' is not low, medium or high", cm.prio);
	req.priority = (enum vgpu_prio)p;

	/* The op's arguments, in the order its table entry lists them (lib/op.h). */
	const char *param = vgpu_op_get(req.op)->params;
	for (int i = 1; i < npos || *param; i++) {
		const char *sp = strchrnul(param, ' ');
		int a = vgpu_arg_lookup(param, (size_t)(sp - param));
		if (i >= npos || a < 0)
			return vgpu_client_usage_error("%s: wrong number of arguments (%s %s)", pos[0], pos[0], param_names(req.op));
		if (vgpu_arg_parse((enum vgpu_arg)a, pos[i], strlen(pos[i]), &req.args) < 0)
			return vgpu_client_usage_error("%s: %s: '%s' is not %s", pos[0], vgpu_arg_table[a].key, pos[i],
						       arg_type_text(vgpu_arg_table[a].type));
		param = *sp ? sp + 1 : sp;
	}

	int compute = vgpu_op_has_data(req.op);
	if (!compute && (seed || in_path || out_path))
		return vgpu_client_usage_error("%s takes no --seed, --in or --out", pos[0]);
	if (compute && !!seed == !!in_path)
		return vgpu_client_usage_error("%s: give exactly one of --seed S and --in FILE", pos[0]);
	if (seed) {
		if (parse_u64(seed, &req.args.seed) < 0)
			return vgpu_client_usage_error("--seed: '%s' is not a whole number", seed);
		req.args.has_seed = 1;
	}
	if (out_path)
		req.output_file = 1;
	if (in_path) {
		int64_t need = vgpu_request_input_bytes(&req);
		if ((rc = vgpu_client_read_file(in_path, UINT64_MAX, &in, &in_len)) < 0) {
			fprintf(stderr, "vgpu-client: --in %s: %s\n", in_path, vgpu_safeio_strerror(rc));
			return VGPU_CLIENT_EUSAGE;
		}
		if (need < 0 || in_len != (uint64_t)need) {
			fprintf(stderr, "vgpu-client: --in %s: %zu bytes, but %s with these sizes needs %" PRId64
				" (float32)\n", in_path, in_len, pos[0], need);
			free(in);
			return VGPU_CLIENT_EUSAGE;
		}
	}

	rc = vgpu_client_open(&c, cm.dir, &cm.opts, err, sizeof(err));
	if (rc != VGPU_CLIENT_OK) {
		fprintf(stderr, "vgpu-client: %s\n", err);
		free(in);
		return rc;
	}
	if (isatty(STDERR_FILENO))
		vgpu_client_set_progress(c, show_progress, NULL);
	rc = vgpu_client_call(c, &req, in, in_len, &resp, out_path ? &out : NULL, &out_len, err, sizeof(err));
	vgpu_client_close(c);
	if (progress_shown)
		fputs("\r\033[K", stderr);
	free(in);
	if (rc == VGPU_CLIENT_ESTATUS) {
		vgpu_client_print_status_error(&resp);
		return rc;
	}
	if (rc != VGPU_CLIENT_OK) {
		fprintf(stderr, "vgpu-client: %s\n", err);
		return rc;
	}
	if (out_path) {
		if (!out) {
			fprintf(stderr, "vgpu-client: seq=%" PRId64 ": the answer names no output file\n", resp.seq);
			return VGPU_CLIENT_EPROTO;
		}
		int w = vgpu_client_write_file(out_path, out, out_len);
		free(out);
		if (w < 0) {
			fprintf(stderr, "vgpu-client: --out %s: %s\n", out_path, strerror(-w));
			return VGPU_CLIENT_EIO;
		}
	}
	return vgpu_client_print_answer(&resp, cm.quiet);
}
