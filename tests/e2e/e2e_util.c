/* e2e_util.c - see e2e_util.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "e2e_util.h"
#include "../common/testutil.h"

void e2e_vmdir(const struct e2e_env *e, uint32_t vm, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/vm%" PRIu32, e->client_root[0] ? e->client_root : e->root, vm);
}

void e2e_server_vmdir(const struct e2e_env *e, uint32_t vm, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/vm%" PRIu32, e->root, vm);
}

int e2e_setup(struct e2e_env *e, int vms)
{
	const char *tmp = getenv("TMPDIR");

	memset(e, 0, sizeof(*e));
	e->build = getenv("VGPU_BUILD") ? getenv("VGPU_BUILD") : "build";
	snprintf(e->dir, sizeof(e->dir), "%s/vgpu-e2e-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(e->dir))
		return -errno;
	snprintf(e->root, sizeof(e->root), "%s/export", e->dir);
	snprintf(e->state, sizeof(e->state), "%s/state", e->dir);
	snprintf(e->journal, sizeof(e->journal), "%s/journal", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/mediator.log", e->dir);
	snprintf(e->backend, sizeof(e->backend), "local");
	snprintf(e->client_root, sizeof(e->client_root), "%s", e->root);
	e->owner = getpid();
	e->guard_fd = -1;
	if (mkdir(e->root, 0755) < 0)
		return -errno;
	for (int i = 1; i <= vms; i++) {
		char d[400];
		e2e_vmdir(e, (uint32_t)i, d, sizeof(d));
		if (mkdir(d, 0777) < 0 || chmod(d, 0777) < 0)
			return -errno;
	}
	return 0;
}

static int log_says_serving(const struct e2e_env *e)
{
	char buf[8192];
	int fd = open(e->log, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strstr(buf, "serving ") && strstr(buf, "with executor") ? 1 : 0;
}

int e2e_start_mediator(struct e2e_env *e, const char *const *args)
{
	const char *argv[64];
	char bin[512];
	int n = 0;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/vgpu-mediator", e->build);
	argv[n++] = bin;
	argv[n++] = "--root";
	argv[n++] = e->root;
	argv[n++] = "--state";
	argv[n++] = e->state;
	argv[n++] = "--journal";
	argv[n++] = e->journal;
	for (int i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(e->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		setpgid(0, 0);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	e->mediator = pid;
	{	/* for the guardian: a mediator outliving a killed test is stopped too */
		char pf[320];
		FILE *f;
		snprintf(pf, sizeof(pf), "%s/mediator.pid", e->dir);
		if ((f = fopen(pf, "w")) != NULL) {
			fprintf(f, "%ld\n", (long)pid);
			fclose(f);
		}
	}
	for (int waited = 0; waited < 20000; waited += 10) {
		int st;
		if (log_says_serving(e))
			return 0;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			e->mediator = 0;
			return -1;
		}
		msleep(10);
	}
	return -1;
}

int e2e_stop_mediator(struct e2e_env *e, int timeout_ms)
{
	int st;

	if (e->mediator <= 0)
		return -1;
	kill(e->mediator, SIGTERM);
	for (int waited = 0; waited < timeout_ms; waited += 10) {
		if (waitpid(e->mediator, &st, WNOHANG) == e->mediator) {
			e->mediator = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		msleep(10);
	}
	kill(-e->mediator, SIGKILL);
	kill(e->mediator, SIGKILL);
	waitpid(e->mediator, &st, 0);
	e->mediator = 0;
	return -1;
}

static int keep_tree(void)
{
	return getenv("VGPU_KEEP") && strcmp(getenv("VGPU_KEEP"), "1") == 0;
}

/* ---- backends: scripts, lists of what was started, the guardian --------------------- */

int e2e_nfs_sim_dir(char *buf, size_t cap)
{
	const char *env = getenv("VGPU_SRCDIR");
	char exe[PATH_MAX], try[PATH_MAX + 64];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, cap, "%s/tests/nfs_sim", env);
		return 0;
	}
	if (access("tests/nfs_sim/mount.sh", X_OK) == 0 && realpath("tests/nfs_sim", exe)) {
		snprintf(buf, cap, "%s", exe);
		return 0;
	}
	/* BUILD/tests/... below the source tree: walk up from the executable */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (char *slash = strrchr(exe, '/'); slash; slash = strrchr(exe, '/')) {
		*slash = '\0';
		snprintf(try, sizeof(try), "%s/tests/nfs_sim/mount.sh", exe);
		if (access(try, X_OK) == 0) {
			snprintf(buf, cap, "%s/tests/nfs_sim", exe);
			return 0;
		}
	}
	return -1;
}

