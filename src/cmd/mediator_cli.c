/* mediator_cli.c - vgpu-mediator's command line: the usage text, the options parsed
 * into a struct vgpu_config (each option that is a file key set through
 * vgpu_config_set()), and the configuration file with the options over it, checked.
 * The daemon that runs with the result is vgpu-mediator.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/record.h"
#include "lib/version.h"
#include "mediator/config.h"
#include "mediator_cli.h"
#include "notify.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vgpu-mediator [--config FILE] --root DIR --state DIR [OPTION]...\n"
"       vgpu-mediator --config FILE --check-config\n"
"       vgpu-mediator status [--config FILE] [--state DIR] [--metrics]\n"
"Serve GPU requests that VMs write as DIR/vmN/command.txt; answer in DIR/vmN/response.txt.\n"
"\n"
"  --config FILE         read FILE (ini: vgpu-mediator.conf(5)); options given here override it;\n"
"                        SIGHUP reads it again\n"
"  --check-config        check the file and options, print the resulting configuration, exit\n"
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
"  --max-queued-bytes BYTES  payload bytes (input + output files) all queued jobs may hold;\n"
"                        a request past it waits (default 4 x max-payload)\n"
"  --max-vm-queued-bytes BYTES  ... one VM's request may hold; past it TOO_LARGE (default 2 x max-payload)\n"
"  --remote-timeout-ms MS  Plan B: how long the worker VM may stay silent (default 30000)\n"
"  --metrics FILE        also write the Prometheus metrics as FILE (textfile collector)\n"
"  --status-interval-ms MS  write STATE/status and the metrics every MS (default 5000)\n"
"  --test-ops            accept the test ops spin, leak, crash (for the harness only)\n"
"  --journal FILE        append one line per queue/exec/answer event (for tests)\n"
"  --log-level LEVEL     err | warn | info | debug (default info)\n"
"  --syslog              also log to syslog (not under journald: it has every line already)\n"
"  --version             print the version\n"
"  -h, --help            this text\n"
"\n"
"Signals: SIGTERM/SIGINT answer the job in hand, then exit; SIGHUP reloads --config;\n"
"SIGUSR1 writes the status and metrics files now.\n"
"Exit status: 0 stopped by SIGTERM/SIGINT after answering the job in hand;\n"
"2 usage or configuration error; 3 start-up error (root, state); 4 no usable executor.\n"
"`status`: 0 running, 3 not running.\n");
}

/* A release build (make install) has no test ops unless built with TEST_OPS=1. */
int vgpu_cli_test_ops_refused(const struct vgpu_config *cfg, char *err, size_t errlen)
{
#ifdef VGPU_NO_TEST_OPS
	if (cfg->test_ops) {
		snprintf(err, errlen, "test_ops: this release build has no test ops (build with "
			 "`make install TEST_OPS=1`, or run the test build in build/)");
		return 1;
	}
#else
	(void)cfg; (void)err; (void)errlen;
#endif
	return 0;
}

/* Parse the options into FLAGS (marking what was given). 0, 1 to exit 0 (help,
 * version), or EXIT_USAGE after saying why. */
