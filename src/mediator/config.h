/* config.h - the daemon's configuration: /etc/vgpu-mediator.conf (ini, read with inih)
 * merged with the command line, whose options override the file.
 *
 * One struct holds both: vgpu_config_load() reads a file into it, the command line sets
 * fields and marks them in `set`, vgpu_config_merge() lets the marked ones win, and
 * vgpu_config_to_mediator() gives the core its struct vgpu_mediator_config. Every string
 * and the VM table are owned by the struct (vgpu_config_release()). Never prints:
 * errors come back in ERR with the file's line number. docs/OPERATIONS.md and
 * man/vgpu-mediator.conf.5.scd describe every key. */
#ifndef VGPU_CONFIG_H
#define VGPU_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "mediator.h"

#define VGPU_CONFIG_DEFAULT_PATH "/etc/vgpu-mediator.conf"

/* Bits of struct vgpu_config.set: which fields the command line gave. */
enum vgpu_config_field {
	VGPU_CF_ROOT = 1u << 0, VGPU_CF_STATE = 1u << 1, VGPU_CF_EXECUTOR = 1u << 2,
	VGPU_CF_FALLBACK = 1u << 3, VGPU_CF_DEFAULT_CAP = 1u << 4, VGPU_CF_SERVE = 1u << 5,
	VGPU_CF_JOURNAL = 1u << 6, VGPU_CF_LOG_LEVEL = 1u << 7, VGPU_CF_SYSLOG = 1u << 8,
	VGPU_CF_TEST_OPS = 1u << 9, VGPU_CF_METRICS = 1u << 10, VGPU_CF_STATUS_MS = 1u << 11,
	VGPU_CF_AGING = 1u << 12, VGPU_CF_RESCAN = 1u << 13, VGPU_CF_GRACE = 1u << 14,
	VGPU_CF_JOB_MS = 1u << 15, VGPU_CF_MAX_JOB = 1u << 16, VGPU_CF_MAX_PAYLOAD = 1u << 17,
	VGPU_CF_REMOTE_TIMEOUT = 1u << 18, VGPU_CF_OUTPUT_TTL = 1u << 19, VGPU_CF_MAX_VM_BYTES = 1u << 20,
	VGPU_CF_MAX_QUEUED = 1u << 21, VGPU_CF_MAX_VM_QUEUED = 1u << 22,
};

struct vgpu_config {
	char *root, *state;          /* required (file or command line) */
	char *executor;              /* "mock" | "cuda" | "auto" | "remote:DIR"; default auto */
	char *fallback;              /* "mock" | "remote:DIR" | "none"; default none */
	char *journal;               /* NULL: none */
	char *metrics;               /* Prometheus textfile path; NULL: only STATE/metrics.prom */
	int default_cap;             /* enum vgpu_prio; default medium */
	int only_listed;             /* serve = listed: only VMs with a [vmN] section */
	int log_level;               /* enum vgpu_log_level; default info */
	int syslog, test_ops;
	uint64_t status_ms;          /* status + metrics files every STATUS_MS; default 5000 */
	uint64_t aging_ms, rescan_ms, grace_ms, job_ms, max_job_ms, max_payload, remote_timeout_ms;
	uint64_t output_ttl_ms;      /* out-SEQ.bin removed after this long; default 1 h */
	uint64_t max_vm_bytes;       /* outputs one VM may hold; 0: 2 x max_payload */
	uint64_t max_queued_bytes;   /* payload bytes of all queued jobs; 0: 4 x max_payload */
	uint64_t max_vm_queued_bytes;/* ... of one VM's request; 0: 2 x max_payload */
	struct vgpu_vm_cap *vms;     /* one per VM, ids unique; any number */
	size_t nvms, capvms;
	unsigned set;                /* enum vgpu_config_field bits given on the command line */
};

/* The defaults (executor auto, fallback none, medium cap, 5 s status, the core's
 * limits), no strings. Can't fail. */
void vgpu_config_init(struct vgpu_config *c);
void vgpu_config_release(struct vgpu_config *c);

/* Read PATH into C (initialised; fields the file names are replaced). 0, or -1 with ERR
 * "PATH:LINE: what is wrong" (unknown section or key, bad value, a key or a [vmN]
 * section given twice) or "PATH: strerror"; C then holds a partial result. */
int vgpu_config_load(struct vgpu_config *c, const char *path, char *err, size_t errlen);
/* The same from a string (NAME in messages). */
int vgpu_config_load_string(struct vgpu_config *c, const char *text, const char *name, char *err,
			    size_t errlen);

/* Setters for one key, as in the file: the command line uses them too. SECTION is
 * "mediator", "limits" or "vmN". 0, or -1 with ERR saying what the value should be. */
int vgpu_config_set(struct vgpu_config *c, const char *section, const char *key, const char *value,
		    char *err, size_t errlen);
/* Add VM ID with its defaults (cap: default_cap at use, uid -1, no quotas). The entry,
 * or NULL when ID is there already (*DUP set) or out of memory. */
struct vgpu_vm_cap *vgpu_config_add_vm(struct vgpu_config *c, uint32_t id, int *dup);
struct vgpu_vm_cap *vgpu_config_find_vm(const struct vgpu_config *c, uint32_t id);

/* Let the fields marked in OVER->set, and OVER's VMs' caps, replace DST's (a --vm for a
 * VM the file names changes its cap only). 0 or -ENOMEM. */
int vgpu_config_merge(struct vgpu_config *dst, const struct vgpu_config *over);
/* Is C complete and consistent (root and state given, specs well-formed)? 0, or -1
 * with ERR. */
int vgpu_config_validate(const struct vgpu_config *c, char *err, size_t errlen);
/* config_render.c: */
/* The fields that only a restart applies (root, state, executor, fallback, journal)
 * that differ between A and B, as "root, executor" in BUF ("" when none). */
void vgpu_config_restart_fields(const struct vgpu_config *a, const struct vgpu_config *b, char *buf,
				size_t len);

/* The core's view: pointers into C (C must outlive OUT's use; ex left NULL). A VM
 * without a cap gets default_cap here (in C too). */
void vgpu_config_to_mediator(struct vgpu_config *c, struct vgpu_mediator_config *out);

/* C as a file that vgpu_config_load() reads back to the same values, into a malloc'ed
 * string (caller frees), or NULL when out of memory. */
char *vgpu_config_format(const struct vgpu_config *c);

#endif
