/* vgpu-doctor - diagnose a deployment before its first request fails: the Dom0 side
 * (--root: the export and its VM directories) or a VM's side (--dir: the mounted VM
 * directory). Prints one line per check with the fix for each problem it finds.
 * The checks are those of ERRORS_LOG.txt errors 1, 2, 5 and 6. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libgen.h>

#include "lib/safeio.h"
#include "lib/version.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef NFS_SUPER_MAGIC
#define NFS_SUPER_MAGIC 0x6969
#endif
#define FUSE_SUPER_MAGIC 0x65735546UL

static int warnings, errors;

static void ok(const char *what, const char *detail)
{
	printf("ok    %s%s\n", what, detail);
}

static void problem(int is_error, const char *what, const char *fix)
{
	printf("%s %s\n      fix: %s\n", is_error ? "ERROR" : "warn ", what, fix);
	if (is_error)
		errors++;
	else
		warnings++;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: vgpu-doctor --root DIR [--state DIR]   (in Dom0: the export)\n"
"       vgpu-doctor --dir DIR/vmN              (in a VM: its mounted directory)\n"
"Checks a deployment and prints the fix for each problem found.\n"
"\n"
"  --root DIR    the directory vgpu-mediator serves (the NFS export)\n"
"  --state DIR   the mediator's state directory (checked to be outside the export)\n"
"  --dir DIR     a VM's directory as the VM sees it (over NFS)\n"
"  --sanity      also run cuda-sanity (next to this program) and report its verdict\n"
"  -h, --help    this text\n"
"\n"
"Exit status: 0 no problem, 1 warnings only, 2 usage error, 3 errors.\n");
}

static int is_vm_name(const char *n)
{
	char *end;
	unsigned long v;

	if (strncmp(n, "vm", 2) != 0 || n[2] < '1' || n[2] > '9')
		return 0;
	v = strtoul(n + 2, &end, 10);
	return *end == '\0' && v <= 65535;
}

/* realpath() that also works for a path whose last component does not exist yet. */
static char *resolve(const char *path, char out[PATH_MAX])
{
	char a[PATH_MAX], b[PATH_MAX], dir[PATH_MAX];

	if (realpath(path, out))
		return out;
	snprintf(a, sizeof(a), "%s", path);
	snprintf(b, sizeof(b), "%s", path);
	if (!realpath(dirname(a), dir))
		return NULL;
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, basename(b)) >= PATH_MAX)
		return NULL;
	return out;
}

