/* fuzz_state.c - libFuzzer target: the state loader (vgpu_state_load, state.h).
 *
 * The loader reads a VM's journal, vmN.journal (two slots, each a text header and a
 * record, at 0 and VGPU_STATE_SLOT; docs/PROTOCOL.md s.7), and migrates an older
 * mediator's two files: vmN.last (the last response record) and vmN.run (the intent
 * line "SEQ NONCE\n"). One input is the files and the VM number:
 *   byte 0      bit 0: write vmN.last; bit 1: write vmN.run; bits 2-3: N - 1 (VM 1..4);
 *               bit 4: give vmN.last a correct end line (fuzz_reframe), so that
 *               mutations get past its CRC into the response parser;
 *               bit 5: write vmN.journal; bit 6: give each journal slot a correct
 *               "crc" line (as bit 4, for the slot's header and record parsers)
 *   the rest    without bit 5: the bytes of vmN.last, then FUZZ_STATE_SEP, then the
 *               bytes of vmN.run (no separator: vmN.run is empty); with bit 5: slot 0's
 *               bytes [FUZZ_SLOT1_SEP slot 1's bytes, written at VGPU_STATE_SLOT]
 *               [FUZZ_LEGACY_SEP then vmN.last SEP vmN.run as without it]
 *               (a file whose bit is 0 is not written)
 * Each input's files are written into one private directory (on /dev/shm when there,
 * so that it stays in memory) and removed after the load.
 *
 * Checks: the loader returns 0, -EBADMSG, or an error of the read (too large) and
 * leaks nothing; a state it accepts is what its files say (the last record verbatim
 * from the journal or vmN.last, its seq and nonce; the intent in its grammar), the
 * old files are gone once it is accepted, and it round-trips: written back with the
 * mediator's own writers (vgpu_state_answered, then vgpu_state_begin) into a second
 * directory and loaded again, it is the same state field by field. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "lib/safeio.h"
#include "mediator/state.h"

#define FUZZ_STATE_SEP "\n%%run%%\n"
#define FUZZ_SLOT1_SEP "\n%%slot1%%\n"
#define FUZZ_LEGACY_SEP "\n%%legacy%%\n"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir_in[128], dir_out[128], framed[VGPU_RECORD_MAX + 64], slotbuf[2][VGPU_STATE_SLOT];
static int dfd_in = -1, dfd_out = -1;

static void cleanup_dir(int dfd, const char *dir)
{
	char name[32];

	for (uint32_t vm = 1; vm <= 4; vm++) {
		snprintf(name, sizeof(name), "vm%u.last", (unsigned)vm);
		unlinkat(dfd, name, 0);
		snprintf(name, sizeof(name), "vm%u.run", (unsigned)vm);
		unlinkat(dfd, name, 0);
		snprintf(name, sizeof(name), "vm%u.journal", (unsigned)vm);
		unlinkat(dfd, name, 0);
	}
	if (dir[0])
		rmdir(dir);
}

static void cleanup(void)
{
	if (dfd_in >= 0)
		cleanup_dir(dfd_in, dir_in);
	if (dfd_out >= 0)
		cleanup_dir(dfd_out, dir_out);
}

static int make_dir(char *dir, size_t cap, const char *base, const char *tag)
{
	int fd;

	snprintf(dir, cap, "%s/vgpu-fuzz-state-%s-XXXXXX", base, tag);
	if (!mkdtemp(dir)) {
		perror(dir);
		exit(1);
	}
	fd = vgpu_state_open_dir(dir);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(-fd));
		exit(1);
	}
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = getenv("TMPDIR");
	struct stat sb;

	(void)argc;
	(void)argv;
	if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	else if (!base || !*base)
		base = "/tmp";
	dfd_in = make_dir(dir_in, sizeof(dir_in), base, "in");
	dfd_out = make_dir(dir_out, sizeof(dir_out), base, "out");
	atexit(cleanup);
	return 0;
}

static void put(int dfd, const char *name, const uint8_t *p, size_t n)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || vgpu_write_full(fd, p, n) < 0)
		FUZZ_FAIL("writing %s: %s", name, strerror(errno));
	close(fd);
}

/* Slot 1 at its offset (the file sparse up to there). */
static void put_at(int dfd, const char *name, const uint8_t *p, size_t n, off_t off)
{
	int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || pwrite(fd, p, n, off) != (ssize_t)n)
		FUZZ_FAIL("writing %s at %lld: %s", name, (long long)off, strerror(errno));
	close(fd);
}

/* A copy of the slot P (N bytes) into OUT whose "crc XXXXXXXX" line (the first one after
 * a newline) is right for the header before it and the record after it ("len" bytes,
 * as many as there are). The slot's length; unchanged when there is no such line. */
