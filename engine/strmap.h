/* strmap.h: interned byte strings -> dense ids 0..n-1, in insertion order.
 * Backs dictionary-encoded text columns and the entity key index. Strings live in one
 * arena; the table is open-addressed with the hash kept beside each id. */
#ifndef DF_STRMAP_H
#define DF_STRMAP_H

#include <stddef.h>
#include <stdint.h>

/* One probe reads one slot (two to a cache line): the hash, the length, the first 16 bytes and
 * where the string lies in the arena are kept beside the id, so a key of up to 16 bytes (most
 * ids, prefixed ones too) is matched without touching the arena, and a longer one (a UUID, an
 * e-mail) with one read of the arena, not two. */
struct strmap_slot {
    uint64_t head[2]; /* first 16 bytes, zero-padded */
    uint32_t hash, id1;
    uint64_t loc; /* arena offset (low 40 bits) | length (high 24 bits; LONG_LEN: see offs) */
};

typedef struct strmap {
    char *arena;
    uint64_t arena_len, arena_cap;
    uint64_t *offs; /* string i is arena[offs[i] .. offs[i+1]) */
    uint32_t n, offs_cap;
    struct strmap_slot *slots; /* open addressing; id + 1, 0 = free */
    uint32_t nslots;           /* power of two */
} strmap;

int strmap_init(strmap *m);
void strmap_free(strmap *m);
/* Returns the id of s, adding it when new (*added = 1); -1 on out of memory. */
int64_t strmap_intern(strmap *m, const char *s, size_t n, int *added);
/* Returns the id of s, or -1 when absent. */
int64_t strmap_find(const strmap *m, const char *s, size_t n);
/* The same in two steps, for a caller that knows a key early: strmap_hash() and a prefetch of
 * its slot, then strmap_find_hashed() once the cache line has had time to arrive. */
uint32_t strmap_hash(const char *s, size_t n);
static inline void strmap_prefetch(const strmap *m, uint32_t h) { __builtin_prefetch(&m->slots[h & (m->nslots - 1)]); }
int64_t strmap_find_hashed(const strmap *m, const char *s, size_t n, uint32_t h);
/* A third step for a key over 16 bytes, once its slot has arrived: the rest of the key that
 * slot holds is prefetched from the arena (nothing when the slot is another key's or free). */
void strmap_prefetch_rest(const strmap *m, uint32_t h, size_t n);
static inline const char *strmap_str(const strmap *m, uint32_t id, size_t *n)
{
    *n = (size_t)(m->offs[id + 1] - m->offs[id]);
    return m->arena + m->offs[id];
}

#endif
