/* client.c - libvgpu-client: one request from a VM, one answer (docs/PROTOCOL.md 7-8).
 *
 * Under a local flock'ed lock file: pick seq, publish in-SEQ.bin and command.txt by
 * temp+fsync+rename, poll response.txt by open/read/close with doubling backoff until
 * an answer with our seq and nonce arrives, fetch out-SEQ.bin, clean up. Every wait,
 * the lock included, is bounded by the call's timeout. Never prints. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "../lib/clock.h"
#include "../lib/safeio.h"
#include "../lib/status.h"

#define DEF_TIMEOUT_MS 30000
#define DEF_POLL_MIN_MS 1
#define DEF_POLL_MAX_MS 100
#define LOCK_POLL_MS 5

static const char squash_hint[] =
	"the NFS export most likely maps root to nobody (root_squash, uid 65534): on the host, "
	"chown the VM directories to 65534:65534 (or export with no_root_squash); see docs/XEN.md";

struct vgpu_client {
	int dirfd;
	char *dir;                      /* realpath */
	uint32_t vm;
	int timeout_ms, poll_min_ms, poll_max_ms;
	char lock_path[PATH_MAX];
	int64_t last_seq;
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *vgpu_client_strerror(int rc)
{
	switch (rc) {
	case VGPU_CLIENT_OK: return "ok";
	case VGPU_CLIENT_ESTATUS: return "the mediator answered with an error status";
	case VGPU_CLIENT_EUSAGE: return "bad arguments";
	case VGPU_CLIENT_ETIMEOUT: return "timeout: no answer";
	case VGPU_CLIENT_EPERM: return "permission denied (root_squash?)";
	case VGPU_CLIENT_ENODIR: return "VM directory missing (export not mounted?)";
	case VGPU_CLIENT_EIO: return "I/O error";
	case VGPU_CLIENT_EPROTO: return "protocol error (unreadable answer or another writer)";
	case VGPU_CLIENT_ELOCK: return "could not take the local lock";
	default: return "unknown error";
	}
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* "vmN", N 1..65535 without leading zeros -> N, else 0. */
static uint32_t vm_from_name(const char *path)
{
	const char *b = strrchr(path, '/');
	unsigned long v = 0;

	b = b ? b + 1 : path;
	if (strncmp(b, "vm", 2) != 0 || b[2] < '1' || b[2] > '9' || strlen(b) > 7)
		return 0;
	for (const char *p = b + 2; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v <= VGPU_VM_MAX ? (uint32_t)v : 0;
}

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* Map an errno from writing into the VM directory to a client rc and message. */
static int write_error(struct vgpu_client *c, const char *what, int e, char *err, size_t errlen)
{
	if (e == -EACCES || e == -EPERM || e == -EROFS)
		return fail(err, errlen, VGPU_CLIENT_EPERM, "cannot create %s in %s: %s; %s", what, c->dir,
			    vgpu_safeio_strerror(e), squash_hint);
	if (e == -ENOENT || e == -ENOTDIR)
		return fail(err, errlen, VGPU_CLIENT_ENODIR,
			    "VM directory %s missing: is the export mounted? (mount -t nfs HOST:/var/vgpu /mnt/vgpu)",
			    c->dir);
	return fail(err, errlen, VGPU_CLIENT_EIO, "writing %s in %s failed: %s (NFS server full, stale or unreachable?)",
		    what, c->dir, vgpu_safeio_strerror(e));
}

int vgpu_client_open(struct vgpu_client **cp, const char *dir, const struct vgpu_client_opts *opts,
		     char *err, size_t errlen)
{
	struct vgpu_client *c;
	const char *lock_dir = NULL;
	char real[PATH_MAX];
	struct stat st;
	int rc, n;

	*cp = NULL;
	if (!dir || !dir[0])
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "no VM directory given (--dir /mnt/vgpu/vmN)");
	c = calloc(1, sizeof(*c));
	if (!c)
		return fail(err, errlen, VGPU_CLIENT_EIO, "out of memory");
	c->dirfd = -1;
	c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : DEF_TIMEOUT_MS;
	c->poll_min_ms = opts && opts->poll_min_ms > 0 ? opts->poll_min_ms : DEF_POLL_MIN_MS;
	c->poll_max_ms = opts && opts->poll_max_ms > 0 ? opts->poll_max_ms : DEF_POLL_MAX_MS;
	if (c->poll_max_ms < c->poll_min_ms)
		c->poll_max_ms = c->poll_min_ms;

	c->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		int e = errno;
		if (e == ENOENT)
			rc = fail(err, errlen, VGPU_CLIENT_ENODIR,
				  "VM directory %s missing: is the export mounted? (mount -t nfs HOST:/var/vgpu /mnt/vgpu)",
				  dir);
		else if (e == ENOTDIR)
			rc = fail(err, errlen, VGPU_CLIENT_ENODIR, "%s is not a directory: give the VM's directory vmN",
				  dir);
		else if (e == EACCES || e == EPERM)
			rc = fail(err, errlen, VGPU_CLIENT_EPERM, "cannot open VM directory %s: %s; %s", dir,
				  strerror(e), squash_hint);
		else
			rc = fail(err, errlen, VGPU_CLIENT_EIO, "cannot open VM directory %s: %s", dir, strerror(e));
		goto fail_free;
	}
	if (!realpath(dir, real)) {
		rc = fail(err, errlen, VGPU_CLIENT_EIO, "realpath(%s): %s", dir, strerror(errno));
		goto fail_close;
	}
	if (!(c->dir = strdup(real))) {
		rc = fail(err, errlen, VGPU_CLIENT_EIO, "out of memory");
		goto fail_close;
	}
	c->vm = opts && opts->vm ? opts->vm : vm_from_name(real);
	if (c->vm == 0 || c->vm > VGPU_VM_MAX) {
		rc = fail(err, errlen, VGPU_CLIENT_EUSAGE,
			  "cannot tell the VM number from %s: name the directory vmN (N 1..65535) or pass --vm N", real);
		goto fail_dir;
	}
	/* Writable for us as the server sees us (over NFS, access() asks the server, which
	 * applies root_squash); publishing checks again for real. */
	if (faccessat(c->dirfd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		int e = errno;
		if (e == EACCES || e == EPERM || e == EROFS)
			rc = fail(err, errlen, VGPU_CLIENT_EPERM, "VM directory %s is not writable for uid %ld: %s; %s",
				  real, (long)geteuid(), strerror(e), squash_hint);
		else
			rc = fail(err, errlen, VGPU_CLIENT_EIO, "access(%s): %s", real, strerror(e));
		goto fail_dir;
	}

	lock_dir = opts && opts->lock_dir && opts->lock_dir[0] ? opts->lock_dir : getenv("XDG_RUNTIME_DIR");
	if (!lock_dir || !lock_dir[0])
		lock_dir = "/tmp";
	if (stat(lock_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rc = fail(err, errlen, VGPU_CLIENT_ELOCK, "lock directory %s is not a directory (--lock-dir)", lock_dir);
		goto fail_dir;
	}
	n = snprintf(c->lock_path, sizeof(c->lock_path), "%s/vgpu-client-%016" PRIx64 "-vm%" PRIu32 ".lock",
		     lock_dir, fnv1a64(real), c->vm);
	if (n < 0 || (size_t)n >= sizeof(c->lock_path)) {
		rc = fail(err, errlen, VGPU_CLIENT_EUSAGE, "lock directory path too long");
		goto fail_dir;
	}
	*cp = c;
	return VGPU_CLIENT_OK;

fail_dir:
	free(c->dir);
fail_close:
	close(c->dirfd);
fail_free:
	free(c);
	return rc;
}

void vgpu_client_close(struct vgpu_client *c)
{
	if (!c)
		return;
	close(c->dirfd);
	free(c->dir);
	free(c);
}

int64_t vgpu_client_last_seq(const struct vgpu_client *c)
{
	return c ? c->last_seq : 0;
}

/* Take the lock, polling flock(LOCK_NB) so that the wait ends at DEADLINE. Returns a
 * client rc; the locked fd in *FDP on success. */
static int take_lock(struct vgpu_client *c, uint64_t deadline, int *fdp, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(c->lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return fail(err, errlen, VGPU_CLIENT_ELOCK, "cannot open lock file %s: %s", c->lock_path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, VGPU_CLIENT_ELOCK, "lock file %s is not a regular file", c->lock_path);
	}
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;
			close(fd);
			return fail(err, errlen, VGPU_CLIENT_ELOCK, "flock(%s): %s", c->lock_path, strerror(e));
		}
		if (vgpu_now_ms() >= deadline) {
			close(fd);
			return fail(err, errlen, VGPU_CLIENT_ELOCK,
				    "lock %s still held after %d ms: another vgpu-client for vm%" PRIu32
				    " is waiting for its answer (one request per VM at a time)",
				    c->lock_path, c->timeout_ms, c->vm);
		}
		sleep_ms(LOCK_POLL_MS);
	}
	*fdp = fd;
	return VGPU_CLIENT_OK;
}

