/* strmap.c: see strmap.h. Load factor is kept under 1/2; lookups compare the stored hash, the
 * length and the first 16 bytes before they read the rest of a longer string in the arena. */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "strmap.h"

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return (uint32_t)h;
}

#define OFF_BITS 40
#define OFF_MASK ((UINT64_C(1) << OFF_BITS) - 1)
#define LONG_LEN 0xFFFFFFu /* a length of 2^24 - 1 bytes or more: the true one is in offs */

typedef struct key {
    const char *s;
    size_t n;
    uint32_t h;
    uint64_t head[2];
    uint32_t len24;
} key;

static key key_of(const char *s, size_t n, uint32_t h)
{
    key k = {.s = s, .n = n, .h = h, .len24 = n < LONG_LEN ? (uint32_t)n : LONG_LEN};
    if (n) memcpy(k.head, s, n < 16 ? n : 16);
    return k;
}

static size_t slot_len(const strmap *m, const struct strmap_slot *e)
{
    uint32_t len = (uint32_t)(e->loc >> OFF_BITS);
    return len != LONG_LEN ? len : (size_t)(m->offs[e->id1] - m->offs[e->id1 - 1]);
}

static int slot_is(const strmap *m, const struct strmap_slot *e, const key *k)
{
    if (e->hash != k->h || (uint32_t)(e->loc >> OFF_BITS) != k->len24 || e->head[0] != k->head[0] ||
        e->head[1] != k->head[1])
        return 0;
    if (k->n <= 16) return 1;
    return slot_len(m, e) == k->n && memcmp(m->arena + (e->loc & OFF_MASK) + 16, k->s + 16, k->n - 16) == 0;
}

int strmap_init(strmap *m)
{
    memset(m, 0, sizeof *m);
    m->nslots = 64;
    m->slots = calloc(m->nslots, sizeof *m->slots);
    m->offs_cap = 64;
    m->offs = malloc(m->offs_cap * sizeof *m->offs);
    m->arena_cap = 1024;
    m->arena = malloc(m->arena_cap);
    if (!m->slots || !m->offs || !m->arena) {
        strmap_free(m);
        return -1;
    }
    m->offs[0] = 0;
    return 0;
}

void strmap_free(strmap *m)
{
    free(m->arena);
    free(m->offs);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static int64_t probe(const strmap *m, const key *k, uint32_t *slot)
{
    uint32_t mask = m->nslots - 1, i = k->h & mask;
    for (;;) {
        const struct strmap_slot *e = &m->slots[i];
        if (e->id1 == 0) {
            *slot = i;
            return -1;
        }
        if (slot_is(m, e, k)) return e->id1 - 1;
        i = (i + 1) & mask;
    }
}

uint32_t strmap_hash(const char *s, size_t n) { return hash_bytes(s, n); }

int64_t strmap_find_hashed(const strmap *m, const char *s, size_t n, uint32_t h)
{
    uint32_t slot;
    key k = key_of(s, n, h);
    return probe(m, &k, &slot);
}

void strmap_prefetch_rest(const strmap *m, uint32_t h, size_t n)
{
    const struct strmap_slot *e = &m->slots[h & (m->nslots - 1)];
    if (n > 16 && e->id1 && e->hash == h) __builtin_prefetch(m->arena + (e->loc & OFF_MASK) + 16);
}

int64_t strmap_find(const strmap *m, const char *s, size_t n)
{
    return strmap_find_hashed(m, s, n, hash_bytes(s, n));
}

/* A large slot array is read at random (one lookup per history row): on 2 MB pages a lookup
 * costs one cache miss instead of a cache miss and a page-table walk. */
static struct strmap_slot *alloc_slots(uint32_t ns)
{
    size_t bytes = (size_t)ns * sizeof(struct strmap_slot);
    if (bytes < ((size_t)4 << 20)) return calloc(ns, sizeof(struct strmap_slot));
    void *p;
    if (posix_memalign(&p, (size_t)2 << 20, bytes) != 0) return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: without THP only slower */
    memset(p, 0, bytes);
    return p;
}

static int grow_slots(strmap *m)
{
    uint32_t ns = m->nslots * 2;
    struct strmap_slot *slots = alloc_slots(ns);
    if (!slots) return -1;
    for (uint32_t i = 0; i < m->nslots; i++) {
        if (!m->slots[i].id1) continue;
        uint32_t j = m->slots[i].hash & (ns - 1);
        while (slots[j].id1) j = (j + 1) & (ns - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots, m->nslots = ns;
    return 0;
}

int64_t strmap_intern(strmap *m, const char *s, size_t n, int *added)
{
    uint32_t slot;
    key k = key_of(s, n, hash_bytes(s, n));
    int64_t id = probe(m, &k, &slot);
    *added = 0;
    if (id >= 0) return id;
    if (m->n == UINT32_MAX - 1 || m->arena_len + n > OFF_MASK) return -1;
    if (m->arena_len + n > m->arena_cap) {
        uint64_t cap = m->arena_cap * 2;
        while (cap < m->arena_len + n) cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a) return -1;
        m->arena = a, m->arena_cap = cap;
    }
    if (m->n + 2 > m->offs_cap) {
        uint64_t *o = realloc(m->offs, (size_t)m->offs_cap * 2 * sizeof *o);
        if (!o) return -1;
        m->offs = o, m->offs_cap *= 2;
    }
    if (n) memcpy(m->arena + m->arena_len, s, n);
    uint64_t off = m->arena_len;
    m->arena_len += n;
    id = m->n++;
    m->offs[m->n] = m->arena_len;
    m->slots[slot] = (struct strmap_slot){.head = {k.head[0], k.head[1]}, .hash = k.h, .id1 = (uint32_t)id + 1,
                                          .loc = off | (uint64_t)k.len24 << OFF_BITS};
    if ((uint64_t)m->n * 2 > m->nslots && grow_slots(m) != 0) return -1;
    *added = 1;
    return id;
}
