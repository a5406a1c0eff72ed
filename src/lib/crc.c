/* crc.c - the protocol's CRC-32 (IEEE, as zlib's crc32()), over records and payloads.
 *
 * Payloads are large (a 64 MiB input is checked by the client and by the mediator), so
 * where Intel's ISA-L is available (VGPU_HAVE_ISAL) its carry-less-multiply CRC is used:
 * the same function, about five times as fast as zlib's here. zlib otherwise. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#ifdef VGPU_HAVE_ISAL
#include <isa-l/crc.h>
#else
#include <zlib.h>
#endif

#include "crc_io.h"
#include "record.h"

uint32_t vgpu_crc32_update(uint32_t crc, const void *buf, size_t len)
{
#ifdef VGPU_HAVE_ISAL
	return crc32_gzip_refl(crc, buf, len);
#else
	const unsigned char *p = buf;

	/* zlib takes uInt lengths; feed large buffers in pieces. */
	while (len > 0) {
		uInt chunk = len > (1u << 30) ? (1u << 30) : (uInt)len;
		crc = (uint32_t)crc32(crc, p, chunk);
		p += chunk;
		len -= chunk;
	}
	return crc;
#endif
}

uint32_t vgpu_crc32(const void *buf, size_t len)
{
	return vgpu_crc32_update(0, buf, len);
}

int vgpu_pread_crc(int fd, void *buf, size_t len, uint32_t *crc, size_t *got)
{
	char *p = buf;
	size_t off = 0;

	while (off < len) {
		size_t want = len - off < VGPU_CRC_CHUNK ? len - off : VGPU_CRC_CHUNK;
		ssize_t n = pread(fd, p + off, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (got)
				*got = off;
			return n < 0 ? -errno : -ENODATA;
		}
		*crc = vgpu_crc32_update(*crc, p + off, (size_t)n);
		off += (size_t)n;
	}
	if (got)
		*got = off;
	return 0;
}

int vgpu_pwrite_crc(int fd, const void *buf, size_t len, uint32_t *crc)
{
	const char *p = buf;
	size_t off = 0;

	while (off < len) {
		size_t want = len - off < VGPU_CRC_CHUNK ? len - off : VGPU_CRC_CHUNK;
		ssize_t n;

		*crc = vgpu_crc32_update(*crc, p + off, want);
		do
			n = pwrite(fd, p + off, want, (off_t)off);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -errno;
		if ((size_t)n < want)
			return -ENOSPC;   /* a short write to a regular file: the disk or quota is full */
		off += want;
	}
	return 0;
}
