/* err02_tmpfs_export.c - ERRORS_LOG error 2: "tmpfs Cannot Be Exported via NFS"
 * ("exportfs: /dev/shm does not support NFS export"; "VM mount hangs or fails").
 *
 * What a real kernel does: knfsd accepted a tmpfs export without fsid= (tests/vm,
 * `make check-knfs`), so this scenario does not claim a refusal. The real failure of the
 * errors log's first attempt, VM directories on /dev/shm, is that a tmpfs keeps nothing:
 * when the host reboots (the tmpfs is unmounted and mounted again) every VM directory,
 * pending command and saved answer is gone, and the VMs' handles to them are stale.
 * The tmpfs here is a private one mounted for the test (statfs TMPFS_MAGIC checked), so
 * that the reboot is real: umount, mount again.
 * Naive control: VM directories, a command, an answer and the answered seq kept on the
 * tmpfs; after the remount vm1/ is gone and a write of the VM's next command fails
 * (ENOENT), while the same files on the real file system are still there.
 * Ours: vgpu-mediator --root on the tmpfs detects it at start-up and warns (fsid=, the
 * symlink approach); the symlink approach end to end: the export directory on a real file
 * system, a symlink to it in the tmpfs; the mediator is given the symlink and does not
 * warn, clients using the symlink path are answered; after a reboot of the tmpfs the
 * symlink is made again (as a boot script does) and the VMs continue with their next seq
 * (the answers and state kept on disk), nothing answered twice.
 * Injections = tmpfs reboots performed (remounts that emptied it) and tmpfs roots the
 * mediator detected.
 * Handling proved (src/): src/mediator/mediator.c (the tmpfs check at start-up,
 * fsid=/symlink warning), src/cmd/vgpu-mediator.c. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "client/client.h"
#include "../e2e/e2e_util.h"
#include "harness.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/* Mount a private tmpfs at DIR (mkdir'ed). 0 or -1. */
static int tmpfs_mount(const char *dir)
{
	char cmd[600];

	mkdir(dir, 0755);
	snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=16m,mode=0777 vgpu-err02 '%s' 2>/dev/null", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int tmpfs_umount(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "umount '%s' 2>/dev/null || umount -l '%s' 2>/dev/null", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int is_tmpfs(const char *path)
{
	struct statfs s;

	return statfs(path, &s) == 0 && (unsigned long)s.f_type == TMPFS_MAGIC;
}

/* A host reboot, for the tmpfs: unmount it and mount a fresh one. 1 when it came back
 * empty of what it held (a tmpfs), 0 when something survived, -1 on failure. */
static int tmpfs_reboot(const char *dir, const char *probe)
{
	char p[700];

	snprintf(p, sizeof(p), "%s/%s", dir, probe);
	if (tmpfs_umount(dir) < 0 || tmpfs_mount(dir) < 0)
		return -1;
	return is_tmpfs(dir) && access(p, F_OK) < 0 ? 1 : 0;
}

/* The naive host's files for vm1 in ROOT: an answered exchange and the answered seq. */
static int naive_files(const char *root)
{
	char p[700];
	FILE *f;

	snprintf(p, sizeof(p), "%s/vm1", root);
	if (mkdir(p, 0777) < 0 && errno != EEXIST)
		return -1;
	snprintf(p, sizeof(p), "%s/vm1/command.txt", root);
	if (!(f = fopen(p, "w")))
		return -1;
	fprintf(f, "vm 1 seq 1 op vadd n 1024\n");
	fclose(f);
	snprintf(p, sizeof(p), "%s/vm1/response.txt", root);
	if (!(f = fopen(p, "w")))
		return -1;
	fprintf(f, "vm 1 seq 1 status OK\n");
	fclose(f);
	snprintf(p, sizeof(p), "%s/answered-seqs", root);
	if (!(f = fopen(p, "w")))
		return -1;
	fprintf(f, "vm1 1\n");
	fclose(f);
	return 0;
}

/* The VM's next command, the errors log's way (fopen "w" + fprintf, nothing checked). */
static int naive_next_command(const char *root)
{
	char p[700];
	FILE *f;

	snprintf(p, sizeof(p), "%s/vm1/command.txt", root);
	f = fopen(p, "w");
	if (!f)
		return -errno;
	fprintf(f, "vm 1 seq 2 op vadd n 1024\n");
	fclose(f);
	return 0;
}

static int log_has(const struct e2e_env *e, const char *a, const char *b, const char *c)
{
	FILE *f = fopen(e->log, "r");
	char line[2048];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, a) && (!b || strstr(line, b)) && (!c || strstr(line, c));
	fclose(f);
	return found;
}

