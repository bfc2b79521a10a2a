/* inflate.c: see inflate.h. Each implementation keeps the member's header extra field in the
 * same buffer, so BGZF is recognised the same way, and maps its library's errors to the same
 * three reasons. zlib parses the header itself (inflateGetHeader); ISA-L reads it with
 * isal_read_gzip_header first, then inflates the deflate data and checks the trailer. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef DF_HAVE_ISAL
#include <isa-l/igzip_lib.h>
#endif

#include "inflate.h"

#define EXTRA_MAX 65536 /* a gzip extra field is at most 65535 bytes */

struct inflater {
    inflate_impl impl;
    const char *reason;
    uint64_t member_out;
    unsigned char *extra;
    size_t extra_len;
    /* zlib */
    z_stream zs;
    gz_header zhead;
    int z_ready;
#ifdef DF_HAVE_ISAL
    struct inflate_state *is;
    struct isal_gzip_header ihead;
    int in_header; /* ISA-L: the member's header is still being read */
    size_t header_pos; /* ISA-L: header bytes read so far */
#endif
};

int inflate_have_isal(void)
{
#ifdef DF_HAVE_ISAL
    return 1;
#else
    return 0;
#endif
}

inflate_impl inflate_default(void)
{
    const char *e = getenv("DEFECTOR_INFLATE");
    if (e && strcmp(e, "zlib") == 0) return INFLATE_ZLIB;
    return inflate_have_isal() ? INFLATE_ISAL : INFLATE_ZLIB;
}

const char *inflate_impl_name(inflate_impl impl) { return impl == INFLATE_ISAL ? "isa-l" : "zlib"; }

inflater *inflater_new(inflate_impl impl)
{
    if (impl == INFLATE_ISAL && !inflate_have_isal()) return NULL;
    inflater *z = calloc(1, sizeof *z);
    if (!z || !(z->extra = malloc(EXTRA_MAX))) return free(z), NULL;
    z->impl = impl;
#ifdef DF_HAVE_ISAL
    /* zeroed: on damaged data (a distance back past the start) ISA-L copies from its own buffers
     * without a check; they must hold zeros, not whatever the heap held, for the text handed out
     * before the error (the member's checksum then fails) to be the same from run to run */
    if (impl == INFLATE_ISAL && !(z->is = calloc(1, sizeof *z->is))) return inflater_free(z), NULL;
#endif
    if (impl == INFLATE_ZLIB) {
        if (inflateInit2(&z->zs, 15 + 16) != Z_OK) return inflater_free(z), NULL;
        z->z_ready = 1;
    }
    return z;
}

void inflater_free(inflater *z)
{
    if (!z) return;
    if (z->z_ready) inflateEnd(&z->zs);
#ifdef DF_HAVE_ISAL
    free(z->is);
#endif
    free(z->extra);
    free(z);
}

int inflater_member_start(inflater *z)
{
    z->member_out = 0, z->extra_len = 0, z->reason = NULL;
#ifdef DF_HAVE_ISAL
    if (z->impl == INFLATE_ISAL) {
        isal_inflate_init(z->is);
        isal_gzip_header_init(&z->ihead);
        z->ihead.extra = z->extra, z->ihead.extra_buf_len = EXTRA_MAX;
        z->in_header = 1, z->header_pos = 0;
        return 0;
    }
#endif
    if (inflateReset(&z->zs) != Z_OK) return -1;
    memset(&z->zhead, 0, sizeof z->zhead);
    z->zhead.extra = z->extra, z->zhead.extra_max = EXTRA_MAX;
    return inflateGetHeader(&z->zs, &z->zhead) == Z_OK ? 0 : -1;
}

/* zlib's own words for a bad header (as opposed to bad data or a bad check). */
static const char *zlib_reason(const char *msg)
{
    if (!msg) return "invalid compressed data";
    if (strstr(msg, "header") || strstr(msg, "method") || strstr(msg, "flags")) return "not a gzip header";
    if (strstr(msg, "check")) return "checksum mismatch";
    return "invalid compressed data";
}

