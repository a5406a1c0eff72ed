/* crc_io.h - the CRC-32 fused with the I/O of a payload: each byte is checksummed while it
 * is read or written, chunk by chunk (the chunk is still in the cache), never in a
 * second pass over the whole buffer (issue 13). vgpu_crc32() itself is in record.h. */
#ifndef VGPU_CRC_IO_H
#define VGPU_CRC_IO_H

#include <stddef.h>
#include <stdint.h>

/* Bytes read or written, then checksummed, at a time. */
#define VGPU_CRC_CHUNK (1u << 20)

/* Read LEN bytes of FD from offset 0 into BUF, updating *CRC (start it at 0) chunk by
 * chunk. 0; -ENODATA when FD ends before LEN bytes (*GOT says how many it held); or
 * -errno. GOT may be NULL. */
int vgpu_pread_crc(int fd, void *buf, size_t len, uint32_t *crc, size_t *got);
/* Write LEN bytes of BUF to FD from offset 0, updating *CRC chunk by chunk. 0 or -errno
 * (-ENOSPC, -EIO...). */
int vgpu_pwrite_crc(int fd, const void *buf, size_t len, uint32_t *crc);

#endif
