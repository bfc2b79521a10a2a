/* inflate.h: one gzip member at a time, through zlib or Intel's ISA-L (igzip, several times
 * faster; used when the build found it). Both give the same bytes, the same member ends and the
 * same verdicts on damaged data (a reason from a short fixed list, never a library's own
 * message), so a file reads the same whatever the implementation: tests hold them to it.
 * DEFECTOR_INFLATE=zlib in the environment selects zlib, for comparison. */
#ifndef DF_INFLATE_H
#define DF_INFLATE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { INFLATE_ZLIB, INFLATE_ISAL } inflate_impl;

typedef enum {
    INFLATE_MORE, /* give more input (all of it was used) or more room for output */
    INFLATE_END,  /* the member ended here, its trailer checked; the rest of the input is after it */
    INFLATE_BAD,  /* damaged data: inflater_reason() says how */
    INFLATE_NOMEM
} inflate_rc;

typedef struct inflater inflater;

/* ISA-L when the build has it and DEFECTOR_INFLATE is not "zlib"; otherwise zlib. */
inflate_impl inflate_default(void);
int inflate_have_isal(void);
const char *inflate_impl_name(inflate_impl impl); /* "zlib", "isa-l" */

inflater *inflater_new(inflate_impl impl); /* NULL: out of memory (or no ISA-L in this build) */
void inflater_free(inflater *z);           /* NULL is a no-op */
/* Starts a gzip member (its header comes next in the input). */
int inflater_member_start(inflater *z);
/* Inflates in[0, in_len) into out[0, out_cap): *used bytes of input read, *made bytes written. */
inflate_rc inflater_run(inflater *z, const unsigned char *in, size_t in_len, size_t *used, unsigned char *out,
                        size_t out_cap, size_t *made);
/* After INFLATE_BAD: "not a gzip header", "invalid compressed data" or "checksum mismatch". */
const char *inflater_reason(const inflater *z);
/* The current member's header carries BGZF's extra subfield ('B', 'C', length 2). */
int inflater_member_bgzf(const inflater *z);
uint64_t inflater_member_out(const inflater *z); /* bytes the current member has given */

#endif
