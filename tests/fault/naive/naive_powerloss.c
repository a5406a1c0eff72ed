/* naive_powerloss.c - rename without fsync; see naive_powerloss.h. */
#include <errno.h>
#include <stdio.h>

#include "naive_powerloss.h"

int naive_publish_nofsync(const char *dir, const char *name, const char *text)
{
	char tmp[600], path[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/.tmp-naive-%s", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(tmp, "w")))
		return -errno;
	fprintf(f, "%s", text);
	if (fclose(f) != 0)
		return -errno;
	return rename(tmp, path) < 0 ? -errno : 0;
}
