/* err03_concurrent_writers.c - ERRORS_LOG error 3: "File Locking Issues with NFS"
 * (corrupted command/response files, responses going to the wrong VM).
 *
 * Naive control: the errors log's own design, per-VM directories written in place with
 * fopen/fprintf/fclose and a server loop reading each VM's command file, with the risk it
 * leaves: several processes of one VM (8 VMs x 3 processes, released together): answers
 * taken by another process of the VM, garbled records, requests lost.
 * Ours: the same 8 x 3 writer processes, each with its own client object, through the
 * real vgpu-mediator: every request answered once, to its VM, with its seq and the right
 * result (journal: executed once, answered once). Then forced collisions: a second
 * writer in one VM directory that does not share the client's lock (a raw writer
 * reusing the client's seq with another nonce; two clients with different lock
 * directories racing) is detected (CONFLICT / EPROTO, a mediator log line), never
 * silently merged. And a payload rewritten in place by a second process of the VM
 * between the payload and the command: a naive reader that trusts it answers a wrong
 * result; ours answers BAD_PAYLOAD (CRC-32, checked as the executor reads it, before
 * the op runs) and never runs it. Injections = collisions
 * forced + payloads found changed on disk.
 * Handling proved (src/): src/client/client.c (per-VM lock, seq + nonce, EPROTO),
 * src/mediator/intake.c (CONFLICT, "two writers" log, payload size), src/exec/payload_io.c
 * (the payload's CRC),
 * src/lib/safeio.c (publish by rename). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "lib/opref.h"
#include "lib/record.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "../e2e/e2e_util.h"
#include "harness.h"
#include "naive/naive_shared_file.h"
#include "../common/testutil.h"

#define VMS 8
#define WRITERS 3
#define NAIVE_REQS 4
#define OUR_REQS 3
#define DATA_LEN 5000     /* over stdio's 4 KiB buffer: one fprintf becomes two write()s */

/* ---- naive ---------------------------------------------------------------------- */

struct naive_tally {
	long right, misrouted, corrupted, lost;
};

static volatile sig_atomic_t server_stop;
static void on_term(int sig)
{
	(void)sig;
	server_stop = 1;
}

struct server_tally {
	long lines, garbled;
};

static void server_line(const char *line, void *arg)
{
	struct server_tally *t = arg;
	const char *d = strstr(line, " data ");
	size_t n = 0;

	t->lines++;
	if (d) {
		d += 6;
		while (d[n] == d[0] && d[n] != '\n' && d[n])
			n++;
	}
	if (!d || n != DATA_LEN || d[n] != '\n')
		t->garbled++;
}

static void naive_writer(const struct naive_shared *s, int vm, int w, int go, int wfd)
{
	struct naive_tally t = { 0 };
	char *data = malloc(DATA_LEN + 1), answer[4096], b;

	if (!data || read(go, &b, 1) < 0)   /* released together with the VM's other processes */
		_exit(1);
	for (int i = 0; i < NAIVE_REQS; i++) {
		int seq = w * 100 + i + 1, avm, aseq;
		size_t alen, mylen;

		memset(data, 'a' + (vm * 7 + seq * 3) % 26, DATA_LEN);
		data[DATA_LEN] = '\0';
		mylen = (size_t)snprintf(answer, sizeof(answer), "vm %d seq %d data ", vm, seq) + DATA_LEN + 1;
		if (naive_shared_submit(s, vm, seq, data, answer, sizeof(answer), 300) < 0)
			t.lost++;
		else if (sscanf(answer, "vm %d seq %d len %zu", &avm, &aseq, &alen) != 3)
			t.corrupted++;
		else if (avm != vm || aseq != seq)
			t.misrouted++;
		else if (alen != mylen)
			t.corrupted++;
		else
			t.right++;
	}
	free(data);
	if (write(wfd, &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(1);
	_exit(0);
}

/* The server of the per-VM design: one loop over every VM's own command file. */
static pid_t naive_server_vms(const struct naive_shared *s, int n, int *rfd)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid != 0) {
		close(p[1]);
		*rfd = p[0];
		return pid;
	}
	struct server_tally t = { 0 };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	close(p[0]);
	while (!server_stop) {
		for (int v = 0; v < n; v++)
			naive_shared_serve_once(&s[v], server_line, &t);
		msleep(1);
	}
	if (write(p[1], &t, sizeof(t)) != (ssize_t)sizeof(t))
		_exit(1);
	_exit(0);
}

