/* medium.c: the medium tier (medium.h): 36 classes of 640 bytes to 256 KiB, each in 1 MiB arenas
 * of its own, each behind a lock of its own.
 *
 * Per class, under the class lock:
 *   - partial: the arenas with a free block (on their free list, or not carved yet), linked
 *     through the header's nextpool/prevpool; an arena with none is on no list;
 *   - empty: one wholly free arena kept for reuse, off the list, pages resident, so a program
 *     that frees everything of a class and allocates again does not map and fault a fresh
 *     arena each time; a second arena that empties is retired (arena.c: into the reserve with
 *     its pages discarded, or unmapped), and so is one that empties while MEDIUM_KEPT_MAX
 *     arenas are kept over all classes (kept_total), so that what the tier holds resident
 *     once a program has freed everything stays within that many MiB, not one per class;
 *     pymt_trim retires the kept ones too;
 *   - arenas, out: the class's arenas (the kept one included) and the blocks out of them (with
 *     the program, in thread caches, in the depot).
 * Blocks are carved lazily, from the base of the run up (the header's nextoffset), and taken
 * from an arena's free list before new ones are carved, so a class touches the pages it needs.
 * A refill takes its batch from the first arena of the list, then the next; a chain given back
 * goes block by block to the free list of the block's own arena (found by masking).
 * Never calls malloc; never touches a thread cache. */
#include "medium.h"

#include <errno.h>

#include "os.h"
#include "track.h"

_Atomic size_t pymt__medium_max = PYMT__SMALL_MAX;

#define MEDIUM_HEAD PYMT__POOL0_OVERHEAD /* header and class table; blocks start here */
#define MEDIUM_KEPT_MAX 2u               /* wholly free arenas kept, over all classes */

static _Atomic unsigned kept_total; /* arenas kept empty, all classes (a relaxed count) */

/* May one more wholly free arena be kept? Takes a place in kept_total when it may. */
static bool keep_one_more(void) {
    unsigned n = pymt__load_relaxed(&kept_total);
    while (n < MEDIUM_KEPT_MAX)
        if (pymt__cas_weak_relaxed(&kept_total, &n, n + 1))
            return true;
    return false;
}

typedef struct medium_class {
    pthread_mutex_t lock;
    pymt__pool *partial; /* arenas with a free block */
    pymt__pool *empty;   /* a wholly free arena kept, or NULL */
    size_t arenas, out;
    size_t locks, contended; /* acquisitions; those that found the lock taken */
} __attribute__((aligned(64))) medium_class;

static medium_class classes[PYMT__NMEDIUM] = {
    [0 ... PYMT__NMEDIUM - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}};

void pymt__medium_init(bool on) {
    pymt__store_relaxed(&pymt__medium_max, on ? PYMT__MEDIUM_MAX : PYMT__SMALL_MAX);
}

static medium_class *class_of(unsigned c) {
    pymt__assert(pymt__is_medium(c) && c < PYMT__NBINS);
    return &classes[c - PYMT__NCLASSES];
}

static void class_lock(medium_class *m) {
    bool busy = pthread_mutex_trylock(&m->lock) != 0;
    if (busy)
        pthread_mutex_lock(&m->lock);
    m->locks++;
    m->contended += busy;
}

static void class_unlock(medium_class *m) {
    pthread_mutex_unlock(&m->lock);
}

/* Blocks of class c in one arena; the largest carve offset of a whole block. */
static size_t arena_blocks(unsigned c) {
    return (PYMT__ARENA_SIZE - MEDIUM_HEAD) / pymt__class_to_size(c);
}
static uint32_t arena_maxnext(unsigned c) {
    return (uint32_t)(PYMT__ARENA_SIZE - pymt__class_to_size(c));
}
static pymt__pool *header_of(const void *p) {
    return (pymt__pool *)((uintptr_t)p & ~(uintptr_t)PYMT__ARENA_MASK);
}
static bool has_free(const pymt__pool *h, unsigned c) {
    return h->freeblock != NULL || h->nextoffset <= arena_maxnext(c);
}

static void list_push(medium_class *m, pymt__pool *h) {
    h->prevpool = NULL;
    h->nextpool = m->partial;
    if (m->partial)
        m->partial->prevpool = h;
    m->partial = h;
}
static void list_unlink(medium_class *m, pymt__pool *h) {
    if (h->prevpool)
        h->prevpool->nextpool = h->nextpool;
    else
        m->partial = h->nextpool;
    if (h->nextpool)
        h->nextpool->prevpool = h->prevpool;
    h->nextpool = h->prevpool = NULL;
}

/* A fresh arena for class c, set up as one run of blocks. Class lock held (the arena layer
 * takes its own lock inside). NULL + ENOMEM. */
