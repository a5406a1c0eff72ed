/* e2e_util.h - helpers for tests that run the real binaries: a private directory tree,
 * starting and stopping a vgpu-mediator, reading its journal, and the NFS backends
 * (nfssim over the directory, nfssim over a loopback nfs-ganesha; docs/NFSSIM.md).
 * Used by tests/e2e and tests/fault. Every process started is killed and every mount
 * undone at the end, even on failure: a guardian process (started with the first mount
 * or server) cleans up when the test process dies without e2e_teardown(). */
#ifndef VGPU_E2E_UTIL_H
#define VGPU_E2E_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#include "client/client.h"

struct e2e_env {
	char dir[256];        /* private temporary directory */
	char root[300];       /* dir/export: holds vmN/ */
	char state[300];      /* dir/state */
	char journal[300];    /* dir/journal */
	char log[300];        /* dir/mediator.log */
	const char *build;    /* where the binaries are ($VGPU_BUILD, default "build") */
	pid_t mediator;
	/* Backends (e2e_setup_backend). The mediator always serves ROOT, the server-side
	 * directory, as in Dom0; clients use CLIENT_ROOT (e2e_vmdir). */
	char backend[32];     /* "local", "nfssim-local", "nfssim-ganesha", "knfs" */
	char knfs_dir[300];   /* knfs: our private directory inside VGPU_KNFS_EXPORT */
	char client_root[300];/* local: = root; nfssim: dir/mnt (the "VM's" mount) */
	char ganesha_url[512];/* nfssim-ganesha: the nfs:// URL of the export */
	char errmsg[1024];    /* why a backend call failed (script output, first lines) */
	pid_t guardian;       /* cleans up if this process dies; 0: none yet */
	int guard_fd;         /* write end of the guardian's pipe */
	pid_t owner;          /* the process that made the tree */
};

/* Make the tree with VMS directories vm1..vmVMS (mode 0777), backend "local" (never
 * reads E2E_BACKEND). 0 or -errno. */
int e2e_setup(struct e2e_env *e, int vms);

/* The same tree on BACKEND ("local", "nfssim-local", "nfssim-ganesha"; NULL: the
 * environment's E2E_BACKEND, default "local"):
 *   nfssim-local:   nfssim mounts ROOT at dir/mnt with options NFSSIM_OPTS (NULL: the
 *                   recommended client options, E2E_NFSSIM_OPTS_DEFAULT);
 *   nfssim-ganesha: a private nfs-ganesha exports ROOT (mode $E2E_GANESHA_MODE, default
 *                   root_squash, with vmN owned by the anonymous uid 65534, mode 0755, as
 *                   docs/XEN.md recommends; or no_root_squash), and nfssim mounts its
 *                   nfs:// URL at dir/mnt ("squash=none," + NFSSIM_OPTS: the server squashes).
 * Returns 0, or -1 with e->errmsg (everything started so far is undone by teardown). */
int e2e_setup_backend(struct e2e_env *e, int vms, const char *backend, const char *nfssim_opts);
#define E2E_NFSSIM_OPTS_DEFAULT "lookupcache=positive,acdirmin=1"

/* Lower-level pieces, for scenarios that need their own layout. Each records what it
 * started, so that teardown (or the guardian) undoes it. */
/* Mount nfssim over BACKING (a directory or nfs:// URL) at MNT with OPTS. 0, or -1 with
 * e->errmsg holding mount.sh's output (e.g. "... (access denied by server)"). */
int e2e_mount_nfssim(struct e2e_env *e, const char *backing, const char *mnt, const char *opts);
/* Unmount one mount made by e2e_mount_nfssim (umount.sh). 0 or -1. */
int e2e_umount_nfssim(struct e2e_env *e, const char *mnt);
/* Start ganesha (MODE root_squash|no_root_squash|deny) exporting DIR; the state lives
 * in dir/ganesha-N. URL (CAP bytes) gets the nfs:// URL. 0, or -1 with e->errmsg. */
int e2e_ganesha_up(struct e2e_env *e, const char *mode, const char *dir, char *url, size_t cap);
/* Stop every ganesha this env started. */
void e2e_ganesha_down_all(struct e2e_env *e);
/* A number from MNT/.nfssim/stats: KEY is "faults_total", or "section.key"
 * ("attr_cache.hits", "writeback.chunks", "ops.open", "faults.read:ESTALE"); -1 when
 * absent or unreadable. MNT NULL: dir/mnt. */