/* The errors log's design, literally: per-VM directories (vmN/command.txt,
 * vmN/response.txt), each written in place with fopen/fprintf/fclose, and a server that
 * reads each VM's command file and rewrites its response file. The risk it leaves: a VM
 * runs several processes that write the VM's one command file. */
static void part_naive(struct h_result *r, const char *base)
{
	struct naive_shared s[VMS];
	struct naive_tally all = { 0 };
	struct server_tally st = { 0 };
	char dir[400];
	int p[2], go[2], sfd = -1;
	pid_t server, kids[VMS * WRITERS];

	snprintf(dir, sizeof(dir), "%s/naive-pervm", base);
	if (mkdir(dir, 0777) < 0) {
		h_naive(r, 0, "could not make %s: %s", dir, strerror(errno));
		return;
	}
	for (int v = 0; v < VMS; v++) {
		char vd[500];
		snprintf(vd, sizeof(vd), "%s/vm%d", dir, v + 1);
		mkdir(vd, 0777);
		naive_shared_init(&s[v], vd);
	}
	/* the server first: it must not hold the writers' pipes open */
	server = naive_server_vms(s, VMS, &sfd);
	if (server < 0 || pipe(p) < 0 || pipe(go) < 0) {
		h_naive(r, 0, "naive server and pipes: %s", strerror(errno));
		return;
	}
	for (int v = 0; v < VMS; v++)
		for (int w = 0; w < WRITERS; w++) {
			pid_t pid = fork();
			if (pid == 0) {
				close(p[0]);
				close(go[1]);
				naive_writer(&s[v], v + 1, w, go[0], p[1]);
			}
			kids[v * WRITERS + w] = pid;
		}
	close(p[1]);
	close(go[0]);
	msleep(20);
	close(go[1]);    /* release every VM's processes together */
	for (int i = 0; i < VMS * WRITERS; i++) {
		struct naive_tally t;
		if (read(p[0], &t, sizeof(t)) == (ssize_t)sizeof(t)) {
			all.right += t.right;
			all.misrouted += t.misrouted;
			all.corrupted += t.corrupted;
			all.lost += t.lost;
		}
	}
	close(p[0]);
	for (int i = 0; i < VMS * WRITERS; i++)
		waitpid(kids[i], NULL, 0);
	kill(server, SIGTERM);
	if (read(sfd, &st, sizeof(st)) != (ssize_t)sizeof(st))
		memset(&st, 0, sizeof(st));
	close(sfd);
	waitpid(server, NULL, 0);
	h_naive(r, all.misrouted + all.corrupted + all.lost > 0,
		"per-VM files written in place, %d VMs x %d processes x %d requests: %ld right, %ld answers taken by "
		"another process of the VM, %ld garbled, %ld lost; the server read %ld lines, %ld of them interleaved",
		VMS, WRITERS, NAIVE_REQS, all.right, all.misrouted, all.corrupted, all.lost, st.lines, st.garbled);
	h_evidence(r, "naive per-VM files, several processes per VM in place: of %d requests %ld misrouted, %ld garbled, "
		   "%ld lost (%ld interleaved lines)", VMS * WRITERS * NAIVE_REQS, all.misrouted, all.corrupted, all.lost,
		   st.garbled);
}

/* ---- a payload rewritten in place by another process of the VM --------------------- */

#define PAY_N 2048
#define PAY_VM 11

static void vadd_summary(const float *in, uint64_t n, char *buf, size_t cap)
{
	float *c = malloc(n * sizeof(float));
	struct vgpu_summary s;

	if (!c) {
		snprintf(buf, cap, "-");
		return;
	}
	vgpu_ref_vadd(in, in + n, c, n);
	vgpu_summarize(c, n, &s);
	vgpu_summary_format(&s, buf, cap);
	free(c);
}

