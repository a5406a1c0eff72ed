/* vgpu-mediator - the Dom0 daemon: serves ROOT/vmN/command.txt, answers response.txt.
 * Command-line parsing and signal handling only; the core is src/mediator/. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec/executor.h"
#include "lib/log.h"
#include "lib/record.h"
#include "mediator/mediator.h"

#define EXIT_USAGE 2
#define EXIT_START 3
#define EXIT_EXECUTOR 4

static struct vgpu_mediator *the_mediator;

static void on_signal(int sig)
{
	(void)sig;
	if (the_mediator)
		vgpu_mediator_stop(the_mediator);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vgpu-mediator --root DIR --state DIR [OPTION]...\n"
"Serve GPU requests that VMs write as DIR/vmN/command.txt; answer in DIR/vmN/response.txt.\n"
"\n"
"  --root DIR            directory holding the vmN/ directories (the NFS export)\n"
"  --state DIR           private state directory (exactly-once answers across restarts);\n"
"                        must not be inside the export\n"
"  --executor SPEC       mock | cuda | auto | remote:DIR   (default: auto)\n"
"                        auto: cuda when cuda-sanity passes, else the --fallback\n"
"  --fallback SPEC       what auto uses when CUDA fails: mock | remote:DIR | none (default none:\n"
"                        refuse to start, saying why)\n"
"  --vm N:PRIO[:UID]     priority cap of VM N (low|medium|high) and the uid its export\n"
"                        squashes it to (anonuid=); repeatable\n"
"  --vm-uid N:UID        VM N's uid: vmN/, its records and payloads must belong to UID\n"
"                        (else WRONG_OWNER), outputs are written as UID (docs/SECURITY.md)\n"
"  --default-cap PRIO    cap of VMs not named by --vm (default medium)\n"
"  --aging-ms MS         a waiting job rises one priority level per MS (default 10000; 0 off)\n"
"  --rescan-ms MS        backstop rescan period (default 1000)\n"
"  --grace-ms MS         how long an incomplete command.txt may stay so (default 2000)\n"
"  --job-ms MS           default run-time limit of a job (default 60000)\n"
"  --max-job-ms MS       cap on a request's timeout_ms (default 600000)\n"
"  --max-payload BYTES   cap on an input payload (default 1073741824)\n"
"  --max-vm-bytes BYTES  output bytes one VM may hold in its directory (default 2 x max-payload)\n"
"  --output-ttl-ms MS    remove an out-SEQ.bin the VM has not superseded after MS (default 3600000)\n"
"  --remote-timeout-ms MS  Plan B: how long the worker VM may stay silent (default 30000)\n"
"  --test-ops            accept the test ops spin, leak, crash (for the harness only)\n"
"  --journal FILE        append one line per queue/exec/answer event (for tests)\n"
"  --log-level LEVEL     err | warn | info | debug (default info)\n"
"  --syslog              also log to syslog\n"
"  -h, --help            this text\n"
"\n"
"Exit status: 0 stopped by SIGTERM/SIGINT after answering the job in hand;\n"
"2 usage error; 3 start-up error (root, state); 4 no usable executor.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* Sibling binaries (vgpu-worker, cuda-sanity) live next to this one. */
static char *sibling(const char *argv0, const char *name)
{
	char self[PATH_MAX], *dir, *out;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		snprintf(self, sizeof(self), "%s", argv0);
		n = (ssize_t)strlen(self);
	}
	self[n] = '\0';
	dir = dirname(self);
	if (asprintf(&out, "%s/%s", dir, name) < 0)
		return NULL;
	return out;
}

