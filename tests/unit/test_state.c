/* test_state.c - the exactly-once state (vmN.journal, docs/PROTOCOL.md s.7): what is
 * persisted survives a reload, an intent is seen after a "crash", the two slots
 * alternate and the higher valid gen wins, a torn or damaged slot is ignored, a journal
 * with no valid slot is refused (serving that VM could answer twice), an older
 * mediator's vmN.last/vmN.run are migrated, and a failing write leaves the previous
 * state in memory and on disk. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fiu.h>
#include <fiu-control.h>

#include "lib/record.h"
#include "lib/status.h"
#include "mediator/state.h"
#include "../common/testutil.h"

static char dir[64];
static int dfd = -1;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vgpu-state-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = vgpu_state_open_dir(dir);
	ck_assert_int_ge(dfd, 0);
}

static void teardown(void)
{
	char cmd[128];

	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int answer_record(uint32_t vm, int64_t seq, const char *nonce, char *buf, size_t cap)
{
	struct vgpu_response r;

	memset(&r, 0, sizeof(r));
	r.vm = vm;
	r.seq = seq;
	snprintf(r.nonce, sizeof(r.nonce), "%s", nonce);
	r.status = VGPU_OK;
	r.op = VGPU_OP_PING;
	snprintf(r.executor, sizeof(r.executor), "mock");
	snprintf(r.result, sizeof(r.result), "pong");
	snprintf(r.error, sizeof(r.error), "-");
	return vgpu_response_encode(&r, buf, cap);
}

START_TEST(test_fresh_vm_has_nothing)
{
	struct vgpu_vm_state st;

	ck_assert_int_eq(vgpu_state_load(dfd, 7, &st), 0);
	ck_assert_int_eq(st.answered_seq, 0);
	ck_assert_int_eq(st.running_seq, 0);
	ck_assert_ptr_null(st.last);
	vgpu_state_release(&st);
}
END_TEST

START_TEST(test_answer_survives_reload)
{
	struct vgpu_vm_state st, again;
	char rec[1024];
	int len = answer_record(3, 41, "0123456789abcdef", rec, sizeof(rec));

	ck_assert_int_gt(len, 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 3, &st), 0);
	ck_assert_int_eq(vgpu_state_begin(dfd, 3, &st, 41, "0123456789abcdef"), 0);
	ck_assert_int_eq(vgpu_state_answered(dfd, 3, &st, 41, "0123456789abcdef", rec, (size_t)len), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 3, &again), 0);
	ck_assert_int_eq(again.answered_seq, 41);
	ck_assert_str_eq(again.answered_nonce, "0123456789abcdef");
	ck_assert_int_eq(again.running_seq, 0);           /* intent dropped with the answer */
	ck_assert_uint_eq(again.last_len, (size_t)len);
	ck_assert_mem_eq(again.last, rec, (size_t)len);
	vgpu_state_release(&st);
	vgpu_state_release(&again);
}
END_TEST

/* A mediator that dies between begin and answered leaves the intent behind. */
START_TEST(test_intent_seen_after_crash)
{
	struct vgpu_vm_state st, again;

	ck_assert_int_eq(vgpu_state_load(dfd, 9, &st), 0);
	ck_assert_int_eq(vgpu_state_begin(dfd, 9, &st, 5, "ffffffffffffffff"), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 9, &again), 0);
	ck_assert_int_eq(again.running_seq, 5);
	ck_assert_str_eq(again.running_nonce, "ffffffffffffffff");
	ck_assert_int_eq(again.answered_seq, 0);
	vgpu_state_release(&st);
	vgpu_state_release(&again);
}
END_TEST

static void write_file(const char *name, const char *data)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(data, f);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_damaged_files_refused)
{
	struct vgpu_vm_state st;

	write_file("vm4.last", "VGPU1 RESPONSE\nvm 4\nseq 1\n");   /* torn */
	ck_assert_int_eq(vgpu_state_load(dfd, 4, &st), -EBADMSG);
	write_file("vm6.run", "12 nothex!nothex!\n");
	ck_assert_int_eq(vgpu_state_load(dfd, 6, &st), -EBADMSG);
	write_file("vm8.run", "-3 0123456789abcdef\n");
	ck_assert_int_eq(vgpu_state_load(dfd, 8, &st), -EBADMSG);
}
END_TEST

