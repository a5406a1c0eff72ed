/* test_config.c - /etc/vgpu-mediator.conf (src/mediator/config.c): every key read, the
 * command line over the file, each kind of bad file refused with its line, a [vmN]
 * twice refused, any number of VMs, and the printed configuration read back the same. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/record.h"
#include "mediator/config.h"
#include "../common/testutil.h"

static const char *good =
	"# a comment\n"
	"; another\n"
	"[mediator]\n"
	"root = /var/vgpu\n"
	"state = /var/lib/vgpu-mediator\n"
	"executor = auto\n"
	"fallback = remote:/var/vgpu-worker/vm1\n"
	"default_cap = low\n"
	"serve = listed\n"
	"metrics = /var/lib/prometheus/node-exporter/vgpu-mediator.prom\n"
	"status_interval_ms = 2000\n"
	"log_level = debug\n"
	"syslog = yes\n"
	"\n"
	"[limits]\n"
	"aging_ms = 0\n"
	"rescan_ms = 500\n"
	"grace_ms = 3000\n"
	"job_ms = 1000\n"
	"max_job_ms = 2000\n"
	"max_payload = 4096\n"
	"remote_timeout_ms = 7000\n"
	"\n"
	"[vm1]\n"
	"cap = high\n"
	"uid = 65534\n"
	"max_bytes = 1048576\n"
	"max_queued = 4\n"
	"\n"
	"[vm12]\n"
	"uid = 0\n";

START_TEST(test_good_file)
{
	struct vgpu_config c;
	struct vgpu_mediator_config mc;
	char err[256] = "";

	vgpu_config_init(&c);
	ck_assert_msg(vgpu_config_load_string(&c, good, "good.conf", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(vgpu_config_validate(&c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.root, "/var/vgpu");
	ck_assert_str_eq(c.state, "/var/lib/vgpu-mediator");
	ck_assert_str_eq(c.executor, "auto");
	ck_assert_str_eq(c.fallback, "remote:/var/vgpu-worker/vm1");
	ck_assert_int_eq(c.default_cap, VGPU_PRIO_LOW);
	ck_assert_int_eq(c.only_listed, 1);
	ck_assert_int_eq(c.log_level, VGPU_LOG_DEBUG);
	ck_assert_int_eq(c.syslog, 1);
	ck_assert_uint_eq(c.status_ms, 2000);
	ck_assert_uint_eq(c.aging_ms, 0);
	ck_assert_uint_eq(c.rescan_ms, 500);
	ck_assert_uint_eq(c.grace_ms, 3000);
	ck_assert_uint_eq(c.job_ms, 1000);
	ck_assert_uint_eq(c.max_job_ms, 2000);
	ck_assert_uint_eq(c.max_payload, 4096);
	ck_assert_uint_eq(c.remote_timeout_ms, 7000);
	ck_assert_uint_eq(c.nvms, 2);
	ck_assert_uint_eq(c.vms[0].vm, 1);
	ck_assert_int_eq(c.vms[0].cap, VGPU_PRIO_HIGH);
	ck_assert_int_eq(c.vms[0].has_uid, 1);
	ck_assert_uint_eq(c.vms[0].uid, 65534);
	ck_assert_uint_eq(c.vms[0].max_bytes, 1048576);
	ck_assert_uint_eq(c.vms[0].max_queued, 4);
	ck_assert_uint_eq(c.vms[1].vm, 12);
	ck_assert_int_eq(c.vms[1].has_uid, 1);
	ck_assert_uint_eq(c.vms[1].uid, 0);
	vgpu_config_to_mediator(&c, &mc);
	/* a VM without a cap gets the default cap */
	ck_assert_int_eq(mc.caps[1].cap, VGPU_PRIO_LOW);
	ck_assert_uint_eq(mc.ncaps, 2);
	ck_assert_int_eq(mc.only_listed, 1);
	ck_assert_uint_eq(mc.default_job_ms, 1000);
	ck_assert_str_eq(mc.root, "/var/vgpu");
	vgpu_config_release(&c);
}
END_TEST

/* The defaults, and a VM without uid. */
START_TEST(test_defaults)
{
	struct vgpu_config c;
	char err[256] = "";

	vgpu_config_init(&c);
	ck_assert_int_eq(vgpu_config_load_string(&c, "[vm3]\ncap = low\n", "x", err, sizeof(err)), 0);
	ck_assert_int_eq(c.vms[0].has_uid, 0);
	ck_assert_int_eq(c.default_cap, VGPU_PRIO_MEDIUM);
	ck_assert_uint_eq(c.max_job_ms, 600000);
	ck_assert_ptr_null(c.executor);
	/* root and state are required */
	ck_assert_int_eq(vgpu_config_validate(&c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "root and state required"), "%s", err);
	vgpu_config_release(&c);
}
END_TEST