int main(int argc, char **argv)
{
	enum { O_ROOT = 1000, O_STATE, O_EXEC, O_FALLBACK, O_VM, O_DEFCAP, O_AGING, O_RESCAN, O_GRACE,
	       O_JOBMS, O_MAXJOB, O_MAXPAY, O_RTIMEOUT, O_TESTOPS, O_JOURNAL, O_LOGLEVEL, O_SYSLOG,
	       O_VMUID, O_VMBYTES, O_OUTTTL };
	static const struct option longopts[] = {
		{ "root", required_argument, 0, O_ROOT }, { "state", required_argument, 0, O_STATE },
		{ "executor", required_argument, 0, O_EXEC }, { "fallback", required_argument, 0, O_FALLBACK },
		{ "vm", required_argument, 0, O_VM }, { "default-cap", required_argument, 0, O_DEFCAP },
		{ "aging-ms", required_argument, 0, O_AGING }, { "rescan-ms", required_argument, 0, O_RESCAN },
		{ "grace-ms", required_argument, 0, O_GRACE }, { "job-ms", required_argument, 0, O_JOBMS },
		{ "max-job-ms", required_argument, 0, O_MAXJOB }, { "max-payload", required_argument, 0, O_MAXPAY },
		{ "remote-timeout-ms", required_argument, 0, O_RTIMEOUT },
		{ "test-ops", no_argument, 0, O_TESTOPS }, { "journal", required_argument, 0, O_JOURNAL },
		{ "log-level", required_argument, 0, O_LOGLEVEL }, { "syslog", no_argument, 0, O_SYSLOG },
		{ "vm-uid", required_argument, 0, O_VMUID }, { "max-vm-bytes", required_argument, 0, O_VMBYTES },
		{ "output-ttl-ms", required_argument, 0, O_OUTTTL },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	struct vgpu_mediator_config cfg = { .default_cap = VGPU_PRIO_MEDIUM, .aging_ms = 10000 };
	struct vgpu_exec_opts xo = { .remote_timeout_ms = VGPU_REMOTE_TIMEOUT_MS };
	struct vgpu_vm_cap caps[256];
	struct vgpu_executor *ex = NULL;
	struct vgpu_mediator *m = NULL;
	const char *spec = "auto";
	char why[512] = "", err[512] = "";
	char *worker = NULL, *sanity = NULL;
	struct sigaction sa;
	int c, rc;

	vgpu_log_set_tag("mediator");
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		uint64_t v = 0;
		switch (c) {
		case O_ROOT: cfg.root = optarg; break;
		case O_STATE: cfg.state_dir = optarg; break;
		case O_EXEC: spec = optarg; break;
		case O_FALLBACK:
			if (strcmp(optarg, "mock") == 0)
				xo.fallback_mock = 1;
			else if (strncmp(optarg, "remote:", 7) == 0 && optarg[7])
				xo.remote_dir = optarg + 7;
			else if (strcmp(optarg, "none") != 0) {
				fprintf(stderr, "vgpu-mediator: --fallback %s: expected mock, remote:DIR or none\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case O_VM: case O_VMUID: {
			/* N:PRIO[:UID] or N:UID; one entry per VM, filled by both */
			char *f1 = strchr(optarg, ':'), *f2 = f1 ? strchr(f1 + 1, ':') : NULL, *uidp, arg[80];
			uint64_t id, uid = 0;
			int p = -1;
			size_t i;
			snprintf(arg, sizeof(arg), "%s", optarg);
			if (f1)
				*f1 = '\0';
			if (f2)
				*f2 = '\0';
			uidp = c == O_VMUID ? (f1 ? f1 + 1 : NULL) : f2 ? f2 + 1 : NULL;
			if (c == O_VM && f1)
				p = vgpu_prio_parse(f1 + 1);
			if (!f1 || (c == O_VMUID && f2) || parse_u64(optarg, &id) < 0 || id < 1 || id > VGPU_VM_MAX ||
			    (c == O_VM && p < 0) || (uidp && (parse_u64(uidp, &uid) < 0 || uid >= (uid_t)-1))) {
				fprintf(stderr, "vgpu-mediator: %s %s: expected %s, N in 1..%d\n", c == O_VM ? "--vm" : "--vm-uid",
					arg, c == O_VM ? "N:low|medium|high[:UID]" : "N:UID", VGPU_VM_MAX);
				return EXIT_USAGE;
			}
			for (i = 0; i < cfg.ncaps && caps[i].vm != (uint32_t)id; i++)
				;
			if (i == cfg.ncaps) {
				if (cfg.ncaps == sizeof(caps) / sizeof(caps[0])) {
					fprintf(stderr, "vgpu-mediator: more than %zu VMs configured\n", cfg.ncaps);
					return EXIT_USAGE;
				}
				caps[cfg.ncaps++] = (struct vgpu_vm_cap){ .vm = (uint32_t)id, .cap = -1 };
			}
			if (p >= 0)
				caps[i].cap = p;
			if (uidp) {
				caps[i].has_uid = 1;
				caps[i].uid = (uid_t)uid;
			}
			break;
		}
		case O_DEFCAP:
			if ((cfg.default_cap = vgpu_prio_parse(optarg)) < 0) {
				fprintf(stderr, "vgpu-mediator: --default-cap %s: expected low, medium or high\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case O_AGING: case O_RESCAN: case O_GRACE: case O_JOBMS: case O_MAXJOB: case O_MAXPAY: case O_RTIMEOUT:
		case O_VMBYTES: case O_OUTTTL:
			if (parse_u64(optarg, &v) < 0) {
				fprintf(stderr, "vgpu-mediator: %s: not a number: %s\n", argv[optind - 2], optarg);
				return EXIT_USAGE;
			}
			if (c == O_AGING) cfg.aging_ms = v;
			else if (c == O_RESCAN) cfg.rescan_ms = v ? v : 1;
			else if (c == O_GRACE) cfg.grace_ms = v ? v : 1;
			else if (c == O_JOBMS) cfg.default_job_ms = v ? v : 1;
			else if (c == O_MAXJOB) cfg.max_job_ms = v ? v : 1;
			else if (c == O_MAXPAY) cfg.max_payload = v;
			else if (c == O_VMBYTES) cfg.max_vm_bytes = v ? v : 1;
			else if (c == O_OUTTTL) cfg.output_ttl_ms = v ? v : 1;
			else xo.remote_timeout_ms = v ? v : 1;
			break;
		case O_TESTOPS: cfg.test_ops = 1; break;
		case O_JOURNAL: cfg.journal = optarg; break;
		case O_LOGLEVEL:
			if ((rc = vgpu_log_level_parse(optarg)) < 0) {
				fprintf(stderr, "vgpu-mediator: --log-level %s: expected err, warn, info or debug\n", optarg);
				return EXIT_USAGE;
			}
			vgpu_log_set_level(rc);
			break;
		case O_SYSLOG: vgpu_log_use_syslog("vgpu-mediator"); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || !cfg.root || !cfg.state_dir) {
		fprintf(stderr, "vgpu-mediator: %s\n", optind != argc ? "unexpected argument" :
			"--root and --state are required");
		usage(stderr);
		return EXIT_USAGE;
	}
	cfg.caps = caps;
	{
		/* One descriptor per VM directory is held open: use all we may. */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	worker = sibling(argv[0], "vgpu-worker");
	sanity = sibling(argv[0], "cuda-sanity");
	xo.worker_path = worker;
	xo.sanity_path = sanity;
	rc = vgpu_executor_open(spec, &xo, &ex, why, sizeof(why), err, sizeof(err));
	if (rc < 0) {
		vgpu_err("%s", err);
		free(worker);
		free(sanity);
		return EXIT_EXECUTOR;
	}
	if (why[0])
		vgpu_info("%s", why);
	cfg.ex = ex;
	if (vgpu_mediator_new(&m, &cfg, err, sizeof(err)) < 0) {
		vgpu_err("%s", err);
		vgpu_executor_close(ex);
		free(worker);
		free(sanity);
		return EXIT_START;
	}
	the_mediator = m;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	vgpu_info("serving %s with executor %s (%d slot%s)", cfg.root, ex->ops->name, ex->nslots,
		  ex->nslots == 1 ? "" : "s");
	rc = vgpu_mediator_run(m);
	the_mediator = NULL;
	vgpu_mediator_free(m);
	vgpu_executor_close(ex);
	free(worker);
	free(sanity);
	return rc < 0 ? EXIT_START : 0;
}
