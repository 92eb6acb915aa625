/* records.h: fixed-size records on pages pymt maps itself (records.c), for metadata that must
 * not come from the system allocator, which may be pymt itself (the drop-in malloc): the part
 * of each thread cache that lives outside TLS.
 *
 * A pool of records hands out zeroed records of one size, 16-byte aligned, from chunks of
 * PYMT__RECORDS_CHUNK bytes mapped on demand; a chunk whose records are all free again is
 * unmapped unless it is the last one, so a program whose threads have all exited holds at
 * most one chunk. Not thread-safe: the caller serialises every call on a pool (tcache.c holds
 * the global lock). */
#ifndef PYMT_RECORDS_H
#define PYMT_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

#define PYMT__RECORDS_CHUNK ((size_t)64 << 10)

struct pymt__records_chunk;

typedef struct pymt__records {
    size_t size;                     /* bytes of one record, at most a quarter of a chunk */
    struct pymt__records_chunk *all; /* every chunk mapped, most recent first */
    size_t chunks, live;             /* chunks mapped; records handed out */
} pymt__records;

/* A pool of records of size bytes, nothing mapped yet. */
#define PYMT__RECORDS_INIT(bytes) {.size = (bytes)}

/* A zeroed record; NULL + ENOMEM when the OS refuses a chunk. */
void *pymt__records_alloc(pymt__records *r);
/* Give back a record of r. */
void pymt__records_free(pymt__records *r, void *p);
/* Validator: every chunk's counts and free list agree, and they add up to the pool's. */
bool pymt__records_check(const pymt__records *r);

#endif /* PYMT_RECORDS_H */
