/* records.c: fixed-size records on pymt's own pages (records.h).
 *
 *   chunk: PYMT__RECORDS_CHUNK bytes, mapped on its own
 *   +--------+--------+---------+--------+---------+-- ... --+
 *   | header | owner  | record  | owner  | record  |         |
 *   +--------+--------+---------+--------+---------+-- ... --+
 *   0        64       80        64+slot
 * Each slot is a 16-byte prefix holding its chunk's address while the record is handed out
 * (its free-list link while it is free) and the record. Slots are carved from the chunk's
 * start up, and reused from the chunk's free list first. A chunk is on the pool's list from
 * its mapping to its unmapping; a record is found a slot in the first chunk with room, which
 * is a short walk (a thread cache's record is about 1.5 KiB: 40-odd per chunk, so two
 * thousand threads make some fifty chunks). */
#include "records.h"

#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "os.h"

#define HEAD 64u
#define PREFIX 16u

typedef struct pymt__records_chunk {
    struct pymt__records_chunk *next;
    void *free;      /* free slots, linked through their prefix */
    uint32_t used;   /* records handed out */
    uint32_t carved; /* slots carved so far (used + on the free list) */
} chunk;
_Static_assert(sizeof(chunk) <= HEAD, "chunk header");

static size_t slot_size(const pymt__records *r) {
    return (PREFIX + r->size + 15) & ~(size_t)15;
}
static uint32_t slots_per_chunk(const pymt__records *r) {
    return (uint32_t)((PYMT__RECORDS_CHUNK - HEAD) / slot_size(r));
}
static bool has_room(const pymt__records *r, const chunk *k) {
    return k->free != NULL || k->carved < slots_per_chunk(r);
}

void *pymt__records_alloc(pymt__records *r) {
    pymt__assert(4 * slot_size(r) <= PYMT__RECORDS_CHUNK);
    chunk *k = r->all;
    while (k != NULL && !has_room(r, k))
        k = k->next;
    if (k == NULL) {
        k = pymt__os_reserve(PYMT__RECORDS_CHUNK); /* zeroed; NULL + ENOMEM */
        if (k == NULL)
            return NULL;
        k->next = r->all;
        r->all = k;
        r->chunks++;
    }
    char *slot;
    if (k->free != NULL) {
        slot = k->free;
        memcpy(&k->free, slot, sizeof k->free);
    } else {
        slot = (char *)k + HEAD + (size_t)k->carved * slot_size(r);
        k->carved++;
    }
    k->used++;
    r->live++;
    memcpy(slot, &k, sizeof k);
    memset(slot + PREFIX, 0, r->size);
    return slot + PREFIX;
}

void pymt__records_free(pymt__records *r, void *p) {
    char *slot = (char *)p - PREFIX;
    chunk *k;
    memcpy(&k, slot, sizeof k);
    memcpy(slot, &k->free, sizeof k->free);
    k->free = slot;
    k->used--;
    r->live--;
    if (k->used != 0 || r->chunks == 1)
        return;
    chunk **at = &r->all;
    while (*at != k)
        at = &(*at)->next;
    *at = k->next;
    r->chunks--;
    pymt__os_unmap(k, PYMT__RECORDS_CHUNK);
}

bool pymt__records_check(const pymt__records *r) {
    size_t chunks = 0, live = 0;
    for (const chunk *k = r->all; k != NULL; k = k->next) {
        if (k->used > k->carved || k->carved > slots_per_chunk(r))
            return false;
        uint32_t nfree = 0;
        for (const char *s = k->free; s != NULL && nfree <= k->carved; nfree++) {
            if (s < (const char *)k + HEAD || s >= (const char *)k + PYMT__RECORDS_CHUNK ||
                (size_t)(s - (const char *)k - HEAD) % slot_size(r) != 0)
                return false;
            const char *next;
            memcpy(&next, s, sizeof next);
            s = next;
        }
        if (nfree != k->carved - k->used)
            return false;
        chunks++;
        live += k->used;
    }
    return chunks == r->chunks && live == r->live;
}
