/* vms.c - the set of VM directories the mediator serves: which ROOT/vmN are wanted
 * (serve = listed, caps, uids), opening one (its owner, its state, its inotify watch),
 * finding new ones, dropping those removed, replaced or no longer listed, and a VM
 * that cannot be served logged once per problem. The event loop (mediator.c) calls it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mediator_int.h"
#include "lib/log.h"

/* A record appears by rename (PROTOCOL.md s.2, s.8): IN_MOVED_TO. IN_CLOSE_WRITE also
 * fires for every temporary file closed in the directory (the client's just before its
 * rename, our own response.txt's and status.txt's), each a wake-up with nothing to read:
 * so it is watched only until the VM's first record arrives by rename, and again once a
 * rescan finds a record that no event announced (a writer in place, ERRORS_LOG error 7;
 * or events lost). vgpu_vms_watch_close() switches. */
#define VM_EVENTS (IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)
#define VM_EVENTS_CLOSE (VM_EVENTS | IN_CLOSE_WRITE)

/* "vmN" with N in 1..65535, no leading zero -> N; else 0. */
uint32_t vgpu_vms_number(const char *name)
{
	unsigned long v;
	char *end;

	if (strncmp(name, "vm", 2) != 0 || name[2] < '1' || name[2] > '9')
		return 0;
	errno = 0;
	v = strtoul(name + 2, &end, 10);
	if (errno || *end || v > VGPU_VM_MAX)
		return 0;
	return (uint32_t)v;
}

static struct vm *find_vm(struct vgpu_mediator *m, uint32_t id)
{
	for (size_t i = 0; i < m->nvms; i++)
		if (m->vms[i]->id == id)
			return m->vms[i];
	return NULL;
}

const struct vgpu_vm_cap *vgpu_vms_config_of(const struct vgpu_mediator *m, uint32_t id)
{
	for (size_t i = 0; i < m->cfg.ncaps; i++)
		if (m->cfg.caps[i].vm == id)
			return &m->cfg.caps[i];
	return NULL;
}

int vgpu_vms_cap_for(const struct vgpu_mediator *m, uint32_t id)
{
	const struct vgpu_vm_cap *c = vgpu_vms_config_of(m, id);

	return c && c->cap >= 0 ? c->cap : m->cfg.default_cap;
}

/* serve = listed (only_listed): only the VMs the configuration names. */
static int vm_wanted(const struct vgpu_mediator *m, uint32_t id)
{
	if (!m->cfg.only_listed)
		return 1;
	for (size_t i = 0; i < m->cfg.ncaps; i++)
		if (m->cfg.caps[i].vm == id)
			return 1;
	return 0;
}

/* A VM that is not served (its directory or state unreadable) is retried on every
 * rescan but logged once per problem: WHAT names the step, RC its -errno. */
struct vm_problem {
	uint32_t id;
	int what, rc;
};

enum { PROBLEM_OPEN = 1, PROBLEM_STATE, PROBLEM_OWNER, PROBLEM_NAME };

/* Record the problem; 1 when it is new for the VM (log it), 0 when logged already. */
static int problem_is_new(struct vgpu_mediator *m, uint32_t id, int what, int rc)
{
	struct vm_problem *p = NULL;

	for (size_t i = 0; i < m->nproblems; i++)
		if (m->problems[i].id == id)
			p = &m->problems[i];
	if (p && p->what == what && p->rc == rc)
		return 0;
	if (!p) {
		if (m->nproblems == m->capproblems) {
			size_t ncap = m->capproblems ? m->capproblems * 2 : 8;
			struct vm_problem *n = realloc(m->problems, ncap * sizeof(*n));

			if (!n)
				return 1;   /* log it again next time */
			m->problems = n;
			m->capproblems = ncap;
		}
		p = &m->problems[m->nproblems++];
	}
	*p = (struct vm_problem){ .id = id, .what = what, .rc = rc };
	return 1;
}

/* VM ID is served: forget its problem; 1 when it had one. */
static int problem_solved(struct vgpu_mediator *m, uint32_t id)
{
	for (size_t i = 0; i < m->nproblems; i++)
		if (m->problems[i].id == id) {
			m->problems[i] = m->problems[--m->nproblems];
			return 1;
		}
	return 0;
}

