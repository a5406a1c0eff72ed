/* test_report.c - the running core's report and its reconfiguration
 * (src/mediator/report.c, metrics.c, vgpu_mediator_reconfigure()): counters per VM and
 * slot, queue depth per priority, the text and Prometheus renderings, and a reload that
 * changes caps and the served VMs without dropping queued or running work. The core
 * runs in-process over a one-slot fake executor that holds each job until released. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/record.h"
#include "lib/status.h"
#include "mediator/mediator.h"
#include "mediator/report.h"
#include "../common/testutil.h"

/* --- a one-slot executor that holds its job until release() ------------------------- */
static struct {
	struct vgpu_executor base;   /* Base class. Must be first */
	int busy, done;
	uint64_t restarts;
} fx;

static int fake_submit(struct vgpu_executor *ex, int s, const struct vgpu_exec_job *job)
{
	(void)ex; (void)s; (void)job;
	fx.busy = 1;
	fx.done = 0;
	return 0;
}

static int fake_fd(struct vgpu_executor *ex, int s)
{
	(void)ex; (void)s;
	return -1;
}

static int fake_reap(struct vgpu_executor *ex, int s, uint64_t now, struct vgpu_job_result *res)
{
	(void)ex; (void)s; (void)now;
	if (!fx.done)
		return 0;
	fx.busy = 0;
	res->status = VGPU_OK;
	return 1;
}

static const char *fake_name(struct vgpu_executor *ex, int s)
{
	(void)ex; (void)s;
	return "fake:0";
}

static int fake_info(struct vgpu_executor *ex, int s, struct vgpu_slot_info *info)
{
	(void)ex; (void)s;
	info->device = 0;
	info->state = "ready";
	info->restarts = fx.restarts;
	return 0;
}

static void fake_close(struct vgpu_executor *ex) { (void)ex; }

static const struct vgpu_executor_ops fake_ops = {
	.iversion = 2, .name = "fake", .submit = fake_submit, .fd = fake_fd, .reap = fake_reap,
	.slot_name = fake_name, .close = fake_close, .slot_info = fake_info,
};

/* --- a private root with vm1..vm3 -------------------------------------------------- */
static char dir[64], root[128], state[128];
static struct vgpu_mediator *med;

static void setup(void)
{
	char p[256];

	snprintf(dir, sizeof(dir), "/tmp/vgpu-test-report-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(root, sizeof(root), "%s/root", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	ck_assert_int_eq(mkdir(root, 0755), 0);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	for (int i = 1; i <= 3; i++) {
		snprintf(p, sizeof(p), "%s/vm%d", root, i);
		ck_assert_int_eq(mkdir(p, 0755), 0);
	}
	memset(&fx, 0, sizeof(fx));
	fx.base.ops = &fake_ops;
	fx.base.nslots = 1;
	med = NULL;
}

static void teardown(void)
{
	char cmd[128];

	vgpu_mediator_free(med);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void start(const struct vgpu_vm_cap *caps, size_t ncaps, int only_listed)
{
	struct vgpu_mediator_config cfg = {
		.root = root, .state_dir = state, .caps = caps, .ncaps = ncaps, .default_cap = VGPU_PRIO_MEDIUM,
		.only_listed = only_listed, .rescan_ms = 60000, .ex = &fx.base, .test_ops = 1,
	};
	char err[256];

	ck_assert_msg(vgpu_mediator_new(&med, &cfg, err, sizeof(err)) == 0, "%s", err);
}

static void send(uint32_t vm, int64_t seq, enum vgpu_prio prio)
{
	struct vgpu_request r;
	char buf[VGPU_RECORD_MAX], tmp[256], path[256];
	int len, fd;

	memset(&r, 0, sizeof(r));
	r.vm = vm;
	r.seq = seq;
	snprintf(r.nonce, sizeof(r.nonce), "%016" PRIx64, (uint64_t)seq * 1000 + vm);
	r.op = VGPU_OP_SPIN;     /* a job the executor holds (a ping is answered by the */
	r.args.ms = 1;           /* mediator while the slot is ready: PROTOCOL.md s.5.2) */
	r.priority = prio;
	r.output_file = -1;
	len = vgpu_request_encode(&r, buf, sizeof(buf));
	ck_assert_int_gt(len, 0);
	snprintf(tmp, sizeof(tmp), "%s/vm%" PRIu32 "/.tmp-t", root, vm);
	snprintf(path, sizeof(path), "%s/vm%" PRIu32 "/command.txt", root, vm);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, (size_t)len), len);
	close(fd);
	ck_assert_int_eq(rename(tmp, path), 0);
}

