/* vgpu-doctor - diagnose a deployment before its first request fails: the Dom0 side
 * (--root: the export and its VM directories) or a VM's side (--dir: the mounted VM
 * directory). Prints one line per check with the fix for each problem it finds.
 * The checks are those of ERRORS_LOG.txt errors 1, 2, 5 and 6, and VM isolation
 * (docs/SECURITY.md): one export per VM squashed to its own uid, vmN/ owned by that uid
 * with mode 0700 (read from /etc/exports or --exports FILE); the state directory; names
 * like vm01 that the mediator ignores; in a VM, the NFS mount's options (hard,
 * lookupcache, the attribute cache) and a --dir that is the export's root.
 * VGPU_DOCTOR_MOUNTINFO=FILE reads FILE instead of /proc/self/mountinfo (for tests). */
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
"Usage: vgpu-doctor --root DIR [--state DIR] [--exports FILE] [--vm-uid N:UID]...   (in Dom0)\n"
"       vgpu-doctor --dir DIR/vmN              (in a VM: its mounted directory)\n"
"Checks a deployment and prints the fix for each problem found.\n"
"\n"
"  --root DIR    the directory vgpu-mediator serves (the NFS export)\n"
"  --state DIR   the mediator's state directory (checked to be outside the export)\n"
"  --exports FILE  the NFS server's exports (default /etc/exports): one export per VM,\n"
"                all_squash with its own anonuid, matching vmN/'s owner\n"
"  --vm-uid N:UID  the uid the mediator is told for VM N (--vm N:PRIO:UID); repeatable\n"
"  --dir DIR     a VM's directory as the VM sees it (over NFS; its mount options checked)\n"
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

