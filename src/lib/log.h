/* log.h - the daemon's log: one line per event, to stderr (or syslog).
 *
 * Library code (src/lib, src/client) never logs; it returns codes and fills err[].
 * Only the mediator, the executors' worker processes and the commands log. */
#ifndef VGPU_LOG_H
#define VGPU_LOG_H

#include <stdarg.h>

enum vgpu_log_level { VGPU_LOG_ERR = 3, VGPU_LOG_WARN = 4, VGPU_LOG_INFO = 6, VGPU_LOG_DEBUG = 7 };

/* Lines above LEVEL are dropped. Default VGPU_LOG_INFO. */
void vgpu_log_set_level(int level);
/* Would a line at LEVEL be written? (To skip building what only a log line uses.) */
int vgpu_log_enabled(int level);
/* "err", "warn", "info", "debug" -> level; -1 if unknown. */
int vgpu_log_level_parse(const char *name);
/* Also send lines to syslog(3) under IDENT. */
void vgpu_log_use_syslog(const char *ident);
/* Prefix every line with TAG (e.g. "mediator", "worker0"). TAG must outlive its use. */
void vgpu_log_set_tag(const char *tag);

/* Is stderr journald's stream (JOURNAL_STREAM)? Then each line is "<4>mediator warn: ..."
 * (journald stores the priority and adds the time) and --syslog adds nothing. */
int vgpu_log_to_journal(void);

/* "2026-11-28T15:42:09.123Z mediator warn: vm3: open(command.txt): Too many levels of symbolic links" */
void vgpu_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vgpu_vlog(int level, const char *fmt, va_list ap);

#define vgpu_err(...)   vgpu_log(VGPU_LOG_ERR, __VA_ARGS__)
#define vgpu_warn(...)  vgpu_log(VGPU_LOG_WARN, __VA_ARGS__)
#define vgpu_info(...)  vgpu_log(VGPU_LOG_INFO, __VA_ARGS__)
#define vgpu_debug(...) vgpu_log(VGPU_LOG_DEBUG, __VA_ARGS__)

#endif