/* The counter in the lock file: "seq N\n"; 0 when empty or unreadable. */
static int64_t lock_counter(int fd)
{
	char buf[40];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long long v;
	char *end;

	if (n <= 4)
		return 0;
	buf[n] = '\0';
	if (strncmp(buf, "seq ", 4) != 0)
		return 0;
	errno = 0;
	v = strtoll(buf + 4, &end, 10);
	if (errno || v < 0 || *end != '\n')
		return 0;
	return v;
}

static int store_counter(int fd, int64_t seq)
{
	char buf[40];
	int n = snprintf(buf, sizeof(buf), "seq %" PRId64 "\n", seq);

	if (ftruncate(fd, 0) < 0)
		return -errno;
	ssize_t w = pwrite(fd, buf, (size_t)n, 0);
	if (w < 0)
		return -errno;
	return w == n ? 0 : -EIO;
}

static int make_nonce(char nonce[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[8];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* Entropy is not critical here: the nonce only tells writers apart. */
		uint64_t x = vgpu_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)nonce;
		memcpy(r, &x, sizeof(r));
	}
	for (int i = 0; i < 8; i++) {
		nonce[2 * i] = hex[r[i] >> 4];
		nonce[2 * i + 1] = hex[r[i] & 15];
	}
	nonce[16] = '\0';
	return 0;
}