/* Process A publishes in-1.bin and then command.txt, both by rename; between the two,
 * process B of the same VM rewrites the second half of in-1.bin in place (its own
 * request under the same name). A naive reader trusts the payload and answers; ours
 * checks it against the record's size and CRC-32. */
static void part_payload(struct h_result *r, struct e2e_env *e)
{
	const size_t bytes = 2 * PAY_N * sizeof(float);
	float *a = malloc(bytes), *b = malloc(bytes), *back = malloc(bytes);
	char dir[400], path[600], want[256], naive_got[256], buf[2048], st[32];
	struct vgpu_request q;
	uint64_t rng = r->seed ^ 0x9a71;
	int dfd = -1, len, fd, changed = 0;

	e2e_vmdir(e, PAY_VM, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/in-1.bin", dir);
	if (!a || !b || !back || (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		h_check(r, 0, "vm%d: setup", PAY_VM);
		goto out;
	}
	for (size_t i = 0; i < 2 * PAY_N; i++) {
		a[i] = (float)((int64_t)(h_rand(&rng) % 2000001) - 1000000) / 1e6f;
		b[i] = (float)((int64_t)(h_rand(&rng) % 2000001) - 1000000) / 1e6f;
	}
	vadd_summary(a, PAY_N, want, sizeof(want));
	memset(&q, 0, sizeof(q));
	q.vm = PAY_VM;
	q.seq = 1;
	snprintf(q.nonce, sizeof(q.nonce), "00000000000000b1");
	q.op = VGPU_OP_VADD;
	q.priority = VGPU_PRIO_MEDIUM;
	q.args.n = PAY_N;
	q.output_file = 0;
	vgpu_payload_name(q.input.name, "in", 1);
	q.input.bytes = bytes;
	q.input.crc = vgpu_crc32(a, bytes);
	len = vgpu_request_encode(&q, buf, sizeof(buf));
	r->req.submitted++;
	if (len < 0 || vgpu_publish(dfd, q.input.name, a, bytes, 0644) < 0) {
		h_check(r, 0, "vm%d: process A publishing in-1.bin", PAY_VM);
		goto out;
	}
	/* B: its own operands over the second half, in place (no O_TRUNC, same size) */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pwrite(fd, b + PAY_N, PAY_N * sizeof(float), (off_t)(PAY_N * sizeof(float))) < 0)
			h_check(r, 0, "vm%d: process B's write: %s", PAY_VM, strerror(errno));
		close(fd);
	}
	/* what is on disk now, read back: the fault happened iff its CRC differs */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && vgpu_read_full(fd, back, bytes) == 0 && vgpu_crc32(back, bytes) != q.input.crc)
		changed = 1;
	if (fd >= 0)
		close(fd);
	r->injections += changed;
	/* the naive reader: takes in-1.bin as it is and answers */
	vadd_summary(back, PAY_N, naive_got, sizeof(naive_got));
	h_naive(r, changed && strcmp(naive_got, want) != 0,
		"vm%d: in-1.bin rewritten in place by a second process between the payload and the command: a reader that "
		"trusts it answers \"%.50s\", process A's operands give \"%.50s\"", PAY_VM, naive_got, want);
	/* A publishes its command: ours must refuse the payload, not run it */
	if (vgpu_publish(dfd, "command.txt", buf, (size_t)len, 0644) < 0) {
		h_check(r, 0, "vm%d: process A publishing command.txt", PAY_VM);
		goto out;
	}
	if (e2e_journal_wait(e, "answer", PAY_VM, 1, 1, E2E_WAIT_MS) == 1)
		r->req.answered++;
	else
		r->req.lost++;
	e2e_journal_last_status(e, PAY_VM, 1, st, sizeof(st));
	/* The CRC-32 is checked while the executor reads the payload, off the mediator's loop
	 * and before the op runs (docs/EXECUTOR.md): the journal's exec line says the job was
	 * handed over; the answer says it was refused at the read, before any computing. */
	{
		int refused = e2e_log_count(e, "payload's CRC-32 differs from the record's") > 0;

		if (strcmp(st, "BAD_PAYLOAD") != 0 || !refused)
			r->req.corrupted++;
		h_check(r, strcmp(st, "BAD_PAYLOAD") == 0 && refused && e2e_journal_count(e, "exec", PAY_VM, 1) <= 1,
			"vm%d seq 1 with a payload that no longer matches its record answered %s, refused when the "
			"executor read it (CRC-32), the op never run (%d exec line)", PAY_VM, st[0] ? st : "never",
			e2e_journal_count(e, "exec", PAY_VM, 1));
	}
	/* the VM's next request, through the client library (payload by rename), is right */
	{
		struct vgpu_client *c;
		struct vgpu_client_opts o = { .timeout_ms = 20000, .poll_max_ms = 10, .lock_dir = e->dir };
		struct vgpu_request q2 = { .op = VGPU_OP_VADD, .args.n = PAY_N, .priority = VGPU_PRIO_MEDIUM,
					   .output_file = 0 };
		struct vgpu_response resp;
		char err[512];
		int rc = -1;

		r->req.submitted++;
		if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) == VGPU_CLIENT_OK) {
			rc = vgpu_client_call(c, &q2, a, bytes, &resp, NULL, NULL, err, sizeof(err));
			vgpu_client_close(c);
		}
		if (rc == VGPU_CLIENT_OK && strcmp(resp.result, want) == 0)
			r->req.answered++;
		else
			r->req.lost++;
		h_check(r, rc == VGPU_CLIENT_OK && strcmp(resp.result, want) == 0,
			"vm%d's next request (the client library) answered OK with process A's result (%s)", PAY_VM,
			rc == VGPU_CLIENT_OK ? "same" : err);
	}
	h_evidence(r, "payload rewritten in place by a second process of the VM: naive reader answered a wrong result, "
		   "ours BAD_PAYLOAD (CRC-32), not run");
