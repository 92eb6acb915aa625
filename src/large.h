/* large.h: object memory above the threshold (large.c): the system allocator, with a small
 * per-thread cache of recently freed big blocks in front of it. The cache is a
 * pymt__large_cache (types.h) that the caller owns (the thread cache holds one); NULL means
 * "no cache": straight to the system allocator. */
#ifndef PYMT_LARGE_H
#define PYMT_LARGE_H

#include "sys.h"
#include "types.h"

/* Bytes a thread's cache may keep in all (PYMT_LARGE_CACHE; 0 keeps nothing). Set once by
 * init. */
void pymt__large_init(size_t budget);
/* A block of n bytes (zeroed when zero is true); NULL + ENOMEM. */
void *pymt__large_malloc(pymt__large_cache *lc, size_t n, bool zero);
/* Give back a block from pymt__large_malloc. */
void pymt__large_free(pymt__large_cache *lc, void *p);
/* Resize a block from pymt__large_malloc to n bytes (realloc's contract). */
void *pymt__large_realloc(pymt__large_cache *lc, void *p, size_t n);
/* Free every block lc keeps (its owner, or its thread's exit destructor). */
void pymt__large_release_all(pymt__large_cache *lc);
/* Free every block another thread's cache lc keeps (pymt_trim), unless its owner is using it
 * at that moment (a trimmer never waits for an owner); the usable bytes freed. The caller
 * keeps lc alive (the thread caches' registry, under the global lock). */
size_t pymt__large_trim(pymt__large_cache *lc);

#endif /* PYMT_LARGE_H */
