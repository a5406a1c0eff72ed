/* test_faults.c - Check suite for nfssim's fault-rule parser and scheduler. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "../common/testutil.h"

static char err[256];

START_TEST(test_parse_nth)
{
	struct nfssim_fault f;
	ck_assert_int_eq(nfssim_fault_parse("write:EIO:nth=3", 0, &f, err, sizeof(err)), 0);
	ck_assert_int_eq(f.op, NFSSIM_OP_WRITE);
	ck_assert_int_eq(f.err, EIO);
	ck_assert_int_eq(f.when, NFSSIM_NTH);
	ck_assert_uint_eq(f.n, 3);
	int got[6];
	for (int i = 0; i < 6; i++)
		got[i] = nfssim_fault_check(&f, NFSSIM_OP_WRITE, "/x");
	ck_assert_int_eq(got[0], 0);
	ck_assert_int_eq(got[1], 0);
	ck_assert_int_eq(got[2], EIO);
	ck_assert_int_eq(got[3], 0);
	ck_assert_int_eq(got[5], 0);
	ck_assert_uint_eq(f.hits, 1);
	/* other ops do not count */
	ck_assert_int_eq(nfssim_fault_check(&f, NFSSIM_OP_READ, "/x"), 0);
	ck_assert_uint_eq(f.calls, 6);
}
END_TEST

START_TEST(test_parse_from_and_aliases)
{
	struct nfssim_fault f;
	ck_assert_int_eq(nfssim_fault_parse("close:ENOSPC:from=2:path=cmd", 0, &f, err, sizeof(err)), 0);
	ck_assert_int_eq(f.op, NFSSIM_OP_FLUSH);
	ck_assert_int_eq(nfssim_fault_check(&f, NFSSIM_OP_FLUSH, "/vm1/cmd.txt"), 0);
	ck_assert_int_eq(nfssim_fault_check(&f, NFSSIM_OP_FLUSH, "/vm1/other"), 0);
	ck_assert_int_eq(nfssim_fault_check(&f, NFSSIM_OP_FLUSH, "/vm1/cmd.txt"), ENOSPC);
	ck_assert_int_eq(nfssim_fault_check(&f, NFSSIM_OP_FLUSH, "/vm1/cmd.txt"), ENOSPC);
	ck_assert_int_eq(nfssim_fault_parse("any:ESTALE:nth=1", 0, &f, err, sizeof(err)), 0);
	ck_assert_int_eq(f.op, NFSSIM_OP_ANY);
	ck_assert_int_eq(nfssim_fault_check(&f, NFSSIM_OP_RENAME, "/a"), ESTALE);
	ck_assert_int_eq(nfssim_fault_parse("open:116:nth=1", 0, &f, err, sizeof(err)), 0);
	ck_assert_int_eq(f.err, 116);
}
END_TEST

START_TEST(test_parse_errors)
{
	struct nfssim_fault f;
	const char *bad[] = { "write", "write:EIO", "bogus:EIO:nth=1", "write:EWHAT:nth=1",
			      "write:EIO:nth=0", "write:EIO:nth=x", "write:EIO:prob=1.5",
			      "write:EIO:nth=1:prob=0.5", "write:EIO:nth=1:color=red" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(nfssim_fault_parse(bad[i], 0, &f, err, sizeof(err)) == -EINVAL,
			      "accepted %s", bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
	}
}
END_TEST

static unsigned pattern(uint64_t seed, char *out, int n)
{
	struct nfssim_fault f;
	unsigned hits = 0;
	ck_assert_int_eq(nfssim_fault_parse("read:EIO:prob=0.3", seed, &f, err, sizeof(err)), 0);
	for (int i = 0; i < n; i++) {
		out[i] = nfssim_fault_check(&f, NFSSIM_OP_READ, "/f") ? 'x' : '.';
		hits += out[i] == 'x';
	}
	out[n] = '\0';
	return hits;
}

START_TEST(test_prob_seeded)
{
	char a[201], b[201], c[201];
	unsigned ha = pattern(7, a, 200), hb = pattern(7, b, 200);
	pattern(8, c, 200);
	ck_assert_str_eq(a, b);          /* same seed, same schedule */
	ck_assert_str_ne(a, c);          /* another seed, another one */
	ck_assert_uint_eq(ha, hb);
	ck_assert_uint_gt(ha, 30);       /* about 60 of 200 */
	ck_assert_uint_lt(ha, 90);
}
END_TEST

START_TEST(test_format_roundtrip)
{
	struct nfssim_fault f, g;
	char buf[256];
	ck_assert_int_eq(nfssim_fault_parse("fsync:ETIMEDOUT:prob=0.25:seed=9:path=vm3", 0, &f,
					    err, sizeof(err)), 0);
	nfssim_fault_format(&f, buf, sizeof(buf));
	ck_assert_str_eq(buf, "fsync:ETIMEDOUT:prob=0.25:seed=9:path=vm3");
	ck_assert_int_eq(nfssim_fault_parse(buf, 0, &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.seed, 9);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("nfssim_faults");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_parse_nth);
	tcase_add_test(tc, test_parse_from_and_aliases);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_prob_seeded);
	tcase_add_test(tc, test_format_roundtrip);
	suite_add_tcase(s, tc);
	return tu_run(s, CK_ENV);
}
