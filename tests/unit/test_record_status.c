/* test_record_status.c - the status record vmN/status.txt (docs/PROTOCOL.md section 10):
 * round trips of each state, what the encoder refuses, a table of malformed records,
 * and every truncation and bit flip of a good one (never taken for another record). */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/record_status.h"
#include "../common/testutil.h"

static struct vgpu_status_rec base(enum vgpu_progress_state st)
{
	struct vgpu_status_rec s;

	memset(&s, 0, sizeof(s));
	s.vm = 3;
	s.beat = 42;
	s.time_ms = 1764536000123ULL;
	s.period_ms = 2000;
	s.state = st;
	s.seq = st == VGPU_PROGRESS_IDLE ? 0 : 17;
	memcpy(s.nonce, st == VGPU_PROGRESS_IDLE ? "0000000000000000" : "9f3a0c6e12b4d7a8", 17);
	s.priority = VGPU_PRIO_LOW;
	s.cap = VGPU_PRIO_MEDIUM;
	s.position = st == VGPU_PROGRESS_QUEUED ? 2 : 0;
	s.running = 1;
	s.since_ms = 1764536000000ULL;
	s.expected_ms = st == VGPU_PROGRESS_RUNNING ? 22 : 0;
	strcpy(s.executor, st == VGPU_PROGRESS_RUNNING ? "cuda:0" : "pool");
	s.answered = 16;
	return s;
}

START_TEST(test_round_trip)
{
	for (int st = 0; st < VGPU_PROGRESS_COUNT; st++) {
		struct vgpu_status_rec a = base((enum vgpu_progress_state)st), b;
		char buf[1024], buf2[1024];
		int len = vgpu_status_rec_encode(&a, buf, sizeof(buf)), len2;

		ck_assert_int_gt(len, 0);
		ck_assert_int_eq(vgpu_status_rec_decode(buf, (size_t)len, &b, NULL, 0), VGPU_REC_OK);
		ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
		len2 = vgpu_status_rec_encode(&b, buf2, sizeof(buf2));
		ck_assert_int_eq(len, len2);
		ck_assert_int_eq(memcmp(buf, buf2, (size_t)len), 0);
		ck_assert_str_eq(vgpu_progress_state_name((enum vgpu_progress_state)st),
				 st == 0 ? "idle" : st == 1 ? "queued" : "running");
	}
}
END_TEST

START_TEST(test_encode_refuses)
{
	struct vgpu_status_rec s;
	char buf[1024];

	s = base(VGPU_PROGRESS_QUEUED); s.vm = 0;
	ck_assert_int_eq(vgpu_status_rec_encode(&s, buf, sizeof(buf)), -EINVAL);
	s = base(VGPU_PROGRESS_QUEUED); s.beat = 0;
	ck_assert_int_eq(vgpu_status_rec_encode(&s, buf, sizeof(buf)), -EINVAL);
	s = base(VGPU_PROGRESS_QUEUED); s.period_ms = 0;
	ck_assert_int_eq(vgpu_status_rec_encode(&s, buf, sizeof(buf)), -EINVAL);
	s = base(VGPU_PROGRESS_QUEUED); strcpy(s.executor, "bad name");
	ck_assert_int_eq(vgpu_status_rec_encode(&s, buf, sizeof(buf)), -EINVAL);
	s = base(VGPU_PROGRESS_RUNNING); s.seq = 0;         /* running needs a seq */
	ck_assert_int_eq(vgpu_status_rec_encode(&s, buf, sizeof(buf)), -EINVAL);
	s = base(VGPU_PROGRESS_RUNNING); s.position = 1;    /* only queued has a position */
	ck_assert_int_eq(vgpu_status_rec_encode(&s, buf, sizeof(buf)), -EINVAL);
	s = base(VGPU_PROGRESS_QUEUED);
	ck_assert_int_eq(vgpu_status_rec_encode(&s, buf, 100), -ENOSPC);
}
END_TEST