static void check_root(const char *root, const char *state)
{
	struct statfs sfs;
	struct stat st;
	char real[PATH_MAX], sreal[PATH_MAX], line[PATH_MAX + 200];
	DIR *d;
	struct dirent *e;
	int vms = 0;

	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(line, sizeof(line), "--root %s: %s", root, errno ? strerror(errno) : "not a directory");
		problem(1, line, "create it on a real file system: mkdir -p /var/vgpu");
		return;
	}
	if (statfs(root, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
		snprintf(line, sizeof(line), "%s is on tmpfs: knfsd refuses to export it without fsid= (ERRORS_LOG error 2)",
			 root);
		problem(1, line, "export a directory on a real file system (/var/vgpu) and symlink "
			"/dev/shm/vgpu -> /var/vgpu; or add fsid=N to the export line");
	} else {
		ok(root, " is not on tmpfs: it can be exported");
	}
	if (state && realpath(root, real) && resolve(state, sreal) &&
	    strncmp(sreal, real, strlen(real)) == 0 && (sreal[strlen(real)] == '/' || sreal[strlen(real)] == 0)) {
		snprintf(line, sizeof(line), "--state %s is inside the export %s: VMs could read or alter it", state, root);
		problem(1, line, "keep the state on local disk outside the export, e.g. /var/lib/vgpu-mediator");
	}
	if (!(d = opendir(root)))
		return;
	while ((e = readdir(d))) {
		char p[PATH_MAX];

		if (!is_vm_name(e->d_name))
			continue;
		snprintf(p, sizeof(p), "%s/%s", root, e->d_name);
		if (lstat(p, &st) < 0)
			continue;
		vms++;
		if (S_ISLNK(st.st_mode)) {
			snprintf(line, sizeof(line), "%s is a symbolic link: the mediator does not follow it", p);
			problem(1, line, "make each vmN a real directory inside the export");
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		/* root_squash maps the VM's root to 65534 (knfsd; ganesha: 4294967294): the
		 * directory must be writable by that uid, or by everyone. */
		if ((st.st_mode & S_IWOTH) || ((st.st_uid == 65534 || st.st_uid == 4294967294u) && (st.st_mode & S_IWUSR))) {
			ok(p, " can be written by the VM's (squashed) user");
		} else {
			snprintf(line, sizeof(line), "%s is owned by uid %u, mode %03o: with root_squash (the default) the "
				 "VM's root is mapped to 65534 and cannot write it (ERRORS_LOG error 6)", p,
				 (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
			problem(0, line, "chown 65534:65534 on it (or the uid your export's anonuid names); avoid "
				"no_root_squash, which makes the VM's root Dom0's root on the export");
		}
	}
	closedir(d);
	if (!vms)
		problem(1, "no vmN directories under the root: no VM can send anything",
			"mkdir /var/vgpu/vm1 (one per VM) and give it to the squashed uid");
}

static void check_dir(const char *dir)
{
	struct statfs sfs;
	struct stat st;
	char line[PATH_MAX + 200];
	int dfd, rc;

	if (stat(dir, &st) < 0) {
		snprintf(line, sizeof(line), "%s: %s: the export is probably not mounted (ERRORS_LOG error 1)", dir,
			 strerror(errno));
		problem(1, line, "mount -t nfs -o hard,lookupcache=positive,acdirmin=1,acdirmax=1 "
			"dom0:/var/vgpu /mnt/vgpu; if that says 'access denied by server', run exportfs -rav "
			"on Dom0 and check the client list");
		return;
	}
	if (statfs(dir, &sfs) == 0) {
		if (sfs.f_type == NFS_SUPER_MAGIC)
			ok(dir, " is on NFS");
		else if ((unsigned long)sfs.f_type == FUSE_SUPER_MAGIC)
			ok(dir, " is on a FUSE file system (a simulator?)");
		else
			problem(0, "the directory is not on NFS: is the export mounted here, or is this a local "
				"directory of the same name?", "mount the export over it (see docs/XEN.md)");
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(line, sizeof(line), "open %s: %s", dir, strerror(errno));
		problem(1, line, "check the path and its permissions");
		return;
	}
	/* A real publish, as the client does it: proves create, write, fsync, rename. */
	rc = vgpu_publish(dfd, "vgpu-doctor.probe", "probe\n", 6, 0644);
	if (rc == -EACCES || rc == -EPERM) {
		snprintf(line, sizeof(line), "cannot create files in %s (%s): root_squash is the likely cause "
			 "(ERRORS_LOG error 6)", dir, vgpu_safeio_strerror(rc));
		problem(1, line, "on Dom0: chown 65534:65534 /var/vgpu/vmN (the squashed uid), or run the client "
			"as that uid");
	} else if (rc < 0) {
		snprintf(line, sizeof(line), "publishing a file in %s failed: %s", dir, vgpu_safeio_strerror(rc));
		problem(1, line, "check the mount (hard, rw) and free space on Dom0");
	} else {
		unlinkat(dfd, "vgpu-doctor.probe", 0);
		ok(dir, ": create, write, fsync and rename work");
	}
	if (faccessat(dfd, "response.txt", R_OK, 0) == 0 || errno == ENOENT)
		ok(dir, ": response.txt readable (or not there yet)");
	else
		problem(1, "response.txt exists but cannot be read", "check its owner and the export's squash");
	close(dfd);
}

static void check_sanity(const char *argv0)
{
	char self[PATH_MAX], path[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int st;

	if (n <= 0)
		snprintf(self, sizeof(self), "%s", argv0);
	else
		self[n] = '\0';
	snprintf(path, sizeof(path), "%s/cuda-sanity", dirname(self));
	pid_t pid = fork();
	if (pid == 0) {
		execl(path, "cuda-sanity", (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		problem(0, "cuda-sanity failed (its output is above): CUDA does not work here (ERRORS_LOG error 5)",
			"run the mediator with --executor auto --fallback remote:DIR (Plan B: a GPU worker VM) "
			"or --fallback mock; do not force CUDA");
	} else {
		ok("cuda-sanity", ": CUDA works here");
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "root", required_argument, 0, 'r' }, { "state", required_argument, 0, 's' },
		{ "dir", required_argument, 0, 'd' }, { "sanity", no_argument, 0, 'c' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	const char *root = NULL, *state = NULL, *dir = NULL;
	int c, sanity = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("vgpu-doctor %s\n", VGPU_VERSION);
		return 0;
	}
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'r': root = optarg; break;
		case 's': state = optarg; break;
		case 'd': dir = optarg; break;
		case 'c': sanity = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (!root == !dir)) {
		fprintf(stderr, "vgpu-doctor: give exactly one of --root and --dir\n");
		usage(stderr);
		return 2;
	}
	if (root)
		check_root(root, state);
	else
		check_dir(dir);
	if (sanity)
		check_sanity(argv[0]);
	printf("%d error%s, %d warning%s\n", errors, errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
	return errors ? 3 : warnings ? 1 : 0;
}