static pymt__pool *arena_fresh(unsigned c) {
    pymt__arena *a = pymt__arena_new_locked(PYMT__ARENA_MEDIUM);
    if (a == NULL)
        return NULL;
    pymt__pool *h = (pymt__pool *)a->address;
    h->canary = 0;
    h->szidx = c;
    h->count = 0;
    h->nextoffset = MEDIUM_HEAD;
    h->freeblock = NULL;
    h->nextpool = h->prevpool = NULL;
    h->arena = a;
    /* every 16 KiB of the arena is tagged c: free() finds a block's class where it finds a
     * pool block's (pymt__block_class) */
    for (unsigned k = 0; k < PYMT__POOLS_PER_ARENA; k++)
        pymt__pool_tag_set((char *)h + k * PYMT__POOL_SIZE, c);
    PYMT_TRACK_POOL_INIT((char *)h + MEDIUM_HEAD, PYMT__ARENA_SIZE - MEDIUM_HEAD);
    return h;
}

void *pymt__medium_take(unsigned c, size_t want, size_t *got) {
    medium_class *m = class_of(c);
    size_t size = pymt__class_to_size(c);
    uint32_t maxnext = arena_maxnext(c);
    void *chain = NULL;
    size_t n = 0;
    class_lock(m);
    while (n < want) {
        pymt__pool *h = m->partial;
        if (h == NULL) {
            h = m->empty;
            if (h != NULL) {
                m->empty = NULL;
                pymt__fetch_sub_relaxed(&kept_total, 1);
            } else {
                h = arena_fresh(c);
                if (h == NULL)
                    break;
                m->arenas++;
            }
            list_push(m, h);
        }
        while (n < want && h->freeblock != NULL) {
            void *b = h->freeblock;
            h->freeblock = pymt__blk_get(b, 0);
            pymt__blk_set(b, 0, chain);
            chain = b;
            n++;
            h->count++;
        }
        while (n < want && h->nextoffset <= maxnext) {
            void *b = (char *)h + h->nextoffset;
            h->nextoffset += (uint32_t)size;
            pymt__blk_set(b, 0, chain);
            chain = b;
            n++;
            h->count++;
        }
        if (!has_free(h, c))
            list_unlink(m, h);
    }
    m->out += n;
    class_unlock(m);
    *got = n;
    if (n == 0)
        errno = ENOMEM;
    return chain;
}

void pymt__medium_give(unsigned c, void *chain) {
    medium_class *m = class_of(c);
    pymt__arena *retire = NULL;
    class_lock(m);
    while (chain != NULL) {
        void *next = pymt__blk_get(chain, 0);
        pymt__pool *h = header_of(chain);
        pymt__assert(h->szidx == c && h->count > 0);
        if (!has_free(h, c))
            list_push(m, h); /* it was full */
        pymt__blk_set(chain, 0, h->freeblock);
        h->freeblock = chain;
        m->out--;
        if (--h->count == 0) {
            list_unlink(m, h);
            if (m->empty == NULL && keep_one_more()) {
                m->empty = h;
            } else {
                m->arenas--;
                pymt__store_relaxed(&h->arena->state, PYMT__ARENA_RETIRING);
                h->arena->nextarena = retire;
                retire = h->arena;
            }
        }
        chain = next;
    }
    class_unlock(m);
    pymt__pool_retire_list(retire);
}

void pymt__block_give_chains(void **chains, unsigned nchains) {
    unsigned nsmall = 0;
    for (unsigned i = 0; i < nchains; i++) {
        unsigned c = pymt__block_class(chains[i]);
        if (pymt__is_medium(c))
            pymt__medium_give(c, chains[i]);
        else
            chains[nsmall++] = chains[i];
    }
    pymt__pool_give_chains(chains, nsmall);
}

void *pymt__medium_alloc_one(unsigned c) {
    size_t got;
    return pymt__medium_take(c, 1, &got);
}

void pymt__medium_free_one(void *p) {
    pymt__blk_set(p, 0, NULL);
    pymt__medium_give(header_of(p)->szidx, p);
}

void pymt__medium_counts(pymt__pool_class_counts out[PYMT__NMEDIUM], size_t *empty,
                         size_t *locks, size_t *contended) {
    *empty = *locks = *contended = 0;
    for (unsigned i = 0; i < PYMT__NMEDIUM; i++) {
        medium_class *m = &classes[i];
        class_lock(m);
        out[i].pools = m->arenas;
        out[i].blocks = m->arenas * arena_blocks(PYMT__NCLASSES + i);
        out[i].out = m->out;
        *empty += m->empty != NULL;
        *locks += m->locks;
        *contended += m->contended;
        class_unlock(m);
    }
}

/* Give back the pages that lie wholly inside the free blocks of arena h (class lock held): a
 * block keeps the page of its first 16 bytes (its link), so blocks of 4 KiB and less give
 * nothing, one of 16 KiB three pages of its four or five, one of 256 KiB 63 of its 64 or 65. A block's memory is not the
 * program's while it is free, and it reads as zero after (a block handed out is
 * uninitialised memory anyway). */
static void arena_purge_free(const pymt__pool *h, size_t size) {
    for (void *b = h->freeblock; b != NULL; b = pymt__blk_get(b, 0))
        pymt__os_discard((char *)b + 16, size - 16);
}