static inflate_rc run_zlib(inflater *z, const unsigned char *in, size_t in_len, size_t *used, unsigned char *out,
                           size_t out_cap, size_t *made)
{
    z->zs.next_in = (unsigned char *)in, z->zs.avail_in = (uInt)(in_len > UINT32_MAX ? UINT32_MAX : in_len);
    z->zs.next_out = out, z->zs.avail_out = (uInt)(out_cap > UINT32_MAX ? UINT32_MAX : out_cap);
    uInt in0 = z->zs.avail_in, out0 = z->zs.avail_out;
    int zr = inflate(&z->zs, Z_NO_FLUSH);
    *used = in0 - z->zs.avail_in, *made = out0 - z->zs.avail_out;
    z->member_out += *made;
    if (z->zhead.done == 1) z->extra_len = z->zhead.extra_len < EXTRA_MAX ? z->zhead.extra_len : EXTRA_MAX;
    if (zr == Z_STREAM_END) return INFLATE_END;
    if (zr == Z_OK || zr == Z_BUF_ERROR) return INFLATE_MORE;
    if (zr == Z_MEM_ERROR) return INFLATE_NOMEM;
    z->reason = zlib_reason(z->zs.msg);
    return INFLATE_BAD;
}

#ifdef DF_HAVE_ISAL
static inflate_rc isal_bad(inflater *z, int r)
{
    z->reason = r == ISAL_INVALID_WRAPPER || r == ISAL_UNSUPPORTED_METHOD ? "not a gzip header"
                : r == ISAL_INCORRECT_CHECKSUM                           ? "checksum mismatch"
                                                                         : "invalid compressed data";
    return INFLATE_BAD;
}

static inflate_rc run_isal(inflater *z, const unsigned char *in, size_t in_len, size_t *used, unsigned char *out,
                           size_t out_cap, size_t *made)
{
    struct inflate_state *s = z->is;
    s->next_in = (uint8_t *)in, s->avail_in = (uint32_t)(in_len > UINT32_MAX ? UINT32_MAX : in_len);
    s->next_out = out, s->avail_out = (uint32_t)(out_cap > UINT32_MAX ? UINT32_MAX : out_cap);
    uint32_t in0 = s->avail_in, out0 = s->avail_out;
    int r = ISAL_DECOMP_OK;
    if (z->in_header) {
        /* RFC 1952: the flag byte's reserved bits must be zero (zlib refuses them, ISA-L does not) */
        if (z->header_pos <= 3 && 3 - z->header_pos < in_len && (in[3 - z->header_pos] & 0xe0)) {
            *used = *made = 0;
            return isal_bad(z, ISAL_INVALID_WRAPPER);
        }
        r = isal_read_gzip_header(s, &z->ihead);
        z->header_pos += in0 - s->avail_in;
        if (r == ISAL_DECOMP_OK) {
            z->in_header = 0;
            z->extra_len = z->ihead.extra_len < EXTRA_MAX ? z->ihead.extra_len : EXTRA_MAX;
            s->crc_flag = ISAL_GZIP_NO_HDR_VER;
        }
    }
    if (!z->in_header && r == ISAL_DECOMP_OK) r = isal_inflate(s);
    *used = in0 - s->avail_in, *made = out0 - s->avail_out;
    z->member_out += *made;
    if (r == ISAL_END_INPUT) return INFLATE_MORE;
    if (r != ISAL_DECOMP_OK) return isal_bad(z, r);
    return !z->in_header && s->block_state == ISAL_BLOCK_FINISH ? INFLATE_END : INFLATE_MORE;
}
#endif

inflate_rc inflater_run(inflater *z, const unsigned char *in, size_t in_len, size_t *used, unsigned char *out,
                        size_t out_cap, size_t *made)
{
#ifdef DF_HAVE_ISAL
    if (z->impl == INFLATE_ISAL) return run_isal(z, in, in_len, used, out, out_cap, made);
#endif
    return run_zlib(z, in, in_len, used, out, out_cap, made);
}

const char *inflater_reason(const inflater *z) { return z->reason ? z->reason : "invalid compressed data"; }

int inflater_member_bgzf(const inflater *z)
{
    for (size_t i = 0; i + 4 <= z->extra_len;) {
        size_t len = (size_t)z->extra[i + 2] | (size_t)z->extra[i + 3] << 8;
        if (z->extra[i] == 'B' && z->extra[i + 1] == 'C' && len == 2) return 1;
        i += 4 + len;
    }
    return 0;
}

uint64_t inflater_member_out(const inflater *z) { return z->member_out; }
