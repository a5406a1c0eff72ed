/* test_doctor.c - vgpu-doctor finds what ERRORS_LOG errors 1, 2 and 6 describe, says
 * the fix, and exits with its documented status; a good setup passes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../common/testutil.h"

static char out[8192];

/* Run vgpu-doctor ARGS; its output into OUT; returns its exit status. */
static int doctor(const char *args)
{
	char cmd[1024];
	const char *b = getenv("VGPU_BUILD");
	FILE *p;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/vgpu-doctor %s 2>&1", b ? b : "build", args);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char tmp[64];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/vgpu-doctor-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' /dev/shm/vgpu-doctor-test", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_missing_dir_is_unmounted_export)
{
	char a[256];

	snprintf(a, sizeof(a), "--dir %s/vm1", tmp);
	ck_assert_int_eq(doctor(a), 3);
	ck_assert_ptr_nonnull(strstr(out, "not mounted"));
	ck_assert_ptr_nonnull(strstr(out, "mount -t nfs"));
}
END_TEST

START_TEST(test_good_vm_dir)
{
	char a[256], d[200];

	snprintf(d, sizeof(d), "%s/vm1", tmp);
	ck_assert_int_eq(mkdir(d, 0777), 0);
	snprintf(a, sizeof(a), "--dir %s", d);
	/* a local directory: the "not on NFS" warning, but publishing works */
	ck_assert_int_eq(doctor(a), 1);
	ck_assert_ptr_nonnull(strstr(out, "create, write, fsync and rename work"));
	ck_assert_ptr_null(strstr(out, "ERROR"));
	ck_assert_int_eq(access("vgpu-doctor.probe", F_OK), -1);
}
END_TEST

START_TEST(test_tmpfs_root_refused)
{
	struct stat st;

	if (stat("/dev/shm", &st) < 0) {
		printf("test_tmpfs_root_refused: skipped: no /dev/shm on this machine\n");
		return;
	}
	ck_assert_int_eq(system("mkdir -p /dev/shm/vgpu-doctor-test/vm1 && chmod 0777 /dev/shm/vgpu-doctor-test/vm1"), 0);
	ck_assert_int_eq(doctor("--root /dev/shm/vgpu-doctor-test"), 3);
	ck_assert_ptr_nonnull(strstr(out, "tmpfs"));
	ck_assert_ptr_nonnull(strstr(out, "fsid="));
	ck_assert_ptr_nonnull(strstr(out, "symlink"));
}
END_TEST

START_TEST(test_root_owned_vm_dir_warns_root_squash)
{
	char a[256], d[200];

	snprintf(d, sizeof(d), "%s/vm3", tmp);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	ck_assert_int_eq(chmod(d, 0755), 0);
	if (getuid() != 0) {
		printf("test_root_owned_vm_dir_warns_root_squash: skipped: needs root to own the directory\n");
		return;
	}
	snprintf(a, sizeof(a), "--root %s --state /var/lib/vgpu-mediator-test", tmp);
	ck_assert_int_eq(doctor(a), 1);
	ck_assert_ptr_nonnull(strstr(out, "root_squash"));
	ck_assert_ptr_nonnull(strstr(out, "chown 65534"));
}
END_TEST

/* Only what the squashed uid can write passes: 65534 with u+w, or o+w. */
START_TEST(test_squashed_uid_must_be_able_to_write)
{
	char a[256], d1[200], d2[200];

	if (getuid() != 0) {
		printf("test_squashed_uid_must_be_able_to_write: skipped: needs root to chown\n");
		return;
	}
	snprintf(d1, sizeof(d1), "%s/vm1", tmp);
	snprintf(d2, sizeof(d2), "%s/vm2", tmp);
	ck_assert_int_eq(mkdir(d1, 0755), 0);
	ck_assert_int_eq(mkdir(d2, 0755), 0);
	ck_assert_int_eq(chown(d1, 1000, 1000), 0);      /* another user: not writable */
	ck_assert_int_eq(chown(d2, 65534, 65534), 0);    /* the squashed uid: writable */
	ck_assert_int_eq(chmod(d1, 0755), 0);
	ck_assert_int_eq(chmod(d2, 0755), 0);
	snprintf(a, sizeof(a), "--root %s", tmp);
	ck_assert_int_eq(doctor(a), 1);
	ck_assert_ptr_nonnull(strstr(out, "vm1 is owned by uid 1000"));
	ck_assert_ptr_nonnull(strstr(out, "vm2 can be written"));
}
END_TEST

START_TEST(test_state_inside_export_is_an_error)
{
	char a[256], d[200];

	snprintf(d, sizeof(d), "%s/vm1", tmp);
	ck_assert_int_eq(mkdir(d, 0777), 0);
	ck_assert_int_eq(chmod(d, 0777), 0);
	snprintf(a, sizeof(a), "--root %s --state %s/state", tmp, tmp);
	ck_assert_int_eq(doctor(a), 3);
	ck_assert_ptr_nonnull(strstr(out, "inside the export"));
}
END_TEST