/* The seq in response.txt now (0 when there is none or it is unreadable). */
static int response_seq(struct vgpu_client *c, char *buf, int64_t *seq, char *err, size_t errlen)
{
	struct vgpu_response resp;
	size_t len;
	int rc = vgpu_safe_read(c->dirfd, "response.txt", buf, VGPU_RECORD_MAX, &len, NULL);

	*seq = 0;
	if (rc == -ENOENT)
		return VGPU_CLIENT_OK;
	if (rc == -EACCES || rc == -EPERM)
		return fail(err, errlen, VGPU_CLIENT_EPERM, "cannot read %s/response.txt: %s; %s", c->dir,
			    vgpu_safeio_strerror(rc), squash_hint);
	if (rc == -EIO || rc == -ESTALE)
		return fail(err, errlen, VGPU_CLIENT_EIO, "reading %s/response.txt: %s", c->dir, vgpu_safeio_strerror(rc));
	if (rc == 0 && vgpu_response_decode(buf, len, &resp, NULL, 0) == VGPU_REC_OK)
		*seq = resp.seq > resp.answered ? resp.seq : resp.answered;
	return VGPU_CLIENT_OK;
}

static void remove_payloads(struct vgpu_client *c, int64_t seq)
{
	char name[VGPU_NAME_MAX];

	/* Best effort: a leftover payload is ignored by the mediator and overwritten never
	 * (seqs only grow). */
	vgpu_payload_name(name, "in", seq);
	unlinkat(c->dirfd, name, 0);
	vgpu_payload_name(name, "out", seq);
	unlinkat(c->dirfd, name, 0);
}

/* Fetch and check out-SEQ.bin. ENOENT is retried until DEADLINE (the name may not be
 * visible yet through a client's caches). */
static int fetch_output(struct vgpu_client *c, const struct vgpu_response *resp, uint64_t deadline, void **outp,
			size_t *out_bytes, char *err, size_t errlen)
{
	void *p = NULL;
	size_t len = 0;
	int rc;

	for (;;) {
		rc = vgpu_safe_read_alloc(c->dirfd, resp->output.name, resp->output.bytes, &p, &len);
		if (rc != -ENOENT || vgpu_now_ms() >= deadline)
			break;
		sleep_ms((uint64_t)c->poll_max_ms);
	}
	if (rc == -EIO || rc == -ESTALE)
		return fail(err, errlen, VGPU_CLIENT_EIO, "reading %s: %s", resp->output.name, vgpu_safeio_strerror(rc));
	if (rc == -EACCES || rc == -EPERM)
		return fail(err, errlen, VGPU_CLIENT_EPERM, "reading %s: %s; %s", resp->output.name,
			    vgpu_safeio_strerror(rc), squash_hint);
	if (rc < 0)
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "output %s: %s", resp->output.name, vgpu_safeio_strerror(rc));
	if (len != resp->output.bytes || vgpu_crc32(p, len) != resp->output.crc) {
		free(p);
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "output %s: %zu bytes / CRC differ from the response's %" PRIu64
			    " bytes CRC %08" PRIx32, resp->output.name, len, resp->output.bytes, resp->output.crc);
	}
	*outp = p;
	*out_bytes = len;
	return VGPU_CLIENT_OK;
}

