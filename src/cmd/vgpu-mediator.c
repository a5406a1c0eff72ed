/* vgpu-mediator - the Dom0 daemon: serves ROOT/vmN/command.txt, answers response.txt.
 * The command line and the configuration file (src/mediator/config.c), signals (stop,
 * reload, status now), the service manager (notify.h), the status and metrics files,
 * and `vgpu-mediator status`; the core is src/mediator/. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec/executor.h"
#include "lib/log.h"
#include "lib/record.h"
#include "lib/version.h"
#include "mediator/config.h"
#include "mediator/mediator.h"
#include "mediator/report.h"
#include "notify.h"

#define EXIT_USAGE 2
#define EXIT_START 3
#define EXIT_EXECUTOR 4
#define EXIT_NOT_RUNNING 3      /* `status`: no daemon (LSB's "program is not running") */

#define STATUS_FILE "status"
#define METRICS_FILE "metrics.prom"
#define DEFAULT_STATE "/var/lib/vgpu-mediator"

static struct vgpu_mediator *the_mediator;
static volatile sig_atomic_t got_stop, got_hup, got_usr1;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_stop = sig;
	if (the_mediator) {
		if (sig == SIGTERM || sig == SIGINT)
			vgpu_mediator_stop(the_mediator);
		else
			vgpu_mediator_wake(the_mediator);
	}
}

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

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A release build (make install) has no test ops unless built with TEST_OPS=1. */
static int test_ops_refused(const struct vgpu_config *cfg, char *err, size_t errlen)
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

/* --- the daemon's state between turns of the loop ------------------------------------ */

struct daemon {
	const char *config_path;         /* NULL: command line only */
	const struct vgpu_config *flags; /* the command line, applied over every reload */
	struct vgpu_config *boot;        /* what the core was started with (its strings live on) */
	struct vgpu_config *cur;         /* the configuration in force (boot or the last reload) */
	int64_t started_ms;
	uint64_t next_status_ms, next_watchdog_ms, watchdog_ms;
	uint64_t reloads, reload_failures;
	int64_t last_reload_ms;
	int last_reload_ok;
	char last_notify[256];
	int status_warned;
	int stopped;                     /* the loop has ended: the last report says so */
};

static void write_reports(struct vgpu_mediator *m, struct daemon *d)
{
	struct vgpu_report st = { 0 };
	char path[PATH_MAX], *text = NULL, *prom = NULL, note[256];
	int rc;

	if (vgpu_mediator_report(m, &st) < 0)
		return;
	snprintf(st.version, sizeof(st.version), "%s", VGPU_VERSION);
	st.pid = (long)getpid();
	st.started_ms = d->started_ms;
	st.now_ms = wall_ms();
	st.reloads = d->reloads;
	st.reload_failures = d->reload_failures;
	st.last_reload_ms = d->last_reload_ms;
	st.last_reload_ok = d->last_reload_ok;
	st.config = d->config_path;
	if (d->stopped)
		st.stopping = 2;
	text = vgpu_report_text(&st);
	prom = vgpu_report_prom(&st);
	snprintf(note, sizeof(note), "STATUS=%s; queue %zu high, %zu medium, %zu low; %d running; answered %" PRIu64,
		 st.stopping ? "stopping" : "serving", st.queued[2], st.queued[1], st.queued[0], st.running,
		 st.answered);
	if (strcmp(note, d->last_notify) != 0) {
		vgpu_notify(note);
		snprintf(d->last_notify, sizeof(d->last_notify), "%s", note);
	}
	rc = 0;
	if (text) {
		snprintf(path, sizeof(path), "%s/%s", d->boot->state, STATUS_FILE);
		rc = vgpu_report_write_file(path, text, strlen(text));
	}
	if (rc == 0 && prom) {
		snprintf(path, sizeof(path), "%s/%s", d->boot->state, METRICS_FILE);
		rc = vgpu_report_write_file(path, prom, strlen(prom));
		if (rc == 0 && d->cur->metrics) {
			snprintf(path, sizeof(path), "%s", d->cur->metrics);
			rc = vgpu_report_write_file(path, prom, strlen(prom));
		}
	}
	if (rc < 0 && !d->status_warned++)
		vgpu_warn("writing %s: %s; status and metrics may be stale (logged once)", path, strerror(-rc));
	else if (rc == 0)
		d->status_warned = 0;
	free(text);
	free(prom);
	vgpu_report_release(&st);
}