/* BODY's field KEY replaced by LINE ("" drops it), sealed with a right end line. */
static int decode_with(const char *key, const char *line, char *err, size_t errlen)
{
	struct vgpu_status_rec s = base(VGPU_PROGRESS_QUEUED), out;
	char buf[1024], body[1024] = "", *p, *e;
	int len = vgpu_status_rec_encode(&s, buf, sizeof(buf));
	size_t n = 0;

	ck_assert_int_gt(len, 0);
	buf[len] = '\0';
	*strstr(buf, "end ") = '\0';
	for (p = buf; *p; p = e + 1) {
		e = strchr(p, '\n');
		if (strncmp(p, key, strlen(key)) == 0 && p[strlen(key)] == ' ')
			n += (size_t)snprintf(body + n, sizeof(body) - n, "%s", line);
		else
			n += (size_t)snprintf(body + n, sizeof(body) - n, "%.*s\n", (int)(e - p), p);
	}
	n += (size_t)snprintf(body + n, sizeof(body) - n, "end %zu %08" PRIx32 "\n", n, vgpu_crc32(body, n));
	return vgpu_status_rec_decode(body, n, &out, err, errlen);
}

START_TEST(test_malformed)
{
	static const struct { const char *key, *line, *why; } t[] = {
		{ "beat", "", "missing field 'beat'" },
		{ "beat", "beat 0\n", "beat: bad value" },
		{ "period_ms", "period_ms 0\n", "period_ms: bad value" },
		{ "state", "state done\n", "state: bad value" },
		{ "state", "state idle\n", "seq: 0 exactly when idle" },
		{ "seq", "seq 0\n", "seq: 0 exactly when idle" },
		{ "seq", "seq 017\n", "seq: bad value" },
		{ "nonce", "nonce 9F3A0C6E12B4D7A8\n", "nonce: bad value" },
		{ "priority", "priority urgent\n", "priority: bad value" },
		{ "cap", "cap\n", "expected 'key value'" },
		{ "position", "position -1\n", "position: bad value" },
		{ "executor", "executor a b\n", "executor: bad value" },
		{ "executor", "executor \n", "executor: bad value" },
		{ "vm", "vm 65536\n", "vm: bad value" },
		{ "answered", "answered 16\nanswered 17\n", "duplicate key 'answered'" },
		{ "answered", "answered 16\nextra 1\n", "unknown key 'extra'" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(decode_with(t[i].key, t[i].line, err, sizeof(err)) == VGPU_REC_MALFORMED, "%s", t[i].line);
		ck_assert_msg(strstr(err, t[i].why) != NULL, "%s: '%s', want '%s'", t[i].line, err, t[i].why);
	}
}
END_TEST

/* Every prefix is refused (INCOMPLETE for all but the empty one), every single bit flip
 * is refused (the CRC) - never decoded as another status. */
START_TEST(test_truncations_and_flips)
{
	struct vgpu_status_rec s = base(VGPU_PROGRESS_RUNNING), out;
	char buf[1024], m[1024];
	int len = vgpu_status_rec_encode(&s, buf, sizeof(buf));

	ck_assert_int_gt(len, 0);
	for (int cut = 0; cut < len; cut++)
		ck_assert_int_ne(vgpu_status_rec_decode(buf, (size_t)cut, &out, NULL, 0), VGPU_REC_OK);
	for (int i = 0; i < len; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(m, buf, (size_t)len);
			m[i] ^= (char)(1 << b);
			if (vgpu_status_rec_decode(m, (size_t)len, &out, NULL, 0) == VGPU_REC_OK)
				ck_abort_msg("flip of bit %d of byte %d accepted", b, i);
		}
}
END_TEST

static Suite *record_status_suite(void)
{
	Suite *s = suite_create("record_status");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_encode_refuses);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_truncations_and_flips);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(record_status_suite)
