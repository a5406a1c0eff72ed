/* test_mediator.c - the mediator core (src/mediator) in-process, without a worker: a
 * private ROOT/vmN tree and state directory, command.txt published by temp+rename with
 * the real encoder, the loop driven one vgpu_mediator_step() at a time, and a fake
 * executor behind the vgpu_executor_* seam that counts its calls and can refuse a job,
 * fail it, crash, lose it, answer late (past its deadline: TIMEOUT) or succeed.
 * Checks response.txt, the state directory and the journal: statuses, exactly-once,
 * priority order, and every branch where an executor fails the mediator. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <fiu.h>
#include <fiu-control.h>

#include "exec/executor.h"
#include "../common/testutil.h"
#include "lib/clock.h"
#include "lib/opref.h"
#include "lib/record.h"
#include "lib/record_status.h"
#include "lib/safeio.h"
#include "lib/status.h"
#include "mediator/mediator.h"
#include "mediator/progress.h"
#include "mediator/mediator_int.h"   /* the budget's counters (white box) */
#include "mediator/state.h"

/* --- the fake executor ------------------------------------------------------------- */

enum fake_mode {
	FAKE_OK,          /* done at once: OK (output written, summary only when SUMMARY) */
	FAKE_HOLD,        /* runs until fake_finish(): then OK */
	FAKE_REFUSE,      /* submit() returns -EBUSY */
	FAKE_FAIL,        /* reap: EXEC_FAILED, as a backend error mid-job */
	FAKE_CRASH,       /* reap: EXEC_FAILED, the worker died (as pool.c reports it) */
	FAKE_LOST,        /* reap returns -EIO: the executor lost the job */
	FAKE_LATE,        /* never done; reaped at its deadline as TIMEOUT (the watchdog) */
	FAKE_NO_SUMMARY,  /* OK without a summary */
};

#define FAKE_SLOTS 4

struct fake_slot {
	int busy, done;
	enum fake_mode mode;
	int efd;                   /* readable when done; -1 with FAKE_NOFD */
	struct vgpu_exec_job job;
	int out_fd;                /* our dup */
	int bad_input;             /* the input failed its read or CRC: IN_RES is the result */
	struct vgpu_job_result in_res;
};

struct fake_ex {
	struct vgpu_executor base;   /* Base class. Must be first */
	struct fake_slot slot[FAKE_SLOTS];
	enum fake_mode script[16];   /* mode of the Nth submit; FAKE_OK past NSCRIPT */
	int nscript;
	int use_fd;                  /* 0: fd() returns -1 (the mediator polls) */
	int summary;                 /* OK results carry the executor's summary */
	int nsubmit, naccepted, nreap, nfd, nname, nclose;
	const char *state[FAKE_SLOTS];  /* slot_info's state (fake_ops_info); NULL: "ready" */
};

static struct fake_ex fx;

static void fake_signal(struct fake_slot *sl)
{
	uint64_t one = 1;

	sl->done = 1;
	if (sl->efd >= 0)
		ck_assert_int_eq(write(sl->efd, &one, sizeof(one)), (ssize_t)sizeof(one));
}

static int fake_submit(struct vgpu_executor *ex, int s, const struct vgpu_exec_job *job)
{
	struct fake_ex *f = (struct fake_ex *)ex;
	struct fake_slot *sl = &f->slot[s];
	enum fake_mode mode = f->nsubmit < f->nscript ? f->script[f->nsubmit] : FAKE_OK;

	f->nsubmit++;
	ck_assert_int_lt(s, ex->nslots);
	ck_assert_msg(!sl->busy, "submit to busy slot %d", s);
	if (mode == FAKE_REFUSE)
		return -EBUSY;
	f->naccepted++;
	memset(sl, 0, sizeof(*sl));
	sl->busy = 1;
	sl->mode = mode;
	sl->job = *job;
	sl->efd = f->use_fd ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
	sl->out_fd = job->out_fd >= 0 ? dup(job->out_fd) : -1;
	if (job->in_fd >= 0) {
		/* as every executor: the VM's payload read, its CRC-32 checked (executor.h) */
		void *in = malloc(job->in_bytes ? job->in_bytes : 1);

		ck_assert_ptr_nonnull(in);
		sl->bad_input = vgpu_exec_read_input(job->in_fd, job->in_bytes, job->in_check, job->in_crc, in,
						     &sl->in_res) != 0;
		free(in);
	}
	if (mode != FAKE_HOLD && mode != FAKE_LATE)
		fake_signal(sl);
	return 0;
}

static int fake_fd(struct vgpu_executor *ex, int s)
{
	struct fake_ex *f = (struct fake_ex *)ex;

	f->nfd++;
	return f->slot[s].efd;
}

/* The job's output: every float 0.5 (the mediator summarises or publishes it). */
static void fake_output(struct fake_slot *sl, struct vgpu_job_result *res)
{
	size_t n = sl->job.job.out_count;

	if (sl->out_fd >= 0) {
		float *v = malloc(sl->job.out_bytes);

		for (size_t i = 0; i < sl->job.out_bytes / sizeof(float); i++)
			v[i] = 0.5f;
		ck_assert_int_eq(pwrite(sl->out_fd, v, sl->job.out_bytes, 0), (ssize_t)sl->job.out_bytes);
		free(v);
	}
	if (n && (fx.summary || sl->out_fd < 0) && sl->mode != FAKE_NO_SUMMARY) {
		/* a summary the mediator could not compute itself: sum 7 */
		res->has_summary = 1;
		res->summary = (struct vgpu_summary){ .count = n, .sum = 7, .l2 = 1, .first = 0.5f };
	}
}

static int fake_reap(struct vgpu_executor *ex, int s, uint64_t now_ms, struct vgpu_job_result *res)
{
	struct fake_ex *f = (struct fake_ex *)ex;
	struct fake_slot *sl = &f->slot[s];
	int rc = 1;

	f->nreap++;
	ck_assert(sl->busy);
	if (sl->mode == FAKE_LATE && sl->job.deadline_ms && now_ms >= sl->job.deadline_ms) {
		res->status = VGPU_TIMEOUT;
		snprintf(res->error, sizeof(res->error), "fake: stopped at its deadline");
	} else if (!sl->done) {
		return 0;
	} else if (sl->bad_input) {
		*res = sl->in_res;
	} else if (sl->mode == FAKE_FAIL) {
		res->status = VGPU_EXEC_FAILED;
		snprintf(res->error, sizeof(res->error), "fake: the backend failed mid-job");
	} else if (sl->mode == FAKE_CRASH) {
		res->status = VGPU_EXEC_FAILED;
		snprintf(res->error, sizeof(res->error), "fake: worker killed by SIGSEGV; restarted");
	} else if (sl->mode == FAKE_LOST) {
		rc = -EIO;
	} else {
		res->status = VGPU_OK;
		res->exec_us = 5;
		fake_output(sl, res);
	}
	if (sl->efd >= 0)
		close(sl->efd);
	if (sl->out_fd >= 0)
		close(sl->out_fd);
	memset(sl, 0, sizeof(*sl));
	return rc;
}

static const char *fake_slot_name(struct vgpu_executor *ex, int s)
{
	static const char *names[FAKE_SLOTS] = { "fake:0", "fake:1", "fake:2", "fake:3" };
	struct fake_ex *f = (struct fake_ex *)ex;

	f->nname++;
	return names[s];
}

static void fake_close(struct vgpu_executor *ex)
{
	((struct fake_ex *)ex)->nclose++;
}

static const struct vgpu_executor_ops fake_ops = {
	.iversion = 1,
	.name = "fake",
	.submit = fake_submit,
	.fd = fake_fd,
	.reap = fake_reap,
	.slot_name = fake_slot_name,
	.close = fake_close,
};

/* An executor without per-slot names: the answers name the executor. */
static const struct vgpu_executor_ops fake_ops_unnamed = {
	.iversion = 1,
	.name = "fake-unnamed",
	.submit = fake_submit,
	.fd = fake_fd,
	.reap = fake_reap,
	.close = fake_close,
};

/* An executor that tells its workers' state (as the pool does): pings are answered by
 * the mediator while a slot is ready (PROTOCOL.md s.5.2). */
static int fake_slot_info(struct vgpu_executor *ex, int s, struct vgpu_slot_info *info)
{
	struct fake_ex *f = (struct fake_ex *)ex;

	info->device = -1;
	info->state = f->state[s] ? f->state[s] : "ready";
	info->restarts = 0;
	return 0;
}

static const struct vgpu_executor_ops fake_ops_info = {
	.iversion = 2,
	.name = "fake",
	.submit = fake_submit,
	.fd = fake_fd,
	.reap = fake_reap,
	.slot_name = fake_slot_name,
	.close = fake_close,
	.slot_info = fake_slot_info,
};

/* Forget the jobs the fake still holds (its mediator is gone) and reset it. */
static void fake_reset(void)
{
	for (int s = 0; s < FAKE_SLOTS; s++) {
		if (fx.slot[s].busy && fx.slot[s].efd >= 0)
			close(fx.slot[s].efd);
		if (fx.slot[s].busy && fx.slot[s].out_fd >= 0)
			close(fx.slot[s].out_fd);
	}
	memset(&fx, 0, sizeof(fx));
}

/* Finish slot S's held job. */
static void fake_finish(int s)
{
	ck_assert(fx.slot[s].busy);
	fake_signal(&fx.slot[s]);
}

/* --- the tree, the mediator, requests and answers ----------------------------------- */

static char dir[256], root[300], state[300], journal[300];
static struct vgpu_mediator *med;
static struct vgpu_mediator_config cfg;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vgpu-test-mediator-XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
	snprintf(root, sizeof(root), "%s/export", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(journal, sizeof(journal), "%s/journal", dir);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	for (int v = 1; v <= 8; v++) {
		char p[400];

		snprintf(p, sizeof(p), "%s/vm%d", root, v);
		ck_assert_int_eq(mkdir(p, 0777), 0);
	}
	memset(&fx, 0, sizeof(fx));
	memset(&cfg, 0, sizeof(cfg));
	med = NULL;
}