/* Run tests/nfs_sim/SCRIPT with up to 3 arguments, stdout+stderr into OUT (or
 * /dev/null). Returns the exit status, -1 when it could not run. */
static int run_script(const char *dir, const char *bin, const char *out, const char *script,
		      const char *a1, const char *a2, const char *a3)
{
	char sdir[PATH_MAX], path[PATH_MAX + 32], run[320];
	pid_t pid;
	int st;

	if (e2e_nfs_sim_dir(sdir, sizeof(sdir)) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", sdir, script);
	snprintf(run, sizeof(run), "%s/run", dir);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (nul >= 0)
			dup2(nul, 0);
		setenv("NFSSIM_RUN_DIR", run, 1);
		if (bin)
			setenv("NFSSIM_BIN", bin, 1);
		execl("/bin/bash", "bash", path, a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void list_add(const char *dir, const char *list, const char *line)
{
	char path[320];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, list);
	if ((f = fopen(path, "a")) != NULL) {
		fprintf(f, "%s\n", line);
		fclose(f);
	}
}

static void list_remove(const char *dir, const char *list, const char *line)
{
	char path[320], tmp[330], buf[1024];
	FILE *f, *g;

	snprintf(path, sizeof(path), "%s/%s", dir, list);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if (!(f = fopen(path, "r")))
		return;
	if (!(g = fopen(tmp, "w"))) {
		fclose(f);
		return;
	}
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		if (buf[0] && strcmp(buf, line) != 0)
			fprintf(g, "%s\n", buf);
	}
	fclose(f);
	fclose(g);
	rename(tmp, path);
}

/* Unmount every recorded mount, then stop every recorded ganesha (in that order: an
 * nfssim over a stopped server would hang), and empty the lists. */
static void undo_started(const char *dir)
{
	static const char *const lists[2] = { "mounts.list", "ganesha.list" };
	static const char *const scripts[2] = { "umount.sh", "ganesha-down.sh" };
	char path[320], line[1024];
	FILE *f;

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, lists[i]);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] && run_script(dir, NULL, NULL, scripts[i], line, NULL, NULL) != 0)
				fprintf(stderr, "e2e: %s %s failed\n", scripts[i], line);
		}
		fclose(f);
		if (truncate(path, 0) < 0)
			unlink(path);
	}
}

/* Is PID still the program NAME (not a recycled pid)? */
static int pid_is(pid_t pid, const char *name)
{
	char path[64], comm[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return strncmp(comm, name, strlen(name)) == 0;
}

static void remove_tree(const char *dir)
{
	char cmd[600];

	/* --one-file-system: never descend into a mount that could not be undone */
	snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "e2e: could not remove %s\n", dir);
}

/* The guardian: waits until the test process says "done" ('q' on the pipe) or dies
 * (EOF, or reparented); in the second case it stops the mediator, unmounts, stops the
 * servers and removes the tree, as e2e_teardown would have. Its own session, so that a
 * process-group kill of the test (Check's timeout, timeout(1)) does not take it along. */