void vgpu_vms_close(struct vgpu_mediator *m, struct vm *vm)
{
	if (vm->budget_ticket)
		m->budget_waiting--;
	if (vm->wd >= 0)
		inotify_rm_watch(m->inofd, vm->wd);
	if (vm->dirfd >= 0)
		close(vm->dirfd);
	vgpu_state_release(&vm->st);
	free(vm->unsaved);
	free(vm);
}

/* Start serving ROOT/NAME. Problems are logged; the VM is retried on the next rescan. */
void vgpu_vms_add(struct vgpu_mediator *m, const char *name)
{
	uint32_t id = vgpu_vms_number(name);
	struct vm *vm;
	int rc;

	if (!id && strncmp(name, "vm", 2) == 0) {
		/* vm01, vm0, vm70000: not served, said once (keyed by a hash above any VM id) */
		uint32_t h = 2166136261u;

		for (const char *c = name; *c; c++)
			h = (h ^ (unsigned char)*c) * 16777619u;
		if (problem_is_new(m, VGPU_VM_MAX + 1 + h % (UINT32_MAX - VGPU_VM_MAX - 1), PROBLEM_NAME, 0))
			vgpu_warn("%s/%s: not a VM directory name (vmN, N in 1..%d without leading zeros); ignored",
				  m->cfg.root, name, VGPU_VM_MAX);
	}
	if (!id || find_vm(m, id) || !vm_wanted(m, id))
		return;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return;
	vm->id = id;
	vm->wd = -1;
	vm->cap = vgpu_vms_cap_for(m, id);
	{
		const struct vgpu_vm_cap *c = vgpu_vms_config_of(m, id);

		vm->has_uid = c && c->has_uid;
		vm->uid = c ? c->uid : 0;
	}
	vgpu_ratelimit_init(&vm->rejects, m->cfg.reject_burst, m->cfg.reject_per_s);
	vgpu_ratelimit_init(&vm->logs, 5, 1);
	vm->dirfd = openat(m->rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vm->dirfd < 0) {
		int e = errno;

		if (problem_is_new(m, id, PROBLEM_OPEN, -e))
			vgpu_warn("%s: open: %s; skipped until it can be opened", name, strerror(e));
		free(vm);
		return;
	}
	{
		struct stat st;

		memset(&st, 0, sizeof(st));
		if (fstat(vm->dirfd, &st) == 0) {
			vm->dir_dev = st.st_dev;
			vm->dir_ino = st.st_ino;
			vm->dir_uid = st.st_uid;
			vm->gid = st.st_gid;
		}
		/* The directory must be the VM's own (its export squashes it to UID): one
		 * made or taken by another VM or user is not served (fstat of the opened fd:
		 * what we checked is what we serve). */
		if (vm->has_uid && (st.st_uid != vm->uid || !vm->dir_ino)) {
			if (problem_is_new(m, id, PROBLEM_OWNER, (int)st.st_uid))
				vgpu_err("%s/: owned by uid %u, but vm%" PRIu32 "'s uid is %u (--vm-uid): not serving "
					 "it (WRONG_OWNER); fix: chown %u %s/%s && chmod 0700 %s/%s (docs/XEN.md)",
					 name, (unsigned)st.st_uid, id, (unsigned)vm->uid, (unsigned)vm->uid,
					 m->cfg.root, name, m->cfg.root, name);
			close(vm->dirfd);
			free(vm);
			return;
		}
	}
	rc = vgpu_state_load(m->statefd, id, &vm->st);
	if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM) {
		if (problem_is_new(m, id, PROBLEM_STATE, rc))
			vgpu_warn("vm%" PRIu32 ": loading its state: %s; will retry", id, strerror(-rc));
		close(vm->dirfd);
		free(vm);
		return;
	}
	if (rc < 0) {
		/* Serving it could answer twice; leave it alone and say so loudly, once. */
		if (problem_is_new(m, id, PROBLEM_STATE, rc))
			vgpu_err("vm%" PRIu32 ": state file unreadable (%s); not serving this VM until it is repaired",
				 id, strerror(-rc));
		close(vm->dirfd);
		free(vm);
		return;
	}
	if (m->nvms == m->capvms) {
		size_t ncap = m->capvms ? m->capvms * 2 : 16;
		struct vm **n = realloc(m->vms, ncap * sizeof(*n));
		if (!n) {
			vgpu_vms_close(m, vm);
			return;
		}
		m->vms = n;
		m->capvms = ncap;
	}
	{
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", m->cfg.root, name);
		vm->wd = inotify_add_watch(m->inofd, path, VM_EVENTS_CLOSE | IN_DONT_FOLLOW | IN_ONLYDIR);
		vm->watch_close = 1;
		if (vm->wd < 0)
			vgpu_warn("%s: inotify_add_watch: %s; relying on the rescan", name, strerror(errno));
	}
	m->vms[m->nvms++] = vm;
	vgpu_progress_seen(m, vm);     /* status.txt before the VM's first request */
	vgpu_answer_initial(m, vm);    /* and response.txt: no missing name to cache */
	{
		char who[64];

		if (vm->has_uid)
			snprintf(who, sizeof(who), "uid %u", (unsigned)vm->uid);
		else
			snprintf(who, sizeof(who), "owner not checked: no uid configured");
		vgpu_info("vm%" PRIu32 ": serving%s (priority cap %s, %s, answered up to seq %" PRId64 ")", id,
			  problem_solved(m, id) ? " again" : "", vgpu_prio_name((enum vgpu_prio)vm->cap), who,
			  vm->st.answered_seq);
	}
	vgpu_answer_recover(m, vm);
	/* An answer whose publication failed before a restart is only in the state: the
	 * rescans publish it again (the client may still be waiting for it). */
	if (vm->st.answered_seq > 0 && !vgpu_answer_delivered(vm))
		vm->resp_pending = 1;
}