long e2e_nfssim_stat(const struct e2e_env *e, const char *mnt, const char *key);
/* Write SETTINGS to MNT/.nfssim/ctl (MNT NULL: dir/mnt). 0 or -errno. */
int e2e_nfssim_ctl(const struct e2e_env *e, const char *mnt, const char *settings);
/* The source tree's tests/nfs_sim directory (for the scripts) into BUF. 0 or -1. */
int e2e_nfs_sim_dir(char *buf, size_t cap);
/* Start vgpu-mediator with --root/--state/--journal and the NULL-terminated extra
 * ARGS; waits until its log says it is serving. 0 or -1. */
int e2e_start_mediator(struct e2e_env *e, const char *const *args);
/* SIGTERM and wait up to TIMEOUT_MS; returns its exit status (0..255), 128+sig when
 * killed, -1 when it had to be SIGKILLed after the timeout. */
int e2e_stop_mediator(struct e2e_env *e, int timeout_ms);
/* Kill everything and remove the tree (unless VGPU_KEEP=1). */
void e2e_teardown(struct e2e_env *e);

/* Count journal lines with EVENT ("queue", "exec", "answer") for VM and SEQ
 * (VM 0 / SEQ 0: any). */
int e2e_journal_count(const struct e2e_env *e, const char *event, uint32_t vm, int64_t seq);
/* Wait up to BOUND_MS until the journal has at least COUNT lines with EVENT for VM and
 * SEQ (0: any); returns the count then. The mediator writes a request's "answer" line
 * after it publishes response.txt, so a client can hold its answer before the line is
 * there: read answers (and any state another process writes) through these waits. */
int e2e_journal_wait(const struct e2e_env *e, const char *event, uint32_t vm, int64_t seq, int count,
		     int bound_ms);
/* The same for lines of the mediator's log containing NEEDLE. */
int e2e_log_wait(const struct e2e_env *e, const char *needle, int count, int bound_ms);
/* The bound the harness uses for such waits: generous (a loaded 2-core machine), and
 * only spent when the line never comes, i.e. when the check fails anyway. */
#define E2E_WAIT_MS 10000

/* The VMs of "exec" lines in journal order, into OUT (up to MAX); returns the count. */
int e2e_journal_exec_order(const struct e2e_env *e, uint32_t *out, int max);

/* Run BUILD/vgpu-client with the NULL-terminated ARGS, killed after KILL_MS; its stdout
 * and stderr into OUT (CAP bytes, NUL-terminated), the time it took into *ELAPSED_MS.
 * Returns its exit status, 128+signal when killed, -1 when it could not run. */
int e2e_run_client(const struct e2e_env *e, const char *const *args, int kill_ms, char *out, size_t cap,
		   long *elapsed_ms);

/* Path of vmN's directory as the clients see it (CLIENT_ROOT/vmN) into BUF. For the
 * local backend this is the server-side directory too. */
void e2e_vmdir(const struct e2e_env *e, uint32_t vm, char *buf, size_t cap);
/* Path of vmN's directory on the server side (ROOT/vmN: what the mediator reads). */
void e2e_server_vmdir(const struct e2e_env *e, uint32_t vm, char *buf, size_t cap);

/* How many slots (workers: one per GPU, or VGPU_MOCK_DEVICES) the running mediator
 * said it has ("serving ... with executor X (N slots)"); 1 when it did not say. */
int e2e_mediator_slots(const struct e2e_env *e);

/* Lines of the mediator's log containing NEEDLE (0 when none or no log). */
int e2e_log_count(const struct e2e_env *e, const char *needle);

/* The status NAME of the last journal "answer" line for VM and SEQ into OUT ("" if none). */
void e2e_journal_last_status(const struct e2e_env *e, uint32_t vm, int64_t seq, char *out, size_t cap);

/* The pid of the running mediator's first child (its worker, with one slot), or 0. */
pid_t e2e_worker_pid(const struct e2e_env *e);

/* Monotonic milliseconds; sleep MS milliseconds. */
uint64_t e2e_mono_ms(void);
void e2e_msleep(int ms);

/* One client call in a child process, so that several VMs wait at once. */
struct e2e_call_out {
	int rc;                   /* enum vgpu_client_rc */
	int status;               /* the answer's status, -1 without an answer */
	uint32_t vm;              /* the answer's vm and seq */
	int64_t seq;
	int64_t my_seq;           /* the seq the client used */
	uint64_t ms;              /* from the call to its return */
	char result[200];
	char error[300];
};

struct e2e_call {
	pid_t pid;
	int fd;
	uint32_t vm;
	struct e2e_call_out out;
};

/* Start PROTO (no input payload) from VM's client directory, with the test tree as the
 * lock directory; e2e_call_wait() fills C->out (rc -1 when the child died). */
void e2e_call_start(const struct e2e_env *e, struct e2e_call *c, uint32_t vm, const struct vgpu_request *proto,
		    int timeout_ms);
void e2e_call_wait(struct e2e_call *c);

#endif
