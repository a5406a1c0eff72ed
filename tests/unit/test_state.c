/* test_state.c - the exactly-once state: what is persisted survives a reload, an
 * intent is seen after a "crash", and a damaged state file is refused (serving that
 * VM could answer twice). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/record.h"
#include "lib/status.h"
#include "mediator/state.h"
#include "../common/testutil.h"

static char dir[64];
static int dfd = -1;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vgpu-state-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = vgpu_state_open_dir(dir);
	ck_assert_int_ge(dfd, 0);
}

static void teardown(void)
{
	char cmd[128];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int answer_record(uint32_t vm, int64_t seq, const char *nonce, char *buf, size_t cap)
{
	struct vgpu_response r;

	memset(&r, 0, sizeof(r));
	r.vm = vm;
	r.seq = seq;
	snprintf(r.nonce, sizeof(r.nonce), "%s", nonce);
	r.status = VGPU_OK;
	r.op = VGPU_OP_PING;
	snprintf(r.executor, sizeof(r.executor), "mock");
	snprintf(r.result, sizeof(r.result), "pong");
	snprintf(r.error, sizeof(r.error), "-");
	return vgpu_response_encode(&r, buf, cap);
}

START_TEST(test_fresh_vm_has_nothing)
{
	struct vgpu_vm_state st;

	ck_assert_int_eq(vgpu_state_load(dfd, 7, &st), 0);
	ck_assert_int_eq(st.answered_seq, 0);
	ck_assert_int_eq(st.running_seq, 0);
	ck_assert_ptr_null(st.last);
	vgpu_state_release(&st);
}
END_TEST

START_TEST(test_answer_survives_reload)
{
	struct vgpu_vm_state st, again;
	char rec[1024];
	int len = answer_record(3, 41, "0123456789abcdef", rec, sizeof(rec));

	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 3, &st), 0);
	ck_assert_int_eq(vgpu_state_begin(dfd, 3, &st, 41, "0123456789abcdef"), 0);
	ck_assert_int_eq(vgpu_state_answered(dfd, 3, &st, 41, "0123456789abcdef", rec, (size_t)len), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 3, &again), 0);
	ck_assert_int_eq(again.answered_seq, 41);
	ck_assert_str_eq(again.answered_nonce, "0123456789abcdef");
	ck_assert_int_eq(again.running_seq, 0);           /* intent dropped with the answer */
	ck_assert_uint_eq(again.last_len, (size_t)len);
	ck_assert_mem_eq(again.last, rec, (size_t)len);
	vgpu_state_release(&st);
	vgpu_state_release(&again);
}
END_TEST

/* A mediator that dies between begin and answered leaves the intent behind. */
START_TEST(test_intent_seen_after_crash)
{
	struct vgpu_vm_state st, again;

	ck_assert_int_eq(vgpu_state_load(dfd, 9, &st), 0);
	ck_assert_int_eq(vgpu_state_begin(dfd, 9, &st, 5, "ffffffffffffffff"), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 9, &again), 0);
	ck_assert_int_eq(again.running_seq, 5);
	ck_assert_str_eq(again.running_nonce, "ffffffffffffffff");
	ck_assert_int_eq(again.answered_seq, 0);
	vgpu_state_release(&st);
	vgpu_state_release(&again);
}
END_TEST

static void write_file(const char *name, const char *data)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(data, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_damaged_files_refused)
{
	struct vgpu_vm_state st;

	write_file("vm4.last", "VGPU1 RESPONSE\nvm 4\nseq 1\n");   /* torn */
	ck_assert_int_eq(vgpu_state_load(dfd, 4, &st), -EBADMSG);
	write_file("vm6.run", "12 nothex!nothex!\n");
	ck_assert_int_eq(vgpu_state_load(dfd, 6, &st), -EBADMSG);
	write_file("vm8.run", "-3 0123456789abcdef\n");
	ck_assert_int_eq(vgpu_state_load(dfd, 8, &st), -EBADMSG);
}
END_TEST

/* A state file of VM 2 copied to VM 5's name is not VM 5's. */
START_TEST(test_state_of_other_vm_refused)
{
	struct vgpu_vm_state st;
	char rec[1024], path[128];
	int len = answer_record(2, 1, "0123456789abcdef", rec, sizeof(rec));
	FILE *f;

	snprintf(path, sizeof(path), "%s/vm5.last", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(rec, 1, (size_t)len, f), (size_t)len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 5, &st), -EBADMSG);
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fresh_vm_has_nothing);
	tcase_add_test(tc, test_answer_survives_reload);
	tcase_add_test(tc, test_intent_seen_after_crash);
	tcase_add_test(tc, test_damaged_files_refused);
	tcase_add_test(tc, test_state_of_other_vm_refused);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(state_suite)
