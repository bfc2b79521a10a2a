/* sha256.h: SHA-256 (FIPS 180-4): the rule file's fingerprint in the run summary, the inputs'
 * (hashed as their bytes are read, gzsource.c) in the status file, and salted hashes of ids. */
#ifndef DF_SHA256_H
#define DF_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* hex receives 64 lowercase hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char hex[65]);

/* The same, over bytes given in pieces. */
typedef struct sha256_ctx {
    uint32_t h[8];
    unsigned char buf[64];
    size_t nbuf;
    uint64_t len;
} sha256_ctx;
void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
void sha256_final(sha256_ctx *c, char hex[65]);

/* A salted hash of an id or a raw row (--hash-ids): "#" and the first 16 hex digits of the
 * SHA-256 of salt, "\n" and s[0..n), into out (at least 18 bytes; out may be s). */
void sha256_id(const char *salt, const char *s, size_t n, char *out);

#endif