static void teardown(void)
{
	char cmd[512];

	vgpu_mediator_free(med);
	med = NULL;
	fake_reset();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A mediator over the fake with NSLOTS slots; the caller may have set cfg and fx. */
static void start_ops(int nslots, const struct vgpu_executor_ops *ops)
{
	char err[512];

	fx.base.ops = ops;
	fx.base.nslots = nslots;
	cfg.root = root;
	cfg.state_dir = state;
	cfg.journal = journal;
	cfg.default_cap = VGPU_PRIO_HIGH;
	if (!cfg.rescan_ms)
		cfg.rescan_ms = 60000;   /* inotify drives the tests; rescans only when asked */
	cfg.ex = &fx.base;
	ck_assert_msg(vgpu_mediator_new(&med, &cfg, err, sizeof(err)) == 0, "new: %s", err);
}

static void start(int nslots)
{
	fx.use_fd = 1;
	start_ops(nslots, &fake_ops);
}

static void vm_path(uint32_t vm, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/vm%" PRIu32 "/%s", root, vm, name);
}

/* Publish BYTES as vmN/NAME by temp+rename, as the client does. */
static void put_file(uint32_t vm, const char *name, const void *bytes, size_t len)
{
	char tmp[512], path[512];
	int fd;

	vm_path(vm, ".tmp-test", tmp, sizeof(tmp));
	vm_path(vm, name, path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, bytes, len), (ssize_t)len);
	close(fd);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static struct vgpu_request req_of(uint32_t vm, int64_t seq, enum vgpu_op op, enum vgpu_prio prio)
{
	struct vgpu_request r;

	memset(&r, 0, sizeof(r));
	r.vm = vm;
	r.seq = seq;
	snprintf(r.nonce, sizeof(r.nonce), "%016" PRIx64, (uint64_t)seq * 1000 + vm);
	r.op = op;
	r.priority = prio;
	r.output_file = -1;
	return r;
}

static void put_request(const struct vgpu_request *r)
{
	char buf[VGPU_RECORD_MAX];
	int len = vgpu_request_encode(r, buf, sizeof(buf));

	ck_assert_msg(len > 0, "encode vm%u seq %lld: %d", r->vm, (long long)r->seq, len);
	put_file(r->vm, "command.txt", buf, (size_t)len);
}

static void send_op(uint32_t vm, int64_t seq, enum vgpu_op op, enum vgpu_prio prio)
{
	struct vgpu_request r = req_of(vm, seq, op, prio);

	put_request(&r);
}

/* A request with an effect, whose intent is recorded before it runs (a ping has none:
 * PROTOCOL.md s.5.2): spin 1 ms; the mediator needs cfg.test_ops. */
static struct vgpu_request effect_req(uint32_t vm, int64_t seq)
{
	struct vgpu_request r = req_of(vm, seq, VGPU_OP_SPIN, VGPU_PRIO_LOW);

	r.args.ms = 1;
	return r;
}

static void send_effect(uint32_t vm, int64_t seq)
{
	struct vgpu_request r = effect_req(vm, seq);

	put_request(&r);
}

/* vmN/response.txt decoded into R; 0, or -1 when missing or unreadable. */
static int read_resp(uint32_t vm, struct vgpu_response *r)
{
	static struct vgpu_response ignored;
	char path[512], buf[VGPU_RECORD_MAX];
	FILE *f;
	size_t n;

	vm_path(vm, "response.txt", path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (vgpu_response_decode(buf, n, r ? r : &ignored, NULL, 0) != VGPU_REC_OK)
		return -1;
	/* the initial response.txt (seq 0, OK) answers nothing: no answer yet */
	return (r ? r : &ignored)->seq == 0 && (r ? r : &ignored)->status == VGPU_OK ? -1 : 0;
}

/* The raw response.txt of vmN: 0 when it decodes into R. */
static int read_initial(uint32_t vm, struct vgpu_response *r)
{
	char path[512], buf[VGPU_RECORD_MAX];
	FILE *f;
	size_t n;

	vm_path(vm, "response.txt", path, sizeof(path));
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return vgpu_response_decode(buf, n, r, NULL, 0) == VGPU_REC_OK ? 0 : -1;
}

/* Step the loop until vmN's response answers SEQ (up to 5 s); returns its status. */
static int wait_answer(uint32_t vm, int64_t seq, struct vgpu_response *out)
{
	struct vgpu_response r;
	uint64_t t0 = vgpu_now_ms();

	for (;;) {
		if (read_resp(vm, &r) == 0 && r.seq == seq) {
			if (out)
				*out = r;
			return r.status;
		}
		ck_assert_msg(vgpu_now_ms() - t0 < 5000, "vm%u: no answer to seq %lld in 5 s", vm, (long long)seq);
		ck_assert_int_eq(vgpu_mediator_step(med, 20), 1);
	}
}

/* Step for MS milliseconds. */
static void step_for(int ms)
{
	uint64_t end = vgpu_now_ms() + (uint64_t)ms;

	while (vgpu_now_ms() < end)
		vgpu_mediator_step(med, 10);
}

/* Journal lines starting with EVENT for VM (0: any) and SEQ (0: any). */
static int journal_count(const char *event, uint32_t vm, int64_t seq)
{
	char line[512];
	FILE *f = fopen(journal, "r");
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned v;
		long long s;
		size_t el = strlen(event);

		if (strncmp(line, event, el) != 0 || line[el] != ' ' ||
		    sscanf(line + el, " vm=%u seq=%lld", &v, &s) != 2)
			continue;
		n += (!vm || v == vm) && (!seq || s == seq);
	}
	fclose(f);
	return n;
}

/* The VMs of the journal's "exec" lines, in order, into OUT; the count. */
static int exec_order(uint32_t *out, int max)
{
	char line[512];
	FILE *f = fopen(journal, "r");
	int n = 0;
	unsigned v;

	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (n < max && sscanf(line, "exec vm=%u", &v) == 1)
			out[n++] = v;
	fclose(f);
	return n;
}

static int file_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* vmN's state as the mediator keeps it in --state (its journal), read with its own
 * loader: the answered seq, the intent's seq in *RUNNING; -1 when it cannot be loaded. */
static int64_t state_answered(uint32_t vm, int64_t *running)
{
	struct vgpu_vm_state st;
	int dfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t seq = -1;

	if (dfd >= 0 && vgpu_state_load(dfd, vm, &st) == 0) {
		seq = st.answered_seq;
		if (running)
			*running = st.running_seq;
		vgpu_state_release(&st);
	}
	if (dfd >= 0)
		close(dfd);
	return seq;
}

/* libfiu: fail the point's next call once with errno ONCE_ERRNO, then never (FIU_ONETIME
 * would leak the point's name when enabled again). */
static int once_left, once_errno;

static int fail_once_cb(const char *name, int *failnum, void **failinfo, unsigned int *flags)
{
	(void)name; (void)failnum; (void)flags;
	*failinfo = (void *)(intptr_t)once_errno;
	return once_left-- > 0;
}

static void fail_once(const char *point, int e)
{
	fiu_disable(point);
	once_left = 1;
	once_errno = e;
	ck_assert_int_eq(fiu_enable_external(point, 1, NULL, 0, fail_once_cb), 0);
}

/* --- success and exactly-once ---------------------------------------------------- */

START_TEST(test_ping_ok_once)
{
	struct vgpu_response r;

	start(1);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_MEDIUM);
	ck_assert_int_eq(wait_answer(1, 1, &r), VGPU_OK);
	ck_assert_str_eq(r.result, "pong");
	ck_assert_str_eq(r.executor, "fake:0");
	ck_assert_int_eq(r.priority, VGPU_PRIO_MEDIUM);
	ck_assert_int_eq(fx.nsubmit, 1);
	ck_assert_int_ge(fx.nname, 1);

	/* The same record again (published anew, so inotify sees it): never run twice. */
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_MEDIUM);
	step_for(100);
	ck_assert_int_eq(fx.nsubmit, 1);
	/* response.txt lost: the same record gets the saved answer back, still not run */
	{
		char p[512];

		vm_path(1, "response.txt", p, sizeof(p));
		ck_assert_int_eq(unlink(p), 0);
	}
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_MEDIUM);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	ck_assert_int_eq(fx.nsubmit, 1);
	ck_assert_int_eq(journal_count("exec", 1, 1), 1);
	ck_assert_int_eq(journal_count("answer", 1, 1), 1);

	/* the next seq runs */
	send_op(1, 2, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(1, 2, NULL), VGPU_OK);
	ck_assert_int_eq(fx.nsubmit, 2);
	/* persisted: the last answer, no intent left */
	{
		int64_t running = -1;

		ck_assert_int_eq(state_answered(1, &running), 2);
		ck_assert_int_eq(running, 0);
	}
}
END_TEST

/* A ping runs nothing: no intent is recorded for it, and one the mediator was answering
 * when it went away is read again and answered after the restart, not INTERRUPTED. */
START_TEST(test_ping_no_intent_read_again)
{
	struct vgpu_response a;
	int64_t running = -1;

	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	start(1);                      /* fake_ops: no slot_info, so the ping reaches it */
	send_op(6, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	ck_assert_int_eq(state_answered(6, &running), 0);
	ck_assert_msg(running == 0, "an intent was recorded for a ping");
	vgpu_mediator_free(med);       /* as if it died: nothing answered */
	med = NULL;

	fake_reset();
	start(1);
	ck_assert_int_eq(wait_answer(6, 1, &a), VGPU_OK);
	ck_assert_str_eq(a.result, "pong");
	ck_assert_int_eq(fx.nsubmit, 1);
	ck_assert_int_eq(journal_count("exec", 6, 1), 2);     /* read again, answered once */
	ck_assert_int_eq(journal_count("answer", 6, 1), 1);
	ck_assert_int_eq(state_answered(6, &running), 1);
	ck_assert_int_eq(running, 0);
}
END_TEST

/* With an executor that tells its workers' state, the mediator answers a ping itself
 * while the slot is ready (no submit), in its turn (not before the job ahead of it), and
 * hands it to the executor while the worker is not ready (then it gets what a job gets). */
START_TEST(test_ping_answered_by_mediator)
{
	struct vgpu_response a;

	fx.use_fd = 1;
	fx.script[0] = FAKE_HOLD;      /* the spin below */
	fx.script[1] = FAKE_FAIL;      /* the ping sent while the worker is starting */
	fx.nscript = 2;
	cfg.test_ops = 1;
	start_ops(1, &fake_ops_info);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);
	ck_assert_int_eq(wait_answer(1, 1, &a), VGPU_OK);
	ck_assert_str_eq(a.result, "pong");
	ck_assert_str_eq(a.executor, "fake:0");
	ck_assert_uint_eq(a.exec_us, 0);
	ck_assert_int_eq(fx.nsubmit, 0);
	ck_assert_int_eq(journal_count("exec", 1, 1), 1);

	/* in its turn: behind the job holding the only slot, even at a higher priority */
	send_effect(2, 1);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	send_op(1, 2, VGPU_OP_PING, VGPU_PRIO_HIGH);
	step_for(150);
	ck_assert_msg(read_resp(1, &a) != 0 || a.seq != 2, "the ping overtook the running job");
	fake_finish(0);
	ck_assert_int_eq(wait_answer(2, 1, NULL), VGPU_OK);
	ck_assert_int_eq(wait_answer(1, 2, &a), VGPU_OK);
	ck_assert_int_eq(fx.nsubmit, 1);

	/* the worker not up: the executor gets it and answers as for any job */
	fx.state[0] = "starting";
	send_op(1, 3, VGPU_OP_PING, VGPU_PRIO_HIGH);
	ck_assert_int_eq(wait_answer(1, 3, &a), VGPU_EXEC_FAILED);
	ck_assert_int_eq(fx.nsubmit, 2);
}
END_TEST