/* "vm" and digits, but not a name the mediator serves (vm0, vm01, vm70000): ignored. */
static int is_vm_lookalike(const char *n)
{
	return strncmp(n, "vm", 2) == 0 && n[2] && strspn(n + 2, "0123456789") == strlen(n + 2) && !is_vm_name(n);
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

/* --- exports (exports(5)): "PATH CLIENT(OPTS) CLIENT(OPTS) ..." ------------------ */

#define MAX_EXPORTS 512
#define MAX_VMS 65536

struct export_line {
	char path[PATH_MAX];
	char opts[1024];             /* every client's options, comma-joined */
	int lineno;
};

static struct export_line *exports;
static int nexports;
static long vm_uid[MAX_VMS];     /* from --vm-uid; -1 unknown */

/* Read FILE; 0, or -errno. Continuation lines and comments handled; quoted paths not. */
static int read_exports(const char *file)
{
	char line[4096], joined[8192] = "";
	FILE *f = fopen(file, "r");
	int lineno = 0, start = 0;

	if (!f)
		return -errno;
	exports = calloc(MAX_EXPORTS, sizeof(*exports));
	if (!exports) {
		fclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		char *p, *tok, *save;
		struct export_line *e;

		lineno++;
		if (!joined[0])
			start = lineno;
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if ((p = strchr(line, '#')))
			*p = '\0';
		n = strlen(line);
		if (n && line[n - 1] == '\\') {
			line[n - 1] = ' ';
			strncat(joined, line, sizeof(joined) - strlen(joined) - 1);
			continue;
		}
		strncat(joined, line, sizeof(joined) - strlen(joined) - 1);
		tok = strtok_r(joined, " \t", &save);
		if (!tok || tok[0] != '/' || nexports == MAX_EXPORTS) {
			joined[0] = '\0';
			continue;
		}
		e = &exports[nexports++];
		snprintf(e->path, sizeof(e->path), "%s", tok);
		e->lineno = start;
		while ((tok = strtok_r(NULL, " \t", &save))) {
			char *o = strchr(tok, '(');

			if (tok[0] == '-')      /* default options for the line */
				o = tok;
			if (o) {
				size_t l = strlen(e->opts);
				snprintf(e->opts + l, sizeof(e->opts) - l, "%s%.*s", l ? "," : "",
					 (int)strcspn(o + (o[0] == '(' || o[0] == '-'), ")"), o + (o[0] == '(' || o[0] == '-'));
			}
		}
		joined[0] = '\0';
	}
	fclose(f);
	return 0;
}

/* Does the comma list OPTS hold KEY (or KEY=..., value into VAL)? */
static int has_opt(const char *opts, const char *key, long *val)
{
	size_t kl = strlen(key);

	for (const char *p = opts; *p;) {
		size_t l = strcspn(p, ",");

		if (l >= kl && strncmp(p, key, kl) == 0 && (l == kl || p[kl] == '=')) {
			if (val)
				*val = p[kl] == '=' ? strtol(p + kl + 1, NULL, 10) : -1;
			return 1;
		}
		p += l + (p[l] == ',');
	}
	return 0;
}

/* The export line whose path resolves to PATH, or NULL. */
static const struct export_line *export_of(const char *path)
{
	char r[PATH_MAX];

	for (int i = 0; i < nexports; i++)
		if (realpath(exports[i].path, r) && strcmp(r, path) == 0)
			return &exports[i];
	return NULL;
}

/* Exports at or above ROOT (realpath), which hand every vmN/ to any VM they admit. */
static int check_exports_above(const char *real)
{
	char r[PATH_MAX], line[PATH_MAX * 2 + 300];
	int found = 0;

	for (int i = 0; i < nexports; i++) {
		size_t l;

		if (!realpath(exports[i].path, r))
			continue;
		l = strlen(r);
		if (strcmp(r, "/") == 0 || (strncmp(real, r, l) == 0 && (real[l] == '/' || real[l] == '\0'))) {
			found++;
			snprintf(line, sizeof(line), "exports line %d exports %s, which holds every vmN/: every VM it admits "
				 "can write and read every other VM's directory (it can act as any VM)", exports[i].lineno,
				 exports[i].path);
			problem(1, line, "remove it; export each vmN/ on its own line, squashed to its own uid (below)");
		}
	}
	return found;
}

/* The state directory: there (or creatable), a directory, not on tmpfs. */
static void check_state(const char *state)
{
	struct statfs sfs;
	struct stat st;
	char line[2 * PATH_MAX + 300], fix[2 * PATH_MAX + 100], parent[PATH_MAX];

	if (stat(state, &st) < 0) {
		int e = errno;

		snprintf(parent, sizeof(parent), "%s", state);
		if (e == ENOENT && stat(dirname(parent), &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(line, sizeof(line), "--state %s does not exist: the mediator creates it (mode 0700) at its "
				 "start", state);
			snprintf(fix, sizeof(fix), "nothing to do; or mkdir -m 0700 %s (under systemd, StateDirectory= "
				 "makes /var/lib/vgpu-mediator)", state);
			problem(0, line, fix);
		} else {
			snprintf(line, sizeof(line), "--state %s: %s: the mediator cannot create it and will not start",
				 state, strerror(e));
			snprintf(fix, sizeof(fix), "mkdir -p -m 0700 %s", state);
			problem(1, line, fix);
		}
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(line, sizeof(line), "--state %s is not a directory: the mediator will not start (exit 3)", state);
		snprintf(fix, sizeof(fix), "move %s away, or give a directory on local disk (/var/lib/vgpu-mediator)",
			 state);
		problem(1, line, fix);
		return;
	}
	if (statfs(state, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
		snprintf(line, sizeof(line), "--state %s is on tmpfs: a reboot forgets which requests were answered, "
			 "and a request still in its vmN/ is run a second time", state);
		problem(1, line, "keep the state on local disk, e.g. /var/lib/vgpu-mediator");
		return;
	}
	ok(state, ": the state directory is a directory on a persistent file system");
}

static void check_root(const char *root, const char *state, const char *exports_file)
{
	struct statfs sfs;
	struct stat st;
	char real[PATH_MAX], sreal[PATH_MAX], line[2 * PATH_MAX + 400], fix[3 * PATH_MAX + 300];
	DIR *d;
	struct dirent *e;
	int vms = 0;

	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(line, sizeof(line), "--root %s: %s", root, errno ? strerror(errno) : "not a directory");
		problem(1, line, "create it on a real file system: mkdir -p /var/vgpu");
		return;
	}
	if (statfs(root, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
		snprintf(line, sizeof(line), "%s is on tmpfs: its contents are lost at a reboot, and some NFS servers "
			 "export it only with fsid= (ERRORS_LOG error 2)",
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
	if (state)
		check_state(state);
	{
		const char *f = exports_file ? exports_file : "/etc/exports";
		int rc = read_exports(f);

		if (rc < 0 && exports_file) {
			snprintf(line, sizeof(line), "--exports %s: %s", exports_file, strerror(-rc));
			problem(1, line, "give the NFS server's exports file");
		} else if (rc == 0 && realpath(root, real)) {
			int relevant = 0;
			char r[PATH_MAX];

			for (int i = 0; i < nexports; i++)
				if (realpath(exports[i].path, r) && (strncmp(r, real, strlen(real)) == 0 ||
								     strncmp(real, r, strlen(r)) == 0))
					relevant++;
			if (!relevant && !exports_file) {
				printf("note  %s exports nothing at or below %s: exports not checked (--exports FILE)\n",
				       f, root);
				nexports = 0;
			} else if (!check_exports_above(real)) {
				ok(f, ": nothing exports the whole root");
			}
		}
	}
	if (!(d = opendir(root)))
		return;
	{
		/* owners seen, to find two VMs with one uid */
		static long owner_of[MAX_VMS];
		unsigned long n;

		for (n = 0; n < MAX_VMS; n++)
			owner_of[n] = -1;
	while ((e = readdir(d))) {
		char p[PATH_MAX], rp[PATH_MAX];
		const struct export_line *x;
		long want = -1, anon = -1;
		unsigned long id;

		if (is_vm_lookalike(e->d_name)) {
			snprintf(line, sizeof(line), "%s/%s: the mediator ignores this name (it serves vmN, N in 1..65535 "
				 "without leading zeros)", root, e->d_name);
			n = strtoul(e->d_name + 2, NULL, 10);
			if (n >= 1 && n < MAX_VMS)
				snprintf(fix, sizeof(fix), "rename it: mv %s/%s %s/vm%lu (and the VM's mount with it)",
					 root, e->d_name, root, n);
			else
				snprintf(fix, sizeof(fix), "rename it to vmN with N in 1..65535");
			problem(0, line, fix);
			continue;
		}
		if (!is_vm_name(e->d_name))
			continue;
		id = strtoul(e->d_name + 2, NULL, 10);
		snprintf(p, sizeof(p), "%s/%s", root, e->d_name);
		if (lstat(p, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			snprintf(line, sizeof(line), "%s is a symbolic link: the mediator does not follow it", p);
			problem(1, line, "make each vmN a real directory inside the export");
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;      /* a file: not a VM directory, not counted */
		vms++;
		for (n = 0; n < MAX_VMS; n++)
			if (n != id && owner_of[n] == (long)st.st_uid) {
				snprintf(line, sizeof(line), "%s and vm%lu/ are both owned by uid %u: whatever reaches the server "
					 "as that uid can write both (each VM can act as the other)", p, n, (unsigned)st.st_uid);
				problem(1, line, "give each VM its own uid: one export per VM with all_squash,anonuid=U_N, "
					"chown U_N vmN/ (docs/XEN.md)");
				break;
			}
		owner_of[id] = (long)st.st_uid;
		want = vm_uid[id];
		if (nexports && realpath(p, rp)) {
			x = export_of(rp);
			if (!x) {
				snprintf(line, sizeof(line), "%s has no export line of its own", p);
				snprintf(fix, sizeof(fix), "add '%s <vm%lu-address>(rw,sync,all_squash,anonuid=U,anongid=U,"
					 "no_subtree_check)' with U the VM's own uid; exportfs -rav", p, id);
				problem(1, line, fix);
			} else if (has_opt(x->opts, "no_root_squash", NULL) || !has_opt(x->opts, "all_squash", NULL) ||
				   !has_opt(x->opts, "anonuid", &anon) || anon < 0) {
				snprintf(line, sizeof(line), "the export of %s (line %d: %.200s) does not squash every user of the "
					 "VM to one uid of its own", p, x->lineno, x->opts);
				problem(1, line, "use all_squash,anonuid=U,anongid=U (U: this VM's uid, no other VM's), "
					"never no_root_squash");
			} else {
				if (want >= 0 && want != anon) {
					snprintf(line, sizeof(line), "%s: its export squashes to uid %ld, the mediator is told %ld",
						 p, anon, want);
					problem(1, line, "make --vm N:PRIO:UID the export's anonuid");
				}
				want = anon;
				ok(p, ": exported on its own, all_squash to its own uid");
			}
		}
		if (want >= 0) {
			/* the isolation layout: owned by the VM's uid, mode 0700 */
			if ((long)st.st_uid != want) {
				snprintf(line, sizeof(line), "%s is owned by uid %u, but the VM's uid is %ld: the VM cannot "
					 "write it, and the mediator refuses it (WRONG_OWNER)", p, (unsigned)st.st_uid, want);
				snprintf(fix, sizeof(fix), "chown %ld:%ld %s && chmod 0700 %s", want, want, p, p);
				problem(1, line, fix);
			} else if (st.st_mode & 0077) {
				snprintf(line, sizeof(line), "%s is mode %03o: other uids (other VMs) can reach into it", p,
					 (unsigned)(st.st_mode & 0777));
				snprintf(fix, sizeof(fix), "chmod 0700 %s", p);
				problem(0, line, fix);
			} else {
				ok(p, ": owned by the VM's uid, mode 0700");
			}
			continue;
		}
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
	}
	closedir(d);
	if (!vms)
		problem(1, "no vmN directories under the root: no VM can send anything",
			"mkdir /var/vgpu/vm1 (one per VM) and give it to the squashed uid");
}

/* The mount holding PATH (realpath): the mountinfo line whose mount point is its longest
 * prefix (the last such line: later mounts hide earlier ones). Its type into TYPE, its
 * options (per mount, then the file system's) into OPTS; 0, or -1 when none is found. */
static int mount_of(const char *path, char type[64], char opts[2048])
{
	const char *file = getenv("VGPU_DOCTOR_MOUNTINFO");
	char line[4096], mp[PATH_MAX];
	size_t best = 0;
	FILE *f = fopen(file && *file ? file : "/proc/self/mountinfo", "re");
	int found = -1;

	if (!f)
		return -1;
	/* "36 35 98:0 /root /mnt/point rw,noatime shared:1 - nfs4 dom0:/x rw,vers=4.2,hard,..." */
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), *o, *q;
		char t[64], mopts[1024], sopts[1024], src[1024];
		size_t l;

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s %1023s", mp, mopts) != 2 || sscanf(sep + 3, "%63s %1023s %1023s", t, src, sopts) != 3)
			continue;
		/* mount points escape blanks as \040 and the like */
		for (o = q = mp; *q; q++)
			if (q[0] == '\\' && q[1] >= '0' && q[1] <= '3' && q[2] && q[3]) {
				*o++ = (char)((q[1] - '0') * 64 + (q[2] - '0') * 8 + (q[3] - '0'));
				q += 3;
			} else {
				*o++ = *q;
			}
		*o = '\0';
		l = strlen(mp);
		if (strcmp(mp, "/") == 0)
			l = 0;
		else if (strncmp(path, mp, l) != 0 || (path[l] != '/' && path[l] != '\0'))
			continue;
		if (l >= best) {
			best = l;
			found = 0;
			snprintf(type, 64, "%s", t);
			snprintf(opts, 2048, "%s,%s", mopts, sopts);
		}
	}
	fclose(f);
	return found;
}

/* In a VM: the NFS mount's options, each problem with its fix, then the whole mount. */
static void check_nfs_options(const char *dir, const char *opts)
{
	char line[PATH_MAX + 400];
	long v = -1, n = 0;
	int probs = 0;

	if (has_opt(opts, "soft", NULL) || has_opt(opts, "softerr", NULL)) {
		snprintf(line, sizeof(line), "%s is mounted soft: when Dom0 is slow to answer, a write fails half-way "
			 "(EIO) and the request is lost or torn", dir);
		problem(1, line, "mount it hard (the mount below)");
		probs++;
	}
	if (!(strstr(opts, "lookupcache=pos") || strstr(opts, "lookupcache=none"))) {
		snprintf(line, sizeof(line), "%s is mounted without lookupcache=positive: a response.txt that was "
			 "missing a moment ago stays missing in the negative lookup cache, and the client times out",
			 dir);
		problem(0, line, "add lookupcache=positive (the mount below)");
		probs++;
	}
	/* the kernel shows acdirmax only when it differs from its default, 60 s */
	if (has_opt(opts, "noac", NULL))
		v = 0;
	else if (!has_opt(opts, "acdirmax", &v))
		v = 60;
	if (has_opt(opts, "actimeo", &n) && n >= 0)
		v = n;
	if (v > 3) {
		snprintf(line, sizeof(line), "%s caches directory attributes up to %ld s (acdirmax; actimeo sets it "
			 "too): a new response.txt can stay unseen that long", dir, v);
		problem(0, line, "add acdirmin=1,acdirmax=1 (the mount below)");
		probs++;
	}
	if (probs)
		printf("      the mount (docs/XEN.md): umount %s; mount -t nfs -o hard,lookupcache=positive,"
		       "acdirmin=1,acdirmax=1 dom0:/var/vgpu/vmN %s\n", dir, dir);
	else
		ok(dir, ": mounted hard, lookupcache=positive, directory attributes cached <= 3 s");
}

static void check_dir(const char *dir)
{
	struct statfs sfs;
	struct stat st;
	char line[2 * PATH_MAX + 200], real[PATH_MAX], type[64], opts[2048];
	int dfd, rc, on_nfs = 0, known = 0;
	DIR *d;

	if (stat(dir, &st) < 0) {
		snprintf(line, sizeof(line), "%s: %s: the export is probably not mounted (ERRORS_LOG error 1)", dir,
			 strerror(errno));
		problem(1, line, "mount -t nfs -o hard,lookupcache=positive,acdirmin=1,acdirmax=1 "
			"dom0:/var/vgpu /mnt/vgpu; if that says 'access denied by server', run exportfs -rav "
			"on Dom0 and check the client list");
		return;
	}
	if (realpath(dir, real) && mount_of(real, type, opts) == 0) {
		known = 1;
		on_nfs = strcmp(type, "nfs") == 0 || strcmp(type, "nfs4") == 0;
	} else if (statfs(dir, &sfs) == 0) {
		known = 1;
		on_nfs = sfs.f_type == NFS_SUPER_MAGIC;
		snprintf(type, sizeof(type), "%s", (unsigned long)sfs.f_type == FUSE_SUPER_MAGIC ? "fuse" : "?");
		opts[0] = '\0';
	}
	if (known) {
		if (on_nfs) {
			ok(dir, " is on NFS");
			if (opts[0])
				check_nfs_options(dir, opts);
		} else if (strncmp(type, "fuse", 4) == 0) {
			ok(dir, " is on a FUSE file system (a simulator?)");
		} else {
			problem(0, "the directory is not on NFS: is the export mounted here, or is this a local "
				"directory of the same name?", "mount the export over it (see docs/XEN.md)");
		}
	}
	/* the export's root (or a directory above the VM's), not the VM's own directory */
	if (S_ISDIR(st.st_mode) && (d = opendir(dir))) {
		struct dirent *e;
		char first[256] = "";

		while ((e = readdir(d)))
			if (is_vm_name(e->d_name) && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)) {
				snprintf(first, sizeof(first), "%s", e->d_name);
				break;
			}
		closedir(d);
		if (first[0]) {
			snprintf(line, sizeof(line), "%s holds %s/: it is the export's root, not this VM's own directory "
				 "(requests written here are never read)", dir, first);
			problem(1, line, "give the VM's directory: --dir DIR/vmN (the same path as vgpu-client --dir); "
				"better, mount only dom0:/var/vgpu/vmN in this VM (docs/XEN.md)");
			return;
		}
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
		{ "exports", required_argument, 0, 'x' }, { "vm-uid", required_argument, 0, 'u' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
	};
	const char *root = NULL, *state = NULL, *dir = NULL, *exports_file = NULL;
	int c, sanity = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("vgpu-doctor %s\n", VGPU_VERSION);
		return 0;
	}
	for (int i = 0; i < MAX_VMS; i++)
		vm_uid[i] = -1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'r': root = optarg; break;
		case 's': state = optarg; break;
		case 'd': dir = optarg; break;
		case 'c': sanity = 1; break;
		case 'x': exports_file = optarg; break;
		case 'u': {
			unsigned long n, u;
			char *end;

			n = strtoul(optarg, &end, 10);
			if (*end != ':' || n < 1 || n >= MAX_VMS || !end[1]) {
				fprintf(stderr, "vgpu-doctor: --vm-uid %s: expected N:UID\n", optarg);
				return 64;
			}
			u = strtoul(end + 1, &end, 10);
			if (*end) {
				fprintf(stderr, "vgpu-doctor: --vm-uid %s: expected N:UID\n", optarg);
				return 64;
			}
			vm_uid[n] = (long)u;
			break;
		}
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
		check_root(root, state, exports_file);
	else
		check_dir(dir);
	if (sanity)
		check_sanity(argv[0]);
	printf("%d error%s, %d warning%s\n", errors, errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
	return errors ? 3 : warnings ? 1 : 0;
}