static void guardian_main(const char *dir, int rfd, pid_t owner, int keep)
{
	char path[320], log[320];
	int fd;

	setsid();
	snprintf(log, sizeof(log), "%s/guardian.log", dir);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		dup2(fd, 0);
	for (;;) {
		struct pollfd pf = { .fd = rfd, .events = POLLIN };
		int r = poll(&pf, 1, 200);
		if (r > 0) {
			char c;
			ssize_t n = read(rfd, &c, 1);
			if (n == 1 && c == 'q')
				_exit(0);
			if (n == 0)
				break;
		}
		if (getppid() != owner)
			break;
	}
	snprintf(path, sizeof(path), "%s/mediator.pid", dir);
	{
		FILE *f = fopen(path, "r");
		long pid = 0;
		if (f) {
			if (fscanf(f, "%ld", &pid) != 1)
				pid = 0;
			fclose(f);
		}
		if (pid > 0 && pid_is((pid_t)pid, "vgpu-mediator")) {
			kill(-(pid_t)pid, SIGKILL);
			kill((pid_t)pid, SIGKILL);
		}
	}
	fprintf(stderr, "e2e guardian: test process %ld gone without teardown: cleaning up %s\n", (long)owner, dir);
	undo_started(dir);
	if (!keep)
		remove_tree(dir);
	_exit(0);
}

static int ensure_guardian(struct e2e_env *e)
{
	int p[2];
	pid_t pid;

	if (e->guardian > 0)
		return 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	e->owner = getpid();
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[1]);
		guardian_main(e->dir, p[0], e->owner, keep_tree());
	}
	close(p[0]);
	e->guard_fd = p[1];
	e->guardian = pid;
	return 0;
}

static void read_errmsg(struct e2e_env *e, const char *out, const char *what)
{
	int fd = open(out, O_RDONLY | O_CLOEXEC);
	size_t len;
	ssize_t n = 0;

	len = (size_t)snprintf(e->errmsg, sizeof(e->errmsg), "%s: ", what);
	if (len >= sizeof(e->errmsg))
		len = sizeof(e->errmsg) - 1;
	if (fd >= 0) {
		n = read(fd, e->errmsg + len, sizeof(e->errmsg) - 1 - len);
		close(fd);
	}
	e->errmsg[len + (n > 0 ? (size_t)n : 0)] = '\0';
	/* one line for the report */
	for (char *c = e->errmsg; *c; c++)
		if (*c == '\n')
			*c = c[1] ? ' ' : '\0';
}

int e2e_mount_nfssim(struct e2e_env *e, const char *backing, const char *mnt, const char *opts)
{
	char bin[400], rbin[PATH_MAX], out[320];
	int rc;

	e->errmsg[0] = '\0';
	if (ensure_guardian(e) < 0) {
		snprintf(e->errmsg, sizeof(e->errmsg), "could not start the guardian: %s", strerror(errno));
		return -1;
	}
	snprintf(bin, sizeof(bin), "%s/nfssim", e->build);
	if (!realpath(bin, rbin)) {
		snprintf(e->errmsg, sizeof(e->errmsg), "%.400s: %s (not built?)", bin, strerror(errno));
		return -1;
	}
	if (mkdir(mnt, 0755) < 0 && errno != EEXIST) {
		snprintf(e->errmsg, sizeof(e->errmsg), "mkdir %s: %s", mnt, strerror(errno));
		return -1;
	}
	list_add(e->dir, "mounts.list", mnt);
	snprintf(out, sizeof(out), "%s/mount.out", e->dir);
	rc = run_script(e->dir, rbin, out, "mount.sh", backing, mnt, opts ? opts : "");
	if (rc != 0) {
		read_errmsg(e, out, "nfssim mount failed");
		return -1;
	}
	return 0;
}

int e2e_umount_nfssim(struct e2e_env *e, const char *mnt)
{
	int rc = run_script(e->dir, NULL, NULL, "umount.sh", mnt, NULL, NULL);

	if (rc == 0)
		list_remove(e->dir, "mounts.list", mnt);
	return rc == 0 ? 0 : -1;
}

