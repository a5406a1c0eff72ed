/* naive_fscanf_reader.c - fopen/fscanf/atoi, as a first draft would read command.txt;
 * see naive_fscanf_reader.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "naive_fscanf_reader.h"

int naive_fscanf_read(const char *path, struct naive_cmd *cmd)
{
	char key[32], val[64];
	FILE *f = fopen(path, "r");
	float *a;

	memset(cmd, 0, sizeof(*cmd));
	if (!f)
		return -1;
	while (fscanf(f, "%s %s", key, val) == 2) {   /* no field width: any long token overflows */
		if (strcmp(key, "vm") == 0)
			cmd->vm = atoi(val);
		else if (strcmp(key, "seq") == 0)
			cmd->seq = atoi(val);
		else if (strcmp(key, "n") == 0)
			cmd->n = atoi(val);
		else if (strcmp(key, "op") == 0)
			strcpy(cmd->op, val);
		else if (strcmp(key, "priority") == 0)
			strcpy(cmd->prio, val);
	}
	fclose(f);
	if (!cmd->op[0] || cmd->n == 0)
		return 0;
	/* "allocate the job's vector": n from atoi, unchecked */
	a = malloc((size_t)cmd->n * sizeof(float));
	a[0] = 1.0f;
	a[cmd->n - 1] = 2.0f;
	cmd->first = a[0];
	free(a);
	return 1;
}