/* Read the configuration again: the file, then the command line over it. */
static void reload(struct vgpu_mediator *m, struct daemon *d)
{
	struct vgpu_config *n = malloc(sizeof(*n));
	struct vgpu_mediator_config mc;
	char err[512], restart[256];

	d->last_reload_ms = wall_ms();
	d->last_reload_ok = 0;
	if (!n) {
		vgpu_err("reload: out of memory; keeping the running configuration");
		d->reload_failures++;
		return;
	}
	vgpu_config_init(n);
	if (vgpu_config_load(n, d->config_path, err, sizeof(err)) < 0 || vgpu_config_merge(n, d->flags) < 0 ||
	    vgpu_config_validate(n, err, sizeof(err)) < 0 || test_ops_refused(n, err, sizeof(err))) {
		vgpu_err("reload: %s; keeping the running configuration", err);
		goto fail;
	}
	vgpu_config_to_mediator(n, &mc);
	if (vgpu_mediator_reconfigure(m, &mc) < 0) {
		vgpu_err("reload: out of memory; keeping the running configuration");
		goto fail;
	}
	vgpu_config_restart_fields(d->boot, n, restart, sizeof(restart));
	if (restart[0])
		vgpu_warn("reload: %s changed; only a restart applies %s (the running value%s kept)", restart,
			  strchr(restart, ',') ? "them" : "it", strchr(restart, ',') ? "s are" : " is");
	vgpu_log_set_level(n->log_level);
	vgpu_info("reload: %s applied: %zu VM section%s, serve %s, default cap %s", d->config_path, n->nvms,
		  n->nvms == 1 ? "" : "s", n->only_listed ? "listed" : "all",
		  vgpu_prio_name((enum vgpu_prio)n->default_cap));
	if (d->cur != d->boot) {
		vgpu_config_release(d->cur);
		free(d->cur);
	}
	d->cur = n;
	d->reloads++;
	d->last_reload_ok = 1;
	return;
fail:
	d->reload_failures++;
	vgpu_config_release(n);
	free(n);
}

static const char *signame(int sig)
{
	return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGUSR1";
}

/* After every turn of the loop, and at least once a second. */
static void tick(struct vgpu_mediator *m, void *arg)
{
	struct daemon *d = arg;
	uint64_t now = mono_ms();
	int report = 0;

	if (got_stop) {
		struct vgpu_report st = { 0 };

		if (vgpu_mediator_report(m, &st) == 0) {
			vgpu_info("%s received: answering the %d job%s in hand, then exiting (%zu queued stay for the "
				  "next start)", signame(got_stop), st.running, st.running == 1 ? "" : "s",
				  st.queued[0] + st.queued[1] + st.queued[2]);
			vgpu_report_release(&st);
		}
		got_stop = 0;
		vgpu_notify("STOPPING=1");
		report = 1;
	}
	if (got_hup) {
		got_hup = 0;
		if (!d->config_path) {
			vgpu_warn("SIGHUP received: no --config file to reload; nothing changed");
		} else {
			vgpu_info("SIGHUP received: reloading %s", d->config_path);
			vgpu_notify("RELOADING=1");
			reload(m, d);
			vgpu_notify("READY=1");
		}
		report = 1;
	}
	if (got_usr1) {
		got_usr1 = 0;
		vgpu_debug("SIGUSR1 received: writing the status and metrics files");
		report = 1;
	}
	if (d->watchdog_ms && now >= d->next_watchdog_ms) {
		vgpu_notify("WATCHDOG=1");
		d->next_watchdog_ms = now + d->watchdog_ms;
	}
	if (report || now >= d->next_status_ms) {
		write_reports(m, d);
		d->next_status_ms = now + d->cur->status_ms;
	}
}

/* --- the command line -------------------------------------------------------------- */

/* Parse the options into FLAGS (marking what was given). 0, 1 to exit 0 (help,
 * version), or EXIT_USAGE after saying why. */