static size_t slot_fix_crc(const uint8_t *p, size_t n, char *out)
{
	const char *crc, *len;
	size_t hdr, rec;
	char line[16];

	if (n > VGPU_STATE_SLOT)
		n = VGPU_STATE_SLOT;
	memcpy(out, p, n);
	crc = memmem(out, n, "\ncrc ", 5);
	if (!crc || (size_t)(crc - out) + 14 > n)
		return n;
	hdr = (size_t)(crc - out) + 1;
	len = memmem(out, hdr, "\nlen ", 5);
	rec = len ? strtoul(len + 5, NULL, 10) : 0;
	if (rec > n - hdr - 13)
		rec = n - hdr - 13;
	snprintf(line, sizeof(line), "crc %08x\n",
		 (unsigned)vgpu_crc32_update(vgpu_crc32_update(0, out, hdr), out + hdr + 13, rec));
	memcpy(out + hdr, line, 13);
	return n;
}

/* The intent line as the loader must read it: what strtoll() takes, then one space and
 * 16 lowercase hex digits, then the newline that ends the file. */
static void check_state(const struct vgpu_vm_state *st, uint32_t vm, const uint8_t *last, size_t last_len, int has_last,
			int has_run)
{
	if (!has_last) {
		if (st->last || st->last_len || st->answered_seq || st->answered_nonce[0])
			FUZZ_FAIL("load: no vm%u.last but an answered state", (unsigned)vm);
	} else if (has_last == 2 && !st->last) {
		if (st->last_len || st->answered_seq || st->answered_nonce[0])
			FUZZ_FAIL("load: no answer in vm%u.journal but an answered state", (unsigned)vm);
	} else {
		struct vgpu_response r;
		char err[128];

		/* from the journal (HAS_LAST 2): the record is bytes of a slot, in LAST */
		if (!st->last || (has_last == 2 ? !memmem(last, last_len, st->last, st->last_len) :
				  st->last_len != last_len || memcmp(st->last, last, last_len) != 0))
			FUZZ_FAIL("load: the last record is not vm%u's file verbatim", (unsigned)vm);
		if (vgpu_response_decode(st->last, st->last_len, &r, err, sizeof(err)) != VGPU_REC_OK)
			FUZZ_FAIL("load: accepted a last record that does not decode: %s", err);
		FUZZ_EQ_U64(r.vm, vm, "last record's vm");
		FUZZ_EQ_INT(st->answered_seq, r.seq, "answered_seq");
		FUZZ_EQ_STR(st->answered_nonce, r.nonce, "answered_nonce");
	}
	if (!has_run) {
		if (st->running_seq || st->running_nonce[0])
			FUZZ_FAIL("load: no vm%u.run but an intent", (unsigned)vm);
	} else if (has_run == 2 && !st->running_seq) {
		if (st->running_nonce[0])
			FUZZ_FAIL("load: a nonce without an intent");
	} else if (st->running_seq <= 0 || strlen(st->running_nonce) != 16 ||
		   strspn(st->running_nonce, "0123456789abcdef") != 16) {
		FUZZ_FAIL("load: intent seq %" PRId64 " nonce '%.17s' out of the grammar", st->running_seq,
			  st->running_nonce);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vgpu_vm_state st, st2;
	const uint8_t *last, *run = (const uint8_t *)"", *sep, *rest, *jend, *slot1 = NULL;
	size_t last_len, run_len = 0, rest_len, slot_len[2] = { 0, 0 };
	uint32_t vm;
	int has_last, has_run, has_journal, rc;
	char name[32];

	if (size < 1)
		return 0;
	has_last = data[0] & 1;
	has_run = !!(data[0] & 2);
	has_journal = !!(data[0] & 32);
	vm = 1u + ((data[0] >> 2) & 3u);
	rest = data + 1;
	rest_len = size - 1;
	if (has_journal) {
		/* slot 0 [SLOT1_SEP slot 1] [LEGACY_SEP the old files] */
		sep = memmem(rest, rest_len, FUZZ_LEGACY_SEP, strlen(FUZZ_LEGACY_SEP));
		jend = sep ? sep : rest + rest_len;
		slot1 = memmem(rest, (size_t)(jend - rest), FUZZ_SLOT1_SEP, strlen(FUZZ_SLOT1_SEP));
		slot_len[0] = (size_t)((slot1 ? slot1 : jend) - rest);
		if (slot1) {
			slot1 += strlen(FUZZ_SLOT1_SEP);
			slot_len[1] = (size_t)(jend - slot1);
		}
		if (slot_len[0] > VGPU_STATE_SLOT || slot_len[1] > VGPU_STATE_SLOT)
			return 0;
		memcpy(slotbuf[0], rest, slot_len[0]);
		if (slot1)
			memcpy(slotbuf[1], slot1, slot_len[1]);
		if (data[0] & 64) {
			slot_len[0] = slot_fix_crc(rest, slot_len[0], slotbuf[0]);
			if (slot1)
				slot_len[1] = slot_fix_crc(slot1, slot_len[1], slotbuf[1]);
		}
		if (sep) {
			rest_len = (size_t)(rest + rest_len - sep) - strlen(FUZZ_LEGACY_SEP);
			rest = sep + strlen(FUZZ_LEGACY_SEP);
		} else {
			rest_len = 0;
		}
	}
	last = rest;
	last_len = rest_len;
	sep = memmem(last, last_len, FUZZ_STATE_SEP, strlen(FUZZ_STATE_SEP));
	if (sep) {
		run = sep + strlen(FUZZ_STATE_SEP);
		run_len = (size_t)(last + last_len - run);
		last_len = (size_t)(sep - last);
	}

	if ((data[0] & 16) && has_last) {
		size_t n = fuzz_reframe(last, last_len, framed, sizeof(framed));
		if (n == 0)
			return 0;
		last = (const uint8_t *)framed;
		last_len = n;
	}

	snprintf(name, sizeof(name), "vm%u.last", (unsigned)vm);
	if (has_last)
		put(dfd_in, name, last, last_len);
	snprintf(name, sizeof(name), "vm%u.run", (unsigned)vm);
	if (has_run)
		put(dfd_in, name, run, run_len);
	snprintf(name, sizeof(name), "vm%u.journal", (unsigned)vm);
	if (has_journal) {
		put(dfd_in, name, (const uint8_t *)slotbuf[0], slot_len[0]);
		if (slot1)
			put_at(dfd_in, name, (const uint8_t *)slotbuf[1], slot_len[1], (off_t)VGPU_STATE_SLOT);
	}

	rc = vgpu_state_load(dfd_in, vm, &st);
	if (rc == 0 && (has_journal || has_last || has_run)) {
		/* accepted: the state is in the journal, the old files are gone */
		struct stat sb;
		char old[32];

		if (fstatat(dfd_in, name, &sb, 0) != 0)
			FUZZ_FAIL("load: accepted, but no %s", name);
		snprintf(old, sizeof(old), "vm%u.last", (unsigned)vm);
		if (fstatat(dfd_in, old, &sb, 0) == 0)
			FUZZ_FAIL("load: accepted, but %s is still there", old);
		snprintf(old, sizeof(old), "vm%u.run", (unsigned)vm);
		if (fstatat(dfd_in, old, &sb, 0) == 0)
			FUZZ_FAIL("load: accepted, but %s is still there", old);
	}
	cleanup_dir(dfd_in, "");
	if (rc != 0) {
		/* Refused: damaged (-EBADMSG) or over the loader's size caps. */
		if (rc != -EBADMSG && rc != VGPU_ETOOBIG)
			FUZZ_FAIL("load: unexpected %d (%s)", rc, vgpu_safeio_strerror(rc));
		if (st.last)
			FUZZ_FAIL("load: failed (%d) but kept a last record", rc);
		return 0;
	}
	if (has_journal)      /* the journal wins: its record is bytes of a slot */
		check_state(&st, vm, data, size, 2, 2);
	else
		check_state(&st, vm, last, last_len, has_last, has_run);

	/* Round trip through the mediator's writers. */
	memset(&st2, 0, sizeof(st2));
	if (st.last && (rc = vgpu_state_answered(dfd_out, vm, &st2, st.answered_seq, st.answered_nonce, st.last,
						 st.last_len)) < 0)
		FUZZ_FAIL("state_answered: %d", rc);
	if (st.running_seq && (rc = vgpu_state_begin(dfd_out, vm, &st2, st.running_seq, st.running_nonce)) < 0)
		FUZZ_FAIL("state_begin: %d", rc);
	vgpu_state_release(&st2);
	rc = vgpu_state_load(dfd_out, vm, &st2);
	cleanup_dir(dfd_out, "");
	if (rc != 0)
		FUZZ_FAIL("load of the written state: %d", rc);
	FUZZ_EQ_INT(st2.answered_seq, st.answered_seq, "answered_seq");
	FUZZ_EQ_STR(st2.answered_nonce, st.answered_nonce, "answered_nonce");
	FUZZ_EQ_U64(st2.last_len, st.last_len, "last_len");
	if (st.last_len && memcmp(st2.last, st.last, st.last_len) != 0)
		FUZZ_FAIL("round trip: the last record differs");
	FUZZ_EQ_INT(st2.running_seq, st.running_seq, "running_seq");
	FUZZ_EQ_STR(st2.running_nonce, st.running_nonce, "running_nonce");
	vgpu_state_release(&st2);
	vgpu_state_release(&st);
	return 0;
}
