/* errbuf.h - a failure's reason into the caller's ERR buffer: library code never prints
 * (STYLE.md "Errors"); it returns a code and may fill the caller's char err[]. */
#ifndef VGPU_ERRBUF_H
#define VGPU_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* Format FMT into ERR (ERRLEN bytes, NUL-terminated, truncated when longer; nothing
 * when ERR is NULL or ERRLEN 0) and return RC. Can't fail. */
int vgpu_errbuf(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int vgpu_verrbuf(char *err, size_t errlen, int rc, const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

#endif
