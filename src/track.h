/* track.h: Valgrind and AddressSanitizer annotations for pool blocks, so both tools see pool
 * blocks as heap blocks. Everything here is an empty inline function or a plain access unless
 * the build has PYMT_VALGRIND=ON (client requests) or -fsanitize=address (manual poisoning).
 *
 * Hook points (called by the pool core, the thread cache and the object-memory API):
 *   PYMT_TRACK_ALLOC(p, n)        block p goes to the program, which asked for n bytes: those n
 *                                 bytes become accessible, the rest of the block stays not
 *   PYMT_TRACK_FREE(p, n)         block p of usable size n comes back from the program
 *   PYMT_TRACK_RESIZE(p, o, n)    block p, accessible for o bytes, is kept in place for n bytes
 *   PYMT_TRACK_OPEN(p, n)         the allocator is about to read all n bytes of live block p
 *                                 (to copy it before freeing it), past the request too
 *   PYMT_TRACK_USABLE(p, n)       the program is told live block p has n usable bytes
 *                                 (pymt_usable_size): all n become accessible
 *   PYMT_TRACK_POOL_INIT(b, n)    n bytes of fresh pool memory at b now hold free blocks only
 *   PYMT_TRACK_RELEASE(b, n)      n bytes at b stop being pool blocks (unmapped, or reused as
 *                                 metadata): clear whatever the tools remember about them
 *   pymt__blk_get(b, i)           read link word i of a FREE block b (may be poisoned)
 *   pymt__blk_set(b, i, v)        write link word i of a FREE block b
 *   pymt__blk_peek(b, i)          read word i of a LIVE block b (the hardened mode's free-marker
 *                                 test before realloc), leaving what the tools know of it as
 *                                 it was
 *   PYMT_TRACK_LINK_OPEN(b)       word 0 of FREE block b is about to be written by code that
 *                                 does not go through pymt__blk_set (ConcurrencyKit's push in
 *                                 lfstack.c); leave it accessible: the next pymt__blk_set
 *                                 or pymt__blk_get on b closes it again
 * A free block's words 0 and 1 hold the allocator's links; nothing else of it is read.
 *
 * Valgrind (memcheck): ALLOC is VALGRIND_MALLOCLIKE_BLOCK of the whole block (the request
 * rounded up to its class: 16 bytes up to 512, a medium class's step above; memcheck cannot be told a new size for a block
 * resized in place without knowing the old request, so it sees block sizes), so a read of a
 * freed block or past the block is reported against a heap block with its allocation and free
 * stacks; RESIZE, OPEN and USABLE have nothing to do. FREE is VALGRIND_FREELIKE_BLOCK, POOL_INIT marks
 * fresh blocks NOACCESS. The link accessors make the word addressable for the access and
 * NOACCESS again after it; LINK_OPEN leaves word 0 open for ConcurrencyKit (the depot takes
 * whole stacks, so no thread reads the link of a block another thread has been handed).
 * Outside Valgrind a client request is a few no-op instructions (a rotate sequence the Valgrind
 * core recognises, result 0).
 *
 * AddressSanitizer: POOL_INIT and FREE poison, ALLOC unpoisons exactly n bytes (so the tail of
 * the block past the request stays poisoned: a one-byte overflow is caught), and the accessors
 * are not instrumented, so the allocator may touch poisoned link words. ASan reports such faults
 * as "use-after-poison" (it cannot tell a freed pool block from a never-used one).
 *
 * With neither, every hook compiles to nothing and the accessors are plain loads and stores. */
#ifndef PYMT_TRACK_H
#define PYMT_TRACK_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define PYMT__TRACK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYMT__TRACK_ASAN 1
#endif
#endif
#ifndef PYMT__TRACK_ASAN
#define PYMT__TRACK_ASAN 0
#endif

#if PYMT_CONFIG_VALGRIND
#include <valgrind/memcheck.h>
#endif
#if PYMT__TRACK_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* The block a pool request of n bytes gets, as pymt_usable_size reports it: a multiple of 16
 * up to 512 bytes, then the medium classes, four per doubling (internal.h). Valgrind is told
 * the whole block, so the program may use what pymt_usable_size promises and realloc may copy
 * the whole block. */