/* Poll response.txt until our answer. BUF holds VGPU_RECORD_MAX bytes. */
static int wait_answer(struct vgpu_client *c, const struct vgpu_request *req, uint64_t deadline, char *buf,
		       struct vgpu_response *resp, char *err, size_t errlen)
{
	uint64_t delay = (uint64_t)c->poll_min_ms;
	char why[256] = "";

	for (;;) {
		size_t len;
		char derr[160];
		int rc = vgpu_safe_read(c->dirfd, "response.txt", buf, VGPU_RECORD_MAX, &len, NULL);

		if (rc == 0) {
			int drc = vgpu_response_decode(buf, (size_t)len, resp, derr, sizeof(derr));
			if (drc != VGPU_REC_OK) {
				/* Publication is atomic, so this is not a half-written answer; an old
				 * bad record may still be replaced by ours: keep polling, remember. */
				snprintf(why, sizeof(why), "response.txt is unreadable (%s)", derr);
			} else if (resp->seq == req->seq && strcmp(resp->nonce, req->nonce) == 0) {
				if (resp->status == VGPU_CONFLICT)
					return fail(err, errlen, VGPU_CLIENT_EPROTO,
						    "another writer uses this VM directory (seq %" PRId64 ": CONFLICT: %s)",
						    req->seq, resp->error);
				return VGPU_CLIENT_OK;
			} else if (resp->seq >= req->seq) {
				return fail(err, errlen, VGPU_CLIENT_EPROTO,
					    "another writer uses this VM directory: response.txt answers seq %" PRId64
					    " nonce %s, ours is seq %" PRId64 " nonce %s",
					    resp->seq, resp->nonce, req->seq, req->nonce);
			} else if (resp->seq == 0 && resp->status != VGPU_OK) {
				snprintf(why, sizeof(why), "response.txt answers an unparsable request: %s %.120s",
					 vgpu_status_name(resp->status), resp->error);
			} else {
				why[0] = '\0';    /* an older answer: ours is not there yet */
			}
		} else if (rc == -EACCES || rc == -EPERM) {
			return fail(err, errlen, VGPU_CLIENT_EPERM, "cannot read %s/response.txt: %s; %s", c->dir,
				    vgpu_safeio_strerror(rc), squash_hint);
		} else if (rc == -ENOTDIR || (rc == -ENOENT && faccessat(c->dirfd, ".", F_OK, 0) < 0)) {
			return fail(err, errlen, VGPU_CLIENT_ENODIR, "VM directory %s vanished while waiting", c->dir);
		} else if (rc != -ENOENT && rc < 0 && rc > -4096) {
			return fail(err, errlen, VGPU_CLIENT_EIO, "reading %s/response.txt: %s", c->dir,
				    vgpu_safeio_strerror(rc));
		} else if (rc < 0 && rc != -ENOENT) {
			snprintf(why, sizeof(why), "response.txt is not a plain file (%s)", vgpu_safeio_strerror(rc));
		} else if (rc == -ENOENT) {
			why[0] = '\0';    /* what was wrong before is gone; we are just waiting */
		}

		uint64_t now = vgpu_now_ms();
		if (now >= deadline)
			break;
		sleep_ms(delay < deadline - now ? delay : deadline - now);
		delay = delay * 2 < (uint64_t)c->poll_max_ms ? delay * 2 : (uint64_t)c->poll_max_ms;
	}
	if (why[0])
		return fail(err, errlen, VGPU_CLIENT_EPROTO, "no answer for seq %" PRId64 " within %g s: %s", req->seq,
			    c->timeout_ms / 1000.0, why);
	return fail(err, errlen, VGPU_CLIENT_ETIMEOUT,
		    "no answer for seq %" PRId64 " within %g s: is vgpu-mediator running on the host and serving "
		    "this directory?", req->seq, c->timeout_ms / 1000.0);
}

int vgpu_client_call(struct vgpu_client *c, struct vgpu_request *req, const void *in, size_t in_bytes,
		     struct vgpu_response *resp, void **outp, size_t *out_bytes, char *err, size_t errlen)
{
	uint64_t deadline = vgpu_now_ms() + (uint64_t)c->timeout_ms;
	int compute = req->op == VGPU_OP_VADD || req->op == VGPU_OP_SAXPY || req->op == VGPU_OP_SGEMM;
	int64_t counter, rseq, need;
	char *buf;
	int lockfd = -1, rc, e, len;

