/* test_log.c - log lines: "YYYY-MM-DDTHH:MM:SS.mmmZ TAG LEVEL: message", one write per
 * line, levels above the threshold dropped, level names parsed. */
#include <check.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "../common/testutil.h"

/* Run the log calls with stderr on a pipe; returns what was written (static). */
static const char *capture(void (*fn)(void))
{
	static char buf[8192];
	int p[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(dup2(p[1], STDERR_FILENO), 0);
	fn();
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void log_some(void)
{
	vgpu_log_set_tag("mediator");
	vgpu_log_set_level(VGPU_LOG_INFO);
	vgpu_warn("vm%d: open(%s): %s", 3, "command.txt", "Too many levels of symbolic links");
	vgpu_debug("dropped");
	vgpu_err("second");
}

START_TEST(test_format)
{
	const char *out = capture(log_some);
	regex_t re;

	ck_assert_int_eq(regcomp(&re,
				 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z mediator warn: "
				 "vm3: open\\(command\\.txt\\): Too many levels of symbolic links\n"
				 "[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z mediator err: second\n$",
				 REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "got: %s", out);
	regfree(&re);
	ck_assert_ptr_null(strstr(out, "dropped"));
}
END_TEST

static void log_long(void)
{
	static char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	vgpu_log_set_level(VGPU_LOG_DEBUG);
	vgpu_debug("%s", big);
}

START_TEST(test_long_line_truncated_with_newline)
{
	const char *out = capture(log_long);
	size_t n = strlen(out);

	ck_assert_uint_gt(n, 1000);
	ck_assert_uint_lt(n, 4096);
	ck_assert_int_eq(out[n - 1], '\n');
	ck_assert(strchr(out, '\n') == out + n - 1);     /* one line: a single '\n', at the end */
}
END_TEST

START_TEST(test_level_parse)
{
	ck_assert_int_eq(vgpu_log_level_parse("err"), VGPU_LOG_ERR);
	ck_assert_int_eq(vgpu_log_level_parse("warn"), VGPU_LOG_WARN);
	ck_assert_int_eq(vgpu_log_level_parse("info"), VGPU_LOG_INFO);
	ck_assert_int_eq(vgpu_log_level_parse("debug"), VGPU_LOG_DEBUG);
	ck_assert_int_eq(vgpu_log_level_parse("loud"), -1);
	ck_assert_int_eq(vgpu_log_level_parse(NULL), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("lines");

	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_long_line_truncated_with_newline);
	tcase_add_test(tc, test_level_parse);
	suite_add_tcase(s, tc);
	return tu_run(s, CK_ENV);
}