int vgpu_cli_parse_args(int argc, char **argv, struct vgpu_config *flags, const char **config, int *check)
{
	enum { O_ROOT = 1000, O_STATE, O_EXEC, O_FALLBACK, O_VM, O_DEFCAP, O_AGING, O_RESCAN, O_GRACE,
	       O_JOBMS, O_MAXJOB, O_MAXPAY, O_RTIMEOUT, O_TESTOPS, O_JOURNAL, O_LOGLEVEL, O_SYSLOG,
	       O_CONFIG, O_CHECK, O_METRICS, O_STATUSMS, O_VMUID, O_VMBYTES, O_OUTTTL, O_MAXQ, O_MAXVMQ, O_VERSION };
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
		{ "config", required_argument, 0, O_CONFIG }, { "check-config", no_argument, 0, O_CHECK },
		{ "metrics", required_argument, 0, O_METRICS },
		{ "status-interval-ms", required_argument, 0, O_STATUSMS },
		{ "vm-uid", required_argument, 0, O_VMUID }, { "max-vm-bytes", required_argument, 0, O_VMBYTES },
		{ "output-ttl-ms", required_argument, 0, O_OUTTTL },
		{ "max-queued-bytes", required_argument, 0, O_MAXQ },
		{ "max-vm-queued-bytes", required_argument, 0, O_MAXVMQ },
		{ "version", no_argument, 0, O_VERSION }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	/* option -> the file's key, for the ones that are one */
	static const struct { int opt; const char *section, *key; unsigned bit; } map[] = {
		{ O_ROOT, "mediator", "root", VGPU_CF_ROOT }, { O_STATE, "mediator", "state", VGPU_CF_STATE },
		{ O_EXEC, "mediator", "executor", VGPU_CF_EXECUTOR },
		{ O_FALLBACK, "mediator", "fallback", VGPU_CF_FALLBACK },
		{ O_DEFCAP, "mediator", "default_cap", VGPU_CF_DEFAULT_CAP },
		{ O_JOURNAL, "mediator", "journal", VGPU_CF_JOURNAL },
		{ O_LOGLEVEL, "mediator", "log_level", VGPU_CF_LOG_LEVEL },
		{ O_METRICS, "mediator", "metrics", VGPU_CF_METRICS },
		{ O_STATUSMS, "mediator", "status_interval_ms", VGPU_CF_STATUS_MS },
		{ O_AGING, "limits", "aging_ms", VGPU_CF_AGING }, { O_RESCAN, "limits", "rescan_ms", VGPU_CF_RESCAN },
		{ O_GRACE, "limits", "grace_ms", VGPU_CF_GRACE }, { O_JOBMS, "limits", "job_ms", VGPU_CF_JOB_MS },
		{ O_MAXJOB, "limits", "max_job_ms", VGPU_CF_MAX_JOB },
		{ O_MAXPAY, "limits", "max_payload", VGPU_CF_MAX_PAYLOAD },
		{ O_RTIMEOUT, "limits", "remote_timeout_ms", VGPU_CF_REMOTE_TIMEOUT },
		{ O_VMBYTES, "limits", "max_vm_bytes", VGPU_CF_MAX_VM_BYTES },
		{ O_OUTTTL, "limits", "output_ttl_ms", VGPU_CF_OUTPUT_TTL },
		{ O_MAXQ, "limits", "max_queued_bytes", VGPU_CF_MAX_QUEUED },
		{ O_MAXVMQ, "limits", "max_vm_queued_bytes", VGPU_CF_MAX_VM_QUEUED },
	};
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		size_t i;

		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (map[i].opt == c)
				break;
		if (i < sizeof(map) / sizeof(map[0])) {
			if (vgpu_config_set(flags, map[i].section, map[i].key, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "vgpu-mediator: --%s: %s\n", longopts[c - O_ROOT].name, err);
				return EXIT_USAGE;
			}
			flags->set |= map[i].bit;
			continue;
		}
		switch (c) {
		case O_VM: case O_VMUID: {
			/* --vm N:PRIO[:UID], --vm-uid N:UID: the [vmN] section's cap and uid */
			char *f1 = strchr(optarg, ':'), *f2 = f1 ? strchr(f1 + 1, ':') : NULL, sect[32], arg[80];
			const char *prio = NULL, *uid = NULL;
			uint64_t id = 0;
			char *end;
			int dup;

			snprintf(arg, sizeof(arg), "%s", optarg);
			if (f1) {
				*f1 = '\0';
				if (f2)
					*f2 = '\0';
				errno = 0;
				id = strtoull(optarg, &end, 10);
				if (errno || *end || !*optarg || *optarg == '0')
					id = 0;
				prio = c == O_VM ? f1 + 1 : NULL;
				uid = c == O_VM ? (f2 ? f2 + 1 : NULL) : f1 + 1;
			}
			if (!f1 || id < 1 || id > VGPU_VM_MAX || (c == O_VMUID && f2) ||
			    (prio && vgpu_prio_parse(prio) < 0) || (uid && !*uid)) {
				fprintf(stderr, "vgpu-mediator: %s %s: expected %s, N in 1..%d\n", c == O_VM ? "--vm" : "--vm-uid",
					arg, c == O_VM ? "N:low|medium|high[:UID]" : "N:UID", VGPU_VM_MAX);
				return EXIT_USAGE;
			}
			if (c == O_VM && vgpu_config_find_vm(flags, (uint32_t)id) &&
			    vgpu_config_find_vm(flags, (uint32_t)id)->cap >= 0) {
				fprintf(stderr, "vgpu-mediator: --vm %s: VM %s given twice\n", arg, optarg);
				return EXIT_USAGE;
			}
			if (!vgpu_config_find_vm(flags, (uint32_t)id) && !vgpu_config_add_vm(flags, (uint32_t)id, &dup)) {
				fprintf(stderr, "vgpu-mediator: out of memory\n");
				return EXIT_USAGE;
			}
			snprintf(sect, sizeof(sect), "vm%s", optarg);
			if ((prio && vgpu_config_set(flags, sect, "cap", prio, err, sizeof(err)) < 0) ||
			    (uid && vgpu_config_set(flags, sect, "uid", uid, err, sizeof(err)) < 0)) {
				fprintf(stderr, "vgpu-mediator: %s: %s\n", c == O_VM ? "--vm" : "--vm-uid", err);
				return EXIT_USAGE;
			}
			break;
		}
		case O_TESTOPS: flags->test_ops = 1; flags->set |= VGPU_CF_TEST_OPS; break;
		case O_SYSLOG: flags->syslog = 1; flags->set |= VGPU_CF_SYSLOG; break;
		case O_CONFIG: *config = optarg; break;
		case O_CHECK: *check = 1; break;
		case O_VERSION:
			printf("vgpu-mediator %s (service manager notification: %s)\n", VGPU_VERSION, vgpu_notify_backend());
			return 1;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vgpu-mediator: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

/* FILE (if any) with FLAGS over it, checked, into CFG. 0 or EXIT_USAGE after saying why. */
int vgpu_cli_configure(const char *file, const struct vgpu_config *flags, struct vgpu_config *cfg)
{
	char err[512];

	vgpu_config_init(cfg);
	if (file && vgpu_config_load(cfg, file, err, sizeof(err)) < 0) {
		fprintf(stderr, "vgpu-mediator: %s\n", err);
		return EXIT_USAGE;
	}
	if (vgpu_config_merge(cfg, flags) < 0) {
		fprintf(stderr, "vgpu-mediator: out of memory\n");
		return EXIT_USAGE;
	}
	if (vgpu_config_validate(cfg, err, sizeof(err)) < 0 || vgpu_cli_test_ops_refused(cfg, err, sizeof(err))) {
		fprintf(stderr, "vgpu-mediator: %s%s%s\n", file ? file : "", file ? ": " : "", err);
		if (!file)
			usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}