void vgpu_vms_watch_close(struct vgpu_mediator *m, struct vm *vm, int on)
{
	char path[PATH_MAX];
	int wd;

	if (vm->wd < 0 || vm->watch_close == on)
		return;
	snprintf(path, sizeof(path), "%s/vm%" PRIu32, m->cfg.root, vm->id);
	/* the same directory: the same watch, its mask replaced */
	wd = inotify_add_watch(m->inofd, path, (on ? VM_EVENTS_CLOSE : VM_EVENTS) | IN_DONT_FOLLOW | IN_ONLYDIR);
	if (wd != vm->wd) {
		if (wd >= 0)
			inotify_rm_watch(m->inofd, wd);   /* another directory now: the rescan sees to it */
		return;
	}
	vm->watch_close = on;
}

void vgpu_vms_discover(struct vgpu_mediator *m)
{
	int fd = dup(m->rootfd);
	DIR *d;
	struct dirent *e;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		vgpu_warn("%s: opendir: %s; will retry", m->cfg.root, strerror(errno));
		return;
	}
	rewinddir(d);
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)
			vgpu_vms_add(m, e->d_name);
	closedir(d);
}

/* Is ROOT/vmN still the directory VM was opened on? (deleted, recreated, renamed) */
static int vm_still_there(const struct vgpu_mediator *m, const struct vm *vm)
{
	char name[16];
	struct stat st;

	snprintf(name, sizeof(name), "vm%" PRIu32, vm->id);
	return fstatat(m->rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_dev == vm->dir_dev && st.st_ino == vm->dir_ino && st.st_uid == vm->dir_uid;
}

/* Forget VMs whose directory went away or was replaced (once idle); vgpu_vms_discover() then
 * serves whatever is at ROOT/vmN now, with the same persistent state. */
void vgpu_vms_drop_replaced(struct vgpu_mediator *m)
{
	for (size_t i = m->nvms; i-- > 0;) {
		struct vm *vm = m->vms[i];

		if (vm->job || vm_still_there(m, vm))
			continue;
		vgpu_info("vm%" PRIu32 ": its directory was removed, replaced or given to another owner; "
			  "serving whatever is there now",
			  vm->id);
		vgpu_vms_close(m, vm);
		m->vms[i] = m->vms[--m->nvms];
	}
}

/* After a reconfiguration: stop serving VMs no longer listed, once idle. */
void vgpu_vms_drop_unlisted(struct vgpu_mediator *m)
{
	for (size_t i = m->nvms; i-- > 0;) {
		struct vm *vm = m->vms[i];

		if (vm->job || vm_wanted(m, vm->id))
			continue;
		vgpu_info("vm%" PRIu32 ": no longer in the configuration (serve = listed); not served", vm->id);
		vgpu_vms_close(m, vm);
		m->vms[i] = m->vms[--m->nvms];
	}
}