/* Each bad file is refused, naming its line and what is wrong. */
START_TEST(test_bad_files)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "[mediator]\nroot = /x\n[vm1]\ncap = high\n[vm2]\ncap = low\n[vm1]\nuid = 3\n",
		  "x.conf:7: [vm1] given twice (one section per VM)" },
		{ "[vm1]\ncap = high\n[vm1]\nuid = 3\n", "x.conf:3: [vm1] given twice" },
		{ "[vm1]\ncap = high\ncap = low\n", "x.conf:3: 'cap' given twice in [vm1]" },
		{ "[limits]\nrescan_ms = abc\n", "x.conf:2: rescan_ms = abc: expected a whole number of milliseconds" },
		{ "[limits]\nrescan_ms = 0\n", "x.conf:2: rescan_ms = 0: must be at least 1" },
		{ "[limits]\nrescan_ms = -5\n", "x.conf:2: rescan_ms = -5" },
		{ "[limits]\nbogus = 1\n", "x.conf:2: unknown key 'bogus' in [limits]" },
		{ "[nonsense]\nx = 1\n", "x.conf:2: unknown section [nonsense]" },
		{ "[vm0]\ncap = low\n", "x.conf:2: unknown section [vm0]" },
		{ "[vm01]\ncap = low\n", "x.conf:2: unknown section [vm01]" },
		{ "[vm65536]\ncap = low\n", "x.conf:2: unknown section [vm65536]" },
		{ "[vm2]\ncap = urgent\n", "x.conf:2: cap = urgent: expected low, medium or high" },
		{ "[vm2]\nuid = -1\n", "x.conf:2: uid = -1" },
		{ "[vm2]\ncolour = red\n", "x.conf:2: unknown key 'colour' in [vm2]" },
		{ "[mediator]\nexecutor = gpu\n", "x.conf:2: executor = gpu: expected mock, cuda, auto or remote:DIR" },
		{ "[mediator]\nfallback = cuda\n", "x.conf:2: fallback = cuda: expected mock, remote:DIR or none" },
		{ "[mediator]\nserve = some\n", "x.conf:2: serve = some: expected all or listed" },
		{ "[mediator]\nsyslog = maybe\n", "x.conf:2: syslog = maybe: expected yes or no" },
		{ "[mediator]\nroot =\n", "x.conf:2: root: empty value" },
		{ "root = /x\n", "x.conf:1: 'root' before any section" },
		{ "[mediator]\nroot = /x\njust words\n", "x.conf:3: not a section header, a key = value line" },
		{ "[mediator\nroot = /x\n", "x.conf:1: not a section header" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vgpu_config c;
		char err[256] = "";

		vgpu_config_init(&c);
		ck_assert_msg(vgpu_config_load_string(&c, bad[i].text, "x.conf", err, sizeof(err)) == -1,
			      "accepted: %s", bad[i].text);
		ck_assert_msg(strncmp(err, bad[i].want, strlen(bad[i].want)) == 0, "case %zu: got '%s', want '%s'",
			      i, err, bad[i].want);
		vgpu_config_release(&c);
	}
}
END_TEST

START_TEST(test_too_long_line)
{
	struct vgpu_config c;
	char text[600], err[256] = "";

	memset(text, 0, sizeof(text));
	strcpy(text, "[mediator]\nroot = /");
	memset(text + strlen(text), 'a', 400);
	strcat(text, "\n");
	vgpu_config_init(&c);
	ck_assert_int_eq(vgpu_config_load_string(&c, text, "x.conf", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "x.conf:2: line too long"), "%s", err);
	vgpu_config_release(&c);
}
END_TEST

