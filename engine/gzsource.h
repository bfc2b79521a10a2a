/* gzsource.h: bytes in. Streams a .csv.gz (any number of gzip members) or a plain file in
 * chunks, never holding the whole text; reports truncated or corrupt gzip clearly. */
#ifndef DF_GZSOURCE_H
#define DF_GZSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct gzsource gzsource;

df_status gzsource_open(const char *path, gzsource **out, df_error *err);
/* Fills buf with up to cap decompressed bytes. Returns the count (0 at the end of the data),
 * or -1 with err set. */
long gzsource_read(gzsource *s, char *buf, size_t cap, df_error *err);
uint64_t gzsource_bytes_in(const gzsource *s);   /* file bytes consumed so far */
uint64_t gzsource_file_size(const gzsource *s);  /* size of the file on disk */
int gzsource_is_gzip(const gzsource *s);
void gzsource_free(gzsource *s);

#endif