out:
	if (dfd >= 0)
		close(dfd);
	free(a);
	free(b);
	free(back);
}

/* ---- ours ----------------------------------------------------------------------- */

struct call_rec {
	uint32_t vm;
	int writer;
	int rc;
	int status;
	int64_t seq;
	int own;        /* the answer's vm and seq are the caller's */
	int right;      /* its result is the CPU reference's for the request's seed */
};

static uint64_t req_seed(uint64_t seed, uint32_t vm, int w, int i)
{
	return seed ^ ((uint64_t)vm << 40) ^ ((uint64_t)w << 32) ^ (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ULL;
}

static int expected_result(uint64_t seed, uint64_t n, char *buf, size_t cap)
{
	float *a = malloc(3 * n * sizeof(float));
	struct vgpu_summary s;

	if (!a)
		return -1;
	vgpu_gen_fill(a, n, seed, 0);
	vgpu_gen_fill(a + n, n, seed, 1);
	vgpu_ref_vadd(a, a + n, a + 2 * n, n);
	vgpu_summarize(a + 2 * n, n, &s);
	vgpu_summary_format(&s, buf, cap);
	free(a);
	return 0;
}

static void our_writer(struct e2e_env *e, uint32_t vm, int w, uint64_t seed, int wfd)
{
	char dir[400], err[512], want[256];
	struct vgpu_client *c;
	struct vgpu_client_opts o = { .timeout_ms = 30000, .poll_max_ms = 10, .lock_dir = e->dir };

	e2e_vmdir(e, vm, dir, sizeof(dir));
	if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK)
		_exit(100);
	for (int i = 0; i < OUR_REQS; i++) {
		struct vgpu_request q = { .op = VGPU_OP_VADD, .args.n = 256 + 64 * (uint64_t)w, .args.has_seed = 1,
					  .priority = (enum vgpu_prio)((vm + (uint32_t)i) % 3) };
		struct vgpu_response resp;
		struct call_rec rec = { .vm = vm, .writer = w };

		q.args.seed = req_seed(seed, vm, w, i);
		expected_result(q.args.seed, q.args.n, want, sizeof(want));
		rec.rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
		if (rec.rc != VGPU_CLIENT_OK)
			fprintf(stderr, "    vm%u writer %d: %s\n", vm, w, err);
		rec.seq = vgpu_client_last_seq(c);
		rec.status = resp.status;
		rec.own = resp.vm == vm && resp.seq == rec.seq;
		rec.right = strcmp(resp.result, want) == 0;
		if (write(wfd, &rec, sizeof(rec)) != (ssize_t)sizeof(rec))
			_exit(1);
	}
	vgpu_client_close(c);
	_exit(0);
}