static int client_vadd(struct h_result *r, struct e2e_env *e, uint32_t vm, int64_t *seq, char *out, size_t cap)
{
	char dir[500], sq[32];
	const char *args[] = { "--dir", dir, "--timeout", "20", "--lock-dir", e->dir, "vadd", "2048", "--seed", "9",
			       NULL };
	long ms;
	int rc;
	char *p;

	e2e_vmdir(e, vm, dir, sizeof(dir));
	r->req.submitted++;
	rc = e2e_run_client(e, args, 30000, out, cap, &ms);
	out[strcspn(out, "\n")] = '\0';
	if (rc == 0)
		r->req.answered++;
	else
		r->req.lost++;
	*seq = 0;
	if ((p = strstr(out, "seq ")) != NULL || (p = strstr(out, "seq=")) != NULL)
		*seq = atoll(p + 4);
	(void)sq;
	return rc;
}

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "100", NULL };
	struct h_result r;
	struct e2e_env e;
	char shm[260] = "", ctl[400], link[280], real_root[300] = "", dir[700], out[2048];
	int rc, mounted = 0, wrote_after = 0, gone = 0, kept = 0;

	h_begin(&r, "ERR02", "tmpfs export: lost at reboot; detected; the symlink approach survives it", "local");
	if (e2e_setup(&e, 2) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	snprintf(shm, sizeof(shm), "%.240s/shm", e.dir);
	if (tmpfs_mount(shm) < 0 || !is_tmpfs(shm)) {
		snprintf(r.skipped, sizeof(r.skipped), "cannot mount a private tmpfs here (needs root and mount)");
		goto out;
	}
	mounted = 1;

	/* naive: the VM directories on the tmpfs, as the errors log first tried; the same
	 * files on the real file system are the control */
	snprintf(ctl, sizeof(ctl), "%s/disk-control", e.dir);
	mkdir(ctl, 0777);
	if (naive_files(shm) < 0 || naive_files(ctl) < 0) {
		h_check(&r, 0, "naive files: %s", strerror(errno));
		goto out;
	}
	rc = tmpfs_reboot(shm, "vm1/response.txt");
	if (rc == 1)
		r.injections++;
	snprintf(dir, sizeof(dir), "%s/vm1", shm);
	gone = access(dir, F_OK) < 0;
	snprintf(dir, sizeof(dir), "%s/answered-seqs", ctl);
	kept = access(dir, F_OK) == 0;
	snprintf(dir, sizeof(dir), "%s/vm1/response.txt", ctl);
	kept = kept && access(dir, F_OK) == 0;
	wrote_after = naive_next_command(shm);
	h_naive(&r, rc == 1 && gone && kept && wrote_after == -ENOENT,
		"VM directories on a tmpfs: after a reboot (umount, mount) vm1/, its answer and the answered seqs are gone "
		"and the VM's next fopen(command.txt) fails (%s), nothing said; the same files on the real file system %s",
		wrote_after ? strerror(-wrote_after) : "worked", kept ? "are kept" : "are NOT kept");
	h_evidence(&r, "naive: VM directories on a tmpfs vanish at reboot (next command: %s)",
		   wrote_after ? strerror(-wrote_after) : "written");

	/* ours: the mediator on the tmpfs root warns at start-up, with both fixes */
	snprintf(dir, sizeof(dir), "%s/vm1", shm);
	mkdir(dir, 0777);
	snprintf(real_root, sizeof(real_root), "%s", e.root);
	snprintf(e.root, sizeof(e.root), "%s", shm);
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator on the tmpfs root started (see %s)", e.log);
		goto out;
	}
	if (log_has(&e, "tmpfs", "fsid=", "symlink"))
		r.injections++;
	h_check(&r, log_has(&e, "tmpfs", "fsid=", "symlink"),
		"vgpu-mediator --root on the tmpfs warned at start-up: tmpfs, fsid=, symlink (statfs)");
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	snprintf(e.root, sizeof(e.root), "%s", real_root);
	if (truncate(e.log, 0) < 0)
		unlink(e.log);
	snprintf(dir, sizeof(dir), "rm -rf '%s/vm1'", shm);
	if (system(dir) != 0)
		printf("  note: could not clean the tmpfs\n");

	/* ours: the symlink approach (errors log): real directory, symlink in the tmpfs */
	snprintf(link, sizeof(link), "%.260s/vgpu", shm);
	if (symlink(real_root, link) < 0) {
		h_check(&r, 0, "symlink %s -> %s: %s", link, real_root, strerror(errno));
		goto out;
	}
	h_check(&r, !is_tmpfs(real_root), "the symlink resolves to a directory on a real file system (statfs), which "
		"is what an exportfs of it exports");
	snprintf(e.root, sizeof(e.root), "%s", link);          /* the mediator is given the symlink */
	snprintf(e.client_root, sizeof(e.client_root), "%s", link);   /* so are the clients */
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator --root %s started (see %s)", link, e.log);
		goto out;
	}
	h_check(&r, !log_has(&e, "tmpfs", NULL, NULL), "no tmpfs warning for --root %s (the directory is on a real fs)",
		link);
	for (uint32_t vm = 1; vm <= 2; vm++) {
		int64_t seq;
		rc = client_vadd(&r, &e, vm, &seq, out, sizeof(out));
		h_check(&r, rc == 0 && strstr(out, "count=2048"), "vm%u through the symlink: %s", vm, out);
	}
	/* the host reboots: the tmpfs (and the symlink in it) is gone, the disk is not */
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	rc = tmpfs_reboot(shm, "vgpu");
	if (rc == 1)
		r.injections++;
	h_check(&r, rc == 1, "reboot of the tmpfs: the symlink is gone with it");
	if (symlink(real_root, link) < 0) {
		h_check(&r, 0, "symlink made again at boot: %s", strerror(errno));
		goto out;
	}
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator started again after the reboot (see %s)", e.log);
		goto out;
	}
	for (uint32_t vm = 1; vm <= 2; vm++) {
		int64_t seq;
		rc = client_vadd(&r, &e, vm, &seq, out, sizeof(out));
		h_check(&r, rc == 0 && strstr(out, "count=2048") && e2e_journal_wait(&e, "answer", vm, 2, 1, E2E_WAIT_MS) == 1,
			"vm%u after the reboot: its next request is seq 2 and answered (state and answers kept on disk): %s",
			vm, out);
	}
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	h_check(&r, e2e_journal_count(&e, "exec", 0, 0) == 4 && e2e_journal_count(&e, "answer", 0, 0) == 4 &&
		e2e_journal_count(&e, "exec", 1, 1) == 1 && e2e_journal_count(&e, "exec", 2, 1) == 1,
		"journal: 4 executed, 4 answered, seq 1 of each VM once");
	h_evidence(&r, "ours: mediator warns on a tmpfs root (fsid=/symlink); symlink in the tmpfs to a real dir: 2/2 "
		   "answered, and after a tmpfs reboot 2/2 answered with the next seq");
out:
	if (real_root[0])
		snprintf(e.root, sizeof(e.root), "%s", real_root);
	if (mounted && tmpfs_umount(shm) < 0)
		printf("  note: could not unmount %s\n", shm);
	e2e_teardown(&e);
	return h_finish(&r);
}
