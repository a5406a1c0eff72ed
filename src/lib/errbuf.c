/* errbuf.c - a failure's reason into the caller's buffer (errbuf.h). */
#include <stdio.h>

#include "errbuf.h"

int vgpu_verrbuf(char *err, size_t errlen, int rc, const char *fmt, va_list ap)
{
	if (err && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
	return rc;
}

int vgpu_errbuf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vgpu_verrbuf(err, errlen, rc, fmt, ap);
	va_end(ap);
	return rc;
}
