/* record_syntax.h - the syntax both record kinds share (record_syntax.c): values,
 * the frame and its end line, the walk over "key value" lines, and the encoder's output
 * buffer. Internal to src/lib/record*.c; the API is record.h. */
#ifndef VGPU_RECORD_SYNTAX_H
#define VGPU_RECORD_SYNTAX_H

#include <stddef.h>
#include <stdint.h>
#include "errbuf.h"
#include "record.h"

#define BIT(x) (1u << (x))

/* A record kind: its header line and how its keys are found, named and parsed. */
struct vgpu_rec_grammar {
	const char *header;                       /* "VGPU1 REQUEST" */
	int (*lookup)(const char *k, size_t klen); /* key index, or -1 */
	const char *(*name)(int key);
	/* Parse value V of KEY into the record REC; 0, or -1 for a bad value. */
	int (*field)(void *rec, int key, const char *v, size_t vlen);
};

/* 16 lowercase hex digits? 1 or 0. */
int vgpu_rec_nonce_ok(const char *s, size_t len);
/* "NAME BYTES CRC"; 0 or -1. */
int vgpu_rec_payload_ref(const char *s, size_t len, struct vgpu_payload_ref *ref);
/* V (VLEN bytes) through PARSE (a NUL-terminated name parser); its value or -1. */
int vgpu_rec_enum(const char *v, size_t vlen, int (*parse)(const char *));
/* Index of K in KEYS[0..NKEYS), or -1. */
int vgpu_rec_key(const char *const *keys, int nkeys, const char *k, size_t klen);
/* Frame, check and walk the lines of a record of grammar G into REC; *SEENP gets the
 * keys met. VGPU_REC_OK or a negative enum vgpu_rec_result with ERR filled. */
int vgpu_rec_decode_fields(const char *buf, size_t len, const struct vgpu_rec_grammar *g, void *rec, unsigned *seenp,
		  char *err, size_t errlen);
/* On failure: zero REC (RECSIZE bytes) but for the seq and nonce salvaged from BUF. RC. */
int vgpu_rec_decode_finish(int rc, const char *buf, size_t len, void *rec, size_t recsize, int64_t *seq, char *nonce);

/* The encoder's output: append, remember overflow, end with the end line. */
struct vgpu_rec_out {
	char *buf;
	size_t cap, len;
	int overflow;
};
void vgpu_rec_printf(struct vgpu_rec_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append "KEY VALUE\n" (VALUE a string; a signed or unsigned decimal): the hot records'
 * fields without a format string to interpret. */
void vgpu_rec_put(struct vgpu_rec_out *o, const char *key, const char *value);
void vgpu_rec_put_i64(struct vgpu_rec_out *o, const char *key, int64_t value);
void vgpu_rec_put_u64(struct vgpu_rec_out *o, const char *key, uint64_t value);
/* A printable one-line value of at most VGPU_VALUE_MAX bytes within CAP? 1 or 0. */
int vgpu_rec_text_ok(const char *s, size_t cap);
/* Append the end line; the record's length, -ENOSPC or -EINVAL (over the cap). */
int vgpu_rec_finish(struct vgpu_rec_out *o);

#endif