	if (outp)
		*outp = NULL;
	if (out_bytes)
		*out_bytes = 0;
	memset(resp, 0, sizeof(*resp));
	if (req->op <= VGPU_OP_NONE || req->op >= VGPU_OP_COUNT)
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "no operation given");
	if (compute) {
		need = vgpu_request_input_bytes(req);
		if (need <= 0)
			return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: sizes missing or too large", vgpu_op_name(req->op));
		if (in && req->args.has_seed)
			return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: give either a seed or an input, not both",
				    vgpu_op_name(req->op));
		if (!in && !req->args.has_seed)
			return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: needs --seed S or --in FILE", vgpu_op_name(req->op));
		if (in && in_bytes != (uint64_t)need)
			return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s: input is %zu bytes, the sizes need %" PRId64,
				    vgpu_op_name(req->op), in_bytes, need);
	} else if (in) {
		return fail(err, errlen, VGPU_CLIENT_EUSAGE, "%s takes no input", vgpu_op_name(req->op));
	}
	if (!(buf = malloc(VGPU_RECORD_MAX)))
		return fail(err, errlen, VGPU_CLIENT_EIO, "out of memory");

	rc = take_lock(c, deadline, &lockfd, err, errlen);
	if (rc != VGPU_CLIENT_OK)
		goto out;
	counter = lock_counter(lockfd);
	for (int attempt = 0;; attempt++) {
		rc = response_seq(c, buf, &rseq, err, errlen);
		if (rc != VGPU_CLIENT_OK)
			goto out;
		req->seq = (counter > rseq ? counter : rseq) + 1;
		if (req->seq <= 0 || req->seq > VGPU_SEQ_MAX) {
			rc = fail(err, errlen, VGPU_CLIENT_EPROTO, "sequence numbers exhausted");
			goto out;
		}
		req->vm = c->vm;
		make_nonce(req->nonce);
		memset(&req->input, 0, sizeof(req->input));
		if (in) {
			vgpu_payload_name(req->input.name, "in", req->seq);
			req->input.bytes = in_bytes;
			req->input.crc = vgpu_crc32(in, in_bytes);
		}
		len = vgpu_request_encode(req, buf, VGPU_RECORD_MAX);
		if (len < 0) {
			rc = fail(err, errlen, VGPU_CLIENT_EUSAGE, "request does not encode: %s", strerror(-len));
			goto out;
		}
		/* The seq is spent before anything is published: a crash after this point never
		 * reuses it with another nonce. */
		if ((e = store_counter(lockfd, req->seq)) < 0) {
			rc = fail(err, errlen, VGPU_CLIENT_ELOCK, "writing lock file %s: %s", c->lock_path, strerror(-e));
			goto out;
		}
		c->last_seq = req->seq;
		if (in && (e = vgpu_publish(c->dirfd, req->input.name, in, in_bytes, 0644)) < 0) {
			rc = write_error(c, req->input.name, e, err, errlen);
			goto out;
		}
		if ((e = vgpu_publish(c->dirfd, "command.txt", buf, (size_t)len, 0644)) < 0) {
			rc = write_error(c, "command.txt", e, err, errlen);
			goto out_clean;
		}
		rc = wait_answer(c, req, deadline, buf, resp, err, errlen);
		/* A stale seq (this VM's counter was lost: a wiped lock directory and no
		 * response.txt) is answered CONFLICT with the VM's high-water mark, and was
		 * never run: continue above the mark, once. */
		if (rc == VGPU_CLIENT_EPROTO && attempt == 0 && resp->status == VGPU_CONFLICT &&
		    resp->seq == req->seq && strcmp(resp->nonce, req->nonce) == 0 && resp->answered >= req->seq) {
			remove_payloads(c, req->seq);
			counter = resp->answered;
			continue;
		}
		break;
	}
	if (rc != VGPU_CLIENT_OK)
		goto out_clean;
	if (resp->output.name[0] && outp && out_bytes) {
		rc = fetch_output(c, resp, deadline, outp, out_bytes, err, errlen);
		if (rc != VGPU_CLIENT_OK)
			goto out_clean;
	}
	if (resp->status != VGPU_OK)
		rc = fail(err, errlen, VGPU_CLIENT_ESTATUS, "seq %" PRId64 ": %s: %s", req->seq,
			  vgpu_status_name(resp->status), resp->error);
out_clean:
	/* On a timeout the mediator may still be about to read in-SEQ.bin: leave it. It is
	 * only ever read for its own seq, and later calls use higher seqs. */
	if (rc != VGPU_CLIENT_ETIMEOUT)
		remove_payloads(c, req->seq);
out:
	if (lockfd >= 0)
		close(lockfd);
	free(buf);
	return rc;
}
