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
 * An arena from the warm reserve holds what its earlier owner carved (arena.h: dirty_end): the
 * end no block covers goes back when the class takes it, what lies past nextoffset at a trim.
 * Dirty blocks: a block given back to an arena that keeps others in use stays resident. The
 * big classes (16 KiB and up) bound that together: their dirty bytes may reach the bytes they
 * have out, or their regret when more, within 2 MiB .. 4 x PYMT_PURGE_MAX; past it, the class
 * giving back purges free blocks of its arenas (each gives back its pages but the one of its
 * link and moves to its arena's purged list) until the sum is half the bound or the class
 * has none left. A take uses an arena's purged list after its free list and counts each block
 * it takes from there as a regret: a refault the bound would have saved. The regret since the
 * last pymt_trim raises the bound, so a heap of big blocks that swings stops being purged
 * after a swing or two (the pools' rule, pool.c). pymt_trim purges every free block of every
 * class.
 * A refill takes its batch from the first arena of the list, then the next; a chain given back
 * goes block by block to the free list of the block's own arena (found by masking).
 * Never calls malloc; never touches a thread cache. */
#include "medium.h"

#include <errno.h>

#include "os.h"
#include "track.h"

_Atomic size_t pymt__medium_max = PYMT__SMALL_MAX;

#define MEDIUM_HEAD PYMT__POOL0_OVERHEAD /* header and its pad; blocks start here */
#define MEDIUM_KEPT_MAX 2u               /* wholly free arenas kept, over all classes */
#define MEDIUM_PURGE_SIZE ((size_t)16 << 10) /* classes of this block size and up purge */
#define MEDIUM_DIRTY_MIN ((size_t)2 << 20)   /* dirty bytes the big classes keep at least */
#define MEDIUM_LINK_KEPT 16u /* bytes at a purged block's start that keep their page: its link */

/* An arena's purged list and its length, in the pad after its header (pool.h: byte 48 is a
 * pool arena's core index, not used by a medium arena). */
#define MEDIUM_NPURGED_OFFSET 52u
#define MEDIUM_PURGED_OFFSET 56u
_Static_assert(MEDIUM_NPURGED_OFFSET > PYMT__ARENA_CORE_OFFSET &&
                   MEDIUM_PURGED_OFFSET + sizeof(void *) <= MEDIUM_HEAD,
               "the purged list in the header's pad");
static uint32_t *npurged_of(pymt__pool *h) {
    return (uint32_t *)((char *)h + MEDIUM_NPURGED_OFFSET);
}
static void **purged_of(pymt__pool *h) {
    return (void **)((char *)h + MEDIUM_PURGED_OFFSET);
}

/* Four times PYMT_PURGE_MAX (set once by init): the pools' bound counts blocks of at most 512
 * bytes, this one blocks of 16-256 KiB, of which 8 MiB are only 32-512. mstress at 8 threads
 * swings its big blocks by 8-16 MiB: at a cap of 8 MiB it faulted 57 thousand pages a run
 * against 22 thousand without purging, at 16 MiB 22, at 32 MiB and more 23-24. */
static size_t dirty_max = (size_t)32 << 20;

/* The big classes' sums, in bytes, that the bound reads: dirty, out, and regret since the last
 * trim. Each class adds what its own counts moved, under its lock (big_follow); relaxed: they
 * steer the bound and nothing else. */
static _Atomic size_t big_dirty, big_out, big_regret;

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
    size_t dirty; /* free blocks on the free lists of the listed arenas (not the kept one) */
    size_t purged, refaulted, refaulted_trim; /* blocks purged; taken again: all, at last trim */
    size_t locks, contended; /* acquisitions; those that found the lock taken */
} __attribute__((aligned(64))) medium_class;

static medium_class classes[PYMT__NMEDIUM] = {
    [0 ... PYMT__NMEDIUM - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}};

void pymt__medium_init(bool on, size_t purge_max) {
    pymt__store_relaxed(&pymt__medium_max, on ? PYMT__MEDIUM_MAX : PYMT__SMALL_MAX);
    dirty_max = 4 * purge_max;
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
static bool has_free(pymt__pool *h, unsigned c) {
    return h->freeblock != NULL || *purged_of(h) != NULL || h->nextoffset <= arena_maxnext(c);
}
/* Blocks on h's free list: carved, not out, not purged. */
static size_t dirty_in(pymt__pool *h, unsigned c) {
    return (h->nextoffset - MEDIUM_HEAD) / pymt__class_to_size(c) - h->count - *npurged_of(h);
}

typedef struct big_counts {
    size_t dirty, out, regret;
} big_counts;
static big_counts counts_of(const medium_class *m) {
    return (big_counts){m->dirty, m->out, m->refaulted - m->refaulted_trim};
}
/* Class m (blocks of size bytes) moved from before: the sums follow (modular arithmetic
 * subtracts what fell). Class lock held. */
static void big_follow(const medium_class *m, size_t size, big_counts before) {
    if (size < MEDIUM_PURGE_SIZE)
        return;
    big_counts now = counts_of(m);
    pymt__fetch_add_relaxed(&big_dirty, (now.dirty - before.dirty) * size);
    pymt__fetch_add_relaxed(&big_out, (now.out - before.out) * size);
    pymt__fetch_add_relaxed(&big_regret, (now.regret - before.regret) * size);
}

/* The dirty bytes the big classes may keep together. */
static size_t dirty_bound(void) {
    size_t out = pymt__load_relaxed(&big_out), regret = pymt__load_relaxed(&big_regret);
    size_t b = out > regret ? out : regret;
    return b < MEDIUM_DIRTY_MIN ? MEDIUM_DIRTY_MIN : b > dirty_max ? dirty_max : b;
}

/* Purge free blocks of the listed arenas of class m until at most keep are dirty (class lock
 * held): each gives back its pages but the one of its link and moves to its arena's purged
 * list. */
static void purge_dirty(medium_class *m, size_t size, size_t keep) {
    for (pymt__pool *h = m->partial; h != NULL && m->dirty > keep; h = h->nextpool)
        while (h->freeblock != NULL && m->dirty > keep) {
            void *b = h->freeblock;
            h->freeblock = pymt__blk_get(b, 0);
            pymt__arena_note_released(
                pymt__os_discard((char *)b + MEDIUM_LINK_KEPT, size - MEDIUM_LINK_KEPT));
            pymt__blk_set(b, 0, *purged_of(h));
            *purged_of(h) = b;
            (*npurged_of(h))++;
            m->dirty--;
            m->purged++;
        }
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
    /* a warm arena keeps what its earlier owner carved: the end that no block of c covers would
     * stay resident for good (the class never carves it, and a full arena is on no list that
     * pymt_trim walks), so it goes now; the trim gives back what lies past nextoffset */
    pymt__arena_discard_uncarved(a, MEDIUM_HEAD + arena_blocks(c) * pymt__class_to_size(c));
    pymt__pool *h = (pymt__pool *)a->address;
    h->canary = 0;
    h->szidx = c;
    h->count = 0;
    h->nextoffset = MEDIUM_HEAD;
    h->freeblock = NULL;
    *purged_of(h) = NULL;
    *npurged_of(h) = 0;
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
    big_counts before = counts_of(m);
    while (n < want) {
        pymt__pool *h = m->partial;
        if (h == NULL) {
            h = m->empty;
            if (h != NULL) {
                m->empty = NULL;
                pymt__fetch_sub_relaxed(&kept_total, 1);
                m->dirty += dirty_in(h, c);
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
            m->dirty--;
        }
        while (n < want && *purged_of(h) != NULL) {
            void *b = *purged_of(h);
            *purged_of(h) = pymt__blk_get(b, 0);
            (*npurged_of(h))--;
            pymt__blk_set(b, 0, chain);
            chain = b;
            n++;
            h->count++;
            m->refaulted++;
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
    big_follow(m, size, before);
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
    big_counts before = counts_of(m);
    while (chain != NULL) {
        void *next = pymt__blk_get(chain, 0);
        pymt__pool *h = header_of(chain);
        pymt__assert(h->szidx == c && h->count > 0);
        if (!has_free(h, c))
            list_push(m, h); /* it was full */
        pymt__blk_set(chain, 0, h->freeblock);
        h->freeblock = chain;
        m->out--;
        m->dirty++;
        if (--h->count == 0) {
            list_unlink(m, h);
            m->dirty -= dirty_in(h, c); /* off the list: kept whole, or retired */
            if (m->empty == NULL && keep_one_more()) {
                m->empty = h;
            } else {
                m->arenas--;
                pymt__arena_note_carved(h->arena, h->nextoffset);
                pymt__store_relaxed(&h->arena->state, PYMT__ARENA_RETIRING);
                h->arena->nextarena = retire;
                retire = h->arena;
            }
        }
        chain = next;
    }
    size_t size = pymt__class_to_size(c);
    big_follow(m, size, before);
    if (size >= MEDIUM_PURGE_SIZE) {
        /* over the bound: this class purges until the sum is half the bound, or it has no
         * dirty block left */
        size_t bound = dirty_bound(), dirty = pymt__load_relaxed(&big_dirty);
        if (dirty > bound) {
            size_t excess = (dirty - bound / 2 + size - 1) / size;
            before = counts_of(m);
            purge_dirty(m, size, m->dirty > excess ? m->dirty - excess : 0);
            big_follow(m, size, before);
        }
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
                         size_t *locks, size_t *contended, size_t *purged, size_t *refaulted) {
    *empty = *locks = *contended = *purged = *refaulted = 0;
    for (unsigned i = 0; i < PYMT__NMEDIUM; i++) {
        medium_class *m = &classes[i];
        class_lock(m);
        out[i].pools = m->arenas;
        out[i].blocks = m->arenas * arena_blocks(PYMT__NCLASSES + i);
        out[i].out = m->out;
        *empty += m->empty != NULL;
        *locks += m->locks;
        *contended += m->contended;
        *purged += m->purged;
        *refaulted += m->refaulted;
        class_unlock(m);
    }
}

void pymt__medium_trim(void) {
    for (unsigned i = 0; i < PYMT__NMEDIUM; i++) {
        medium_class *m = &classes[i];
        class_lock(m);
        /* the arenas in use: their free blocks' pages (the arenas with a free block are on the
         * list; those without have nothing to give). A block keeps the page of its first 16
         * bytes (its link), so blocks of 4 KiB and less give nothing, one of 16 KiB three pages
         * of its four or five, one of 256 KiB 63 of its 64 or 65. A block's memory is not the
         * program's while it is free, and it reads as zero after (a block handed out is
         * uninitialised memory anyway). */
        size_t size = pymt__class_to_size(PYMT__NCLASSES + i);
        big_counts before = counts_of(m);
        if (size - MEDIUM_LINK_KEPT >= pymt__os_page_size()) /* else none has a whole page */
            purge_dirty(m, size, 0);
        /* and what an arena that came warm holds past its carved blocks (an arena with blocks
         * not carved is on the list; its end past the last block went when it was taken) */
        for (pymt__pool *p = m->partial; p != NULL; p = p->nextpool)
            pymt__arena_discard_uncarved(p->arena, p->nextoffset);
        m->refaulted_trim = m->refaulted; /* the swing is learned again */
        big_follow(m, size, before);
        pymt__pool *h = m->empty;
        if (h != NULL) {
            m->empty = NULL;
            pymt__fetch_sub_relaxed(&kept_total, 1);
            m->arenas--;
            pymt__store_relaxed(&h->arena->state, PYMT__ARENA_RETIRING);
        }
        class_unlock(m);
        if (h != NULL) /* straight to the OS, not into the reserve: trimming is giving back */
            pymt__arena_unmap_retiring(h->arena);
    }
}

/* ---- validator ---------------------------------------------------------------------------- */

typedef struct check_ctx {
    unsigned c;
    const medium_class *m;
    size_t arenas, out, dirty;
    bool ok;
} check_ctx;

/* The blocks of list b, at most limit (carved) of them, each a carved block of h; the count,
 * or limit + 1 when the list is not that. */
static size_t list_blocks(const pymt__pool *h, void *b, size_t size, size_t limit) {
    size_t n = 0;
    for (; b != NULL; b = pymt__blk_get(b, 0)) {
        uintptr_t off = (uintptr_t)b - (uintptr_t)h;
        if (off < MEDIUM_HEAD || off >= h->nextoffset || (off - MEDIUM_HEAD) % size != 0 ||
            ++n > limit)
            return limit + 1;
    }
    return n;
}

static bool arena_ok(pymt__pool *h, unsigned c, const pymt__arena *a) {
    size_t size = pymt__class_to_size(c);
    if ((uintptr_t)h != a->address || h->arena != a || h->szidx != c)
        return false;
    for (unsigned k = 0; k < PYMT__POOLS_PER_ARENA; k++)
        if (pymt__pool_tag((const char *)h + k * PYMT__POOL_SIZE) != pymt__class_tag(c))
            return false;
    if (h->nextoffset < MEDIUM_HEAD || h->nextoffset > PYMT__ARENA_SIZE ||
        (h->nextoffset - MEDIUM_HEAD) % size != 0)
        return false;
    /* what an earlier owner left past the last block went when the class took the arena */
    if (a->dirty_end > MEDIUM_HEAD + arena_blocks(c) * size)
        return false;
    size_t carved = (h->nextoffset - MEDIUM_HEAD) / size;
    if (h->count > carved)
        return false;
    size_t nfree = list_blocks(h, h->freeblock, size, carved);
    size_t npurged = list_blocks(h, *purged_of(h), size, carved);
    return npurged == *npurged_of(h) && nfree + npurged == carved - h->count;
}

static void check_one(pymt__arena *a, void *arg) {
    check_ctx *x = arg;
    pymt__pool *h = (pymt__pool *)a->address;
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
    if (!kept)
        x->dirty += dirty_in(h, x->c);
}

bool pymt__medium_check(unsigned i) {
    if (i >= PYMT__NMEDIUM)
        return false;
    medium_class *m = &classes[i];
    check_ctx x = {PYMT__NCLASSES + i, m, 0, 0, 0, true};
    /* every class lock: no medium arena changes state or is unmapped during the walk */
    for (unsigned k = 0; k < PYMT__NMEDIUM; k++)
        class_lock(&classes[k]);
    pymt__arena_foreach_locked(PYMT__ARENA_MEDIUM, check_one, &x);
    unsigned kept = 0;
    for (unsigned k = 0; k < PYMT__NMEDIUM; k++)
        kept += classes[k].empty != NULL;
    bool ok = x.ok && x.arenas == m->arenas && x.out == m->out && x.dirty == m->dirty &&
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
