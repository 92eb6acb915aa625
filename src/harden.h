/* harden.h: the hardened mode's secrets, link encoding, free marker and pool-header canary
 * (harden.c), for the layers that keep free blocks: the pool core (pool.c), the depot
 * (depot.c) and the thread caches (tcache.c). docs/hardening.md has the design and the threat
 * model.
 *
 * The mode is decided once: init calls pymt__harden_init before the first pool block exists,
 * and pymt__hardened never changes afterwards. Only slow paths read it; the inline fast path
 * (tcache.h) never does, because in the hardened mode its bins stay empty with max 0.
 *
 * A free block in the hardened mode (any class: blocks are at least 16 bytes):
 *   word 0  encoded link: rotl(next ^ K ^ mix(block), R)   next block of its chain, or NULL
 *   word 1  free marker:  mix(block) ^ T
 * with K, R, T secrets drawn at init (getrandom) and mix(b) = b * 0x9e3779b97f4a7c15 (Knuth's
 * multiplicative hash: every address bit reaches the high bits). A link is thus bound to the
 * block that holds it, so one copied from another block decodes to garbage, and so does any
 * value written without the secrets: the decoded pointer then fails the check its reader makes
 * (a block start of the expected class in one of pymt's arenas, or of the expected pool) and
 * the program stops with a report. NULL too is encoded, so a zeroed word is caught as well.
 * The marker tells a block already free from a live one, whose word 1 holds program data (a
 * collision needs the 64-bit secret T), so freeing it again is caught. Allocation clears both
 * words, so a live block holds no encoded value and no stale marker.
 *
 * Pool headers carry a 32-bit canary (struct pymt__pool in types.h, its first field: a linear
 * overflow from the pool below reaches it before anything else), derived from the pool's
 * address and the secret C. The core checks it, with the rest of the header's structure,
 * whenever it touches the header.
 *
 * The reports (harden.c) write one line with write(2) from a stack buffer and abort: no
 * allocation, no stdio, no lock. Each names the block (or pool) and the class, says "hardened
 * mode" and what was found. */
#ifndef PYMT_HARDEN_H
#define PYMT_HARDEN_H

#include "internal.h"
#include "track.h"

/* Hardened mode on (set once by init before the first pool block, then read-only). */
extern bool pymt__hardened;

typedef struct pymt__harden_keys {
    uintptr_t link;   /* K: xored into every link */
    unsigned rot;     /* R: 1..63, rotation of every link */
    uintptr_t tag;    /* T: the free marker's key */
    uint32_t canary;  /* C: the pool-header canary's key */
} pymt__harden_keys;
extern pymt__harden_keys pymt__hkeys;

/* Draw the secrets and set pymt__hardened to on. From init only, before any pool block. */
void pymt__harden_init(bool on);

/* The _m forms take m = pymt__harden_mix(b), for paths that need several of them. */
static inline uintptr_t pymt__harden_mix(const void *b) {
    return (uintptr_t)b * (uintptr_t)UINT64_C(0x9e3779b97f4a7c15);
}
static inline void *pymt__harden_enc_m(uintptr_t m, const void *next) {
    uintptr_t x = (uintptr_t)next ^ pymt__hkeys.link ^ m;
    unsigned r = pymt__hkeys.rot;
    return (void *)((x << r) | (x >> (64 - r)));
}
static inline void *pymt__harden_dec_m(uintptr_t m, const void *e) {
    uintptr_t x = (uintptr_t)e;
    unsigned r = pymt__hkeys.rot;
    x = (x >> r) | (x << (64 - r));
    return (void *)(x ^ pymt__hkeys.link ^ m);
}
static inline void *pymt__harden_tag_m(uintptr_t m) {
    return (void *)(m ^ pymt__hkeys.tag);
}
static inline void *pymt__harden_enc(const void *b, const void *next) {
    return pymt__harden_enc_m(pymt__harden_mix(b), next);
}
static inline void *pymt__harden_dec(const void *b, const void *e) {
    return pymt__harden_dec_m(pymt__harden_mix(b), e);
}
static inline void *pymt__harden_tag(const void *b) {
    return pymt__harden_tag_m(pymt__harden_mix(b));
}
static inline uint32_t pymt__harden_canary(const void *pool) {
    return (uint32_t)(pymt__harden_mix(pool) >> 32) ^ pymt__hkeys.canary;
}
_Static_assert(sizeof(uintptr_t) == 8, "the encoding rotates 64-bit words");

/* The link in word 0 of free block b, in the mode's encoding. */
static inline void *pymt__link_get(void *b) {
    void *v = pymt__blk_get(b, 0);
    return pymt__hardened ? pymt__harden_dec(b, v) : v;
}
static inline void pymt__link_set(void *b, void *next) {
    pymt__blk_set(b, 0, pymt__hardened ? pymt__harden_enc(b, next) : next);
}
/* Hardened mode: set, test and clear the free marker of block b. */
static inline void pymt__harden_mark(void *b) {
    pymt__blk_set(b, 1, pymt__harden_tag(b));
}
static inline bool pymt__harden_marked(void *b) {
    return pymt__blk_get(b, 1) == pymt__harden_tag(b);
}
/* Block b leaves the allocator: neither its link nor its marker stays behind. */
static inline void pymt__harden_clear(void *b) {
    pymt__blk_set(b, 0, NULL);
    pymt__blk_set(b, 1, NULL);
}

/* ---- reports: write one line to stderr and abort ------------------------------------------
 * block: the free block whose link was followed (NULL: a list head outside any block);
 * found: what the link decodes to; where: which list ("this thread's cache", ...). */
void pymt__harden_bad_link(const void *block, unsigned c, const void *found, const char *where)
    __attribute__((noreturn)) PYMT__COLD;
/* The free marker of a block on a free list is gone: written after it was freed. */
void pymt__harden_bad_marker(const void *block, unsigned c, const char *where)
    __attribute__((noreturn)) PYMT__COLD;
/* call ("free" or "realloc") of a block that is already free; where: where it was found. */
void pymt__harden_double_free(const char *call, const void *block, unsigned c,
                              const char *where) __attribute__((noreturn)) PYMT__COLD;
/* call(p) of a pointer inside a pool that is not the start of a block of its class c. */
void pymt__harden_bad_pointer(const char *call, const void *p, unsigned c)
    __attribute__((noreturn)) PYMT__COLD;
/* call(p) of a block boundary of a pool of class c that the pool has not carved yet. */
void pymt__harden_uncarved(const char *call, const void *p, unsigned c)
    __attribute__((noreturn)) PYMT__COLD;
/* call(p) of a pointer inside pymt's arena range but in no pool in use: its arena was given
 * back (a second free, or a use, of a block whose arena emptied since) or it never was one. */
void pymt__harden_not_in_pool(const char *call, const void *p)
    __attribute__((noreturn)) PYMT__COLD;
/* The header of pool is not whole; what: the field or check that failed. */
void pymt__harden_bad_pool(const void *pool, const char *what)
    __attribute__((noreturn)) PYMT__COLD;

#endif /* PYMT_HARDEN_H */
