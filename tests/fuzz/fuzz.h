/* fuzz.h: what the fuzz targets (tests/fuzz/fuzz_*.c) share with the two ways they run: under
 * libFuzzer (cmake -DDEFECTOR_FUZZ=ON, clang) and replayed by replay.c in every CTest run (the
 * committed corpus, past findings included, and inputs made by the target's generator). */
#ifndef DF_FUZZ_H
#define DF_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The target: one input; a finding aborts after saying what differs (libFuzzer keeps the input). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* The target's generator for replay --random: an input of at most cap bytes into buf. */
size_t fuzz_generate(uint32_t *rnd, uint8_t *buf, size_t cap);

/* The input being replayed (named in findings), set by replay.c. */
extern const char *fuzz_input_name;
/* Reports a finding and aborts. */
void fuzz_finding(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A scratch file path for this process (under $TMPDIR, else /tmp), name appended. */
const char *fuzz_path(const char *name);
/* Writes data to path; 0 on success. */
int fuzz_write(const char *path, const void *data, size_t n);
/* Writes data gzip-compressed to path + ".gz"; 0 on success. */
int fuzz_write_gz(const char *path, const void *data, size_t n);
uint32_t fuzz_rand(uint32_t *state, uint32_t n);

#endif