START_TEST(test_missing_file)
{
	struct vgpu_config c;
	char err[256] = "";

	vgpu_config_init(&c);
	ck_assert_int_eq(vgpu_config_load(&c, "/nonexistent/vgpu.conf", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/vgpu.conf: No such file or directory");
	vgpu_config_release(&c);
}
END_TEST

/* No fixed number of VMs (the command line had 256). */
START_TEST(test_many_vms)
{
	size_t n = 3000, cap = n * 40;
	char *text = malloc(cap), err[256] = "";
	size_t off = 0;
	struct vgpu_config c;

	for (size_t i = 1; i <= n; i++)
		off += (size_t)snprintf(text + off, cap - off, "[vm%zu]\ncap = %s\n", i, i % 2 ? "low" : "high");
	vgpu_config_init(&c);
	ck_assert_msg(vgpu_config_load_string(&c, text, "many", err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c.nvms, n);
	ck_assert_int_eq(vgpu_config_find_vm(&c, 2999)->cap, VGPU_PRIO_LOW);
	ck_assert_int_eq(vgpu_config_find_vm(&c, 3000)->cap, VGPU_PRIO_HIGH);
	vgpu_config_release(&c);
	free(text);
}
END_TEST

/* The command line wins: marked fields, and a --vm's cap over the file's [vmN]. */
START_TEST(test_flags_override)
{
	struct vgpu_config file, flags;
	struct vgpu_vm_cap *v;
	char err[256] = "";
	int dup;

	vgpu_config_init(&file);
	ck_assert_int_eq(vgpu_config_load_string(&file, good, "good.conf", err, sizeof(err)), 0);
	vgpu_config_init(&flags);
	ck_assert_int_eq(vgpu_config_set(&flags, "mediator", "root", "/srv/other", err, sizeof(err)), 0);
	ck_assert_int_eq(vgpu_config_set(&flags, "limits", "rescan_ms", "50", err, sizeof(err)), 0);
	flags.set = VGPU_CF_ROOT | VGPU_CF_RESCAN;
	v = vgpu_config_add_vm(&flags, 1, &dup);
	ck_assert_ptr_nonnull(v);
	v->cap = VGPU_PRIO_LOW;
	v = vgpu_config_add_vm(&flags, 7, &dup);
	v->cap = VGPU_PRIO_HIGH;
	ck_assert_ptr_null(vgpu_config_add_vm(&flags, 7, &dup));
	ck_assert_int_eq(dup, 1);
	ck_assert_int_eq(vgpu_config_merge(&file, &flags), 0);
	ck_assert_str_eq(file.root, "/srv/other");
	ck_assert_str_eq(file.state, "/var/lib/vgpu-mediator");   /* not given: the file's */
	ck_assert_uint_eq(file.rescan_ms, 50);
	ck_assert_uint_eq(file.grace_ms, 3000);
	ck_assert_int_eq(vgpu_config_find_vm(&file, 1)->cap, VGPU_PRIO_LOW);
	ck_assert_uint_eq(vgpu_config_find_vm(&file, 1)->uid, 65534);   /* the file's uid stays */
	ck_assert_int_eq(vgpu_config_find_vm(&file, 7)->cap, VGPU_PRIO_HIGH);
	vgpu_config_release(&file);
	vgpu_config_release(&flags);
}
END_TEST

/* What --check-config prints reads back to the same configuration. */
START_TEST(test_format_round_trip)
{
	struct vgpu_config a, b;
	char err[256] = "", *ta, *tb;

	vgpu_config_init(&a);
	ck_assert_int_eq(vgpu_config_load_string(&a, good, "good.conf", err, sizeof(err)), 0);
	ta = vgpu_config_format(&a);
	ck_assert_ptr_nonnull(ta);
	vgpu_config_init(&b);
	ck_assert_msg(vgpu_config_load_string(&b, ta, "printed", err, sizeof(err)) == 0, "%s\n%s", err, ta);
	tb = vgpu_config_format(&b);
	ck_assert_str_eq(ta, tb);
	ck_assert_ptr_nonnull(strstr(ta, "[vm1]\ncap = high\nuid = 65534\nmax_bytes = 1048576\nmax_queued = 4\n"));
	free(ta);
	free(tb);
	vgpu_config_release(&a);
	vgpu_config_release(&b);
}
END_TEST

/* Checks across keys, and the fields only a restart applies. */
START_TEST(test_validate_and_restart_fields)
{
	struct vgpu_config a, b;
	char err[256] = "", buf[128];

	vgpu_config_init(&a);
	ck_assert_int_eq(vgpu_config_load_string(&a, "[mediator]\nroot = /r\nstate = /s\nserve = listed\n", "x",
						 err, sizeof(err)), 0);
	ck_assert_int_eq(vgpu_config_validate(&a, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "serve = listed but no [vmN] section"), "%s", err);
	vgpu_config_release(&a);

	vgpu_config_init(&a);
	ck_assert_int_eq(vgpu_config_load_string(&a, "[mediator]\nroot = /r\nstate = /s\n[limits]\njob_ms = 9\n"
						 "max_job_ms = 5\n", "x", err, sizeof(err)), 0);
	ck_assert_int_eq(vgpu_config_validate(&a, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "job_ms (9) is above max_job_ms (5)"), "%s", err);
	vgpu_config_release(&a);

	vgpu_config_init(&a);
	vgpu_config_init(&b);
	ck_assert_int_eq(vgpu_config_load_string(&a, good, "a", err, sizeof(err)), 0);
	ck_assert_int_eq(vgpu_config_load_string(&b, good, "b", err, sizeof(err)), 0);
	vgpu_config_restart_fields(&a, &b, buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(vgpu_config_set(&b, "mediator", "root", "/elsewhere", err, sizeof(err)), 0);
	ck_assert_int_eq(vgpu_config_set(&b, "mediator", "executor", "mock", err, sizeof(err)), 0);
	ck_assert_int_eq(vgpu_config_set(&b, "limits", "grace_ms", "10", err, sizeof(err)), 0);
	vgpu_config_restart_fields(&a, &b, buf, sizeof(buf));
	ck_assert_str_eq(buf, "root, executor");
	vgpu_config_release(&a);
	vgpu_config_release(&b);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_bad_files);
	tcase_add_test(tc, test_too_long_line);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_many_vms);
	tcase_add_test(tc, test_flags_override);
	tcase_add_test(tc, test_format_round_trip);
	tcase_add_test(tc, test_validate_and_restart_fields);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(config_suite)