/* One export of the whole root hands every vmN/ to every VM: an error, with the fix. */
START_TEST(test_exports_whole_root_is_an_error)
{
	char a[512], d[200], x[200];
	FILE *f;

	snprintf(d, sizeof(d), "%s/vm1", tmp);
	ck_assert_int_eq(mkdir(d, 0700), 0);
	snprintf(x, sizeof(x), "%s/exports", tmp);
	f = fopen(x, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# the layout issue 10 found\n%s  10.0.0.0/24(rw,sync,root_squash,no_subtree_check)\n", tmp);
	fclose(f);
	snprintf(a, sizeof(a), "--root %s --exports %s", tmp, x);
	ck_assert_int_eq(doctor(a), 3);
	ck_assert_ptr_nonnull(strstr(out, "which holds every vmN/"));
	ck_assert_ptr_nonnull(strstr(out, "has no export line of its own"));
	ck_assert_ptr_nonnull(strstr(out, "all_squash,anonuid=U"));
}
END_TEST

/* Per-VM exports squashed to the VM's uid, vmN/ owned by it with mode 0700: clean;
 * an owner that is not the export's anonuid, a missing all_squash, a shared owner and a
 * group/other-accessible mode are each reported with their fix. */
START_TEST(test_exports_per_vm_checked)
{
	char a[512], d[200], x[200];
	FILE *f;

	if (getuid() != 0) {
		printf("test_exports_per_vm_checked: skipped: needs root to chown\n");
		return;
	}
	for (int v = 1; v <= 4; v++) {
		snprintf(d, sizeof(d), "%s/vm%d", tmp, v);
		ck_assert_int_eq(mkdir(d, 0700), 0);
		ck_assert_int_eq(chown(d, 6000 + v, 6000 + v), 0);
	}
	snprintf(x, sizeof(x), "%s/exports", tmp);
	f = fopen(x, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s/vm1 10.0.0.1(rw,sync,all_squash,anonuid=6001,anongid=6001,no_subtree_check)\n", tmp);
	fclose(f);
	snprintf(a, sizeof(a), "--root %s --exports %s", tmp, x);
	ck_assert_int_eq(doctor(a), 3);   /* vm2..vm4 have no export line */
	ck_assert_ptr_nonnull(strstr(out, "vm1: exported on its own"));
	ck_assert_ptr_nonnull(strstr(out, "vm1: owned by the VM's uid, mode 0700"));
	f = fopen(x, "w");
	fprintf(f, "%s/vm1 10.0.0.1(rw,sync,all_squash,anonuid=6001,anongid=6001)\n"
		"%s/vm2 10.0.0.2(rw,sync,all_squash,anonuid=6009,anongid=6009)\n"
		"%s/vm3 10.0.0.3(rw,sync,root_squash)\n"
		"%s/vm4 10.0.0.4(rw,sync,all_squash,anonuid=6004,anongid=6004) \\\n  10.0.0.5(rw,all_squash,anonuid=6004)\n",
		tmp, tmp, tmp, tmp);
	fclose(f);
	snprintf(d, sizeof(d), "%s/vm4", tmp);
	ck_assert_int_eq(chmod(d, 0750), 0);
	ck_assert_int_eq(doctor(a), 3);
	ck_assert_ptr_nonnull(strstr(out, "vm2 is owned by uid 6002, but the VM's uid is 6009"));
	ck_assert_ptr_nonnull(strstr(out, "chown 6009:6009"));
	ck_assert_ptr_nonnull(strstr(out, "vm3 (line 3: rw,sync,root_squash) does not squash"));
	ck_assert_ptr_nonnull(strstr(out, "vm4 is mode 750"));
	ck_assert_ptr_null(strstr(out, "which holds every vmN/"));
	/* two VMs with one owner */
	snprintf(d, sizeof(d), "%s/vm3", tmp);
	ck_assert_int_eq(chown(d, 6001, 6001), 0);
	snprintf(a, sizeof(a), "--root %s --exports %s --vm-uid 1:6001", tmp, x);
	ck_assert_int_eq(doctor(a), 3);
	ck_assert_ptr_nonnull(strstr(out, "are both owned by uid 6001"));
}
END_TEST

START_TEST(test_usage)
{
	ck_assert_int_eq(doctor(""), 2);
	ck_assert_int_eq(doctor("--help"), 0);
	ck_assert_ptr_nonnull(strstr(out, "Exit status"));
}
END_TEST

static Suite *doctor_suite(void)
{
	Suite *s = suite_create("doctor");
	TCase *tc = tcase_create("checks");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_missing_dir_is_unmounted_export);
	tcase_add_test(tc, test_good_vm_dir);
	tcase_add_test(tc, test_tmpfs_root_refused);
	tcase_add_test(tc, test_root_owned_vm_dir_warns_root_squash);
	tcase_add_test(tc, test_squashed_uid_must_be_able_to_write);
	tcase_add_test(tc, test_state_inside_export_is_an_error);
	tcase_add_test(tc, test_exports_whole_root_is_an_error);
	tcase_add_test(tc, test_exports_per_vm_checked);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(doctor_suite)
