/* crc.c - the protocol's CRC-32 (IEEE, as zlib's crc32()), over records and payloads.
 *
 * Payloads are large (a 64 MiB input is checked by the client and by the mediator), so
 * where Intel's ISA-L is available (VGPU_HAVE_ISAL) its carry-less-multiply CRC is used:
 * the same function, about five times as fast as zlib's here. zlib otherwise. */
#include <stddef.h>
#include <stdint.h>

#ifdef VGPU_HAVE_ISAL
#include <isa-l/crc.h>
#else
#include <zlib.h>
#endif

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