static inline size_t pymt__track_block(size_t n) {
    if (n <= 512)
        return ((n ? n : 1) + 15) & ~(size_t)15;
    size_t m = n - 1, step = (size_t)1 << (63 - __builtin_clzll(m) - 2);
    return (m / step + 1) * step;
}
static inline void pymt__track_alloc(void *p, size_t n) {
#if PYMT_CONFIG_VALGRIND
    VALGRIND_MALLOCLIKE_BLOCK(p, pymt__track_block(n), 0, 0);
#endif
#if PYMT__TRACK_ASAN
    __asan_unpoison_memory_region(p, n);
#endif
    (void)p, (void)n;
}
static inline void pymt__track_free(void *p, size_t n) {
#if PYMT_CONFIG_VALGRIND
    VALGRIND_FREELIKE_BLOCK(p, 0);
#endif
#if PYMT__TRACK_ASAN
    __asan_poison_memory_region(p, n);
#endif
    (void)p, (void)n;
}
static inline void pymt__track_resize(void *p, size_t oldn, size_t n) {
#if PYMT__TRACK_ASAN
    /* The old request is not known: bytes below n may still be poisoned as an old tail. */
    __asan_unpoison_memory_region(p, n);
    if (n < oldn)
        __asan_poison_memory_region((char *)p + n, oldn - n);
#endif
    (void)p, (void)oldn, (void)n;
}
static inline void pymt__track_open(void *p, size_t n) {
#if PYMT__TRACK_ASAN
    __asan_unpoison_memory_region(p, n);
#endif
    (void)p, (void)n;
}
static inline void pymt__track_pool_init(void *b, size_t n) {
#if PYMT_CONFIG_VALGRIND
    VALGRIND_MAKE_MEM_NOACCESS(b, n);
#endif
#if PYMT__TRACK_ASAN
    __asan_poison_memory_region(b, n);
#endif
    (void)b, (void)n;
}
static inline void pymt__track_release(void *b, size_t n) {
#if PYMT_CONFIG_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(b, n);
#endif
#if PYMT__TRACK_ASAN
    __asan_unpoison_memory_region(b, n);
#endif
    (void)b, (void)n;
}

#define PYMT_TRACK_ALLOC(p, n) pymt__track_alloc((void *)(p), (size_t)(n))
#define PYMT_TRACK_FREE(p, n) pymt__track_free((void *)(p), (size_t)(n))
#define PYMT_TRACK_RESIZE(p, o, n) pymt__track_resize((void *)(p), (size_t)(o), (size_t)(n))
#define PYMT_TRACK_OPEN(p, n) pymt__track_open((void *)(p), (size_t)(n))
#define PYMT_TRACK_USABLE(p, n) pymt__track_open((void *)(p), (size_t)(n))
#define PYMT_TRACK_POOL_INIT(b, n) pymt__track_pool_init((void *)(b), (size_t)(n))
#define PYMT_TRACK_RELEASE(b, n) pymt__track_release((void *)(b), (size_t)(n))

#if PYMT__TRACK_ASAN
#define PYMT__TRACK_RAW __attribute__((no_sanitize_address))
#else
#define PYMT__TRACK_RAW
#endif

static inline PYMT__TRACK_RAW void *pymt__blk_get(void *b, unsigned i) {
    void **w = (void **)b + i;
#if PYMT_CONFIG_VALGRIND
    VALGRIND_MAKE_MEM_DEFINED(w, sizeof *w);
    void *v = *w;
    VALGRIND_MAKE_MEM_NOACCESS(w, sizeof *w);
    return v;
#else
    return *w;
#endif
}
static inline PYMT__TRACK_RAW void pymt__blk_set(void *b, unsigned i, void *v) {
    void **w = (void **)b + i;
#if PYMT_CONFIG_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(w, sizeof *w);
    *w = v;
    VALGRIND_MAKE_MEM_NOACCESS(w, sizeof *w);
#else
    *w = v;
#endif
}
static inline PYMT__TRACK_RAW void *pymt__blk_peek(void *b, unsigned i) {
    void **w = (void **)b + i;
#if PYMT_CONFIG_VALGRIND
    /* the word may be undefined (never written by the program): read it as defined, then put
     * its definedness back */
    unsigned char vbits[sizeof *w];
    unsigned saved = VALGRIND_GET_VBITS(w, vbits, sizeof *w);
    VALGRIND_MAKE_MEM_DEFINED(w, sizeof *w);
    void *v = *w;
    if (saved == 1)
        (void)VALGRIND_SET_VBITS(w, vbits, sizeof *w);
    return v;
#else
    return *w;
#endif
}
static inline void pymt__track_link_open(void *b) {
#if PYMT_CONFIG_VALGRIND
    VALGRIND_MAKE_MEM_UNDEFINED(b, sizeof(void *));
#endif
    /* ASan: lfstack.c is not instrumented, nothing to open. */
    (void)b;
}
#define PYMT_TRACK_LINK_OPEN(b) pymt__track_link_open((void *)(b))

#endif /* PYMT_TRACK_H */