static int parse_args(int argc, char **argv, struct vgpu_config *flags, const char **config, int *check)
{
	enum { O_ROOT = 1000, O_STATE, O_EXEC, O_FALLBACK, O_VM, O_DEFCAP, O_AGING, O_RESCAN, O_GRACE,
	       O_JOBMS, O_MAXJOB, O_MAXPAY, O_RTIMEOUT, O_TESTOPS, O_JOURNAL, O_LOGLEVEL, O_SYSLOG,
	       O_CONFIG, O_CHECK, O_METRICS, O_STATUSMS, O_VMUID, O_VMBYTES, O_OUTTTL, O_VERSION };
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
static int configure(const char *file, const struct vgpu_config *flags, struct vgpu_config *cfg)
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
	if (vgpu_config_validate(cfg, err, sizeof(err)) < 0 || test_ops_refused(cfg, err, sizeof(err))) {
		fprintf(stderr, "vgpu-mediator: %s%s%s\n", file ? file : "", file ? ": " : "", err);
		if (!file)
			usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

/* --- `vgpu-mediator status` -------------------------------------------------------- */

static int status_main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, 0, 'c' }, { "state", required_argument, 0, 's' },
		{ "metrics", no_argument, 0, 'm' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	const char *config = NULL, *state = NULL, *what = STATUS_FILE;
	struct vgpu_config cfg;
	char path[PATH_MAX], err[512], buf[1 << 16];
	struct stat before, after;
	long pid = 0;
	int c, running = 0, fd;
	ssize_t n;

	vgpu_config_init(&cfg);
	buf[0] = '\0';
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': state = optarg; break;
		case 'm': what = METRICS_FILE; break;
		case 'h':
			printf("Usage: vgpu-mediator status [--config FILE] [--state DIR] [--metrics]\n"
			       "Show the running daemon's status (or its metrics) from STATE/%s.\n"
			       "STATE: --state, else the state of --config (default %s when it exists),\n"
			       "else %s. Exit status: 0 running, 2 usage, 3 not running.\n",
			       STATUS_FILE, VGPU_CONFIG_DEFAULT_PATH, DEFAULT_STATE);
			return 0;
		default: return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vgpu-mediator status: unexpected argument: %s\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (!state) {
		if (!config && access(VGPU_CONFIG_DEFAULT_PATH, F_OK) == 0)
			config = VGPU_CONFIG_DEFAULT_PATH;
		/* a broken file must not hide the running daemon's status: use what was read */
		if (config && vgpu_config_load(&cfg, config, err, sizeof(err)) < 0)
			fprintf(stderr, "vgpu-mediator status: %s; looking in %s\n", err,
				cfg.state ? cfg.state : DEFAULT_STATE);
		state = cfg.state ? cfg.state : DEFAULT_STATE;
	}
	snprintf(path, sizeof(path), "%s/%s", state, STATUS_FILE);
	if (stat(path, &before) < 0) {
		fprintf(stderr, "vgpu-mediator status: %s: %s (is the daemon running with --state %s?)\n", path,
			strerror(errno), state);
		vgpu_config_release(&cfg);
		return EXIT_NOT_RUNNING;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, 256) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "vgpu-mediator %*s pid %ld", &pid) != 1)
			pid = 0;
	}
	/* ask for a fresh report, and wait for it a little */
	if (pid > 0 && kill((pid_t)pid, SIGUSR1) == 0) {
		running = 1;
		for (int i = 0; i < 40; i++) {
			struct timespec ts = { 0, 25 * 1000 * 1000 };

			if (stat(path, &after) == 0 && (after.st_ino != before.st_ino ||
							 after.st_mtim.tv_nsec != before.st_mtim.tv_nsec ||
							 after.st_mtim.tv_sec != before.st_mtim.tv_sec))
				break;
			nanosleep(&ts, NULL);
		}
	} else if (pid > 0 && errno == EPERM) {
		running = 1;   /* someone else's: the last report will do */
	}
	snprintf(path, sizeof(path), "%s/%s", state, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "vgpu-mediator status: %s: %s\n", path, strerror(errno));
		vgpu_config_release(&cfg);
		return EXIT_NOT_RUNNING;
	}
	if (running && strstr(buf, ", stopped,"))
		running = 0;     /* the process is still exiting */
	if (!running)
		printf("vgpu-mediator is not running (pid %ld %s); its last report:\n", pid,
		       pid > 0 && kill((pid_t)pid, 0) == 0 ? "is exiting" : "is gone");
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	close(fd);
	vgpu_config_release(&cfg);
	return running ? 0 : EXIT_NOT_RUNNING;
}