/* An older mediator's state file of VM 2 copied to VM 5's name is not VM 5's. */
START_TEST(test_state_of_other_vm_refused)
{
	struct vgpu_vm_state st;
	char rec[1024], path[128];
	int len = answer_record(2, 1, "0123456789abcdef", rec, sizeof(rec));
	FILE *f;

	snprintf(path, sizeof(path), "%s/vm5.last", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(rec, 1, (size_t)len, f), (size_t)len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 5, &st), -EBADMSG);
}
END_TEST

/* --- the journal: two slots, the higher valid gen wins ------------------------------------ */

static void path_of(const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", dir, name);
}

static int exists(const char *name)
{
	char p[128];
	struct stat sb;

	path_of(name, p, sizeof(p));
	return lstat(p, &sb) == 0;
}

static off_t file_size(const char *name)
{
	char p[128];
	struct stat sb;

	path_of(name, p, sizeof(p));
	ck_assert_int_eq(stat(p, &sb), 0);
	return sb.st_size;
}

/* Bytes at OFF of NAME. */
static void put_at(const char *name, off_t off, const void *data, size_t len)
{
	char p[128];
	int fd;

	path_of(name, p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, data, len, off), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static void get_at(const char *name, off_t off, char *buf, size_t len)
{
	char p[128];
	int fd;

	path_of(name, p, sizeof(p));
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

/* A slot as PROTOCOL.md s.7 describes it, built here independently of state.c: GEN, the
 * intent RSEQ (0: none), the record of VM's answer to ASEQ (0: none). Its length. */
static size_t slot_text(char *buf, size_t cap, uint64_t gen, int64_t rseq, uint32_t vm, int64_t aseq)
{
	char rec[2048];
	int len = 0, n;

	if (aseq)
		ck_assert_int_gt(len = answer_record(vm, aseq, "00000000000000aa", rec, sizeof(rec)), 0);
	if (rseq)
		n = snprintf(buf, cap, "vgpu-journal 1\ngen %llu\nrun %lld 0123456789abcdef\nlen %d\n",
			     (unsigned long long)gen, (long long)rseq, len);
	else
		n = snprintf(buf, cap, "vgpu-journal 1\ngen %llu\nrun -\nlen %d\n", (unsigned long long)gen, len);
	n += snprintf(buf + n, cap - (size_t)n, "crc %08x\n",
		      (unsigned)vgpu_crc32_update(vgpu_crc32_update(0, buf, (size_t)n), rec, (size_t)len));
	memcpy(buf + n, rec, (size_t)len);
	return (size_t)n + (size_t)len;
}

static void put_slot(const char *name, unsigned slot, uint64_t gen, int64_t rseq, uint32_t vm, int64_t aseq)
{
	char buf[4096];
	size_t n = slot_text(buf, sizeof(buf), gen, rseq, vm, aseq);

	put_at(name, (off_t)(slot * VGPU_STATE_SLOT), buf, n);
}

/* Load VM: rc; answered seq, intent seq, slot and gen into the pointers. */
static int load4(uint32_t vm, int64_t *aseq, int64_t *rseq, unsigned *slot, uint64_t *gen)
{
	struct vgpu_vm_state st;
	int rc = vgpu_state_load(dfd, vm, &st);

	if (rc == 0) {
		*aseq = st.answered_seq;
		*rseq = st.running_seq;
		*slot = st.slot;
		*gen = st.gen;
		vgpu_state_release(&st);
	}
	return rc;
}

/* The first change creates the journal (slot 0, gen 1); then the writes alternate. */
START_TEST(test_slots_alternate)
{
	struct vgpu_vm_state st;
	char rec[1024], head[64];
	int len = answer_record(3, 1, "0123456789abcdef", rec, sizeof(rec));
	int64_t a, r;
	unsigned slot;
	uint64_t gen;

	ck_assert_int_eq(vgpu_state_load(dfd, 3, &st), 0);
	ck_assert(!exists("vm3.journal"));                     /* nothing yet: no file */
	ck_assert_int_eq(vgpu_state_begin(dfd, 3, &st, 1, "0123456789abcdef"), 0);
	ck_assert(exists("vm3.journal"));
	ck_assert_int_eq(st.slot, 0);
	ck_assert_int_eq(st.gen, 1);
	ck_assert_int_lt(file_size("vm3.journal"), (off_t)VGPU_STATE_SLOT);
	ck_assert_int_eq(vgpu_state_answered(dfd, 3, &st, 1, "0123456789abcdef", rec, (size_t)len), 0);
	ck_assert_int_eq(st.slot, 1);
	ck_assert_int_eq(st.gen, 2);
	ck_assert_int_gt(file_size("vm3.journal"), (off_t)VGPU_STATE_SLOT);
	get_at("vm3.journal", (off_t)VGPU_STATE_SLOT, head, 28);
	ck_assert_mem_eq(head, "vgpu-journal 1\ngen 2\nrun -\n", 27);
	ck_assert_int_eq(vgpu_state_begin(dfd, 3, &st, 2, "0123456789abcdef"), 0);
	ck_assert_int_eq(st.slot, 0);
	ck_assert_int_eq(st.gen, 3);
	get_at("vm3.journal", 0, head, 40);
	ck_assert_mem_eq(head, "vgpu-journal 1\ngen 3\nrun 2 0123456789abcdef\n", 40);
	ck_assert_int_eq(load4(3, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(a, 1);
	ck_assert_int_eq(r, 2);
	ck_assert_int_eq(slot, 0);
	ck_assert_int_eq(gen, 3);
	vgpu_state_release(&st);
}
END_TEST

START_TEST(test_higher_gen_wins)
{
	int64_t a, r;
	unsigned slot;
	uint64_t gen;

	put_slot("vm2.journal", 0, 7, 0, 2, 30);
	put_slot("vm2.journal", 1, 6, 0, 2, 29);
	ck_assert_int_eq(load4(2, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(a, 30);
	ck_assert_int_eq(slot, 0);
	ck_assert_int_eq(gen, 7);
	put_slot("vm2.journal", 1, 8, 31, 2, 30);
	ck_assert_int_eq(load4(2, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(a, 30);
	ck_assert_int_eq(r, 31);
	ck_assert_int_eq(slot, 1);
	ck_assert_int_eq(gen, 8);
	put_slot("vm2.journal", 0, 8, 0, 2, 31);               /* one gen twice: which is newer? */
	ck_assert_int_eq(load4(2, &a, &r, &slot, &gen), -EBADMSG);
}
END_TEST

/* A torn or garbage slot (a write cut short, a crash mid-write) is ignored: the other
 * slot is the state. Both bad: refused. */
START_TEST(test_torn_slot_ignored)
{
	char buf[4096];
	size_t n;
	int64_t a, r;
	unsigned slot;
	uint64_t gen;

	put_slot("vm5.journal", 0, 4, 0, 5, 12);
	/* gen 5 torn: the header and half of the record */
	n = slot_text(buf, sizeof(buf), 5, 0, 5, 13);
	put_at("vm5.journal", (off_t)VGPU_STATE_SLOT, buf, n / 2);
	ck_assert_int_eq(load4(5, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(a, 12);
	ck_assert_int_eq(gen, 4);
	/* garbage over the other slot */
	memset(buf, 'x', sizeof(buf));
	put_at("vm5.journal", (off_t)VGPU_STATE_SLOT, buf, sizeof(buf));
	ck_assert_int_eq(load4(5, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(a, 12);
	ck_assert_int_eq(slot, 0);
	/* and over slot 0 too: nothing valid */
	put_at("vm5.journal", 0, buf, 100);
	ck_assert_int_eq(load4(5, &a, &r, &slot, &gen), -EBADMSG);
}
END_TEST

/* One byte changed in the record or in the header: the CRC refuses the slot. */
START_TEST(test_crc_mismatch_refused)
{
	char buf[4096];
	size_t n = slot_text(buf, sizeof(buf), 1, 4, 6, 3);
	int64_t a, r;
	unsigned slot;
	uint64_t gen;
	char *seqline;

	put_at("vm6.journal", 0, buf, n);
	ck_assert_int_eq(load4(6, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(r, 4);
	buf[n - 2] ^= 0x01;                                     /* in the record */
	put_at("vm6.journal", 0, buf, n);
	ck_assert_int_eq(load4(6, &a, &r, &slot, &gen), -EBADMSG);
	n = slot_text(buf, sizeof(buf), 1, 4, 6, 3);
	seqline = strstr(buf, "run 4 ");
	ck_assert_ptr_nonnull(seqline);
	seqline[4] = '5';                                       /* in the header: another intent */
	put_at("vm6.journal", 0, buf, n);
	ck_assert_int_eq(load4(6, &a, &r, &slot, &gen), -EBADMSG);
}
END_TEST

/* A journal of VM 2 copied to VM 5's name (its CRC right) is not VM 5's. */
START_TEST(test_journal_of_other_vm_refused)
{
	int64_t a, r;
	unsigned slot;
	uint64_t gen;

	put_slot("vm5.journal", 0, 1, 0, 2, 1);
	ck_assert_int_eq(load4(5, &a, &r, &slot, &gen), -EBADMSG);
	ck_assert_int_eq(load4(2, &a, &r, &slot, &gen), 0);    /* vm2 has none: fresh */
}
END_TEST

/* An older mediator's vmN.last and vmN.run: loaded, written into vmN.journal, removed. */
START_TEST(test_legacy_migrated)
{
	struct vgpu_vm_state st;
	char rec[1024], p[128];
	int len = answer_record(4, 8, "0123456789abcdef", rec, sizeof(rec));
	int64_t a, r;
	unsigned slot;
	uint64_t gen;
	FILE *f;

	path_of("vm4.last", p, sizeof(p));
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(rec, 1, (size_t)len, f), (size_t)len);
	ck_assert_int_eq(fclose(f), 0);
	write_file("vm4.run", "9 fedcba9876543210\n");
	ck_assert_int_eq(vgpu_state_load(dfd, 4, &st), 0);
	ck_assert_int_eq(st.answered_seq, 8);
	ck_assert_str_eq(st.answered_nonce, "0123456789abcdef");
	ck_assert_int_eq(st.running_seq, 9);
	ck_assert_str_eq(st.running_nonce, "fedcba9876543210");
	ck_assert_mem_eq(st.last, rec, (size_t)len);
	ck_assert(exists("vm4.journal"));
	ck_assert(!exists("vm4.last"));
	ck_assert(!exists("vm4.run"));
	/* and the journal takes the next change as usual */
	ck_assert_int_eq(vgpu_state_answered(dfd, 4, &st, 9, "fedcba9876543210", rec, (size_t)len), 0);
	vgpu_state_release(&st);
	ck_assert_int_eq(load4(4, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(a, 8);                                 /* the record says seq 8 */
	ck_assert_int_eq(r, 0);
	ck_assert_int_eq(gen, 2);
	/* a damaged old file is refused, and nothing is created */
	write_file("vm1.run", "x\n");
	ck_assert_int_eq(vgpu_state_load(dfd, 1, &st), -EBADMSG);
	ck_assert(!exists("vm1.journal"));
	ck_assert(exists("vm1.run"));
}
END_TEST

/* A stop during a migration (the journal made, the old files still there): the journal
 * is the state; the old files go. */
START_TEST(test_legacy_and_journal_journal_wins)
{
	char rec[1024], p[128];
	int len = answer_record(7, 2, "0123456789abcdef", rec, sizeof(rec));
	int64_t a, r;
	unsigned slot;
	uint64_t gen;
	FILE *f;

	put_slot("vm7.journal", 0, 1, 0, 7, 5);
	path_of("vm7.last", p, sizeof(p));
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(rec, 1, (size_t)len, f), (size_t)len);
	ck_assert_int_eq(fclose(f), 0);
	write_file("vm7.run", "3 fedcba9876543210\n");
	ck_assert_int_eq(load4(7, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(a, 5);
	ck_assert_int_eq(r, 0);
	ck_assert(!exists("vm7.last"));
	ck_assert(!exists("vm7.run"));
}
END_TEST

/* Each failing step of a change (ENOSPC, EIO): -errno, the state in memory as before,
 * the previous state's slot whole on disk (after a failed fdatasync the new slot may be
 * in the page cache, so it is overwritten first, as a power cut would lose it); the
 * retry (the same slot again) succeeds. */
START_TEST(test_faults_keep_previous_state)
{
	static const char *const points[] = { "state/journal/write", "state/journal/short", "state/journal/fsync" };
	static const int errs[] = { ENOSPC, EIO };
	struct vgpu_vm_state st;
	char rec[1024];
	int64_t seq = 1;

	ck_assert_int_eq(fiu_init(0), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 8, &st), 0);
	ck_assert_int_gt(answer_record(8, seq, "0123456789abcdef", rec, sizeof(rec)), 0);
	ck_assert_int_eq(vgpu_state_answered(dfd, 8, &st, seq, "0123456789abcdef", rec, strlen(rec)), 0);
	for (size_t i = 0; i < 3; i++)
		for (size_t e = 0; e < 2; e++)
			for (int kind = 0; kind < 2; kind++) {    /* an intent, then an answer */
				struct vgpu_vm_state before = st;
				int64_t a, r;
				unsigned slot;
				uint64_t gen;
				int len = answer_record(8, seq + 1, "0123456789abcdef", rec, sizeof(rec));

				ck_assert_int_eq(fiu_enable(points[i], 1, (void *)(intptr_t)errs[e], 0), 0);
				if (kind == 0)
					ck_assert_int_eq(vgpu_state_begin(dfd, 8, &st, seq + 1, "0123456789abcdef"), -errs[e]);
				else
					ck_assert_int_eq(vgpu_state_answered(dfd, 8, &st, seq + 1, "0123456789abcdef",
									     rec, (size_t)len), -errs[e]);
				fiu_disable(points[i]);
				ck_assert_msg(st.answered_seq == before.answered_seq && st.running_seq == before.running_seq &&
					      st.gen == before.gen && st.slot == before.slot && st.last == before.last,
					      "%s/%s: the state in memory changed", points[i], strerror(errs[e]));
				/* a failed fdatasync left the new slot in the page cache, not known to be on
				 * disk: a load in the same boot (a restarted mediator) must not take it */
				ck_assert_int_eq(load4(8, &a, &r, &slot, &gen), 0);
				ck_assert_msg(a == before.answered_seq && r == before.running_seq && gen == before.gen,
					      "%s/%s: on disk: answered %lld, intent %lld, gen %llu; before: %lld, %lld, %llu",
					      points[i], strerror(errs[e]), (long long)a, (long long)r,
					      (unsigned long long)gen, (long long)before.answered_seq,
					      (long long)before.running_seq, (unsigned long long)before.gen);
				/* the retry */
				if (kind == 0) {
					ck_assert_int_eq(vgpu_state_begin(dfd, 8, &st, seq + 1, "0123456789abcdef"), 0);
				} else {
					ck_assert_int_eq(vgpu_state_answered(dfd, 8, &st, seq + 1, "0123456789abcdef", rec,
									     (size_t)len), 0);
					seq++;
				}
				ck_assert_int_eq(load4(8, &a, &r, &slot, &gen), 0);
				ck_assert_int_eq(a, st.answered_seq);
				ck_assert_int_eq(r, st.running_seq);
				ck_assert_int_eq(gen, st.gen);
			}
	vgpu_state_release(&st);
}
END_TEST

/* The load makes what it read durable before it is used: a failing fdatasync there is
 * the load's error (the VM not served, tried again), not a state acted upon. */
START_TEST(test_load_syncs_before_use)
{
	struct vgpu_vm_state st;
	char rec[1024];
	int len;

	ck_assert_int_eq(fiu_init(0), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 6, &st), 0);
	len = answer_record(6, 3, "0123456789abcdef", rec, sizeof(rec));
	ck_assert_int_eq(vgpu_state_answered(dfd, 6, &st, 3, "0123456789abcdef", rec, (size_t)len), 0);
	ck_assert_int_eq(vgpu_state_answered(dfd, 6, &st, 3, "0123456789abcdef", rec, (size_t)len), 0);
	vgpu_state_release(&st);
	ck_assert_int_eq(fiu_enable("state/journal/load-fsync", 1, (void *)(intptr_t)EIO, 0), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 6, &st), -EIO);
	fiu_disable("state/journal/load-fsync");
	ck_assert_int_eq(vgpu_state_load(dfd, 6, &st), 0);
	ck_assert_int_eq(st.answered_seq, 3);
	vgpu_state_release(&st);
}
END_TEST

/* Creating the journal fails (publish steps, the directory's fsync): the state stays
 * "fresh" in memory; the next change creates it. Opening it fails at load: -errno. */
START_TEST(test_create_and_open_faults)
{
	static const char *const points[] = { "state/publish/open", "state/publish/write", "state/publish/fsync",
					      "state/publish/rename", "state/fsync-dir" };
	struct vgpu_vm_state st;
	int64_t a, r;
	unsigned slot;
	uint64_t gen;

	ck_assert_int_eq(fiu_init(0), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 9, &st), 0);
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		ck_assert_int_eq(fiu_enable(points[i], 1, (void *)(intptr_t)ENOSPC, 0), 0);
		ck_assert_int_eq(vgpu_state_begin(dfd, 9, &st, 1, "0123456789abcdef"), -ENOSPC);
		fiu_disable(points[i]);
		ck_assert_int_eq(st.journal, 0);
		ck_assert_int_eq(st.running_seq, 0);
	}
	ck_assert_int_eq(vgpu_state_begin(dfd, 9, &st, 1, "0123456789abcdef"), 0);
	vgpu_state_release(&st);
	ck_assert_int_eq(fiu_enable("state/journal/open", 1, (void *)(intptr_t)EMFILE, 0), 0);
	ck_assert_int_eq(vgpu_state_load(dfd, 9, &st), -EMFILE);
	fiu_disable("state/journal/open");
	ck_assert_int_eq(load4(9, &a, &r, &slot, &gen), 0);
	ck_assert_int_eq(r, 1);
}
END_TEST

static Suite *state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fresh_vm_has_nothing);
	tcase_add_test(tc, test_answer_survives_reload);
	tcase_add_test(tc, test_intent_seen_after_crash);
	tcase_add_test(tc, test_damaged_files_refused);
	tcase_add_test(tc, test_state_of_other_vm_refused);
	tcase_add_test(tc, test_slots_alternate);
	tcase_add_test(tc, test_higher_gen_wins);
	tcase_add_test(tc, test_torn_slot_ignored);
	tcase_add_test(tc, test_crc_mismatch_refused);
	tcase_add_test(tc, test_journal_of_other_vm_refused);
	tcase_add_test(tc, test_legacy_migrated);
	tcase_add_test(tc, test_legacy_and_journal_journal_wins);
	tcase_add_test(tc, test_faults_keep_previous_state);
	tcase_add_test(tc, test_create_and_open_faults);
	tcase_add_test(tc, test_load_syncs_before_use);
	suite_add_tcase(s, tc);
	return s;
}

TU_CHECK_MAIN(state_suite)
