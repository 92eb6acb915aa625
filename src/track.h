/* track.h: Valgrind and AddressSanitizer annotations for pool blocks, so both tools see pool
 * blocks as heap blocks. Everything here is an empty macro or a plain access unless the build
 * has PYMT_VALGRIND=ON (client requests) or -fsanitize=address (manual poisoning).
 *
 * Hook points (called by the pool core, the thread cache and the object-memory API):
 *   PYMT_TRACK_ALLOC(p, n)        block p of usable size n goes to the program
 *   PYMT_TRACK_FREE(p, n)         block p of usable size n comes back from the program
 *   PYMT_TRACK_POOL_INIT(b, n)    n bytes of fresh pool memory at b now hold free blocks only
 *   pymt__blk_get(b, i)           read link word i of a FREE block b (may be poisoned)
 *   pymt__blk_set(b, i, v)        write link word i of a FREE block b
 *   PYMT_TRACK_LINK_OPEN(b)       word 0 of FREE block b is about to be written by code that
 *                                 does not go through pymt__blk_set (ConcurrencyKit's push in
 *                                 handoff_ck.c); leave it accessible: the next pymt__blk_set
 *                                 or pymt__blk_get on b closes it again
 * A free block's words 0 and 1 hold the allocator's links; nothing else of it is read. */
#ifndef PYMT_TRACK_H
#define PYMT_TRACK_H

#include <stddef.h>

#define PYMT_TRACK_ALLOC(p, n) ((void)(p), (void)(n))
#define PYMT_TRACK_FREE(p, n) ((void)(p), (void)(n))
#define PYMT_TRACK_POOL_INIT(b, n) ((void)(b), (void)(n))
#define PYMT_TRACK_LINK_OPEN(b) ((void)(b))

static inline void *pymt__blk_get(void *b, unsigned i) {
    return ((void **)b)[i];
}
static inline void pymt__blk_set(void *b, unsigned i, void *v) {
    ((void **)b)[i] = v;
}

#endif /* PYMT_TRACK_H */
