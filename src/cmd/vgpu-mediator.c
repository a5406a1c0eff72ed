/* vgpu-mediator - the Dom0 daemon: serves ROOT/vmN/command.txt, answers response.txt.
 * main(), signals (stop, reload, status now), the service manager (notify.h), the
 * status and metrics files, and `vgpu-mediator status`; the command line is
 * mediator_cli.c, the configuration file src/mediator/config.c, the core src/mediator/. */
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
#include "mediator/lock.h"
#include "mediator/mediator.h"
#include "mediator/report.h"
#include "mediator/state.h"
#include "mediator_cli.h"
#include "notify.h"

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
	    vgpu_config_validate(n, err, sizeof(err)) < 0 || vgpu_cli_test_ops_refused(n, err, sizeof(err))) {
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

/* --- start-up: the root and the state before anything starts --------------------------- */

/* Before the executor starts (cuda-sanity, a worker per GPU): the root and the state
 * directory usable, the state outside the root, and both locks taken and kept for the
 * life of the process (lock.h), so that a wrong path or a second mediator fails at once
 * having started nothing. vgpu_mediator_new() checks all of it again (the backstop) and
 * finds the locks its own. 0, or -1 with ERR set. */
static int preflight(const struct vgpu_config *cfg, char *err, size_t errlen)
{
	char rreal[PATH_MAX], sreal[PATH_MAX];
	int rootfd, statefd, lockfd, holder = 0;
	size_t l;

	rootfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		snprintf(err, errlen, "--root %s: %s", cfg->root, strerror(errno));
		return -1;
	}
	statefd = vgpu_state_open_dir(cfg->state);
	if (statefd < 0) {
		snprintf(err, errlen, "--state %s: %s", cfg->state, strerror(-statefd));
		close(rootfd);
		return -1;
	}
	if (realpath(cfg->root, rreal) && realpath(cfg->state, sreal) && (l = strlen(rreal)) &&
	    strncmp(sreal, rreal, l) == 0 && (sreal[l] == '/' || sreal[l] == '\0' || l == 1)) {
		snprintf(err, errlen, "--state %s is inside --root %s (the export): keep it on local disk "
			 "outside, e.g. /var/lib/vgpu-mediator", cfg->state, cfg->root);
		goto fail;
	}
	lockfd = vgpu_lock_claim(statefd, "lock", &holder);
	if (lockfd < 0) {
		if (lockfd == -EBUSY)
			snprintf(err, errlen, "--state %s is in use by another vgpu-mediator (pid %d): two "
				 "mediators would run every request twice; stop that one first", cfg->state, holder);
		else
			snprintf(err, errlen, "--state %s: lock: %s", cfg->state, strerror(-lockfd));
		goto fail;
	}
	if (vgpu_lock_claim(rootfd, NULL, &holder) == -EBUSY) {
		snprintf(err, errlen, "--root %s is served by another vgpu-mediator (pid %d, with another "
			 "--state): two mediators would run every request twice; stop that one first",
			 cfg->root, holder);
		goto fail;
	}
	close(statefd);
	return 0;     /* rootfd and lockfd stay open: they hold the locks */
fail:
	close(statefd);
	close(rootfd);
	return -1;
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
	rc = vgpu_cli_parse_args(argc, argv, &flags, &config, &check);
	if (rc) {
		vgpu_config_release(&flags);
		return rc == 1 ? 0 : rc;
	}
	cfg = malloc(sizeof(*cfg));
	if (!cfg || (rc = vgpu_cli_configure(config, &flags, cfg)) != 0) {
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
		/* Two descriptors per VM served are held open (its directory, its state
		 * journal): use all we may. */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (preflight(cfg, err, sizeof(err)) < 0) {
		vgpu_err("%s", err);
		exit_code = EXIT_START;
		goto out;
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