static void part_ours(struct h_result *r, struct e2e_env *e)
{
	struct call_rec recs[VMS * WRITERS * OUR_REQS];
	int n = 0, p[2], bad_journal = 0, answers = 0, seq_hits[VMS + 1][WRITERS * OUR_REQS + 2];
	pid_t kids[VMS * WRITERS];
	long ok = 0, wrong_vm = 0, wrong_result = 0, failed = 0, dup_seq = 0;

	memset(seq_hits, 0, sizeof(seq_hits));
	if (pipe(p) < 0)
		return;
	for (uint32_t v = 1; v <= VMS; v++)
		for (int w = 0; w < WRITERS; w++) {
			pid_t pid = fork();
			if (pid == 0) {
				close(p[0]);
				our_writer(e, v, w, r->seed, p[1]);
			}
			kids[(v - 1) * WRITERS + (uint32_t)w] = pid;
		}
	close(p[1]);
	while (n < VMS * WRITERS * OUR_REQS && read(p[0], &recs[n], sizeof(recs[n])) == (ssize_t)sizeof(recs[n]))
		n++;
	close(p[0]);
	for (int i = 0; i < VMS * WRITERS; i++)
		waitpid(kids[i], NULL, 0);
	r->req.submitted += VMS * WRITERS * OUR_REQS;
	for (int i = 0; i < n; i++) {
		const struct call_rec *c = &recs[i];
		if (c->rc == VGPU_CLIENT_OK && c->own && c->right)
			ok++;
		else if (c->rc == VGPU_CLIENT_OK && !c->own)
			wrong_vm++;
		else if (c->rc == VGPU_CLIENT_OK)
			wrong_result++;
		else
			failed++;
		if (c->seq >= 1 && c->seq <= WRITERS * OUR_REQS && seq_hits[c->vm][c->seq]++)
			dup_seq++;
	}
	for (uint32_t v = 1; v <= VMS; v++)
		for (int64_t s = 1; s <= WRITERS * OUR_REQS; s++) {
			/* the answer line follows the published answer: wait for it */
			int an = e2e_journal_wait(e, "answer", v, s, 1, E2E_WAIT_MS), ex = e2e_journal_count(e, "exec", v, s);
			if (ex != 1 || an != 1) {
				bad_journal++;
				printf("    vm%u seq %" PRId64 ": executed %d, answered %d times\n", v, s, ex, an);
			}
			answers += an;
		}
	r->req.answered += ok;
	r->req.misrouted += wrong_vm;
	r->req.corrupted += wrong_result;
	r->req.lost += failed + (VMS * WRITERS * OUR_REQS - n);
	r->req.duplicated += dup_seq;
	h_check(r, ok == VMS * WRITERS * OUR_REQS,
		"%d VMs x %d writer processes x %d requests: %ld answered OK to the right VM with the right seq and "
		"the CPU reference's result (%ld wrong VM/seq, %ld wrong result, %ld failed)",
		VMS, WRITERS, OUR_REQS, ok, wrong_vm, wrong_result, failed);
	h_check(r, dup_seq == 0, "no seq handed to two writers of one VM (the client's local lock serialises them)");
	h_check(r, bad_journal == 0 && answers == VMS * WRITERS * OUR_REQS,
		"journal: every (vm, seq 1..%d) executed once and answered once (%d answers)", WRITERS * OUR_REQS, answers);
	h_evidence(r, "ours: %d VMs x %d writers x %d requests all answered once to the right VM/seq with the right result",
		   VMS, WRITERS, OUR_REQS);
}

static int wait_answers(const struct e2e_env *e, uint32_t vm, int64_t seq, int count, int timeout_ms)
{
	return e2e_journal_wait(e, "answer", vm, seq, count, timeout_ms) >= count ? 0 : -1;
}

/* A raw second writer in vm9: after each answered call of the client, publish a record
 * with the same seq and another nonce (by rename, as a well-behaved writer would). */