/* A record that is not one, published by rename as any writer does (one written in
 * place after the VM's renames would wait for a rescan: PROTOCOL.md s.8). */
static void put_garbage(uint32_t vm)
{
	char path[256], tmp[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/vm%" PRIu32 "/command.txt", root, vm);
	snprintf(tmp, sizeof(tmp), "%s/vm%" PRIu32 "/.tmp-garbage", root, vm);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs("not a record\n", f);
	fclose(f);
	ck_assert_int_eq(rename(tmp, path), 0);
}

static void steps(int n)
{
	for (int i = 0; i < n; i++)
		vgpu_mediator_step(med, 10);
}

static struct vgpu_report snap(void)
{
	struct vgpu_report st;

	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(vgpu_mediator_report(med, &st), 0);
	return st;
}

static const struct vgpu_report_vm *vm_of(const struct vgpu_report *st, uint32_t id)
{
	for (size_t i = 0; i < st->nvms; i++)
		if (st->vms[i].c.vm == id)
			return &st->vms[i];
	return NULL;
}

/* Queue depth by priority, the running job, counters per VM and per slot. */
START_TEST(test_counts)
{
	static const struct vgpu_vm_cap caps[] = {
		{ .vm = 1, .cap = VGPU_PRIO_HIGH }, { .vm = 2, .cap = VGPU_PRIO_LOW },
	};
	struct vgpu_report st;

	start(caps, 2, 0);
	steps(2);
	send(1, 1, VGPU_PRIO_HIGH);           /* runs, held */
	steps(3);
	ck_assert(fx.busy);
	send(2, 1, VGPU_PRIO_HIGH);           /* capped to low: queued */
	send(3, 1, VGPU_PRIO_MEDIUM);         /* queued medium */
	steps(3);
	st = snap();
	ck_assert_uint_eq(st.queued[VGPU_PRIO_HIGH], 0);
	ck_assert_uint_eq(st.queued[VGPU_PRIO_MEDIUM], 1);
	ck_assert_uint_eq(st.queued[VGPU_PRIO_LOW], 1);
	ck_assert_int_eq(st.running, 1);
	ck_assert_uint_eq(st.nslots, 1);
	ck_assert_str_eq(st.slots[0].name, "fake:0");
	ck_assert_str_eq(st.slots[0].state, "ready");
	ck_assert_int_eq(st.slots[0].busy, 1);
	ck_assert_uint_eq(st.slots[0].vm, 1);
	ck_assert_uint_eq(st.slots[0].jobs, 1);
	ck_assert_uint_eq(st.nvms, 3);
	ck_assert_uint_eq(vm_of(&st, 2)->c.submitted, 1);
	ck_assert_int_eq(vm_of(&st, 2)->cap, VGPU_PRIO_LOW);
	ck_assert_int_eq(vm_of(&st, 3)->cap, VGPU_PRIO_MEDIUM);
	vgpu_report_release(&st);

	/* release all three; then a bad record from vm3 */
	for (int i = 0; i < 3; i++) {
		fx.done = 1;
		steps(3);
	}
	put_garbage(3);
	steps(3);
	fx.restarts = 2;
	st = snap();
	ck_assert_uint_eq(st.queued[0] + st.queued[1] + st.queued[2], 0);
	ck_assert_int_eq(st.running, 0);
	ck_assert_uint_eq(st.slots[0].jobs, 3);
	ck_assert_uint_eq(st.slots[0].restarts, 2);
	ck_assert_uint_eq(st.answered, 4);
	ck_assert_uint_eq(vm_of(&st, 1)->c.answers[VGPU_OK], 1);
	ck_assert_uint_eq(vm_of(&st, 3)->c.answers[VGPU_OK], 1);
	ck_assert_uint_eq(vm_of(&st, 3)->c.answers[VGPU_BAD_REQUEST], 1);
	ck_assert_uint_eq(vm_of(&st, 3)->c.rejected, 1);
	ck_assert_uint_eq(vm_of(&st, 3)->c.submitted, 1);
	ck_assert(vm_of(&st, 3)->c.last_seen_ms > 0);
	vgpu_report_release(&st);
}
END_TEST

/* A reload between turns: caps change for the next request, work in hand stays,
 * serve = listed drops an unlisted VM once its queued job is answered, and a newly
 * listed VM is served at once. */
START_TEST(test_reconfigure_keeps_work)
{
	static const struct vgpu_vm_cap caps[] = {
		{ .vm = 1, .cap = VGPU_PRIO_HIGH }, { .vm = 2, .cap = VGPU_PRIO_HIGH },
	};
	struct vgpu_vm_cap next[] = {
		{ .vm = 1, .cap = VGPU_PRIO_LOW, .has_uid = 1, .uid = getuid() }, { .vm = 3, .cap = VGPU_PRIO_HIGH },
	};
	struct vgpu_mediator_config n = {
		.caps = next, .ncaps = 2, .default_cap = VGPU_PRIO_MEDIUM, .only_listed = 1, .rescan_ms = 60000,
		.test_ops = 1,
	};
	struct vgpu_report st;

	start(caps, 2, 1);
	steps(2);
	st = snap();
	ck_assert_uint_eq(st.nvms, 2);          /* vm3 is not listed: not served */
	vgpu_report_release(&st);
	send(1, 1, VGPU_PRIO_HIGH);
	steps(3);
	send(2, 1, VGPU_PRIO_HIGH);
	steps(3);
	ck_assert_int_eq(vgpu_mediator_reconfigure(med, &n), 0);
	next[0].cap = VGPU_PRIO_HIGH;             /* copied: the caller's array may change */
	steps(2);
	st = snap();
	ck_assert_int_eq(st.running, 1);
	ck_assert_uint_eq(st.queued[VGPU_PRIO_HIGH], 1);   /* vm2's job, as queued before */
	ck_assert_int_eq(vm_of(&st, 1)->cap, VGPU_PRIO_LOW);
	ck_assert_int_eq(vm_of(&st, 2)->served, 1);       /* still has work */
	ck_assert_int_eq(vm_of(&st, 3)->served, 1);       /* newly listed */
	vgpu_report_release(&st);

	fx.done = 1;                                       /* vm1's job */
	steps(3);
	fx.done = 1;                                       /* vm2's job */
	steps(3);
	st = snap();
	ck_assert_uint_eq(vm_of(&st, 1)->c.answers[VGPU_OK], 1);
	ck_assert_uint_eq(vm_of(&st, 2)->c.answers[VGPU_OK], 1);
	vgpu_report_release(&st);
	/* the next rescan drops vm2; a reconfigure makes it come at once */
	n.caps = next;
	ck_assert_int_eq(vgpu_mediator_reconfigure(med, &n), 0);
	steps(2);
	st = snap();
	ck_assert_int_eq(vm_of(&st, 2)->served, 0);       /* counters stay, served no more */
	ck_assert_uint_eq(vm_of(&st, 2)->c.answers[VGPU_OK], 1);
	ck_assert_int_eq(vm_of(&st, 1)->cap, VGPU_PRIO_HIGH);
	vgpu_report_release(&st);
	/* vm1 now capped high again: its request runs at high */
	send(1, 2, VGPU_PRIO_HIGH);
	steps(3);
	ck_assert(fx.busy);
}
END_TEST

/* The renderings: the text names everything; the metrics are well-formed (the
 * Prometheus parser itself reads them in tests/ops/metrics.sh). */
START_TEST(test_renderings)
{
	static const struct vgpu_vm_cap caps[] = { { .vm = 1, .cap = VGPU_PRIO_HIGH } };
	struct vgpu_report st;
	char *text, *prom;

	start(caps, 1, 0);
	steps(2);
	send(1, 1, VGPU_PRIO_HIGH);
	steps(3);
	fx.done = 1;
	steps(3);
	put_garbage(2);
	steps(3);
	st = snap();
	snprintf(st.version, sizeof(st.version), "9.9.9");
	st.pid = 4242;
	st.started_ms = 1700000000000;
	st.now_ms = st.started_ms + 3723000;
	st.reloads = 2;
	st.reload_failures = 1;
	st.last_reload_ms = st.started_ms + 1000;
	st.last_reload_ok = 1;
	st.config = "/etc/vgpu-mediator.conf";
	text = vgpu_report_text(&st);
	prom = vgpu_report_prom(&st);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(prom);
	ck_assert_msg(strncmp(text, "vgpu-mediator 9.9.9, pid 4242, running, up 1h 2m 3s (since 2023-11-14T22:13:20Z)\n",
			      80) == 0, "%s", text);
	ck_assert_msg(strstr(text, "config:   /etc/vgpu-mediator.conf; reloaded 2 times, 1 failed, last "
			     "2023-11-14T22:13:21Z ok\n"), "%s", text);
	ck_assert_msg(strstr(text, "queue:    0 high, 0 medium, 0 low; 0 running\n"), "%s", text);
	ck_assert_msg(strstr(text, "answered: 2 (ok 1, errors 1)\n"), "%s", text);
	ck_assert_msg(strstr(text, "  fake:0     0      ready     idle              1         0\n"), "%s", text);
	ck_assert_msg(strstr(text, "  vm1     high   idle            1         1         0         0"), "%s", text);
	ck_assert_msg(strstr(text, "            BAD_REQUEST: 1\n"), "%s", text);

	ck_assert_ptr_nonnull(strstr(prom, "# TYPE vgpu_mediator_answers_total counter\n"));
	ck_assert_ptr_nonnull(strstr(prom, "vgpu_mediator_answers_total{vm=\"vm1\",status=\"OK\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(prom, "vgpu_mediator_answers_total{vm=\"vm2\",status=\"BAD_REQUEST\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(prom, "vgpu_mediator_requests_rejected_total{vm=\"vm2\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(prom, "vgpu_mediator_queue_depth{priority=\"high\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(prom, "vgpu_mediator_uptime_seconds 3723.000\n"));
	ck_assert_ptr_nonnull(strstr(prom, "vgpu_mediator_slot_jobs_total{slot=\"fake:0\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(prom, "vgpu_mediator_worker_up{slot=\"fake:0\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(prom, "vgpu_mediator_config_reloads_total{result=\"failed\"} 1\n"));
	/* every sample line belongs to a family announced by # TYPE just before */
	for (char *line = prom, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		ck_assert_ptr_nonnull(nl);
		ck_assert_msg(line[0] == '#' || (line[0] >= 'a' && line[0] <= 'z'), "odd line: %.*s",
			      (int)(nl - line), line);
	}
	free(text);
	free(prom);
	vgpu_report_release(&st);
}
END_TEST

/* Written atomically: the file is whole, and no temporary is left. */
START_TEST(test_write_file)
{
	char path[256], cmd[512];
	FILE *f;
	char buf[64] = "";

	snprintf(path, sizeof(path), "%s/x.prom", dir);
	ck_assert_int_eq(vgpu_report_write_file(path, "a 1\n", 4), 0);
	ck_assert_int_eq(vgpu_report_write_file(path, "b 2\n", 4), 0);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "b 2\n");
	snprintf(cmd, sizeof(cmd), "test $(ls -A %s | wc -l) = 3", dir);   /* root, state, x.prom */
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/no/such/dir/x.prom", dir);
	ck_assert_int_eq(vgpu_report_write_file(path, "a", 1), -ENOENT);
}
END_TEST

static Suite *report_suite(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_reconfigure_keeps_work);
	tcase_add_test(tc, test_renderings);
	tcase_add_test(tc, test_write_file);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(report_suite)