/* The loop reads its own answers' IN_MOVED_TO events right after publishing (no poll
 * that would return at once for them). What that read takes in besides (another VM's
 * command, renamed meanwhile) is dispatched before the turn ends: the loop must never go
 * to sleep with a job it could start still queued, the inotify queue being empty by then. */
START_TEST(test_command_read_with_own_events_dispatched)
{
	struct vgpu_response a;
	int turns = 0;

	start_ops(1, &fake_ops_info);              /* pings answered by the mediator */
	ck_assert_int_eq(vgpu_mediator_step(med, 0), 1);   /* the first rescan: both VMs watched */
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);
	while (vgpu_pq_len(&med->queue) == 0) {    /* read and queued, not yet dispatched */
		ck_assert_msg(turns++ < 200, "vm1's ping never queued");
		ck_assert_int_eq(vgpu_mediator_step(med, 20), 1);
	}
	send_op(2, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);   /* its event queued behind nothing yet */
	ck_assert_int_eq(vgpu_mediator_step(med, 0), 1);
	ck_assert_int_eq(read_resp(1, &a), 0);
	ck_assert_int_eq(a.seq, 1);
	ck_assert_uint_eq(med->own_events, 0);
	ck_assert_msg(vgpu_pq_len(&med->queue) == 0, "vm2's ping read with vm1's answer's event but left queued");
	ck_assert_int_eq(read_resp(2, &a), 0);         /* and answered in the same turn */
	ck_assert_int_eq(a.seq, 1);
}
END_TEST

/* A data op's output: published as out-SEQ.bin and summarised by the mediator, or
 * summary only from the executor, or the executor's summary with the file. */
static void put_vadd_input(uint32_t vm, int64_t seq, size_t n, struct vgpu_request *r)
{
	float *in = malloc(2 * n * sizeof(float));

	for (size_t i = 0; i < 2 * n; i++)
		in[i] = (float)i;
	vgpu_payload_name(r->input.name, "in", seq);
	r->input.bytes = 2 * n * sizeof(float);
	r->input.crc = vgpu_crc32(in, r->input.bytes);
	put_file(vm, r->input.name, in, r->input.bytes);
	free(in);
}