size_t pymt__medium_trim(void) {
    size_t released = 0;
    for (unsigned i = 0; i < PYMT__NMEDIUM; i++) {
        medium_class *m = &classes[i];
        class_lock(m);
        /* the arenas in use: their free blocks' pages (the arenas with a free block are on the
         * list; those without have nothing to give) */
        size_t size = pymt__class_to_size(PYMT__NCLASSES + i);
        for (pymt__pool *a = m->partial; a != NULL; a = a->nextpool)
            arena_purge_free(a, size);
        pymt__pool *h = m->empty;
        if (h != NULL) {
            m->empty = NULL;
            pymt__fetch_sub_relaxed(&kept_total, 1);
            m->arenas--;
            pymt__store_relaxed(&h->arena->state, PYMT__ARENA_RETIRING);
        }
        class_unlock(m);
        if (h != NULL) {
            /* straight to the OS, not into the reserve: trimming is giving back */
            pymt__arena_unmap_retiring(h->arena);
            released += PYMT__ARENA_SIZE;
        }
    }
    return released;
}

/* ---- validator ---------------------------------------------------------------------------- */

typedef struct check_ctx {
    unsigned c;
    const medium_class *m;
    size_t arenas, out;
    bool ok;
} check_ctx;

static bool arena_ok(const pymt__pool *h, unsigned c, const pymt__arena *a) {
    size_t size = pymt__class_to_size(c);
    if ((uintptr_t)h != a->address || h->arena != a || h->szidx != c)
        return false;
    for (unsigned k = 0; k < PYMT__POOLS_PER_ARENA; k++)
        if (pymt__pool_tag((const char *)h + k * PYMT__POOL_SIZE) != pymt__class_tag(c))
            return false;
    if (h->nextoffset < MEDIUM_HEAD || h->nextoffset > PYMT__ARENA_SIZE ||
        (h->nextoffset - MEDIUM_HEAD) % size != 0)
        return false;
    size_t carved = (h->nextoffset - MEDIUM_HEAD) / size, nfree = 0;
    if (h->count > carved)
        return false;
    for (void *b = h->freeblock; b != NULL; b = pymt__blk_get(b, 0)) {
        uintptr_t off = (uintptr_t)b - (uintptr_t)h;
        if (off < MEDIUM_HEAD || off >= h->nextoffset || (off - MEDIUM_HEAD) % size != 0 ||
            ++nfree > carved)
            return false;
    }
    return nfree == carved - h->count;
}

static void check_one(pymt__arena *a, void *arg) {
    check_ctx *x = arg;
    const pymt__pool *h = (const pymt__pool *)a->address;
    if (h->szidx != x->c)
        return;
    x->arenas++;
    x->out += h->count;
    if (!arena_ok(h, x->c, a)) {
        x->ok = false;
        return;
    }
    /* on the list exactly when it has a free block and is not the kept empty arena */
    bool listed = false;
    for (const pymt__pool *p = x->m->partial; p != NULL && !listed; p = p->nextpool)
        listed = p == h;
    bool kept = x->m->empty == h;
    if (kept ? (listed || h->count != 0) : listed != has_free(h, x->c) || h->count == 0)
        x->ok = false;
}

bool pymt__medium_check(unsigned i) {
    if (i >= PYMT__NMEDIUM)
        return false;
    medium_class *m = &classes[i];
    check_ctx x = {PYMT__NCLASSES + i, m, 0, 0, true};
    /* every class lock: no medium arena changes state or is unmapped during the walk */
    for (unsigned k = 0; k < PYMT__NMEDIUM; k++)
        class_lock(&classes[k]);
    pymt__arena_foreach_locked(PYMT__ARENA_MEDIUM, check_one, &x);
    unsigned kept = 0;
    for (unsigned k = 0; k < PYMT__NMEDIUM; k++)
        kept += classes[k].empty != NULL;
    bool ok = x.ok && x.arenas == m->arenas && x.out == m->out &&
              kept == pymt__load_relaxed(&kept_total) && kept <= MEDIUM_KEPT_MAX;
    for (unsigned k = PYMT__NMEDIUM; k-- > 0;)
        class_unlock(&classes[k]);
    return ok;
}

/* ---- fork --------------------------------------------------------------------------------- */

void pymt__medium_atfork_prepare(void) {
    for (unsigned i = 0; i < PYMT__NMEDIUM; i++)
        pthread_mutex_lock(&classes[i].lock);
}

void pymt__medium_atfork_parent(void) {
    for (unsigned i = PYMT__NMEDIUM; i-- > 0;)
        pthread_mutex_unlock(&classes[i].lock);
}

void pymt__medium_atfork_child(void) {
    /* the forking thread took every lock in prepare; no other thread exists in the child */
    for (unsigned i = PYMT__NMEDIUM; i-- > 0;)
        pthread_mutex_unlock(&classes[i].lock);
}
