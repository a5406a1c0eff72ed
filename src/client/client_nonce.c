/* client_nonce.c - the request's nonce (docs/PROTOCOL.md 3.1, docs/CLIENT.md step 3) and
 * the process's fork generation, without a system call per request.
 *
 * The nonce tells writers of one VM directory apart (two writers that both picked a seq;
 * an old request of this writer from another's): it must differ between writers and
 * between the requests of one writer, and not be guessable by whom cannot read the
 * directory. Per handle, 128 random bits (getrandom) are drawn at its first request, and
 * each request's nonce is SipHash-2-4 under that key of a per-handle counter: distinct
 * for every request of the handle (a keyed permutation would do; SipHash is a PRF whose
 * outputs of distinct counters collide with probability 2^-64, as random ones do), as
 * unpredictable as random digits to whom does not hold the key. A forked child shares the
 * parent's key and counter, so it draws its own (the fork generation below says it is a
 * child). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "client_int.h"

/* Incremented in every forked child (pthread_atfork): a handle that noted another value
 * belongs to the parent's process. vfork()/clone() children that call no client
 * function (posix_spawn's exec) need none. */
static unsigned fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void forked_child(void)
{
	__atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

static void fork_register(void)
{
	pthread_atfork(NULL, NULL, forked_child);
}

unsigned vgpu_client_fork_gen(void)
{
	pthread_once(&fork_once, fork_register);
	return __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                              \
	do {                                                                  \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);     \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                        \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                        \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);     \
	} while (0)

uint64_t vgpu_client_siphash_u64(const uint64_t key[2], uint64_t m)
{
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ULL, v1 = key[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ULL, v3 = key[1] ^ 0x7465646279746573ULL;
	const uint64_t last = (uint64_t)8 << 56;    /* the message's length, no bytes left */

	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* A new key for C (at its first request, and in a forked child). */
static void nonce_rekey(struct vgpu_client *c, unsigned gen)
{
	if (getrandom(c->nonce_key, sizeof(c->nonce_key), 0) != (ssize_t)sizeof(c->nonce_key)) {
		/* No entropy (never on Linux >= 3.17 once booted): the writers still differ by
		 * pid and clock, which is what the nonce is for. */
		c->nonce_key[0] = vgpu_now_us() ^ ((uint64_t)getpid() << 32);
		c->nonce_key[1] = (uint64_t)(uintptr_t)c ^ vgpu_now_ms();
	}
	c->nonce_next = 0;
	c->nonce_gen = gen;
	c->nonce_keyed = 1;
}

void vgpu_client_make_nonce(struct vgpu_client *c, char nonce[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned gen = vgpu_client_fork_gen();
	uint64_t x;

	if (!c->nonce_keyed || c->nonce_gen != gen)
		nonce_rekey(c, gen);
	x = vgpu_client_siphash_u64(c->nonce_key, c->nonce_next++);
	for (int i = 15; i >= 0; i--, x >>= 4)
		nonce[i] = hex[x & 15];
	nonce[16] = '\0';
}
