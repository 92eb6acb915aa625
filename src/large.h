/* large.h: object memory above 512 bytes (large.c): the system allocator, with a small
 * per-thread cache of recently freed big blocks in front of it. */
#ifndef PYMT_LARGE_H
#define PYMT_LARGE_H

#include "internal.h"

/* A block of n > 512 bytes (zeroed when zero is true) for the object family; NULL + ENOMEM. */
void *pymt__large_malloc(size_t n, bool zero);
/* Give back a block from pymt__large_malloc (or a pooling-off block of the object family). */
void pymt__large_free(void *p);
/* Resize a block from pymt__large_malloc to n > 512 bytes (realloc's contract). */
void *pymt__large_realloc(void *p, size_t n);
/* Free every block the cache of tc keeps (its owner, or its exit destructor). */
struct pymt__tcache;
void pymt__large_release_all(struct pymt__tcache *tc);

#endif /* PYMT_LARGE_H */