int e2e_ganesha_up(struct e2e_env *e, const char *mode, const char *dir, char *url, size_t cap)
{
	static int count;
	char state[320], out[320], path[340];
	FILE *f;
	int rc;

	e->errmsg[0] = '\0';
	if (ensure_guardian(e) < 0) {
		snprintf(e->errmsg, sizeof(e->errmsg), "could not start the guardian: %s", strerror(errno));
		return -1;
	}
	snprintf(state, sizeof(state), "%s/ganesha-%d", e->dir, ++count);
	list_add(e->dir, "ganesha.list", state);
	snprintf(out, sizeof(out), "%s/ganesha-up.out", e->dir);
	rc = run_script(e->dir, NULL, out, "ganesha-up.sh", mode, dir, state);
	if (rc != 0) {
		read_errmsg(e, out, "ganesha-up failed");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/url", state);
	if (!(f = fopen(path, "r")) || !fgets(url, (int)cap, f)) {
		snprintf(e->errmsg, sizeof(e->errmsg), "ganesha-up: no URL in %s", path);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	url[strcspn(url, "\n")] = '\0';
	return 0;
}

void e2e_ganesha_down_all(struct e2e_env *e)
{
	char path[320], line[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ganesha.list", e->dir);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			run_script(e->dir, NULL, NULL, "ganesha-down.sh", line, NULL, NULL);
	}
	fclose(f);
	if (truncate(path, 0) < 0)
		unlink(path);
}

/* A real kernel NFS mount (docs/NFSSIM.md, "kernel NFS hook"): VGPU_KNFS_EXPORT is the
 * server-side directory (the mediator's side), VGPU_KNFS_MOUNT the same directory
 * mounted over NFS (the clients' side). We work in a private subdirectory of it. */
static int setup_knfs(struct e2e_env *e, int vms)
{
	const char *mnt = getenv("VGPU_KNFS_MOUNT"), *exp = getenv("VGPU_KNFS_EXPORT");
	char name[64];

	if (!mnt || !*mnt || !exp || !*exp) {
		snprintf(e->errmsg, sizeof(e->errmsg), "backend knfs needs VGPU_KNFS_MOUNT and VGPU_KNFS_EXPORT");
		return -1;
	}
	snprintf(name, sizeof(name), "vgpu-e2e-%ld-%ld", (long)getpid(), (long)time(NULL));
	snprintf(e->knfs_dir, sizeof(e->knfs_dir), "%s/%s", exp, name);
	if (mkdir(e->knfs_dir, 0755) < 0) {
		snprintf(e->errmsg, sizeof(e->errmsg), "mkdir %s: %s", e->knfs_dir, strerror(errno));
		e->knfs_dir[0] = '\0';
		return -1;
	}
	snprintf(e->backend, sizeof(e->backend), "knfs");
	snprintf(e->root, sizeof(e->root), "%s", e->knfs_dir);
	snprintf(e->client_root, sizeof(e->client_root), "%s/%s", mnt, name);
	for (int i = 1; i <= vms; i++) {
		char d[400];
		e2e_server_vmdir(e, (uint32_t)i, d, sizeof(d));
		if (mkdir(d, 0777) < 0 || chmod(d, 0777) < 0) {
			snprintf(e->errmsg, sizeof(e->errmsg), "mkdir %s: %s", d, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int e2e_setup_backend(struct e2e_env *e, int vms, const char *backend, const char *nfssim_opts)
{
	char mnt[300], opts[1024];
	int rc;

	if (!backend || !*backend)
		backend = getenv("E2E_BACKEND");
	if (!backend || !*backend)
		backend = "local";
	if ((rc = e2e_setup(e, vms)) < 0) {
		snprintf(e->errmsg, sizeof(e->errmsg), "private tree: %s", strerror(-rc));
		return -1;
	}
	/* a killed test leaves no mediator, mount or server behind */
	if (ensure_guardian(e) < 0) {
		snprintf(e->errmsg, sizeof(e->errmsg), "could not start the guardian: %s", strerror(errno));
		return -1;
	}
	if (strcmp(backend, "local") == 0)
		return 0;
	if (strcmp(backend, "knfs") == 0)
		return setup_knfs(e, vms);
	if (strcmp(backend, "nfssim-local") != 0 && strcmp(backend, "nfssim-ganesha") != 0) {
		snprintf(e->errmsg, sizeof(e->errmsg), "unknown backend %s (local, nfssim-local, nfssim-ganesha, knfs)",
			 backend);
		return -1;
	}
	snprintf(e->backend, sizeof(e->backend), "%s", backend);
	/* the simulated client and the server act as other uids below this tree */
	chmod(e->dir, 0755);
	snprintf(mnt, sizeof(mnt), "%s/mnt", e->dir);
	if (!nfssim_opts)
		nfssim_opts = E2E_NFSSIM_OPTS_DEFAULT;
	if (strcmp(backend, "nfssim-local") == 0) {
		if (e2e_mount_nfssim(e, e->root, mnt, nfssim_opts) < 0)
			return -1;
	} else {
		const char *mode = getenv("E2E_GANESHA_MODE");
		if (!mode || !*mode)
			mode = "root_squash";
		if (strcmp(mode, "root_squash") == 0) {
			/* docs/XEN.md: the VM directories belong to the anonymous uid */
			for (int i = 1; i <= vms; i++) {
				char d[400];
				e2e_server_vmdir(e, (uint32_t)i, d, sizeof(d));
				if (chown(d, 65534, 65534) < 0 || chmod(d, 0755) < 0) {
					snprintf(e->errmsg, sizeof(e->errmsg), "chown %s: %s", d, strerror(errno));
					return -1;
				}
			}
		}
		if (e2e_ganesha_up(e, mode, e->root, e->ganesha_url, sizeof(e->ganesha_url)) < 0)
			return -1;
		snprintf(opts, sizeof(opts), "squash=none%s%s", *nfssim_opts ? "," : "", nfssim_opts);
		if (e2e_mount_nfssim(e, e->ganesha_url, mnt, opts) < 0)
			return -1;
	}
	snprintf(e->client_root, sizeof(e->client_root), "%s", mnt);
	return 0;
}

long e2e_nfssim_stat(const struct e2e_env *e, const char *mnt, const char *key)
{
	char path[400], buf[16384], sect[64], pat[128];
	const char *dot = strchr(key, '.'), *p = buf, *k;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/.nfssim/stats", mnt ? mnt : e->client_root);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (dot) {
		snprintf(sect, sizeof(sect), "\"%.*s\":", (int)(dot - key), key);
		if (!(p = strstr(buf, sect)))
			return -1;
		key = dot + 1;
	}
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	if (!(k = strstr(p, pat)))
		return dot && strncmp(sect, "\"faults\"", 8) == 0 ? 0 : -1;   /* no such fault yet */
	return strtol(k + strlen(pat), NULL, 10);
}

int e2e_nfssim_ctl(const struct e2e_env *e, const char *mnt, const char *settings)
{
	char path[400];
	int fd, rc = 0;
	size_t len = strlen(settings);

	snprintf(path, sizeof(path), "%s/.nfssim/ctl", mnt ? mnt : e->client_root);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (write(fd, settings, len) != (ssize_t)len)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	return rc;
}

/* The clients' lock files live outside the tree, one per VM directory (the client's
 * default location, docs/CLIENT.md): remove those of this tree's VM directories. */
static void remove_client_locks(const struct e2e_env *e)
{
	const char *top = e->client_root[0] ? e->client_root : e->root;
	struct vgpu_client_opts o = { .timeout_ms = 100 };
	struct dirent *d;
	DIR *dir;

	if (!top[0] || !(dir = opendir(top)))
		return;
	while ((d = readdir(dir))) {
		char path[600], err[256];
		struct vgpu_client *c;

		if (!vgpu_client_dir_vm(d->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", top, d->d_name);
		if (vgpu_client_open(&c, path, &o, err, sizeof(err)) != VGPU_CLIENT_OK)
			continue;
		if (vgpu_client_lock_path(c)[0])
			unlink(vgpu_client_lock_path(c));
		vgpu_client_close(c);
	}
	closedir(dir);
}

void e2e_teardown(struct e2e_env *e)
{
	if (e->mediator > 0) {
		kill(-e->mediator, SIGKILL);
		kill(e->mediator, SIGKILL);
		waitpid(e->mediator, NULL, 0);
		e->mediator = 0;
	}
	if (e->dir[0] && e->guardian > 0 && e->owner == getpid()) {
		undo_started(e->dir);
		if (write(e->guard_fd, "q", 1) != 1)
			kill(e->guardian, SIGKILL);
		close(e->guard_fd);
		waitpid(e->guardian, NULL, 0);
		e->guardian = 0;
		e->guard_fd = -1;
	}
	if (e->dir[0] && e->owner == getpid())
		remove_client_locks(e);
	if (e->dir[0] && !keep_tree())
		remove_tree(e->dir);
	if (e->knfs_dir[0] && !keep_tree())
		remove_tree(e->knfs_dir);
}

static int journal_scan(const struct e2e_env *e, const char *event, uint32_t vm, int64_t seq,
			uint32_t *order, int max)
{
	FILE *f = fopen(e->journal, "r");
	char line[512];
	int count = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char ev[32];
		unsigned lvm;
		long long lseq;

		if (sscanf(line, "%31s vm=%u seq=%lld", ev, &lvm, &lseq) != 3 || strcmp(ev, event) != 0)
			continue;
		if ((vm && lvm != vm) || (seq && lseq != seq))
			continue;
		if (order && count < max)
			order[count] = lvm;
		count++;
	}
	fclose(f);
	return count;
}

int e2e_journal_count(const struct e2e_env *e, const char *event, uint32_t vm, int64_t seq)
{
	return journal_scan(e, event, vm, seq, NULL, 0);
}

int e2e_journal_wait(const struct e2e_env *e, const char *event, uint32_t vm, int64_t seq, int count,
		     int bound_ms)
{
	int n;

	TU_WAIT_FOR((n = e2e_journal_count(e, event, vm, seq)) >= count, bound_ms);
	return n;
}

int e2e_log_wait(const struct e2e_env *e, const char *needle, int count, int bound_ms)
{
	int n;

	TU_WAIT_FOR((n = e2e_log_count(e, needle)) >= count, bound_ms);
	return n;
}

int e2e_journal_exec_order(const struct e2e_env *e, uint32_t *out, int max)
{
	int n = journal_scan(e, "exec", 0, 0, out, max);
	return n < max ? n : max;
}

int e2e_run_client(const struct e2e_env *e, const char *const *args, int kill_ms, char *out, size_t cap,
		   long *elapsed_ms)
{
	const char *argv[40];
	char bin[512], path[320];
	struct timespec t0, t1;
	int n = 0, st = 0, fd, done = 0;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/vgpu-client", e->build);
	snprintf(path, sizeof(path), "%s/client.out", e->dir);
	argv[n++] = bin;
	for (int i = 0; args && args[i] && n < 39; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int o = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (o >= 0) {
			dup2(o, 1);
			dup2(o, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (int waited = 0; waited <= kill_ms; waited += 5) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			done = 1;
			break;
		}
		msleep(5);
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (elapsed_ms)
		*elapsed_ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (out && cap) {
		ssize_t r = 0;
		out[0] = '\0';
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			r = read(fd, out, cap - 1);
			close(fd);
		}
		out[r > 0 ? r : 0] = '\0';
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

uint64_t e2e_mono_ms(void)
{
	return tu_now_ms();
}

void e2e_msleep(int ms)
{
	msleep(ms);
}

void e2e_call_start(const struct e2e_env *e, struct e2e_call *c, uint32_t vm, const struct vgpu_request *proto,
		    int timeout_ms)
{
	int p[2];

	memset(c, 0, sizeof(*c));
	c->vm = vm;
	c->fd = -1;
	if (pipe(p) < 0)
		return;
	c->pid = fork();
	if (c->pid == 0) {
		struct vgpu_client_opts o = { .timeout_ms = timeout_ms, .lock_dir = e->dir };
		struct vgpu_request req = *proto;
		struct vgpu_response resp;
		struct vgpu_client *cl = NULL;
		struct e2e_call_out out;
		char dir[400];
		uint64_t t0 = e2e_mono_ms();

		close(p[0]);
		memset(&out, 0, sizeof(out));
		out.status = -1;
		e2e_vmdir(e, vm, dir, sizeof(dir));
		out.rc = vgpu_client_open(&cl, dir, &o, out.error, sizeof(out.error));
		if (out.rc == VGPU_CLIENT_OK) {
			memset(&resp, 0, sizeof(resp));
			out.rc = vgpu_client_call(cl, &req, NULL, 0, &resp, NULL, NULL, out.error, sizeof(out.error));
			out.my_seq = vgpu_client_last_seq(cl);
			if (out.rc == VGPU_CLIENT_OK || out.rc == VGPU_CLIENT_ESTATUS) {
				out.status = resp.status;
				out.vm = resp.vm;
				out.seq = resp.seq;
				snprintf(out.result, sizeof(out.result), "%.199s", resp.result);
				snprintf(out.error, sizeof(out.error), "%.299s", resp.error);
			}
			vgpu_client_close(cl);
		}
		out.ms = e2e_mono_ms() - t0;
		if (write(p[1], &out, sizeof(out)) != (ssize_t)sizeof(out))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (c->pid < 0) {
		close(p[0]);
		return;
	}
	c->fd = p[0];
}

void e2e_call_wait(struct e2e_call *c)
{
	if (c->fd >= 0) {
		if (read(c->fd, &c->out, sizeof(c->out)) != (ssize_t)sizeof(c->out)) {
			memset(&c->out, 0, sizeof(c->out));
			c->out.rc = -1;
			c->out.status = -1;
			snprintf(c->out.error, sizeof(c->out.error), "client child died");
		}
		close(c->fd);
		c->fd = -1;
	}
	if (c->pid > 0)
		waitpid(c->pid, NULL, 0);
	c->pid = 0;
}

int e2e_mediator_slots(const struct e2e_env *e)
{
	FILE *f = fopen(e->log, "r");
	char line[1024];
	int n = 1;

	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, " with executor ");
		int v;

		if (p && (p = strchr(p, '(')) && sscanf(p, "(%d slot", &v) == 1 && v > 0)
			n = v;
	}
	fclose(f);
	return n;
}

int e2e_log_count(const struct e2e_env *e, const char *needle)
{
	FILE *f = fopen(e->log, "r");
	char line[2048];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

void e2e_journal_last_status(const struct e2e_env *e, uint32_t vm, int64_t seq, char *out, size_t cap)
{
	FILE *f = fopen(e->journal, "r");
	char line[512];

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned lvm;
		long long lseq;
		char *st;

		if (sscanf(line, "answer vm=%u seq=%lld", &lvm, &lseq) != 2 || lvm != vm || lseq != seq)
			continue;
		if ((st = strstr(line, "status=")) != NULL) {
			snprintf(out, cap, "%s", st + 7);
			out[strcspn(out, " \n")] = '\0';
		}
	}
	fclose(f);
}

pid_t e2e_worker_pid(const struct e2e_env *e)
{
	char path[128], buf[256];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)e->mediator, (int)e->mediator);
	if (!(f = fopen(path, "r")))
		return 0;
	if (fgets(buf, sizeof(buf), f))
		pid = strtol(buf, NULL, 10);
	fclose(f);
	return (pid_t)pid;
}