#define RAW_COLLISIONS 4
static void part_raw_collisions(struct h_result *r, struct e2e_env *e)
{
	char dir[400], err[512], status[32], buf[4096];
	struct vgpu_client *c;
	struct vgpu_client_opts o = { .timeout_ms = 20000, .poll_max_ms = 10, .lock_dir = e->dir };
	uint64_t rng = r->seed ^ 0xc0111de;
	int detected = 0, once = 0, client_ok = 0;
	int dirfd;

	e2e_vmdir(e, 9, dir, sizeof(dir));
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK) {
		h_check(r, 0, "vm9: client open: %s", err);
		if (dirfd >= 0)
			close(dirfd);
		return;
	}
	for (int k = 0; k < RAW_COLLISIONS; k++) {
		struct vgpu_request q = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_MEDIUM }, raw;
		struct vgpu_response resp;
		int rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err)), len;
		int64_t seq = vgpu_client_last_seq(c);

		r->req.submitted += 2;
		if (rc == VGPU_CLIENT_OK && resp.seq == seq && resp.vm == 9) {
			client_ok++;
			r->req.answered++;
		} else {
			r->req.lost++;
		}
		raw = q;
		raw.vm = 9;
		raw.seq = seq;
		snprintf(raw.nonce, sizeof(raw.nonce), "%016" PRIx64, h_rand(&rng));
		len = vgpu_request_encode(&raw, buf, sizeof(buf));
		if (len < 0 || vgpu_publish(dirfd, "command.txt", buf, (size_t)len, 0644) < 0) {
			h_check(r, 0, "vm9: raw writer could not publish (%d)", len);
			continue;
		}
		r->injections++;
		if (wait_answers(e, 9, seq, 2, 5000) == 0) {
			e2e_journal_last_status(e, 9, seq, status, sizeof(status));
			if (strcmp(status, "CONFLICT") == 0) {
				detected++;
				r->req.answered++;
			} else {
				r->req.corrupted++;
			}
		} else {
			r->req.lost++;
		}
		once += e2e_journal_count(e, "exec", 9, seq) == 1;
	}
	vgpu_client_close(c);
	close(dirfd);
	h_check(r, client_ok == RAW_COLLISIONS, "vm9: the client's %d requests answered OK", RAW_COLLISIONS);
	h_check(r, detected == RAW_COLLISIONS,
		"vm9: %d of %d records reusing an answered seq with another nonce answered CONFLICT", detected,
		RAW_COLLISIONS);
	h_check(r, once == RAW_COLLISIONS, "vm9: each collided seq executed exactly once (the second writer's never ran)");
	h_check(r, 0 < e2e_log_wait(e, "two writers for one VM directory", 1, E2E_WAIT_MS), "the mediator's log names the collision (\"two writers for one VM directory\")");
	h_evidence(r, "raw second writer: %d/%d same-seq records answered CONFLICT, never executed", detected,
		   RAW_COLLISIONS);
}

/* Two clients of vm10 with different lock directories (so they do not serialise),
 * released together: when they pick the same seq, each gets its own answer or is told
 * of the other writer; both never succeed with one seq. */