START_TEST(test_data_ops_outputs)
{
	struct vgpu_request r;
	struct vgpu_response a;
	char p[512];
	struct stat st;

	start(1);
	/* payload in, output file out, summarised by the mediator from the bytes */
	r = req_of(1, 1, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 1000;
	put_vadd_input(1, 1, 1000, &r);
	put_request(&r);
	ck_assert_int_eq(wait_answer(1, 1, &a), VGPU_OK);
	ck_assert_msg(strstr(a.result, "count=1000 sum=500") != NULL, "result %s", a.result);
	ck_assert_str_eq(a.output.name, "out-1.bin");
	ck_assert_uint_eq(a.output.bytes, 4000);
	vm_path(1, "out-1.bin", p, sizeof(p));
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 4000);
	vm_path(1, "in-1.bin", p, sizeof(p));
	ck_assert_msg(!file_exists(p), "the input payload is removed once answered");

	/* seeded: summary only, the executor's summary (sum 7) */
	r = req_of(1, 2, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 64;
	r.args.has_seed = 1;
	r.args.seed = 3;
	put_request(&r);
	ck_assert_int_eq(wait_answer(1, 2, &a), VGPU_OK);
	ck_assert_msg(strstr(a.result, "count=64 sum=7") != NULL, "result %s", a.result);
	ck_assert_str_eq(a.output.name, "");

	/* seeded with "output file": the file, and the executor's summary where it has one */
	fx.summary = 1;
	r.seq = 3;
	r.output_file = 1;
	put_request(&r);
	ck_assert_int_eq(wait_answer(1, 3, &a), VGPU_OK);
	ck_assert_msg(strstr(a.result, "count=64 sum=7") != NULL, "result %s", a.result);
	ck_assert_str_eq(a.output.name, "out-3.bin");

	/* summary only, but the executor gave none */
	fx.script[fx.nsubmit] = FAKE_NO_SUMMARY;
	fx.nscript = fx.nsubmit + 1;
	r.seq = 4;
	r.output_file = -1;
	put_request(&r);
	ck_assert_int_eq(wait_answer(1, 4, &a), VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(a.error, "returned no summary") != NULL, "error %s", a.error);

	/* out-SEQ.bin cannot be published (a directory is in the way) */
	vm_path(1, "out-5.bin", p, sizeof(p));
	ck_assert_int_eq(mkdir(p, 0755), 0);
	r.seq = 5;
	r.output_file = 1;
	put_request(&r);
	ck_assert_int_eq(wait_answer(1, 5, &a), VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(a.error, "into the VM directory: Is a directory") != NULL, "error %s", a.error);
	ck_assert_str_eq(a.output.name, "");
	ck_assert_int_eq(journal_count("answer", 1, 0), 5);
}
END_TEST

/* --- executor failures ------------------------------------------------------------ */

/* Every way an executor can fail a job, one after another on one VM: each answered
 * once, with its status, and the VM's next request still runs. */
START_TEST(test_executor_failures_answered_once)
{
	static const struct {
		enum fake_mode mode;
		int status;
		const char *error;
	} cases[] = {
		{ FAKE_REFUSE, VGPU_EXEC_FAILED, "executor fake refused the job (Device or resource busy)" },
		{ FAKE_FAIL, VGPU_EXEC_FAILED, "fake: the backend failed mid-job" },
		{ FAKE_CRASH, VGPU_EXEC_FAILED, "fake: worker killed by SIGSEGV; restarted" },
		{ FAKE_LOST, VGPU_EXEC_FAILED, "executor fake lost the job (Input/output error)" },
		{ FAKE_OK, VGPU_OK, "-" },
	};
	int n = (int)(sizeof(cases) / sizeof(cases[0]));

	for (int i = 0; i < n; i++)
		fx.script[i] = cases[i].mode;
	fx.nscript = n;
	start(1);
	for (int i = 0; i < n; i++) {
		struct vgpu_response a;

		send_op(2, i + 1, VGPU_OP_PING, VGPU_PRIO_MEDIUM);
		ck_assert_int_eq(wait_answer(2, i + 1, &a), cases[i].status);
		ck_assert_str_eq(a.error, cases[i].error);
		ck_assert_int_eq(journal_count("answer", 2, i + 1), 1);
	}
	ck_assert_int_eq(fx.nsubmit, n);
	ck_assert_int_eq(fx.naccepted, n - 1);
	/* the refused job was never started: no "exec" beyond the submit attempt's line,
	 * and every slot is free again */
	for (int s = 0; s < FAKE_SLOTS; s++)
		ck_assert(!fx.slot[s].busy);
	step_for(50);
	ck_assert_int_eq(journal_count("answer", 2, 0), n);
}
END_TEST

/* The executor keeps the job past its deadline: the mediator reaps it at the deadline
 * (no event from the executor) and the watchdog's TIMEOUT is the answer. The limit is
 * the request's timeout_ms, else default_job_ms, capped at max_job_ms. */
START_TEST(test_late_job_times_out_at_deadline)
{
	struct vgpu_request r;
	struct vgpu_response a;
	uint64_t t0, ms;

	fx.script[0] = fx.script[1] = fx.script[2] = FAKE_LATE;
	fx.nscript = 3;
	cfg.default_job_ms = 150;
	cfg.max_job_ms = 300;
	start(1);

	r = req_of(3, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);
	r.timeout_ms = 80;
	t0 = vgpu_now_ms();
	put_request(&r);
	ck_assert_int_eq(wait_answer(3, 1, &a), VGPU_TIMEOUT);
	ms = vgpu_now_ms() - t0;
	ck_assert_str_eq(a.error, "fake: stopped at its deadline");
	ck_assert_msg(ms >= 80 && ms < 1500, "timed out after %llu ms", (unsigned long long)ms);

	r.seq = 2;
	r.timeout_ms = 0;       /* default_job_ms */
	t0 = vgpu_now_ms();
	put_request(&r);
	ck_assert_int_eq(wait_answer(3, 2, NULL), VGPU_TIMEOUT);
	ms = vgpu_now_ms() - t0;
	ck_assert_msg(ms >= 150 && ms < 1500, "default limit: %llu ms", (unsigned long long)ms);

	r.seq = 3;
	r.timeout_ms = 100000;  /* capped at max_job_ms */
	t0 = vgpu_now_ms();
	put_request(&r);
	ck_assert_int_eq(wait_answer(3, 3, NULL), VGPU_TIMEOUT);
	ms = vgpu_now_ms() - t0;
	ck_assert_msg(ms >= 300 && ms < 2000, "capped limit: %llu ms", (unsigned long long)ms);
	ck_assert_int_eq(fx.nsubmit, 3);
}
END_TEST

/* Without the intent on disk a crash could run a job twice: not run, EXEC_FAILED. */
START_TEST(test_intent_not_recorded_not_run)
{
	struct vgpu_response a;

	cfg.test_ops = 1;
	start(1);
	fiu_init(0);
	/* vm4 has no journal yet: the intent creates it; its rename fails, once */
	fail_once("state/publish/rename", ENOSPC);
	send_effect(4, 1);
	ck_assert_int_eq(wait_answer(4, 1, &a), VGPU_EXEC_FAILED);
	ck_assert_msg(strstr(a.error, "could not record the job before running it") != NULL, "%s", a.error);
	ck_assert_int_eq(fx.nsubmit, 0);
	ck_assert_int_eq(journal_count("exec", 4, 0), 0);
	fiu_disable("state/publish/rename");
	ck_assert_int_eq(state_answered(4, NULL), 1);   /* the answer was saved */
}
END_TEST

/* An executor without a pollable fd and without slot names: the mediator polls it on
 * a timer and names the executor in the answer. */
START_TEST(test_executor_without_fd_or_slot_names)
{
	struct vgpu_response a;

	fx.use_fd = 0;
	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	start_ops(1, &fake_ops_unnamed);
	send_op(5, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	step_for(100);
	ck_assert_int_ge(fx.nreap, 3);        /* polled while it ran */
	fake_finish(0);
	ck_assert_int_eq(wait_answer(5, 1, &a), VGPU_OK);
	ck_assert_str_eq(a.executor, "fake-unnamed");
	ck_assert_int_eq(fx.nname, 0);
}
END_TEST

/* The wait window (await.c) is never opened on a slot without a descriptor: there a
 * look is a reap() (Plan B's: reading the worker VM's files), so looking without sleeping
 * would be reap() back to back. Two like jobs (pings to an executor without slot_info),
 * the second held past where its window would open. */
START_TEST(test_no_window_without_a_descriptor_slot)
{
	int n0, accepted;

	setenv("VGPU_MEDIATOR_SPIN_US", "10000", 1);
	fx.use_fd = 0;
	fx.script[0] = FAKE_HOLD;
	fx.script[1] = FAKE_HOLD;
	fx.nscript = 2;
	start_ops(1, &fake_ops_unnamed);
	unsetenv("VGPU_MEDIATOR_SPIN_US");
	send_op(5, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	step_for(30);
	fake_finish(0);
	ck_assert_int_eq(wait_answer(5, 1, NULL), VGPU_OK);
	accepted = fx.naccepted;
	send_op(5, 2, VGPU_OP_PING, VGPU_PRIO_LOW);
	while (fx.naccepted == accepted)
		vgpu_mediator_step(med, 20);
	n0 = fx.nreap;
	step_for(80);
	ck_assert_msg(fx.nreap - n0 < 40, "%d reap() calls in 80 ms on a slot without a descriptor: a wait window "
		      "opened on it", fx.nreap - n0);
	fake_finish(0);
	ck_assert_int_eq(wait_answer(5, 2, NULL), VGPU_OK);
}
END_TEST

/* --- scheduling -------------------------------------------------------------------- */

/* One slot, busy: six jobs queued from six VMs run high -> medium -> low, FIFO within a
 * priority; a VM's cap lowers what it asks for. */
START_TEST(test_priority_order)
{
	static const struct vgpu_vm_cap caps[] = { { .vm = 8, .cap = VGPU_PRIO_LOW } };
	static const struct { uint32_t vm; enum vgpu_prio prio; } q[] = {
		{ 2, VGPU_PRIO_LOW }, { 3, VGPU_PRIO_HIGH }, { 8, VGPU_PRIO_HIGH }, { 4, VGPU_PRIO_MEDIUM },
		{ 5, VGPU_PRIO_HIGH }, { 6, VGPU_PRIO_LOW }, { 7, VGPU_PRIO_MEDIUM },
	};
	static const uint32_t want[] = { 1, 3, 5, 4, 7, 2, 8, 6 };
	uint32_t got[16];
	struct vgpu_response a;
	int n;

	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	cfg.caps = caps;
	cfg.ncaps = 1;
	start(1);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		send_op(q[i].vm, 1, VGPU_OP_PING, q[i].prio);
		vgpu_mediator_step(med, 0);
	}
	step_for(50);
	ck_assert_int_eq(journal_count("queue", 0, 0), 8);
	ck_assert_int_eq(fx.nsubmit, 1);     /* all wait for the one slot */
	fake_finish(0);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_int_eq(wait_answer(want[i], 1, NULL), VGPU_OK);
	n = exec_order(got, 16);
	ck_assert_int_eq(n, 8);
	for (int i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "exec #%d: vm%u, want vm%u", i, got[i], want[i]);
	ck_assert_int_eq(wait_answer(8, 1, &a), VGPU_OK);
	ck_assert_int_eq(a.priority, VGPU_PRIO_LOW);
}
END_TEST

/* Two slots: two jobs run at once, the third takes the first slot that frees. */
START_TEST(test_two_slots)
{
	struct vgpu_response a;

	fx.script[0] = fx.script[1] = FAKE_HOLD;
	fx.nscript = 2;
	start(2);
	for (int v = 1; v <= 2; v++) {
		send_op((uint32_t)v, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
		while (fx.naccepted < v)
			vgpu_mediator_step(med, 20);
	}
	send_op(3, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	step_for(50);
	ck_assert_int_eq(fx.nsubmit, 2);
	fake_finish(1);
	ck_assert_int_eq(wait_answer(2, 1, &a), VGPU_OK);
	ck_assert_str_eq(a.executor, "fake:1");
	ck_assert_int_eq(wait_answer(3, 1, &a), VGPU_OK);
	ck_assert_str_eq(a.executor, "fake:1");
	ck_assert(fx.slot[0].busy);
	fake_finish(0);
	ck_assert_int_eq(wait_answer(1, 1, &a), VGPU_OK);
	ck_assert_str_eq(a.executor, "fake:0");
}
END_TEST

/* --- stopping and restarting --------------------------------------------------------- */

/* stop(): the job in hand is finished and answered, the queued one is not started
 * (it is read again on the next start), and step() then says 0. */
START_TEST(test_stop_finishes_job_in_hand)
{
	uint64_t t0;

	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	start(1);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	send_op(2, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);
	step_for(30);
	ck_assert_int_eq(journal_count("queue", 2, 1), 1);
	vgpu_mediator_stop(med);
	ck_assert_int_eq(vgpu_mediator_step(med, 20), 1);   /* busy: keeps going */
	fake_finish(0);
	t0 = vgpu_now_ms();
	while (vgpu_mediator_step(med, 20) != 0)
		ck_assert(vgpu_now_ms() - t0 < 5000);
	ck_assert_int_eq(vgpu_mediator_step(med, 0), 0);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	ck_assert_int_eq(fx.nsubmit, 1);
	ck_assert_int_eq(journal_count("exec", 2, 0), 0);
	/* run() on a stopped mediator returns at once */
	ck_assert_int_eq(vgpu_mediator_run(med), 0);
}
END_TEST

/* The mediator goes away while a job runs (the intent is on disk): the next one answers
 * INTERRUPTED and never runs it; the same record again is not run either. */
START_TEST(test_restart_answers_interrupted)
{
	struct vgpu_response a;

	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	cfg.test_ops = 1;
	start(1);
	send_effect(6, 1);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	vgpu_mediator_free(med);   /* as if it died: nothing answered */
	med = NULL;
	ck_assert_int_ne(read_resp(6, &a) == 0 && a.seq == 1, 1);

	fake_reset();
	start(1);
	ck_assert_int_eq(wait_answer(6, 1, &a), VGPU_INTERRUPTED);
	send_effect(6, 1);
	step_for(100);
	ck_assert_int_eq(fx.nsubmit, 0);
	send_op(6, 2, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(6, 2, NULL), VGPU_OK);
}
END_TEST

/* A --state written by a mediator older than the journal (vmN.last, vmN.run): migrated
 * into vmN.journal when the VM is served, the old files removed; its intent without an
 * answer is answered INTERRUPTED, as it was before. */
START_TEST(test_legacy_state_migrated)
{
	struct vgpu_response r, a;
	char p[512], rec[2048];
	int64_t running = -1;
	int len;
	FILE *f;

	ck_assert_int_eq(mkdir(state, 0700), 0);
	memset(&r, 0, sizeof(r));
	r.vm = 3;
	r.seq = 4;
	snprintf(r.nonce, sizeof(r.nonce), "00000000000000aa");
	r.status = VGPU_OK;
	r.op = VGPU_OP_PING;
	snprintf(r.executor, sizeof(r.executor), "mock");
	snprintf(r.result, sizeof(r.result), "pong");
	snprintf(r.error, sizeof(r.error), "-");
	len = vgpu_response_encode(&r, rec, sizeof(rec));
	ck_assert_int_gt(len, 0);
	snprintf(p, sizeof(p), "%s/vm3.last", state);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	ck_assert_uint_eq(fwrite(rec, 1, (size_t)len, f), (size_t)len);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(p, sizeof(p), "%s/vm3.run", state);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	fputs("5 00000000000000bb\n", f);
	ck_assert_int_eq(fclose(f), 0);

	start(1);
	ck_assert_int_eq(wait_answer(3, 5, &a), VGPU_INTERRUPTED);
	ck_assert_str_eq(a.nonce, "00000000000000bb");
	ck_assert_int_eq(fx.nsubmit, 0);
	ck_assert(!file_exists(p));
	snprintf(p, sizeof(p), "%s/vm3.last", state);
	ck_assert(!file_exists(p));
	snprintf(p, sizeof(p), "%s/vm3.journal", state);
	ck_assert(file_exists(p));
	ck_assert_int_eq(state_answered(3, &running), 5);
	ck_assert_int_eq(running, 0);
	send_op(3, 6, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(3, 6, NULL), VGPU_OK);
}
END_TEST

/* A VM whose state file is corrupt is not served (it could be answered twice), is
 * logged once rather than on every rescan, and is served again once repaired. */
START_TEST(test_corrupt_state_logged_once)
{
	char p[512], logpath[400], line[1024];
	int saved, fd, unreadable = 0, again = 0;
	FILE *f;

	ck_assert_int_eq(mkdir(state, 0700), 0);
	snprintf(p, sizeof(p), "%s/vm7.journal", state);
	f = fopen(p, "w");
	ck_assert(f != NULL);
	fputs("not a response record\n", f);
	fclose(f);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);

	cfg.rescan_ms = 10;
	start(1);
	send_op(7, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	step_for(200);                 /* about 20 rescans */
	ck_assert_int_eq(fx.nsubmit, 0);
	ck_assert_int_ne(read_resp(7, NULL), 0);
	ck_assert_int_eq(unlink(p), 0);
	send_op(7, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(7, 1, NULL), VGPU_OK);

	dup2(saved, 2);
	close(saved);
	f = fopen(logpath, "r");
	ck_assert(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unreadable += strstr(line, "vm7: state file unreadable") != NULL;
		again += strstr(line, "vm7: serving again") != NULL;
	}
	fclose(f);
	ck_assert_int_eq(unreadable, 1);
	ck_assert_int_eq(again, 1);
}
END_TEST

/* --- intake: what a VM may send ------------------------------------------------------ */

static void clear_resp(uint32_t vm)
{
	char p[512];

	vm_path(vm, "response.txt", p, sizeof(p));
	unlink(p);
}

/* Step until vmN has a response (any seq); its status. */
static int wait_any(uint32_t vm, struct vgpu_response *out)
{
	struct vgpu_response r;
	uint64_t t0 = vgpu_now_ms();

	while (read_resp(vm, &r) != 0) {
		ck_assert_msg(vgpu_now_ms() - t0 < 5000, "vm%u: no answer in 5 s", vm);
		vgpu_mediator_step(med, 20);
	}
	if (out)
		*out = r;
	return r.status;
}

/* A record from BODY (lines before "end") with a correct end line. */
static void put_raw_record(uint32_t vm, const char *body)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%send %zu %08x\n", body, strlen(body), vgpu_crc32(body, strlen(body)));

	put_file(vm, "command.txt", buf, (size_t)n);
}

static void expect_reject(uint32_t vm, int status, const char *needle)
{
	struct vgpu_response a;

	ck_assert_int_eq(wait_any(vm, &a), status);
	ck_assert_msg(strstr(a.error, needle) != NULL, "vm%u: error \"%s\", want \"%s\"", vm, a.error, needle);
	clear_resp(vm);
}

START_TEST(test_intake_rejects_records)
{
	struct vgpu_request r;
	char buf[VGPU_RECORD_MAX + 10], p[512], q[512];
	int len;

	cfg.max_payload = 1 << 20;
	cfg.grace_ms = 60;
	start(1);

	/* another VM's record */
	r = req_of(2, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	len = vgpu_request_encode(&r, buf, sizeof(buf));
	put_file(1, "command.txt", buf, (size_t)len);
	expect_reject(1, VGPU_WRONG_VM, "record says vm 2 but was found in vm1/");

	/* a seq below the high-water mark, and one reused with another nonce */
	send_op(1, 5, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(1, 5, NULL), VGPU_OK);
	clear_resp(1);
	send_op(1, 3, VGPU_OP_PING, VGPU_PRIO_LOW);
	expect_reject(1, VGPU_CONFLICT, "seq 3 is stale");
	r = req_of(1, 5, VGPU_OP_PING, VGPU_PRIO_LOW);
	r.nonce[0] = r.nonce[0] == 'a' ? 'b' : 'a';
	put_request(&r);
	expect_reject(1, VGPU_CONFLICT, "already used by another writer");

	/* sizes over --max-payload; a test op without --test-ops */
	r = req_of(1, 6, VGPU_OP_VADD, VGPU_PRIO_LOW);
	r.args.n = 1 << 20;
	r.args.has_seed = 1;
	put_request(&r);
	expect_reject(1, VGPU_TOO_LARGE, "--max-payload");
	r = req_of(1, 7, VGPU_OP_SPIN, VGPU_PRIO_LOW);
	r.args.ms = 1;
	put_request(&r);
	expect_reject(1, VGPU_UNKNOWN_OP, "--test-ops");

	/* records that do not parse: incomplete past the grace, corrupt, unknown op, malformed */
	len = vgpu_request_encode(&r, buf, sizeof(buf));
	put_file(1, "command.txt", buf, (size_t)len / 2);
	expect_reject(1, VGPU_BAD_REQUEST, "incomplete record after 60 ms");
	buf[20] ^= 1;
	put_file(1, "command.txt", buf, (size_t)len);
	expect_reject(1, VGPU_CORRUPT, "CRC");
	put_raw_record(1, "VGPU1 REQUEST\nvm 1\nseq 8\nnonce 0123456789abcdef\npriority low\nop frobnicate\n");
	expect_reject(1, VGPU_UNKNOWN_OP, "frobnicate");
	put_raw_record(1, "VGPU1 REQUEST\nvm 1\nseq 8\nbogus line\n");
	expect_reject(1, VGPU_BAD_REQUEST, "");


	/* command.txt that is not a regular file we may read */
	memset(buf, 'x', sizeof(buf));
	put_file(1, "command.txt", buf, VGPU_RECORD_MAX + 1);
	expect_reject(1, VGPU_TOO_LARGE, "a record is at most");
	/* (each published by rename, as a VM would, so that inotify reports it) */
	vm_path(1, "command.txt", p, sizeof(p));
	vm_path(1, "elsewhere", q, sizeof(q));
	ck_assert_int_eq(symlink("/etc/passwd", q), 0);
	ck_assert_int_eq(rename(q, p), 0);
	expect_reject(1, VGPU_BAD_FILE, "a symbolic link");
	ck_assert_int_eq(mkfifo(q, 0644), 0);
	ck_assert_int_eq(rename(q, p), 0);
	expect_reject(1, VGPU_BAD_FILE, "a FIFO");
	r = req_of(1, 100, VGPU_OP_PING, VGPU_PRIO_LOW);
	len = vgpu_request_encode(&r, buf, sizeof(buf));
	put_file(1, "elsewhere", buf, (size_t)len);
	vm_path(1, "second", p, sizeof(p));
	ck_assert_int_eq(link(q, p), 0);
	vm_path(1, "command.txt", q, sizeof(q));
	ck_assert_int_eq(rename(p, q), 0);
	expect_reject(1, VGPU_BAD_FILE, "several hard links");
	ck_assert_int_eq(fx.nsubmit, 1);
}
END_TEST

/* Input payloads: each check in load_payload answered BAD_PAYLOAD, TOO_LARGE or
 * BAD_FILE, and nothing is run; the CRC-32 is the executor's to check while it reads the
 * payload (off the loop), so that one is submitted and answered BAD_PAYLOAD. (A wrong
 * name never gets there: the record's grammar requires in-SEQ.bin and the op's size.) */
START_TEST(test_intake_rejects_payloads)
{
	static const struct {
		const char *what, *needle;
		int status;
	} cases[] = {
		{ "missing", "in-", VGPU_BAD_PAYLOAD },
		{ "short", "short write?", VGPU_BAD_PAYLOAD },
		{ "crc", "CRC-32 differs", VGPU_BAD_PAYLOAD },
		{ "symlink", "in-", VGPU_BAD_FILE },
		{ "cap", "over the", VGPU_TOO_LARGE },
	};

	cfg.max_payload = 64 * 1024;
	start(1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t seq = (int64_t)i + 1;
		size_t n = 100;
		struct vgpu_request r = req_of(4, seq, VGPU_OP_VADD, VGPU_PRIO_LOW);
		const char *w = cases[i].what;
		char p[512];

		r.args.n = n;
		put_vadd_input(4, seq, n, &r);
		vm_path(4, r.input.name, p, sizeof(p));
		if (!strcmp(w, "missing")) {
			ck_assert_int_eq(unlink(p), 0);
		} else if (!strcmp(w, "short")) {
			ck_assert_int_eq(truncate(p, 100), 0);
		} else if (!strcmp(w, "crc")) {
			r.input.crc ^= 1;
		} else if (!strcmp(w, "symlink")) {
			ck_assert_int_eq(unlink(p), 0);
			ck_assert_int_eq(symlink("/etc/passwd", p), 0);
		} else if (!strcmp(w, "cap")) {
			r.args.n = 10000;   /* 80000 bytes of input, over the 64 KiB cap */
			r.input.bytes = 80000;
			r.args.has_seed = 0;
		}
		put_request(&r);
		ck_assert_int_eq(wait_answer(4, seq, NULL), cases[i].status);
		{
			struct vgpu_response a;

			ck_assert_int_eq(read_resp(4, &a), 0);
			ck_assert_msg(strstr(a.error, cases[i].needle) != NULL, "%s: error \"%s\"", w, a.error);
		}
	}
	ck_assert_int_eq(fx.nsubmit, 1);
}
END_TEST

/* Test ops with --test-ops; a job's "queue" line names its capped priority. */
START_TEST(test_test_ops_allowed)
{
	struct vgpu_request r;

	cfg.test_ops = 1;
	start(1);
	r = req_of(5, 1, VGPU_OP_LEAK, VGPU_PRIO_LOW);
	r.args.bytes = 4096;
	put_request(&r);
	ck_assert_int_eq(wait_answer(5, 1, NULL), VGPU_OK);
	ck_assert_int_eq(fx.nsubmit, 1);
}
END_TEST

/* Does the mediator's inotify watch on vmN/ include IN_CLOSE_WRITE? From
 * /proc/self/fdinfo of its inotify descriptor (found by the directory's inode): -1 when
 * there is no such watch. */
static int watches_close(uint32_t vm)
{
	char p[400], link[64], line[256];
	struct stat st;
	int found = -1;

	snprintf(p, sizeof(p), "%s/vm%" PRIu32, root, vm);
	ck_assert_int_eq(stat(p, &st), 0);
	for (int fd = 3; fd < 1024 && found < 0; fd++) {
		ssize_t n;
		FILE *f;

		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		n = readlink(p, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strcmp(link, "anon_inode:inotify") != 0)
			continue;
		snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
		ck_assert((f = fopen(p, "r")) != NULL);
		while (fgets(line, sizeof(line), f)) {
			unsigned long ino;
			unsigned mask;
			const char *i = strstr(line, "ino:"), *m = strstr(line, "mask:");

			if (strncmp(line, "inotify wd:", 11) == 0 && i && m && sscanf(i, "ino:%lx", &ino) == 1 &&
			    sscanf(m, "mask:%x", &mask) == 1 && ino == (unsigned long)st.st_ino)
				found = (mask & IN_CLOSE_WRITE) != 0;
		}
		fclose(f);
	}
	return found;
}

/* A record written in place (ERRORS_LOG error 7) over our mediator's rename-only watch. */
static void put_in_place(const struct vgpu_request *r)
{
	char buf[VGPU_RECORD_MAX], p[400];
	int len = vgpu_request_encode(r, buf, sizeof(buf)), fd;

	ck_assert(len > 0);
	vm_path(r->vm, "command.txt", p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert(fd >= 0);
	ck_assert_int_eq(write(fd, buf, (size_t)len), len);
	ck_assert_int_eq(close(fd), 0);
}

/* IN_CLOSE_WRITE is watched until a VM's first record arrives by rename (then it only
 * woke the loop for temporary files), and again once a rescan finds a record that no
 * event announced (a writer in place): PROTOCOL.md s.8. */
START_TEST(test_close_watch_follows_the_writer)
{
	struct vgpu_request r;

	cfg.rescan_ms = 200;
	start(1);
	ck_assert_int_eq(vgpu_mediator_step(med, 0), 1);
	ck_assert_int_eq(watches_close(1), 1);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	ck_assert_msg(watches_close(1) == 0, "vm1 published by rename, and its watch still has IN_CLOSE_WRITE");
	ck_assert_int_eq(watches_close(2), 1);      /* another VM: not yet */
	r = req_of(1, 2, VGPU_OP_PING, VGPU_PRIO_HIGH);
	put_in_place(&r);
	ck_assert_int_eq(wait_answer(1, 2, NULL), VGPU_OK);   /* by the rescan */
	ck_assert_msg(watches_close(1) == 1, "a record found by the rescan, and the watch did not take IN_CLOSE_WRITE back");
	send_op(1, 3, VGPU_OP_PING, VGPU_PRIO_HIGH);
	ck_assert_int_eq(wait_answer(1, 3, NULL), VGPU_OK);
	ck_assert_int_eq(watches_close(1), 0);
}
END_TEST

/* VM directories that appear, go away or are replaced while the mediator runs. */
START_TEST(test_vm_dirs_come_and_go)
{
	char p[512], cmd[1100];

	start(1);
	snprintf(p, sizeof(p), "%s/vm9", root);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	step_for(30);
	send_op(9, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(9, 1, NULL), VGPU_OK);
	/* replaced: the new directory is served with the same state (seq 1 answered) */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s'", p, p);
	ck_assert_int_eq(system(cmd), 0);
	step_for(30);              /* inotify: its watch is gone */
	vgpu_mediator_free(med);   /* a rescan notices; here a restart, with rescans soon */
	med = NULL;
	cfg.rescan_ms = 20;
	start(1);
	step_for(50);
	ck_assert_int_eq(system(cmd), 0);   /* the restart had published the answer again */
	step_for(100);
	send_op(9, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	step_for(100);
	ck_assert_int_eq(fx.nsubmit, 1);   /* already answered: not run again */
	send_op(9, 2, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(9, 2, NULL), VGPU_OK);
	/* names that are not vmN are ignored */
	snprintf(p, sizeof(p), "%s/vm01", root);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	snprintf(p, sizeof(p), "%s/other", root);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	step_for(50);
}
END_TEST

/* Configuration errors stop start-up, with a reason. */
START_TEST(test_new_refuses_bad_config)
{
	char err[512], p[400];

	fx.base.ops = &fake_ops;
	fx.base.nslots = 1;
	cfg.ex = &fx.base;
	cfg.root = "/nonexistent/vgpu-root";
	cfg.state_dir = state;
	ck_assert_int_lt(vgpu_mediator_new(&med, &cfg, err, sizeof(err)), 0);
	ck_assert(med == NULL);
	ck_assert_msg(strstr(err, "--root /nonexistent/vgpu-root") != NULL, "%s", err);

	cfg.root = root;
	snprintf(p, sizeof(p), "%s/vm1/state", root);
	cfg.state_dir = p;
	ck_assert_int_lt(vgpu_mediator_new(&med, &cfg, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "is inside --root") != NULL, "%s", err);

	cfg.state_dir = "/nonexistent/vgpu-state/x";
	ck_assert_int_lt(vgpu_mediator_new(&med, &cfg, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "--state") != NULL, "%s", err);

	cfg.state_dir = state;
	cfg.journal = "/nonexistent/vgpu-journal";
	ck_assert_int_lt(vgpu_mediator_new(&med, &cfg, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "--journal") != NULL, "%s", err);
	vgpu_mediator_free(NULL);

	/* and without a journal it starts and serves */
	cfg.journal = NULL;
	ck_assert_int_eq(vgpu_mediator_new(&med, &cfg, err, sizeof(err)), 0);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	ck_assert(!file_exists(journal));
}
END_TEST

/* One request per VM at a time: a new command.txt while one runs is read once that one
 * is answered. */
START_TEST(test_one_request_per_vm_at_a_time)
{
	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	start(1);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	send_op(1, 2, VGPU_OP_PING, VGPU_PRIO_LOW);
	step_for(50);
	ck_assert_int_eq(journal_count("queue", 1, 2), 0);
	fake_finish(0);
	ck_assert_int_eq(wait_answer(1, 2, NULL), VGPU_OK);
	ck_assert_int_eq(journal_count("exec", 1, 0), 2);
}
END_TEST

/* response.txt cannot be published (libfiu: the rename fails): the answer is kept in
 * the state and published again by the rescans, even when a retry fails too. (The
 * state's own writes have their own fault points, state/journal/... and state/publish/...) */
START_TEST(test_failed_publish_retried)
{
	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	cfg.rescan_ms = 30;
	start(1);
	fiu_init(0);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	fail_once("safeio/publish/rename", ENOSPC);
	fake_finish(0);
	while (journal_count("answer", 1, 1) == 0)
		vgpu_mediator_step(med, 20);
	ck_assert_int_ne(read_resp(1, NULL), 0);
	fail_once("safeio/publish/rename", EIO);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	ck_assert_int_eq(journal_count("answer", 1, 1), 1);
	fiu_disable("safeio/publish/rename");
}
END_TEST

/* A VM the mediator starts serving gets a response.txt at once (seq 0, OK, op "-"), so
 * an NFS client never looks up a missing name (its negative lookup cache, ERRORS_LOG
 * error 7); the first request is still seq 1; a VM with something at the name (here a
 * link) keeps it. */
START_TEST(test_initial_response)
{
	struct vgpu_response r;
	char path[512];

	vm_path(2, "response.txt", path, sizeof(path));
	ck_assert_int_eq(symlink("/nonexistent", path), 0);
	start(1);
	ck_assert_int_eq(read_initial(1, &r), 0);
	ck_assert_int_eq(r.seq, 0);
	ck_assert_int_eq(r.status, VGPU_OK);
	ck_assert_int_eq(r.op, VGPU_OP_NONE);
	ck_assert_int_eq(r.answered, 0);
	ck_assert_int_eq(journal_count("answer", 1, 0), 0);
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	ck_assert_int_eq(read_initial(2, &r), -1);        /* the link left alone */
	{
		struct stat st;
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert(S_ISLNK(st.st_mode));
	}
}
END_TEST

/* command.txt cannot be opened or read for a while (libfiu): nothing is answered, and
 * the next look at it (an event here; the rescans otherwise) reads it. */
START_TEST(test_unreadable_command_retried)
{
	static const char *faults[] = { "safeio/read/open", "mediator/intake/read" };

	start(1);
	fiu_init(0);
	step_for(20);              /* the first rescan is done */
	for (int i = 0; i < 2; i++) {
		fail_once(faults[i], EIO);
		send_op(1, i + 1, VGPU_OP_PING, VGPU_PRIO_LOW);
		step_for(50);
		ck_assert_msg(once_left <= 0, "%s was not reached", faults[i]);
		ck_assert_int_eq(journal_count("queue", 1, i + 1), 0);
		send_op(1, i + 1, VGPU_OP_PING, VGPU_PRIO_LOW);
		ck_assert_int_eq(wait_answer(1, i + 1, NULL), VGPU_OK);
		fiu_disable(faults[i]);
	}
}
END_TEST

/* The mediator went away after publishing an answer but before persisting it: the next
 * one adopts the answer in response.txt instead of answering INTERRUPTED. */
START_TEST(test_restart_adopts_published_answer)
{
	struct vgpu_response a;
	struct vgpu_request q = effect_req(6, 1);
	char buf[VGPU_RECORD_MAX];
	int len;

	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	cfg.test_ops = 1;
	start(1);
	put_request(&q);
	while (!fx.naccepted)
		vgpu_mediator_step(med, 20);
	vgpu_mediator_free(med);
	med = NULL;
	memset(&a, 0, sizeof(a));
	a.vm = 6;
	a.seq = 1;
	memcpy(a.nonce, q.nonce, sizeof(a.nonce));
	a.status = VGPU_OK;
	a.op = VGPU_OP_SPIN;
	snprintf(a.executor, sizeof(a.executor), "fake:0");
	snprintf(a.result, sizeof(a.result), "spun");
	snprintf(a.error, sizeof(a.error), "-");
	len = vgpu_response_encode(&a, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	put_file(6, "response.txt", buf, (size_t)len);

	fake_reset();
	start(1);
	step_for(50);
	ck_assert_int_eq(wait_answer(6, 1, &a), VGPU_OK);
	ck_assert_str_eq(a.result, "spun");
	put_request(&q);
	step_for(50);
	ck_assert_int_eq(fx.nsubmit, 0);
	ck_assert_int_eq(journal_count("answer", 6, 1), 0);   /* adopted, not answered anew */
}
END_TEST

/* --- issue 10: isolation, flooding, a full state directory, outputs, one mediator --- */

/* Two mediators on one state directory, or on one root with two state directories,
 * would run every request twice: the second one is refused, naming the first's pid. */
START_TEST(test_second_mediator_refused)
{
	struct vgpu_mediator *second = NULL;
	struct vgpu_mediator_config c2;
	char err[512], pid[32], other[400];

	start(1);
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	c2 = cfg;
	ck_assert_int_eq(vgpu_mediator_new(&second, &c2, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_null(second);
	ck_assert_msg(strstr(err, "--state") && strstr(err, "in use by another vgpu-mediator") && strstr(err, pid),
		      "%s", err);
	snprintf(other, sizeof(other), "%s/state2", dir);
	c2.state_dir = other;
	ck_assert_int_eq(vgpu_mediator_new(&second, &c2, err, sizeof(err)), -EBUSY);
	ck_assert_msg(strstr(err, "--root") && strstr(err, "served by another vgpu-mediator") && strstr(err, pid),
		      "%s", err);
	/* the first one still serves; once it is gone, a new one starts */
	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	vgpu_mediator_free(med);
	med = NULL;
	ck_assert_msg(vgpu_mediator_new(&second, &c2, err, sizeof(err)) == 0, "%s", err);
	vgpu_mediator_free(second);
}
END_TEST

static void chown_path(uint32_t vm, const char *name, uid_t uid)
{
	char p[512];

	if (name)
		vm_path(vm, name, p, sizeof(p));
	else
		snprintf(p, sizeof(p), "%s/vm%" PRIu32, root, vm);
	ck_assert_int_eq(lchown(p, uid, uid), 0);
}

/* Publish the request as vmN/command.txt owned by UID (as a VM squashed to UID would). */
static void put_request_as(const struct vgpu_request *r, uid_t uid)
{
	char buf[VGPU_RECORD_MAX], tmp[512], path[512];
	int len = vgpu_request_encode(r, buf, sizeof(buf)), fd;

	ck_assert_int_gt(len, 0);
	vm_path(r->vm, ".tmp-as", tmp, sizeof(tmp));
	vm_path(r->vm, "command.txt", path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, (size_t)len), len);
	ck_assert_int_eq(fchown(fd, uid, uid), 0);
	close(fd);
	ck_assert_int_eq(rename(tmp, path), 0);
}

#define UID_VM1 4001
#define UID_VM2 4002

/* With the VMs' uids configured, a record, a payload or a directory of another owner
 * is refused (WRONG_OWNER), never run; outputs are written as the VM's uid. Without
 * a uid (vm3, today's default) the owner is not checked. */
START_TEST(test_foreign_owner_refused)
{
	static struct vgpu_vm_cap caps[] = {
		{ .vm = 1, .cap = -1, .has_uid = 1, .uid = UID_VM1 },
		{ .vm = 2, .cap = -1, .has_uid = 1, .uid = UID_VM2 },
	};
	struct vgpu_request r;
	struct vgpu_response a;
	struct stat st;
	char p[512];

	if (geteuid() != 0) {
		printf("test_foreign_owner_refused: skipped: needs root to chown\n");
		return;
	}
	cfg.caps = caps;
	cfg.ncaps = 2;
	chown_path(1, NULL, UID_VM1);
	chown_path(2, NULL, 0);              /* vm2/ is not vm2's: not served */
	start(1);
	/* vm2 (uid 4002) writes into vm1/: refused, not read, not run */
	r = req_of(1, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);
	put_request_as(&r, UID_VM2);
	ck_assert_int_eq(wait_answer(1, 0, &a), VGPU_WRONG_OWNER);
	ck_assert_msg(strstr(a.error, "belongs to uid 4002, not vm1's uid 4001"), "%s", a.error);
	ck_assert_int_eq(journal_count("queue", 1, 0), 0);
	ck_assert_int_eq(fx.nsubmit, 0);
	/* vm1's own record runs, and its output file is vm1's */
	r = req_of(1, 2, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 100;
	put_vadd_input(1, 2, 100, &r);
	chown_path(1, r.input.name, UID_VM1);
	put_request_as(&r, UID_VM1);
	ck_assert_int_eq(wait_answer(1, 2, &a), VGPU_OK);
	vm_path(1, "out-2.bin", p, sizeof(p));
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_uid, UID_VM1);
	/* a payload of another owner: the request is answered WRONG_OWNER, not run */
	r = req_of(1, 3, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 100;
	put_vadd_input(1, 3, 100, &r);
	chown_path(1, r.input.name, UID_VM2);
	put_request_as(&r, UID_VM1);
	ck_assert_int_eq(wait_answer(1, 3, &a), VGPU_WRONG_OWNER);
	ck_assert_msg(strstr(a.error, "in-3.bin belongs to uid 4002"), "%s", a.error);
	ck_assert_int_eq(fx.nsubmit, 1);
	/* vm2/ owned by root: not served at all; once it is vm2's, it is */
	send_op(2, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	chown_path(2, "command.txt", UID_VM2);
	step_for(100);
	ck_assert_int_ne(read_resp(2, NULL), 0);
	chown_path(2, NULL, UID_VM2);
	vgpu_mediator_free(med);      /* a restart (or the next rescan) sees the new owner */
	med = NULL;
	fake_reset();
	start(1);
	ck_assert_int_eq(wait_answer(2, 1, NULL), VGPU_OK);
	/* no uid configured for vm3: any owner is accepted (the documented default) */
	r = req_of(3, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	put_request_as(&r, UID_VM2);
	ck_assert_int_eq(wait_answer(3, 1, NULL), VGPU_OK);
}
END_TEST

/* A VM publishing invalid records as fast as it can gets a bounded number of answers
 * (the reject budget), and another VM is served meanwhile. */
START_TEST(test_reject_budget)
{
	char body[128];
	uint64_t t0;
	int n, rejects;

	cfg.reject_burst = 3;
	cfg.reject_per_s = 2;
	start(1);
	step_for(20);
	t0 = vgpu_now_ms();
	for (n = 0; n < 40; n++) {
		snprintf(body, sizeof(body), "VGPU1 REQUEST\nvm 1\nseq %d\nend 5 00000000\n", n + 1);
		put_file(1, "command.txt", body, strlen(body));
		vgpu_mediator_step(med, 0);
		if (n == 20)
			send_op(2, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	}
	ck_assert_int_eq(wait_answer(2, 1, NULL), VGPU_OK);
	rejects = journal_count("answer", 1, 0);
	/* burst + rate x elapsed, +1 for rounding */
	ck_assert_msg(rejects <= 3 + (int)((vgpu_now_ms() - t0) * 2 / 1000) + 1, "%d rejects answered", rejects);
	ck_assert_int_ge(rejects, 3);
	/* the last record is answered once the budget refills */
	step_for(800);
	ck_assert_int_eq(wait_any(1, NULL), VGPU_CORRUPT);
}
END_TEST

/* An incomplete record past its grace while the VM's reject budget is spent waits for
 * the budget, and so does the loop: it must not turn back to back (a 0 ms timeout per
 * turn, 100% of a CPU) until the budget refills. */
START_TEST(test_reject_budget_no_spin)
{
	char body[128];
	uint64_t end;
	int turns = 0, len;
	struct vgpu_request r = req_of(1, 2, VGPU_OP_PING, VGPU_PRIO_LOW);
	char buf[VGPU_RECORD_MAX];

	cfg.reject_burst = 1;
	cfg.reject_per_s = 1;
	cfg.grace_ms = 20;
	start(1);
	step_for(20);
	snprintf(body, sizeof(body), "VGPU1 REQUEST\nvm 1\nseq 1\nend 5 00000000\n");
	put_file(1, "command.txt", body, strlen(body));
	ck_assert_int_eq(wait_any(1, NULL), VGPU_CORRUPT);     /* the budget's one answer */
	len = vgpu_request_encode(&r, buf, sizeof(buf));
	put_file(1, "command.txt", buf, (size_t)len / 2);      /* incomplete, for good */
	step_for(60);                                          /* past its grace: no budget */
	end = vgpu_now_ms() + 300;
	while (vgpu_now_ms() < end) {
		vgpu_mediator_step(med, 50);
		turns++;
	}
	ck_assert_msg(turns < 60, "%d turns in 300 ms: the loop spins on a grace it cannot act on", turns);
}
END_TEST

static const char *const state_steps[] = {
	"state/journal/write", "state/journal/short", "state/journal/fsync",
};

/* The answer cannot be saved in --state (ENOSPC, EIO at any step of saving it): it is
 * not published (durable before visible), the job is not run again when its record is
 * read again, the VM's next request waits, and a rescan saves it and publishes it. */
START_TEST(test_unsaved_answer_held_then_published)
{
	static const int errs[] = { ENOSPC, EIO };
	int64_t seq = 0;
	int mark;

	cfg.rescan_ms = 40;
	cfg.test_ops = 1;
	start(1);
	fiu_init(0);
	for (size_t i = 0; i < sizeof(state_steps) / sizeof(state_steps[0]); i++) {
		for (size_t e = 0; e < 2; e++) {
			struct vgpu_request q = effect_req(1, ++seq);
			struct vgpu_request next = effect_req(1, seq + 1);
			int submits;

			fx.script[0] = FAKE_HOLD;
			fx.nscript = 1;
			fx.nsubmit = 0;
			put_request(&q);
			while (!fx.nsubmit)
				vgpu_mediator_step(med, 20);
			/* the intent is saved; fail the answer's save from now on */
			ck_assert_int_eq(fiu_enable(state_steps[i], 1, (void *)(intptr_t)errs[e], 0), 0);
			fake_finish(0);
			step_for(150);
			ck_assert_int_eq(journal_count("answer", 1, seq), 0);
			{
				struct vgpu_response r;
				ck_assert_msg(read_resp(1, &r) != 0 || r.seq != seq,
					      "%s/%s: an unsaved answer was published", state_steps[i], strerror(errs[e]));
			}
			/* the same record again: never re-run; the next one waits */
			put_request(&q);
			step_for(60);
			put_request(&next);
			step_for(60);
			submits = fx.nsubmit;
			ck_assert_msg(submits == 1, "%s: %d submits while the answer was unsaved", state_steps[i], submits);
			fiu_disable(state_steps[i]);
			/* saved and published on the next rescan; then the waiting request runs
			 * (its answer replaces this one at once: the journal tells) */
			ck_assert_int_eq(wait_answer(1, seq + 1, NULL), VGPU_OK);
			ck_assert_int_eq(journal_count("exec", 1, seq), 1);
			ck_assert_int_eq(journal_count("answer", 1, seq), 1);
			ck_assert_int_eq(journal_count("exec", 1, seq + 1), 1);
			seq++;
		}
	}
	mark = (int)seq;
	ck_assert_int_eq(journal_count("exec", 1, 0), mark);
}
END_TEST

/* The mediator goes away while an answer is unsaved: the restarted one finds the
 * intent and answers INTERRUPTED (the VM never saw the other answer), and does not run
 * the job again. */
START_TEST(test_unsaved_answer_restart_interrupted)
{
	struct vgpu_request q = effect_req(5, 1);

	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	cfg.test_ops = 1;
	start(1);
	fiu_init(0);
	put_request(&q);
	while (!fx.nsubmit)
		vgpu_mediator_step(med, 20);
	ck_assert_int_eq(fiu_enable("state/journal/write", 1, (void *)(intptr_t)ENOSPC, 0), 0);
	fake_finish(0);
	step_for(100);
	ck_assert_int_ne(read_resp(5, NULL), 0);
	vgpu_mediator_free(med);
	med = NULL;
	fiu_disable("state/journal/write");
	fake_reset();
	start(1);
	ck_assert_int_eq(wait_answer(5, 1, NULL), VGPU_INTERRUPTED);
	put_request(&q);
	step_for(60);
	ck_assert_int_eq(fx.nsubmit, 0);
	ck_assert_int_eq(journal_count("exec", 5, 1), 1);
	ck_assert_int_eq(journal_count("answer", 5, 1), 1);
}
END_TEST

/* out-SEQ.bin: removed when the VM's next request shows it has read it, and after the
 * TTL otherwise; the bytes one VM holds are capped. */
START_TEST(test_outputs_removed_and_capped)
{
	struct vgpu_request r;
	char p[512];
	int64_t seq;

	cfg.output_ttl_ms = 1000;
	cfg.rescan_ms = 100;
	cfg.max_vm_bytes = 10000;
	start(1);
	for (seq = 1; seq <= 3; seq++) {
		r = req_of(1, seq, VGPU_OP_VADD, VGPU_PRIO_HIGH);
		r.args.n = 1000;
		put_vadd_input(1, seq, 1000, &r);
		put_request(&r);
		ck_assert_int_eq(wait_answer(1, seq, NULL), VGPU_OK);
		vm_path(1, "out-1.bin", p, sizeof(p));
		ck_assert_msg(file_exists(p) == (seq == 1), "seq %lld: out-1.bin %s", (long long)seq,
			      file_exists(p) ? "still there" : "gone");
	}
	vm_path(1, "out-2.bin", p, sizeof(p));
	ck_assert_msg(!file_exists(p), "out-2.bin superseded by seq 3");
	vm_path(1, "out-3.bin", p, sizeof(p));
	ck_assert(file_exists(p));
	/* nobody reads out-3.bin: gone after the TTL (mtime in whole seconds: up to 2 s) */
	{
		uint64_t t0 = vgpu_now_ms();
		while (file_exists(p) && vgpu_now_ms() - t0 < 4000)
			vgpu_mediator_step(med, 50);
		ck_assert_msg(!file_exists(p), "out-3.bin still there %llu ms later",
			      (unsigned long long)(vgpu_now_ms() - t0));
	}
	/* the cap: 8 KiB held (a file the mediator cannot tell from its own) + 4000 > 10000 */
	{
		static char junk[8192];
		put_file(1, "out-99.bin", junk, sizeof(junk));
	}
	r = req_of(1, 4, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 1000;
	put_vadd_input(1, 4, 1000, &r);
	put_request(&r);
	ck_assert_int_eq(wait_answer(1, 4, NULL), VGPU_TOO_LARGE);
	ck_assert_int_eq(journal_count("exec", 1, 4), 0);
}
END_TEST

/* --- status.txt (PROTOCOL.md s.10, progress.c) ------------------------------------- */

static int read_status_rec(uint32_t vm, struct vgpu_status_rec *s)
{
	char path[400], buf[4096];
	int fd;
	ssize_t n;

	vm_path(vm, VGPU_STATUS_FILE, path, sizeof(path));
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(vgpu_status_rec_decode(buf, (size_t)n, s, NULL, 0), VGPU_REC_OK);
	return 0;
}

/* Step until VM's status.txt shows STATE for SEQ (bounded), into *S. */
static void wait_status(uint32_t vm, enum vgpu_progress_state want, int64_t seq, struct vgpu_status_rec *s)
{
	uint64_t t0 = vgpu_now_ms();

	while (read_status_rec(vm, s) < 0 || s->state != want || s->seq != seq) {
		ck_assert_msg(vgpu_now_ms() - t0 < 5000, "vm%u: status.txt never said %s seq %lld", vm,
			      vgpu_progress_state_name(want), (long long)seq);
		vgpu_mediator_step(med, 10);
	}
}

/* Every VM has status.txt from the start (idle, its cap); a job's states appear once they
 * last (running on its slot, queued with its position and the capped priority), the
 * heartbeat moves while nothing happens, and a ping costs no write. */
START_TEST(test_status_file_states)
{
	struct vgpu_status_rec s1, s2, s;
	uint64_t beat;

	cfg.caps = (const struct vgpu_vm_cap[]){ { .vm = 2, .cap = VGPU_PRIO_LOW } };
	cfg.ncaps = 1;
	fx.script[0] = fx.script[1] = fx.script[2] = FAKE_HOLD;
	fx.nscript = 3;
	start(1);
	ck_assert_int_eq(read_status_rec(1, &s1), 0);
	ck_assert_int_eq(s1.state, VGPU_PROGRESS_IDLE);
	ck_assert_int_eq(s1.cap, VGPU_PRIO_HIGH);
	ck_assert_int_eq(read_status_rec(2, &s2), 0);
	ck_assert_int_eq(s2.cap, VGPU_PRIO_LOW);
	ck_assert_str_eq(s2.executor, "fake");

	send_op(1, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);
	wait_status(1, VGPU_PROGRESS_RUNNING, 1, &s);
	ck_assert_str_eq(s.executor, "fake:0");
	ck_assert_uint_eq(s.running, 1);
	send_op(2, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);   /* capped to low */
	send_op(3, 1, VGPU_OP_PING, VGPU_PRIO_HIGH);
	wait_status(2, VGPU_PROGRESS_QUEUED, 1, &s2);
	ck_assert_int_eq(s2.priority, VGPU_PRIO_LOW);
	ck_assert_uint_eq(s2.position, 1);             /* vm3's high job goes first */
	ck_assert_uint_eq(s2.running, 1);
	wait_status(3, VGPU_PROGRESS_QUEUED, 1, &s);
	ck_assert_uint_eq(s.position, 0);
	ck_assert_uint_ge(s.time_ms, s.since_ms);

	/* the heartbeat moves with nothing else happening */
	beat = s.beat;
	step_for(VGPU_PROGRESS_PERIOD_MS + 200);
	ck_assert_int_eq(read_status_rec(3, &s), 0);
	ck_assert_uint_gt(s.beat, beat);
	ck_assert_int_eq(s.state, VGPU_PROGRESS_QUEUED);

	fake_finish(0);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	wait_status(1, VGPU_PROGRESS_IDLE, 0, &s);
	ck_assert_int_eq(s.answered, 1);
	wait_status(3, VGPU_PROGRESS_RUNNING, 1, &s);
	/* a new position alone is written within VGPU_PROGRESS_POSITION_GAP_MS */
	ck_assert(TU_WAIT_FOR((vgpu_mediator_step(med, 10), read_status_rec(2, &s2) == 0 &&
			       s2.state == VGPU_PROGRESS_QUEUED && s2.position == 0), 2 * VGPU_PROGRESS_POSITION_GAP_MS + 1000));
}
END_TEST

/* A job answered faster than VGPU_PROGRESS_LAZY_MS is never written as queued or
 * running: the status file does not cost a ping anything. */
START_TEST(test_status_file_not_written_for_fast_jobs)
{
	struct vgpu_status_rec s;
	char path[400], buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int ino, writes = 0;
	ssize_t n;
	uint64_t t0;

	start(1);
	ck_assert_int_eq(read_status_rec(4, &s), 0);
	vm_path(4, "", path, sizeof(path));
	ino = inotify_init1(IN_NONBLOCK);
	ck_assert_int_ge(ino, 0);
	ck_assert_int_ge(inotify_add_watch(ino, path, IN_MOVED_TO), 0);
	t0 = vgpu_now_ms();
	for (int64_t seq = 1; seq <= 5; seq++) {
		send_op(4, seq, VGPU_OP_PING, VGPU_PRIO_HIGH);    /* done at once (FAKE_OK) */
		ck_assert_int_eq(wait_answer(4, seq, NULL), VGPU_OK);
	}
	while ((n = read(ino, buf, sizeof(buf))) > 0)
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			writes += ev->len && strcmp(ev->name, VGPU_STATUS_FILE) == 0;
			p += sizeof(*ev) + ev->len;
		}
	close(ino);
	/* a heartbeat may fall into the loop: one per period */
	ck_assert_msg(writes <= 1 + (int)((vgpu_now_ms() - t0) / VGPU_PROGRESS_PERIOD_MS), "%d writes of status.txt "
		      "in %llu ms for 5 fast pings", writes, (unsigned long long)(vgpu_now_ms() - t0));
}
END_TEST

/* The payload budget (docs/SECURITY.md "Memory"): a request whose payload does not fit
 * beside the queued ones waits unread, and waiters go first in their order; a request
 * one VM may never hold is TOO_LARGE at once; requests without payload pass; once a job
 * gives its bytes back the waiters run; the payload files are closed by the closer. */
START_TEST(test_payload_budget)
{
	struct vgpu_request r;
	struct vgpu_response a;

	cfg.max_payload = 64 * 1024;
	cfg.max_queued_bytes = 20000;
	cfg.max_vm_queued_bytes = 15000;
	fx.script[0] = FAKE_HOLD;
	fx.nscript = 1;
	start(2);
	/* vm1: 8000 bytes in + 4000 out = 12000 held, on hold in slot 0 */
	r = req_of(1, 1, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 1000;
	put_vadd_input(1, 1, 1000, &r);
	put_request(&r);
	while (fx.naccepted < 1)
		vgpu_mediator_step(med, 20);
	ck_assert_uint_eq(med->payload_held, 12000);
	/* vm2: 12000 more would pass 20000: waits, unread, unanswered, not run */
	r = req_of(2, 1, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 1000;
	put_vadd_input(2, 1, 1000, &r);
	put_request(&r);
	step_for(100);
	ck_assert_int_eq(fx.nsubmit, 1);
	ck_assert_uint_eq(med->stats.budget_waits, 1);
	ck_assert_msg(read_resp(2, NULL) != 0, "vm2 was answered while it waits for the budget");
	/* vm4: 2400 would fit, but vm2 waits since before: vm4 waits behind it */
	r = req_of(4, 1, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 200;
	put_vadd_input(4, 1, 200, &r);
	put_request(&r);
	step_for(100);
	ck_assert_int_eq(fx.nsubmit, 1);
	ck_assert_uint_eq(med->stats.budget_waits, 2);
	/* a ping holds no payload: served meanwhile */
	send_op(3, 1, VGPU_OP_PING, VGPU_PRIO_LOW);
	ck_assert_int_eq(wait_answer(3, 1, NULL), VGPU_OK);
	/* vm5: 12000 + 6000 = 18000 is over what one VM's request may hold: TOO_LARGE now */
	r = req_of(5, 1, VGPU_OP_VADD, VGPU_PRIO_HIGH);
	r.args.n = 1500;
	put_vadd_input(5, 1, 1500, &r);
	put_request(&r);
	ck_assert_int_eq(wait_answer(5, 1, &a), VGPU_TOO_LARGE);
	ck_assert_msg(strstr(a.error, "--max-vm-queued-bytes") != NULL, "%s", a.error);
	ck_assert_int_eq(journal_count("exec", 5, 1), 0);
	/* vm1 done: its 12000 bytes back, vm2 then vm4 admitted and run */
	fake_finish(0);
	ck_assert_int_eq(wait_answer(1, 1, NULL), VGPU_OK);
	ck_assert_int_eq(wait_answer(2, 1, NULL), VGPU_OK);
	ck_assert_int_eq(wait_answer(4, 1, NULL), VGPU_OK);
	{
		uint32_t order[8];
		int n = exec_order(order, 8);

		ck_assert_int_eq(n, 4);
		ck_assert_uint_eq(order[2], 2);   /* vm1, vm3 (ping), then vm2 before vm4 */
		ck_assert_uint_eq(order[3], 4);
	}
	step_for(50);
	ck_assert_uint_eq(med->payload_held, 0);
	ck_assert_uint_eq(med->stats.budget_waits, 2);
	ck_assert_uint_ge(med->closer.handed, 3);  /* the payloads closed off the loop */
}
END_TEST

static Suite *mediator_suite(void)
{
	Suite *s = suite_create("mediator");
	TCase *tc = tcase_create("answers");
	TCase *tf = tcase_create("executor_failures");
	TCase *ts = tcase_create("scheduling");
	TCase *ti = tcase_create("intake");
	TCase *tx = tcase_create("isolation");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ping_ok_once);
	tcase_add_test(tc, test_ping_no_intent_read_again);
	tcase_add_test(tc, test_ping_answered_by_mediator);
	tcase_add_test(tc, test_data_ops_outputs);
	tcase_add_test(tc, test_stop_finishes_job_in_hand);
	tcase_add_test(tc, test_restart_answers_interrupted);
	tcase_add_test(tc, test_restart_adopts_published_answer);
	tcase_add_test(tc, test_one_request_per_vm_at_a_time);
	tcase_add_test(tc, test_failed_publish_retried);
	tcase_add_test(tc, test_initial_response);
	tcase_add_test(tc, test_unreadable_command_retried);
	tcase_add_test(tc, test_corrupt_state_logged_once);
	tcase_add_test(tc, test_legacy_state_migrated);
	tcase_add_test(tc, test_vm_dirs_come_and_go);
	tcase_add_test(tc, test_close_watch_follows_the_writer);
	tcase_add_test(tc, test_new_refuses_bad_config);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_set_timeout(tf, 30);
	tcase_add_test(tf, test_executor_failures_answered_once);
	tcase_add_test(tf, test_late_job_times_out_at_deadline);
	tcase_add_test(tf, test_intent_not_recorded_not_run);
	tcase_add_test(tf, test_executor_without_fd_or_slot_names);
	tcase_add_test(tf, test_no_window_without_a_descriptor_slot);
	suite_add_tcase(s, tf);

	tcase_add_checked_fixture(ts, setup, teardown);
	tcase_set_timeout(ts, 30);
	tcase_add_test(ts, test_priority_order);
	tcase_add_test(ts, test_two_slots);
	suite_add_tcase(s, ts);

	tcase_add_checked_fixture(ti, setup, teardown);
	tcase_set_timeout(ti, 30);
	tcase_add_test(ti, test_intake_rejects_records);
	tcase_add_test(ti, test_intake_rejects_payloads);
	tcase_add_test(ti, test_test_ops_allowed);
	suite_add_tcase(s, ti);

	tcase_add_checked_fixture(tx, setup, teardown);
	tcase_set_timeout(tx, 60);
	tcase_add_test(tx, test_second_mediator_refused);
	tcase_add_test(tx, test_foreign_owner_refused);
	tcase_add_test(tx, test_reject_budget);
	tcase_add_test(tx, test_unsaved_answer_held_then_published);
	tcase_add_test(tx, test_unsaved_answer_restart_interrupted);
	tcase_add_test(tx, test_outputs_removed_and_capped);
	tcase_add_test(tx, test_status_file_states);
	tcase_add_test(tx, test_status_file_not_written_for_fast_jobs);
	tcase_add_test(tx, test_payload_budget);
	tcase_add_test(tx, test_command_read_with_own_events_dispatched);
	tcase_add_test(tx, test_reject_budget_no_spin);
	suite_add_tcase(s, tx);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return tu_run(mediator_suite(), CK_ENV);
}
