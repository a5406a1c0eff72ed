/* err02_tmpfs_export.c - ERRORS_LOG error 2: "tmpfs Cannot Be Exported via NFS"
 * ("exportfs: /dev/shm does not support NFS export").
 *
 * The tmpfs is /dev/shm (statfs f_type TMPFS_MAGIC, checked). Naive control: exporting the
 * tmpfs directory as the errors log first tried, through a model of exportfs's check
 * (a tmpfs has no stable file handle: without fsid= the export is refused). Ours:
 * vgpu-mediator --root on the tmpfs detects it at start-up and warns with both fixes
 * (fsid= or the symlink approach); then the symlink approach end to end: the export
 * directory on a real file system, a symlink to it in /dev/shm, exportfs's model accepts
 * the symlink (it resolves to the real file system), the mediator is given the symlink,
 * does not warn, and requests of clients that use the symlink path are answered.
 * Injections = tmpfs roots detected (the naive refusal and the mediator's warning).
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

/* What exportfs/knfsd do with a path: resolve it, refuse a tmpfs without fsid=
 * (no stable file handles). 0 accepted, -1 refused with MSG. */
static int naive_exportfs(const char *path, const char *options, char *msg, size_t cap)
{
	char real[PATH_MAX];
	struct statfs s;

	if (!realpath(path, real) || statfs(real, &s) < 0) {
		snprintf(msg, cap, "exportfs: %s: %s", path, strerror(errno));
		return -1;
	}
	if ((unsigned long)s.f_type == TMPFS_MAGIC && !strstr(options, "fsid=")) {
		snprintf(msg, cap, "exportfs: %.500s does not support NFS export", real);
		return -1;
	}
	snprintf(msg, cap, "exporting %.400s (%.100s)", real, options);
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

int main(void)
{
	const char *margs[] = { "--executor", "mock", "--rescan-ms", "100", NULL };
	struct h_result r;
	struct e2e_env e;
	struct statfs s;
	char shm[200] = "", link[260], real_root[300] = "", msg[600], dir[500], out[2048];
	long ms;
	int rc;

	h_begin(&r, "ERR02", "tmpfs export: detected, and the symlink approach works end to end", "local");
	if (e2e_setup(&e, 2) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	snprintf(shm, sizeof(shm), "/dev/shm/vgpu-err02-XXXXXX");
	if (statfs("/dev/shm", &s) < 0 || (unsigned long)s.f_type != TMPFS_MAGIC || !mkdtemp(shm)) {
		snprintf(r.skipped, sizeof(r.skipped), "/dev/shm is not a tmpfs here");
		shm[0] = '\0';
		goto out;
	}
	snprintf(dir, sizeof(dir), "%s/vm1", shm);
	mkdir(dir, 0777);

	/* naive: export the tmpfs directory itself */
	rc = naive_exportfs(shm, "rw,sync,no_root_squash", msg, sizeof(msg));
	if (rc < 0)
		r.injections++;
	h_naive(&r, rc < 0 && strstr(msg, "does not support NFS export"), "export of the tmpfs directory: %s", msg);
	h_evidence(&r, "naive: %s", msg);

	/* ours: the mediator on the tmpfs root warns at start-up, with both fixes */
	snprintf(real_root, sizeof(real_root), "%s", e.root);
	snprintf(e.root, sizeof(e.root), "%s", shm);
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator on the tmpfs root started (see %s)", e.log);
		goto out;
	}
	if (log_has(&e, "tmpfs", "fsid=", "symlink"))
		r.injections++;
	h_check(&r, log_has(&e, "tmpfs", "fsid=", "symlink"),
		"vgpu-mediator --root %s warned at start-up: tmpfs, fsid=, symlink (statfs)", shm);
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	snprintf(e.root, sizeof(e.root), "%s", real_root);
	if (truncate(e.log, 0) < 0)
		unlink(e.log);

	/* ours: the symlink approach (errors log): real directory, symlink in the tmpfs */
	snprintf(link, sizeof(link), "%s/vgpu", shm);
	if (symlink(real_root, link) < 0) {
		h_check(&r, 0, "symlink %s -> %s: %s", link, real_root, strerror(errno));
		goto out;
	}
	rc = naive_exportfs(link, "rw,sync", msg, sizeof(msg));
	h_check(&r, rc == 0, "exportfs model accepts the symlink (it resolves to a real file system): %s", msg);
	snprintf(e.root, sizeof(e.root), "%s", link);          /* the mediator is given the symlink */
	snprintf(e.client_root, sizeof(e.client_root), "%s", link);   /* so are the clients */
	if (e2e_start_mediator(&e, margs) < 0) {
		h_check(&r, 0, "vgpu-mediator --root %s started (see %s)", link, e.log);
		goto out;
	}
	h_check(&r, !log_has(&e, "tmpfs", NULL, NULL), "no tmpfs warning for --root %s (the directory is on a real fs)",
		link);
	for (uint32_t vm = 1; vm <= 2; vm++) {
		const char *args[] = { "--dir", dir, "--timeout", "20", "--lock-dir", e.dir, "vadd", "2048", "--seed", "9",
				       NULL };
		e2e_vmdir(&e, vm, dir, sizeof(dir));
		r.req.submitted++;
		rc = e2e_run_client(&e, args, 30000, out, sizeof(out), &ms);
		out[strcspn(out, "\n")] = '\0';
		if (rc == 0)
			r.req.answered++;
		else
			r.req.lost++;
		h_check(&r, rc == 0 && strstr(out, "count=2048"), "vm%u through the symlink %s: %s", vm, dir, out);
	}
	h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly (exit 0)");
	h_check(&r, e2e_journal_count(&e, "exec", 0, 0) == 2 && e2e_journal_count(&e, "answer", 0, 0) == 2,
		"journal: 2 executed, 2 answered");
	h_evidence(&r, "ours: mediator warns on a tmpfs root (fsid=/symlink); symlink in /dev/shm to a real dir: 2/2 answered");
out:
	snprintf(e.root, sizeof(e.root), "%s", real_root[0] ? real_root : e.root);
	e2e_teardown(&e);
	if (shm[0]) {
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf --one-file-system '%s'", shm);
		if (system(cmd) != 0)
			printf("  note: could not remove %s\n", shm);
	}
	return h_finish(&r);
}