#define RACE_ROUNDS 8
static void part_race(struct h_result *r, struct e2e_env *e)
{
	int collisions = 0, merged = 0, unreported = 0, multi_exec = 0;

	for (int round = 0; round < RACE_ROUNDS; round++) {
		int go[2], res[2];
		pid_t kids[2];
		struct call_rec rec[2];

		if (pipe(go) < 0 || pipe(res) < 0)
			return;
		for (int k = 0; k < 2; k++) {
			kids[k] = fork();
			if (kids[k] == 0) {
				char dir[400], err[512], lock[400], b;
				struct vgpu_client *c;
				struct vgpu_client_opts o = { .timeout_ms = 4000, .poll_max_ms = 5, .lock_dir = lock };
				struct vgpu_request q = { .op = VGPU_OP_PING, .priority = VGPU_PRIO_MEDIUM };
				struct vgpu_response resp;
				struct call_rec cr = { .vm = 10, .writer = k };

				close(go[1]);
				close(res[0]);
				snprintf(lock, sizeof(lock), "%s/lock%d", e->dir, k);
				mkdir(lock, 0700);
				e2e_vmdir(e, 10, dir, sizeof(dir));
				memset(&resp, 0, sizeof(resp));
				if (vgpu_client_open(&c, dir, &o, err, sizeof(err)) != VGPU_CLIENT_OK)
					_exit(100);
				if (read(go[0], &b, 1) < 0)
					_exit(101);
				cr.rc = vgpu_client_call(c, &q, NULL, 0, &resp, NULL, NULL, err, sizeof(err));
				cr.seq = vgpu_client_last_seq(c);
				cr.status = resp.status;
				cr.own = resp.vm == 10 && resp.seq == cr.seq;
				if (write(res[1], &cr, sizeof(cr)) != (ssize_t)sizeof(cr))
					_exit(1);
				_exit(0);
			}
		}
		close(go[0]);
		close(res[1]);
		msleep(20);
		close(go[1]);   /* release both */
		for (int k = 0; k < 2; k++)
			if (read(res[0], &rec[k], sizeof(rec[k])) != (ssize_t)sizeof(rec[k]))
				memset(&rec[k], 0, sizeof(rec[k]));
		close(res[0]);
		for (int k = 0; k < 2; k++)
			waitpid(kids[k], NULL, 0);
		r->req.submitted += 2;
		for (int k = 0; k < 2; k++) {
			if (rec[k].rc == VGPU_CLIENT_OK && rec[k].own)
				r->req.answered++;
			else if (rec[k].rc == VGPU_CLIENT_EPROTO)
				r->req.answered++;   /* told: another writer */
			else
				r->req.lost++;
		}
		if (rec[0].seq == rec[1].seq && rec[0].seq > 0) {
			collisions++;
			if (rec[0].rc == VGPU_CLIENT_OK && rec[1].rc == VGPU_CLIENT_OK)
				merged++;
			for (int k = 0; k < 2; k++)
				if (rec[k].rc != VGPU_CLIENT_OK && rec[k].rc != VGPU_CLIENT_EPROTO) {
					unreported++;
					printf("    round %d: writer %d seq %" PRId64 ": client rc %d (%s)\n", round, k,
					       rec[k].seq, rec[k].rc, vgpu_client_strerror(rec[k].rc));
				}
			if (e2e_journal_count(e, "exec", 10, rec[0].seq) > 1)
				multi_exec++;
		}
		/* let the mediator settle before the next round */
		msleep(30);
	}
	r->injections += collisions;
	h_check(r, merged == 0, "vm10: %d of %d rounds of two unlocked writers picked the same seq; in none did both "
		"get OK for it", collisions, RACE_ROUNDS);
	h_check(r, unreported == 0, "vm10: every writer of a collided seq got its answer or EPROTO (another writer), "
		"no timeout or silent loss");
	h_check(r, multi_exec == 0, "vm10: no collided seq executed twice");
	h_evidence(r, "two unlocked clients: %d/%d rounds collided, each detected", collisions, RACE_ROUNDS);
}

int main(void)
{
	const char *args[] = { "--executor", "mock", "--default-cap", "high", NULL };
	struct h_result r;
	struct e2e_env e;

	h_begin(&r, "ERR03", "Concurrent writers: per-VM files, seq+nonce, collisions detected", "local");
	signal(SIGPIPE, SIG_IGN);
	if (e2e_setup(&e, PAY_VM) < 0) {
		h_check(&r, 0, "private directory: %s", strerror(errno));
		return h_finish(&r);
	}
	part_naive(&r, e.dir);
	if (e2e_start_mediator(&e, args) < 0) {
		h_check(&r, 0, "vgpu-mediator started (see %s)", e.log);
	} else {
		part_ours(&r, &e);
		part_raw_collisions(&r, &e);
		part_race(&r, &e);
		part_payload(&r, &e);
		h_check(&r, kill(e.mediator, 0) == 0, "the mediator is still serving after the collisions");
		h_check(&r, e2e_stop_mediator(&e, 10000) == 0, "the mediator stopped cleanly on SIGTERM (exit 0)");
	}
	e2e_teardown(&e);
	return h_finish(&r);
}
