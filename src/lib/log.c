/* log.c - the daemon's log: "TIMESTAMP TAG LEVEL: message" lines to stderr, optionally
 * also to syslog(3). Each line is formatted in full and written with one write(2), so
 * lines from concurrent processes sharing stderr do not interleave. When stderr is
 * journald's stream (JOURNAL_STREAM names it), lines carry the syslog priority as a
 * "<N>" prefix instead of a timestamp, and syslog(3) is not used as well: the journal
 * would hold every line twice. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = VGPU_LOG_INFO;
static int log_syslog;
static const char *log_tag = "vgpu";

void vgpu_log_set_level(int level)
{
	log_level = level;
}

int vgpu_log_enabled(int level)
{
	return level <= log_level;
}

int vgpu_log_level_parse(const char *name)
{
	static const struct { const char *name; int level; } names[] = {
		{ "err", VGPU_LOG_ERR }, { "error", VGPU_LOG_ERR },
		{ "warn", VGPU_LOG_WARN }, { "warning", VGPU_LOG_WARN },
		{ "info", VGPU_LOG_INFO }, { "debug", VGPU_LOG_DEBUG },
	};
	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].name, name) == 0)
			return names[i].level;
	return -1;
}

void vgpu_log_use_syslog(const char *ident)
{
	openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
}

void vgpu_log_set_tag(const char *tag)
{
	log_tag = tag ? tag : "vgpu";
}

static const char *level_name(int level)
{
	switch (level) {
	case VGPU_LOG_ERR: return "err";
	case VGPU_LOG_WARN: return "warn";
	case VGPU_LOG_INFO: return "info";
	case VGPU_LOG_DEBUG: return "debug";
	default: return level < VGPU_LOG_ERR ? "crit" : "debug";
	}
}

int vgpu_log_to_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void vgpu_vlog(int level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t off, msg;
	int n, saved = errno;
	va_list ap2;

	int journal;

	if (level > log_level)
		return;
	journal = vgpu_log_to_journal();
	if (journal) {
		off = 0;
		n = snprintf(line, sizeof(line), "<%d>%s %s: ", level < 0 ? LOG_CRIT : level, log_tag,
			     level_name(level));
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + off, sizeof(line) - off, ".%03ldZ %s %s: ",
			     ts.tv_nsec / 1000000L, log_tag, level_name(level));
	}
	if (n > 0)
		off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;
	msg = off;
	va_copy(ap2, ap);
	n = vsnprintf(line + off, sizeof(line) - off, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(line) - off - 1)
		off = sizeof(line) - 2;        /* truncated: keep room for '\n' */
	else
		off += (size_t)n;
	line[off++] = '\n';
	line[off] = '\0';

	/* One write per line; a short write to a pipe or tty is retried, an error dropped. */
	for (size_t done = 0; done < off;) {
		ssize_t w = write(STDERR_FILENO, line + done, off - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (log_syslog && !journal) {
		line[off - 1] = '\0';
		/* The message part only: syslog adds its own time and ident. */
		syslog(level < 0 ? LOG_CRIT : level, "%s", line + msg);
	}
	errno = saved;
}

void vgpu_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vgpu_vlog(level, fmt, ap);
	va_end(ap);
}
