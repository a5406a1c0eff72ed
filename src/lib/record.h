/* record.h - encode and decode protocol records (docs/PROTOCOL.md section 3).
 *
 * The only code that turns bytes from a VM into values. Strict: anything not in the
 * grammar is rejected with a reason, and an incomplete record is told apart from a
 * corrupt or malformed one. No allocation; decoded strings are copied into the struct. */
#ifndef VGPU_RECORD_H
#define VGPU_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include "op.h"

#define VGPU_RECORD_MAX   (64 * 1024)   /* whole record, bytes */
#define VGPU_VALUE_MAX    1023          /* one value, bytes */
#define VGPU_NAME_MAX     64            /* payload file name */
#define VGPU_VM_MAX       65535
#define VGPU_SEQ_MAX      INT64_MAX

/* Parse outcomes (negative), see the table in docs/PROTOCOL.md section 3. */
enum vgpu_rec_result {
	VGPU_REC_OK = 0,
	VGPU_REC_INCOMPLETE = -1,
	VGPU_REC_CORRUPT = -2,
	VGPU_REC_MALFORMED = -3,
	VGPU_REC_TOO_LARGE = -4,
	VGPU_REC_UNKNOWN_OP = -5,   /* well-formed, but the op is not one we know */
};

enum vgpu_prio { VGPU_PRIO_LOW = 0, VGPU_PRIO_MEDIUM = 1, VGPU_PRIO_HIGH = 2, VGPU_PRIO_COUNT };

/* A payload reference: "NAME BYTES CRC". name[0] == 0 when absent. */
struct vgpu_payload_ref {
	char name[VGPU_NAME_MAX];
	uint64_t bytes;
	uint32_t crc;
};

struct vgpu_request {
	uint32_t vm;
	int64_t seq;
	char nonce[17];          /* 16 lowercase hex + NUL */
	enum vgpu_prio priority;
	enum vgpu_op op;
	struct vgpu_op_args args;        /* op.h: the op's arguments */
	struct vgpu_payload_ref input;   /* input.name[0]==0 when absent */
	int output_file;         /* 1: "output file"; 0: summary (default for seed) ; -1 absent */
	uint64_t timeout_ms;     /* 0 when absent */
};

struct vgpu_response {
	uint32_t vm;
	int64_t seq;
	char nonce[17];
	int status;              /* enum vgpu_status */
	enum vgpu_op op;         /* VGPU_OP_NONE for "-" */
	enum vgpu_prio priority;
	uint64_t queue_us, exec_us;
	char executor[32];
	char result[VGPU_VALUE_MAX + 1];
	struct vgpu_payload_ref output;  /* output.name[0]==0 when absent */
	char error[VGPU_VALUE_MAX + 1];  /* "-" when none */
	int64_t answered;        /* the VM's highest answered seq after this answer; 0 absent */
};

/* CRC-32 (zlib crc32(), IEEE) of LEN bytes. */
uint32_t vgpu_crc32(const void *buf, size_t len);
/* Continue a CRC over more bytes; start with crc = 0. */
uint32_t vgpu_crc32_update(uint32_t crc, const void *buf, size_t len);

/* Names <-> enums. *_name() can't fail ("?" outside range); *_parse() return -1 if unknown. */
const char *vgpu_prio_name(enum vgpu_prio p);
int vgpu_prio_parse(const char *s);

/* Encode into BUF (CAP bytes). Returns the length (> 0), or -ENOSPC when CAP is too
 * small, -EINVAL when a field is out of its range or a string holds bytes the grammar
 * forbids (control characters, '\n'). Nothing partial is meaningful on failure. */
int vgpu_request_encode(const struct vgpu_request *req, char *buf, size_t cap);
int vgpu_response_encode(const struct vgpu_response *resp, char *buf, size_t cap);

/* Decode LEN bytes. Returns VGPU_REC_OK or a negative enum vgpu_rec_result and writes
 * a one-line reason into ERR (ERRLEN bytes, always NUL-terminated when ERRLEN > 0),
 * e.g. "line 4: seq: not a number". On failure *req is zeroed, except that, where the
 * record got far enough, req->seq and req->nonce hold what was read (so that an error
 * response can echo them; seq 0 and nonce "" otherwise). Semantic checks of the request (fields
 * required by its op, seed xor input) are done here too. */
int vgpu_request_decode(const char *buf, size_t len, struct vgpu_request *req, char *err, size_t errlen);
int vgpu_response_decode(const char *buf, size_t len, struct vgpu_response *resp, char *err, size_t errlen);

/* Bytes of input payload and of output the request's op needs (op.h); -1 on overflow or
 * an unknown op. For ping and test ops both are 0. */
static inline int64_t vgpu_request_input_bytes(const struct vgpu_request *req)
{
	return vgpu_op_input_bytes(req->op, &req->args);
}
static inline int64_t vgpu_request_output_bytes(const struct vgpu_request *req)
{
	return vgpu_op_output_bytes(req->op, &req->args);
}

/* The grammar's values: a decimal u64 without leading zeros or sign, and a finite
 * float32 in strtod() syntax without leading blanks. 0, or -1 when S (LEN bytes) is not
 * one. */
int vgpu_value_u64(const char *s, size_t len, uint64_t *out);
int vgpu_value_float(const char *s, size_t len, float *out);

/* "in-SEQ.bin" / "out-SEQ.bin" into NAME (VGPU_NAME_MAX); PREFIX is "in" or "out". */
void vgpu_payload_name(char *name, const char *prefix, int64_t seq);

#endif