/* --- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct vgpu_exec_opts xo = { 0 };
	struct vgpu_config flags, *cfg = NULL;
	struct vgpu_mediator_config mc;
	struct vgpu_executor *ex = NULL;
	struct vgpu_mediator *m = NULL;
	struct daemon d = { 0 };
	const char *config = NULL;
	char why[512] = "", err[512] = "";
	char *worker = NULL, *sanity = NULL;
	struct sigaction sa;
	int rc, check = 0, exit_code = 0;

	if (argc > 1 && strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	vgpu_log_set_tag("mediator");
	vgpu_config_init(&flags);
	rc = parse_args(argc, argv, &flags, &config, &check);
	if (rc) {
		vgpu_config_release(&flags);
		return rc == 1 ? 0 : rc;
	}
	cfg = malloc(sizeof(*cfg));
	if (!cfg || (rc = configure(config, &flags, cfg)) != 0) {
		exit_code = cfg ? rc : EXIT_USAGE;
		goto out;
	}
	if (check) {
		char *text = vgpu_config_format(cfg);

		printf("# vgpu-mediator %s: configuration OK (%s%s)\n%s", VGPU_VERSION, config ? config : "",
		       config ? (flags.set || flags.nvms ? " and the command line" : "") : "the command line",
		       text ? text : "");
		free(text);
		goto out;
	}
	vgpu_log_set_level(cfg->log_level);
	if (cfg->syslog)
		vgpu_log_use_syslog("vgpu-mediator");
	{
		/* One descriptor per VM directory is held open: use all we may. */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (cfg->fallback && strcmp(cfg->fallback, "mock") == 0)
		xo.fallback_mock = 1;
	else if (cfg->fallback && strncmp(cfg->fallback, "remote:", 7) == 0)
		xo.remote_dir = cfg->fallback + 7;
	xo.remote_timeout_ms = cfg->remote_timeout_ms;
	worker = sibling(argv[0], "vgpu-worker");
	sanity = sibling(argv[0], "cuda-sanity");
	xo.worker_path = worker;
	xo.sanity_path = sanity;
	rc = vgpu_executor_open(cfg->executor ? cfg->executor : "auto", &xo, &ex, why, sizeof(why), err, sizeof(err));
	if (rc < 0) {
		vgpu_err("%s", err);
		exit_code = EXIT_EXECUTOR;
		goto out;
	}
	if (why[0])
		vgpu_info("%s", why);
	vgpu_config_to_mediator(cfg, &mc);
	mc.ex = ex;
	if (vgpu_mediator_new(&m, &mc, err, sizeof(err)) < 0) {
		vgpu_err("%s", err);
		exit_code = EXIT_START;
		goto out;
	}
	the_mediator = m;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	d.config_path = config;
	d.flags = &flags;
	d.boot = d.cur = cfg;
	d.started_ms = wall_ms();
	d.watchdog_ms = vgpu_notify_watchdog_usec() / 2000;
	vgpu_info("serving %s with executor %s (%d slot%s)%s%s", cfg->root, ex->ops->name, ex->nslots,
		  ex->nslots == 1 ? "" : "s", config ? ", configuration " : "", config ? config : "");
	write_reports(m, &d);
	vgpu_notify("READY=1");
	rc = vgpu_mediator_run_tick(m, 1000, tick, &d);
	the_mediator = NULL;
	d.stopped = 1;
	write_reports(m, &d);
	exit_code = rc < 0 ? EXIT_START : 0;
out:
	vgpu_mediator_free(m);
	vgpu_executor_close(ex);
	free(worker);
	free(sanity);
	if (d.cur && d.cur != cfg) {
		vgpu_config_release(d.cur);
		free(d.cur);
	}
	if (cfg) {
		vgpu_config_release(cfg);
		free(cfg);
	}
	vgpu_config_release(&flags);
	return exit_code;
}
