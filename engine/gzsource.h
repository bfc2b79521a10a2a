/* gzsource.h: bytes in. Streams a .csv.gz (any number of gzip members, BGZF) or a plain file
 * in chunks, never holding the whole text; reports truncated or corrupt gzip clearly, and
 * refuses what is not CSV text (other compressions, gzip twice, UTF-16/32). A UTF-8 byte order
 * mark at the start is left out of the text. */
#ifndef DF_GZSOURCE_H
#define DF_GZSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct gzsource gzsource;

df_status gzsource_open(const char *path, gzsource **out, df_error *err);
/* The file is in 8-bit encoding enc (dialect.h: ENC_CP1252, ENC_LATIN1; ENC_UTF8 = as it is):
 * gzsource_read hands out its text converted to UTF-8. Before the first read. */
void gzsource_set_encoding(gzsource *s, int enc);
/* Fills buf with cap decompressed bytes (fewer only at the end of the data). Returns the count
 * (0 at the end), or -1 with err set. */
long gzsource_read(gzsource *s, char *buf, size_t cap, df_error *err);
uint64_t gzsource_bytes_in(const gzsource *s);   /* file bytes consumed so far */
uint64_t gzsource_file_size(const gzsource *s);  /* size of the file on disk */
/* The SHA-256 of the file's bytes (compressed as they are on disk), hashed as they were read;
 * what was not read yet is read first. Once, after the last read; -1 with errno on a read error. */
int gzsource_sha256(gzsource *s, char hex[65]);
int gzsource_is_gzip(const gzsource *s);
double gzsource_cpu_seconds(const gzsource *s); /* CPU time spent in gzsource_read */
void gzsource_free(gzsource *s);

#endif

/* A read-ahead pipe over a gzsource: with threaded = 1 a second thread decompresses the next
 * chunks while the caller parses the current one (a ring of NBUF chunks); with threaded = 0 it
 * reads in the caller's thread. Same bytes, same order either way. */
typedef struct gzpipe gzpipe;

df_status gzpipe_start(gzsource *src, size_t chunk, int threaded, gzpipe **out, df_error *err);
/* Points *buf at the next chunk (valid until the next call); returns its length, 0 at the end,
 * or -1 with err set (the source's error, as gzsource_read reports it). */
long gzpipe_next(gzpipe *p, const char **buf, df_error *err);
void gzpipe_free(gzpipe *p); /* stops the thread; NULL is a no-op */
