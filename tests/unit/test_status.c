/* test_status.c - the status code table: every code has a unique name that maps back,
 * and every name has a "### NAME" heading in docs/PROTOCOL.md (curl's test1175 rule:
 * an undocumented code fails the build). Run from the repo root or set VGPU_SRCDIR. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/status.h"
#include "../common/testutil.h"

START_TEST(test_every_code_has_a_name)
{
	for (int c = 0; c < VGPU_STATUS_COUNT; c++) {
		const char *n = vgpu_status_name(c);
		ck_assert_ptr_nonnull(n);
		ck_assert_str_ne(n, "UNKNOWN");
		ck_assert_int_gt((int)strlen(n), 0);
		for (int d = 0; d < c; d++)
			ck_assert_str_ne(n, vgpu_status_name(d));
	}
}
END_TEST

START_TEST(test_from_name_round_trips)
{
	for (int c = 0; c < VGPU_STATUS_COUNT; c++)
		ck_assert_int_eq(vgpu_status_from_name(vgpu_status_name(c)), c);
	ck_assert_int_eq(vgpu_status_from_name("UNKNOWN"), -1);
	ck_assert_int_eq(vgpu_status_from_name("ok"), -1);
	ck_assert_int_eq(vgpu_status_from_name(""), -1);
	ck_assert_int_eq(vgpu_status_from_name(NULL), -1);
	ck_assert_str_eq(vgpu_status_name(-1), "UNKNOWN");
	ck_assert_str_eq(vgpu_status_name(VGPU_STATUS_COUNT), "UNKNOWN");
	ck_assert_str_eq(vgpu_status_name(VGPU_CONFLICT), "CONFLICT");
	ck_assert_int_eq(VGPU_UNAVAILABLE, 13);
}
END_TEST

static char *read_protocol_doc(void)
{
	const char *dir = getenv("VGPU_SRCDIR");
	char path[4096];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", dir && dir[0] ? dir : ".");
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s (run from the repo root or set VGPU_SRCDIR)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_gt(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 2);
	ck_assert_ptr_nonnull(buf);
	buf[0] = '\n';          /* so that a heading on the first line is found too */
	ck_assert_int_eq(fread(buf + 1, 1, (size_t)n, f), (size_t)n);
	buf[n + 1] = '\0';
	fclose(f);
	return buf;
}

/* "\n### NAME\n" (trailing spaces tolerated) appears in DOC. */
static int has_heading(const char *doc, const char *name)
{
	char pat[128];
	const char *p = doc;
	size_t plen;

	snprintf(pat, sizeof(pat), "\n### %s", name);
	plen = strlen(pat);
	while ((p = strstr(p, pat)) != NULL) {
		const char *q = p + plen;
		while (*q == ' ')
			q++;
		if (*q == '\n' || *q == '\r' || *q == '\0')
			return 1;
		p += plen;
	}
	return 0;
}

START_TEST(test_every_code_is_documented)
{
	char *doc = read_protocol_doc();
	int missing = 0;

	for (int c = 0; c < VGPU_STATUS_COUNT; c++)
		if (!has_heading(doc, vgpu_status_name(c))) {
			fprintf(stderr, "docs/PROTOCOL.md: no '### %s' heading for status %d\n",
				vgpu_status_name(c), c);
			missing++;
		}
	/* The checker itself must be able to fail. */
	ck_assert(!has_heading(doc, "NO_SUCH_STATUS"));
	ck_assert(!has_heading(doc, "BAD"));   /* prefix of BAD_REQUEST is not a heading */
	free(doc);
	ck_assert_int_eq(missing, 0);
}
END_TEST

static Suite *status_suite(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("table");

	tcase_add_test(tc, test_every_code_has_a_name);
	tcase_add_test(tc, test_from_name_round_trips);
	tcase_add_test(tc, test_every_code_is_documented);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(status_suite)
