/* pool.c: the pool core, the classic pymalloc bookkeeping behind one global lock.
 *
 * Callers hold pymt__core_lock (entry points end in _locked) except where a function takes it
 * itself (pymt__pool_alloc_one, pymt__pool_free_one, pymt__pool_trim).
 * Invariants (all under the lock):
 *   - a partly used pool is on usedpools[class]; a full one on no list; an empty one on its
 *     arena's freepools list (keeping its szidx, so reuse for the same class skips re-init);
 *   - usable_arenas holds the arenas with at least one free pool, in ascending order of
 *     nfreepools, so new pools come from the fullest arena and the emptiest arenas drain;
 *     nfp2lasta[n] is the last arena in that list with n free pools (pymalloc's search
 *     fingers, which keep the reordering O(1));
 *   - an arena whose 64 pools are all free leaves the list and is retired (reserve or unmap),
 *     unless it is the last of the list with all pools free (pymalloc keeps one: bpo-37257);
 *   - blocks are carved lazily: a pool's never-used blocks start at nextoffset.
 * Blocks move in batches: pymt__pool_take_locked / pymt__pool_give_locked serve the thread
 * caches, one lock acquisition per batch. Never calls malloc; never touches a thread cache.
 * Hardened mode (pymt__hardened, harden.h): free-list links are encoded and free blocks carry
 * the free marker; before the core uses a pool header it checks it (pool_verify: canary, class
 * against the arena's class table, arena record, offsets, count), it checks each link it
 * follows (a carved block of the same pool, or for a chain given back, a block start of its
 * class), the neighbours of a pool it unlinks (safe unlinking: they point back at it), and a
 * block freed alone (a block start, not already free). The first failure stops the program with
 * a report (harden.c). */
#include "pool.h"

#include <errno.h>
#include <string.h>

#include "os.h"
#include "track.h"

static pthread_mutex_t core_mutex = PTHREAD_MUTEX_INITIALIZER;
static size_t core_lock_count;                 /* under the lock */
static pymt__pool *usedpools[PYMT__NCLASSES];  /* partly used pools per class */
static pymt__arena *usable_arenas;
static pymt__arena *nfp2lasta[PYMT__POOLS_PER_ARENA + 1];
static size_t class_pools[PYMT__NCLASSES];     /* pools assigned to each class */
static size_t class_blocks[PYMT__NCLASSES];    /* blocks those pools hold */
static size_t class_out[PYMT__NCLASSES];       /* blocks out of those pools */
/* Free pools of usable arenas whose pages are still resident ("dirty": they held blocks since
 * they were last carved from scratch), over all arenas (core lock). Past DIRTY_MAX the pools
 * of the emptiest arenas are purged until DIRTY_KEEP are left: their pages after the first go
 * back to the kernel, and the pool starts carving from scratch when it is used again. */
static size_t dirty_total;
enum { DIRTY_MAX = 128, DIRTY_KEEP = 64 }; /* 2 MiB and 1 MiB of free pools */

#define MAGIC(d) (UINT64_MAX / (d) + 1)
const uint64_t pymt__class_magic[PYMT__NCLASSES] = {
    MAGIC(1),  MAGIC(2),  MAGIC(3),  MAGIC(4),  MAGIC(5),  MAGIC(6),  MAGIC(7),  MAGIC(8),
    MAGIC(9),  MAGIC(10), MAGIC(11), MAGIC(12), MAGIC(13), MAGIC(14), MAGIC(15), MAGIC(16),
    MAGIC(17), MAGIC(18), MAGIC(19), MAGIC(20), MAGIC(21), MAGIC(22), MAGIC(23), MAGIC(24),
    MAGIC(25), MAGIC(26), MAGIC(27), MAGIC(28), MAGIC(29), MAGIC(30), MAGIC(31), MAGIC(32)};
#undef MAGIC
_Static_assert(PYMT__NCLASSES == 32, "one magic number per class");

void pymt__core_lock(void) {
    pthread_mutex_lock(&core_mutex);
    core_lock_count++;
}

void pymt__core_unlock(void) {
    pthread_mutex_unlock(&core_mutex);
}

static void usedpools_push(unsigned c, pymt__pool *pool) {
    pool->prevpool = NULL;
    pool->nextpool = usedpools[c];
    if (usedpools[c])
        usedpools[c]->prevpool = pool;
    usedpools[c] = pool;
}

/* ---- hardened mode: the checks before the core trusts a header or a link ------------------- */

/* Is b a carved block of pool, of class c (a link of the pool's own free list)? */
static bool pool_holds_block(const pymt__pool *pool, const void *b, unsigned c) {
    uintptr_t off = (uintptr_t)b - (uintptr_t)pool;
    uintptr_t head = pymt__pool_overhead(pool);
    return off >= head && off < pool->nextoffset && pymt__class_divides(off - head, c);
}

/* Stop with a report unless pool's header is whole: canary, class (it must agree with the
 * arena's class table, which lives elsewhere), arena record, offsets and count. */
static void pool_verify(const pymt__pool *pool) {
    unsigned c = pool->szidx;
    const pymt__arena *a = pool->arena;
    if (pool->canary != pymt__harden_canary(pool))
        pymt__harden_bad_pool(pool, "its canary was overwritten");
    if (c >= PYMT__NCLASSES || pymt__block_class(pool) != c)
        pymt__harden_bad_pool(pool, "its class does not match the arena's class table");
    if (!pymt__arena_is_record_locked(a) || a->state != PYMT__ARENA_ACTIVE ||
        a->address != ((uintptr_t)pool & ~(uintptr_t)PYMT__ARENA_MASK))
        pymt__harden_bad_pool(pool, "its arena pointer is not its arena's record");
    uintptr_t head = pymt__pool_overhead(pool);
    if (pool->nextoffset < head ||
        pool->nextoffset > pymt__pool_maxnext(c) + pymt__class_to_size(c) ||
        !pymt__class_divides(pool->nextoffset - head, c) ||
        pool->count > (pool->nextoffset - head) / pymt__class_to_size(c))
        pymt__harden_bad_pool(pool, "its offsets or its count are out of range");
    if (pool->freeblock != NULL && !pool_holds_block(pool, pool->freeblock, c))
        pymt__harden_bad_pool(pool, "its free-list head is not a block of the pool");
}

static void usedpools_unlink(unsigned c, pymt__pool *pool) {
    if (pymt__hardened &&
        ((pool->prevpool ? pool->prevpool->nextpool : usedpools[c]) != pool ||
         (pool->nextpool != NULL && pool->nextpool->prevpool != pool)))
        pymt__harden_bad_pool(pool, "its list neighbours do not point back at it");
    if (pool->prevpool)
        pool->prevpool->nextpool = pool->nextpool;
    else
        usedpools[c] = pool->nextpool;
    if (pool->nextpool)
        pool->nextpool->prevpool = pool->prevpool;
    pool->nextpool = pool->prevpool = NULL;
}

/* Arena a leaves usable_arenas (its neighbours are linked to each other). */
static void usable_unlink(pymt__arena *a) {
    if (a->prevarena != NULL)
        a->prevarena->nextarena = a->nextarena;
    else
        usable_arenas = a->nextarena;
    if (a->nextarena != NULL)
        a->nextarena->prevarena = a->prevarena;
}

/* Arena a, with nf free pools, is about to stop being the last arena with nf: the finger
 * moves to its left neighbour when that one has nf too, else clears. */
static void finger_leave(pymt__arena *a, uint32_t nf) {
    if (nfp2lasta[nf] == a) {
        pymt__arena *p = a->prevarena;
        nfp2lasta[nf] = (p != NULL && p->nfreepools == nf) ? p : NULL;
    }
}

/* Arena a, wholly free and off usable_arenas, goes on the list to retire after the lock. */
static void retire_push(pymt__arena *a, pymt__arena **retire) {
    a->state = PYMT__ARENA_RETIRING;
    a->prevarena = NULL;
    a->nextarena = *retire;
    *retire = a;
}

/* Is free pool `pool` dirty: has it carved blocks since it was last purged or made? */
static bool pool_dirty(const pymt__pool *pool) {
    return pool->nextoffset > pymt__pool_overhead(pool);
}

/* Arena a leaves the usable list for good (retired): its dirty pools stop counting. */
static void dirty_forget(pymt__arena *a) {
    dirty_total -= a->ndirty;
    a->ndirty = 0;
}

/* Purge free pool `pool`: keep its first page (the header, and pool 0's class table), give the
 * rest back, and make it carve from scratch (its class stays: reuse skips the re-init). */
static void pool_purge_locked(pymt__pool *pool) {
    size_t keep = 4096;
    pymt__os_discard((char *)pool + keep, PYMT__POOL_SIZE - keep);
    pool->freeblock = NULL;
    pool->nextoffset = (uint32_t)pymt__pool_overhead(pool);
}

/* Too many dirty free pools: purge those of the emptiest arenas (the list's tail) first, down to
 * DIRTY_KEEP; the fullest arenas, where new pools come from, keep theirs longest. */
static void purge_locked(void) {
    pymt__arena *last = usable_arenas;
    while (last != NULL && last->nextarena != NULL)
        last = last->nextarena;
    for (pymt__arena *a = last; a != NULL && dirty_total > DIRTY_KEEP; a = a->prevarena) {
        if (a->ndirty == 0)
            continue;
        for (pymt__pool *p = a->freepools; p != NULL && a->ndirty > 0; p = p->nextpool)
            if (pool_dirty(p)) {
                pool_purge_locked(p);
                a->ndirty--;
                dirty_total--;
            }
    }
}

/* A pool for class c from the arenas; NULL + ENOMEM when no arena can be had. */
static pymt__pool *pool_new_locked(unsigned c) {
    pymt__assert_expensive(pymt__pool_lists_check_locked());
    if (usable_arenas == NULL) {
        pymt__arena *a = pymt__arena_new_locked();
        if (a == NULL)
            return NULL;
        a->nextarena = a->prevarena = NULL;
        usable_arenas = a;
        pymt__assert(nfp2lasta[a->nfreepools] == NULL);
        nfp2lasta[a->nfreepools] = a;
    }
    pymt__arena *a = usable_arenas;
    pymt__assert(a->nfreepools > 0);
    if (nfp2lasta[a->nfreepools] == a)
        nfp2lasta[a->nfreepools] = NULL; /* it was the last with that many */
    if (a->nfreepools > 1)
        nfp2lasta[a->nfreepools - 1] = a; /* the head is the only one with one fewer */
    pymt__pool *pool = a->freepools;
    bool fresh = pool == NULL;
    if (!fresh) {
        if (pymt__hardened) {
            pool_verify(pool);
            if (pool->arena != a || pool->count != 0)
                pymt__harden_bad_pool(pool, "an empty pool's arena or count is wrong");
        }
        a->freepools = pool->nextpool;
        if (pool_dirty(pool)) {
            a->ndirty--;
            dirty_total--;
        }
    } else {
        pool = (pymt__pool *)(a->address + (size_t)a->ncarved * PYMT__POOL_SIZE);
        a->ncarved++;
        pool->canary = pymt__hardened ? pymt__harden_canary(pool) : 0;
        pool->arena = a;
        pool->szidx = PYMT__NCLASSES; /* no class yet: forces the init below */
        pool->freeblock = NULL;
        pool->count = 0;
    }
    if (--a->nfreepools == 0) {
        usable_unlink(a); /* the head */
        a->nextarena = a->prevarena = NULL;
    }
    if (pool->szidx != c) {
        size_t head = pymt__pool_overhead(pool);
        pool->szidx = c;
        pool->freeblock = NULL;
        pool->nextoffset = (uint32_t)head;
        pymt__arena_classes(pool)[((uintptr_t)pool >> PYMT__POOL_BITS) &
                                  (PYMT__POOLS_PER_ARENA - 1)] = (uint8_t)c;
        PYMT_TRACK_POOL_INIT((char *)pool + head, PYMT__POOL_SIZE - head);
    }
    pool->count = 0;
    class_pools[c]++;
    class_blocks[c] += pymt__pool_blocks(pool, c);
    usedpools_push(c, pool);
    return pool;
}

static bool pool_is_full(const pymt__pool *pool) {
    return pool->freeblock == NULL && pool->nextoffset > pymt__pool_maxnext(pool->szidx);
}

/* Length of a free list (debug-preset assertions only). */
static uint32_t chain_length(void *b) {
    uint32_t n = 0;
    for (; b != NULL; b = pymt__link_get(b))
        n++;
    return n;
}

void *pymt__pool_take_locked(unsigned c, size_t want, size_t limit, size_t *got) {
    size_t size = pymt__class_to_size(c);
    bool hard = pymt__hardened;
    void *head = NULL, *tail = NULL;
    size_t n = 0;
    bool spliced = false;
    pymt__assert(want <= limit);
    while (n < want && !spliced) {
        pymt__pool *pool = usedpools[c];
        if (pool == NULL && (pool = pool_new_locked(c)) == NULL)
            break;
        if (hard) {
            pool_verify(pool);
            if (pool->szidx != c)
                pymt__harden_bad_pool(pool, "a pool on the list of one class has another");
        }
        size_t before = n;
        void *b = pool->freeblock;
        /* free-listed blocks: carved ones minus those out */
        uint32_t listed = (uint32_t)((pool->nextoffset - pymt__pool_overhead(pool)) / size) -
                          pool->count;
        if (b != NULL && listed <= limit - n) {
            /* the pool's whole free list fits: splice it on in O(1), without touching its
             * blocks; it is NULL-terminated, so it ends the chain */
            pymt__assert(chain_length(b) == listed);
            if (tail != NULL)
                pymt__link_set(tail, b);
            else
                head = b;
            tail = NULL;
            pool->freeblock = NULL;
            n += listed;
            spliced = true;
        } else {
            /* blocks given back first (warm) */
            while (n < want && (b = pool->freeblock) != NULL) {
                void *next = pymt__link_get(b);
                if (hard) {
                    if (next != NULL && !pool_holds_block(pool, next, c))
                        pymt__harden_bad_link(b, c, next, "its pool's free list");
                    if (!pymt__harden_marked(b))
                        pymt__harden_bad_marker(b, c, "its pool's free list");
                }
                pool->freeblock = next;
                if (tail != NULL)
                    pymt__link_set(tail, b);
                else
                    head = b;
                tail = b;
                n++;
            }
            /* then never-used ones, carved in one pass: each linked to the next */
            if (n < want && pool->nextoffset <= pymt__pool_maxnext(c)) {
                size_t k = (pymt__pool_maxnext(c) - pool->nextoffset) / size + 1;
                if (k > want - n)
                    k = want - n;
                char *first = (char *)pool + pool->nextoffset, *last = first + (k - 1) * size;
                for (char *q = first; q < last; q += size)
                    pymt__link_set(q, q + size);
                if (hard)
                    for (char *q = first; q <= last; q += size)
                        pymt__harden_mark(q);
                if (tail != NULL)
                    pymt__link_set(tail, first);
                else
                    head = first;
                tail = last;
                pool->nextoffset += (uint32_t)(k * size);
                n += k;
            }
        }
        pool->count += (uint32_t)(n - before);
        if (pool_is_full(pool))
            usedpools_unlink(c, pool);
    }
    if (tail != NULL)
        pymt__link_set(tail, NULL);
    class_out[c] += n;
    *got = n;
    if (n == 0)
        errno = ENOMEM;
    return head;
}

/* Pool became empty: to its arena's free list, with pymalloc's four cases for the arena. */
static void pool_empty_locked(pymt__pool *pool, pymt__arena **retire) {
    pymt__arena *a = pool->arena;
    class_pools[pool->szidx]--;
    class_blocks[pool->szidx] -= pymt__pool_blocks(pool, pool->szidx);
    pool->nextpool = a->freepools;
    a->freepools = pool;
    a->ndirty++;
    dirty_total++;
    uint32_t nf = a->nfreepools;
    pymt__arena *lastnf = nfp2lasta[nf];
    finger_leave(a, nf); /* a moves on to nf + 1 */
    a->nfreepools = ++nf;

    if (nf == PYMT__POOLS_PER_ARENA && a->nextarena != NULL) {
        /* case 1: wholly free and not the last usable arena: unlink and retire */
        usable_unlink(a);
        dirty_forget(a);
        retire_push(a, retire);
        return;
    }
    if (nf == 1) {
        /* case 2: it had no free pool, so it was on no list: to the head */
        a->nextarena = usable_arenas;
        a->prevarena = NULL;
        if (usable_arenas)
            usable_arenas->prevarena = a;
        usable_arenas = a;
        if (nfp2lasta[1] == NULL)
            nfp2lasta[1] = a;
        return;
    }
    if (nfp2lasta[nf] == NULL)
        nfp2lasta[nf] = a;
    if (a == lastnf)
        return; /* case 3: still in order */
    /* case 4: move right, after lastnf */
    usable_unlink(a);
    a->prevarena = lastnf;
    a->nextarena = lastnf->nextarena;
    if (a->nextarena != NULL)
        a->nextarena->prevarena = a;
    lastnf->nextarena = a;
}

/* Give back k blocks of one pool, already linked first -> ... -> last. */
static void run_give_locked(void *first, void *last, uint32_t k, pymt__arena **retire) {
    pymt__pool *pool = pymt__pool_of(first);
    if (pymt__hardened) {
        pool_verify(pool);
        if (pool->count < k)
            pymt__harden_bad_pool(pool, "its count is lower than the blocks coming back");
    }
    unsigned c = pool->szidx;
    bool was_full = pool_is_full(pool);
    pymt__link_set(last, pool->freeblock);
    pool->freeblock = first;
    pymt__assert(pool->count >= k);
    pool->count -= k;
    class_out[c] -= k;
    if (pool->count == 0) {
        if (!was_full)
            usedpools_unlink(c, pool);
        pool_empty_locked(pool, retire);
        if (dirty_total > DIRTY_MAX)
            purge_locked();
    } else if (was_full) {
        usedpools_push(c, pool);
    }
}

void pymt__pool_give_locked(void *chain, pymt__arena **retire) {
    /* Blocks of one pool come in runs (a bin holds them in the order the program freed them,
     * which follows the order they were carved): each run is spliced onto its pool's free list
     * at once, with one header update. */
    bool hard = pymt__hardened;
    while (chain != NULL) {
        pymt__pool *pool = pymt__pool_of(chain);
        void *last = chain, *next;
        uint32_t k = 1;
        for (;;) {
            if (hard && !pymt__harden_marked(last))
                pymt__harden_bad_marker(last, pymt__block_class(last),
                                        "a chain given back to the pools");
            next = pymt__link_get(last);
            /* a chain may mix classes: each block is checked against its own */
            if (hard && next != NULL &&
                !(pymt__arena_lookup(next) && pymt__block_ok(next, pymt__block_class(next))))
                pymt__harden_bad_link(last, pymt__block_class(last), next,
                                      "a chain given back to the pools");
            if (next == NULL || pymt__pool_of(next) != pool)
                break;
            last = next;
            k++;
        }
        run_give_locked(chain, last, k, retire);
        chain = next;
    }
}

void pymt__pool_retire_list(pymt__arena *retire) {
    while (retire != NULL) {
        pymt__arena *next = retire->nextarena;
        retire->nextarena = NULL;
        pymt__arena_retire(retire);
        retire = next;
    }
}

void *pymt__pool_alloc_one(unsigned c) {
    size_t got;
    pymt__core_lock();
    void *b = pymt__pool_take_locked(c, 1, 1, &got);
    pymt__core_unlock();
    if (pymt__hardened && b != NULL)
        pymt__harden_clear(b);
    return b;
}

bool pymt__pool_lists_block_locked(const void *p) {
    pymt__pool *pool = pymt__pool_of(p);
    unsigned c = pool->szidx;
    if (c >= PYMT__NCLASSES)
        return false;
    size_t bound = pymt__pool_blocks(pool, c);
    for (void *b = pool->freeblock; b != NULL && bound-- > 0; b = pymt__link_get(b)) {
        if (!pool_holds_block(pool, b, c))
            return false;
        if (b == p)
            return true;
    }
    return false;
}

void pymt__pool_free_one(void *p) {
    pymt__arena *retire = NULL;
    pymt__core_lock();
    if (pymt__hardened) {
        unsigned c = pymt__block_class(p);
        if (!pymt__block_ok(p, c))
            pymt__harden_bad_pointer("free", p, c);
        if (pymt__harden_marked(p))
            pymt__harden_double_free("free", p, c,
                                     pymt__pool_lists_block_locked(p)
                                         ? "its pool's free list"
                                         : "a thread's cache or the depot (its marker is set)");
        pymt__harden_mark(p);
    }
    run_give_locked(p, p, 1, &retire);
    pymt__core_unlock();
    pymt__pool_retire_list(retire);
}

void pymt__pool_counts_locked(pymt__pool_class_counts out[PYMT__NCLASSES], size_t *pools_free,
                              size_t *lock_count) {
    size_t pf = 0;
    for (unsigned c = 0; c < PYMT__NCLASSES; c++) {
        out[c].pools = class_pools[c];
        out[c].blocks = class_blocks[c];
        out[c].out = class_out[c];
    }
    /* empty pools: in usable arenas (full arenas have none) */
    for (pymt__arena *a = usable_arenas; a != NULL; a = a->nextarena)
        pf += a->nfreepools;
    *pools_free = pf;
    *lock_count = core_lock_count;
}

size_t pymt__pool_trim(void) {
    pymt__core_lock();
    pymt__assert_expensive(pymt__heap_check_locked());
    size_t released = pymt__arena_trim_locked();
    /* the one wholly free arena pymalloc keeps on the list goes too */
    pymt__arena *retire = NULL;
    for (pymt__arena *a = usable_arenas; a != NULL;) {
        pymt__arena *next = a->nextarena;
        if (a->nfreepools == PYMT__POOLS_PER_ARENA) {
            finger_leave(a, a->nfreepools);
            usable_unlink(a);
            dirty_forget(a);
            retire_push(a, &retire);
        }
        a = next;
    }
    pymt__core_unlock();
    /* straight to the OS, not the reserve: that is what trim is for */
    for (pymt__arena *a = retire; a != NULL;) {
        pymt__arena *next = a->nextarena;
        a->nextarena = NULL;
        pymt__arena_unmap_retiring(a);
        released += PYMT__ARENA_SIZE;
        a = next;
    }
    return released;
}

void pymt__pool_atfork_prepare(void) {
    pymt__core_lock();
}

void pymt__pool_atfork_parent(void) {
    pymt__core_unlock();
}

void pymt__pool_atfork_child(void) {
    /* the forking thread took the lock in prepare and is the child's only thread: it may
     * unlock it (re-initialising an initialised mutex is undefined) */
    pymt__core_unlock();
    pymt__arena_atfork_child();
}

/* ---- validators ----------------------------------------------------------------------------- */

bool pymt__pool_check_locked(const pymt__pool *pool) {
    unsigned c = pool->szidx;
    const pymt__arena *a = pool->arena;
    if (c >= PYMT__NCLASSES || a == NULL ||
        a->address != ((uintptr_t)pool & ~(uintptr_t)PYMT__ARENA_MASK) ||
        pymt__block_class(pool) != c)
        return false;
    size_t size = pymt__class_to_size(c), head = pymt__pool_overhead(pool);
    if (pool->canary != (pymt__hardened ? pymt__harden_canary(pool) : 0) ||
        pool->nextoffset < head || (pool->nextoffset - head) % size != 0 ||
        pool->nextoffset > pymt__pool_maxnext(c) + size)
        return false;
    size_t carved = (pool->nextoffset - head) / size;
    if (pool->count == 0 || pool->count > carved)
        return false;
    /* the free list: carved blocks of this pool, as many as are not out */
    size_t listed = 0;
    for (void *b = pool->freeblock; b != NULL; b = pymt__link_get(b)) {
        uintptr_t off = (uintptr_t)b - (uintptr_t)pool;
        if (off < head || off >= pool->nextoffset || (off - head) % size != 0 ||
            ++listed > carved - pool->count || (pymt__hardened && !pymt__harden_marked(b)))
            return false;
    }
    if (listed != carved - pool->count)
        return false;
    /* on usedpools[c] exactly when partly used */
    bool linked = pool->prevpool != NULL ? pool->prevpool->nextpool == pool : usedpools[c] == pool;
    if (pool_is_full(pool))
        return !linked && pool->prevpool == NULL && pool->nextpool == NULL;
    return linked && (pool->nextpool == NULL || pool->nextpool->prevpool == pool);
}

bool pymt__pool_lists_check_locked(void) {
    for (unsigned c = 0; c < PYMT__NCLASSES; c++) {
        const pymt__pool *prev = NULL;
        size_t n = 0;
        for (const pymt__pool *p = usedpools[c]; p != NULL; prev = p, p = p->nextpool) {
            if (p->prevpool != prev || p->szidx != c || p->count == 0 || pool_is_full(p) ||
                ++n > class_pools[c])
                return false;
        }
    }
    const pymt__arena *last[PYMT__POOLS_PER_ARENA + 1] = {0};
    const pymt__arena *prev = NULL;
    for (const pymt__arena *a = usable_arenas; a != NULL; prev = a, a = a->nextarena) {
        if (a->prevarena != prev || a->state != PYMT__ARENA_ACTIVE || a->nfreepools == 0 ||
            a->nfreepools > PYMT__POOLS_PER_ARENA ||
            (prev != NULL && prev->nfreepools > a->nfreepools))
            return false;
        last[a->nfreepools] = a;
    }
    for (unsigned n = 1; n <= PYMT__POOLS_PER_ARENA; n++)
        if (nfp2lasta[n] != last[n])
            return false;
    return true;
}

typedef struct heap_walk {
    size_t pools[PYMT__NCLASSES], blocks[PYMT__NCLASSES], out[PYMT__NCLASSES];
    size_t dirty;
    bool ok;
} heap_walk;

static void heap_walk_arena(pymt__arena *a, void *ctx) {
    heap_walk *w = ctx;
    if (!pymt__arena_check_locked(a)) {
        w->ok = false;
        return;
    }
    uint64_t free_mask = 0;
    uint32_t dirty = 0;
    for (const pymt__pool *p = a->freepools; p != NULL; p = p->nextpool) {
        free_mask |= (uint64_t)1 << (((uintptr_t)p >> PYMT__POOL_BITS) & (PYMT__POOLS_PER_ARENA - 1));
        dirty += pool_dirty(p);
    }
    if (dirty != a->ndirty) {
        w->ok = false;
        return;
    }
    w->dirty += dirty;
    for (uint32_t i = 0; i < a->ncarved; i++) {
        if (free_mask & ((uint64_t)1 << i))
            continue;
        const pymt__pool *pool = (const pymt__pool *)(a->address + (size_t)i * PYMT__POOL_SIZE);
        if (!pymt__pool_check_locked(pool)) {
            w->ok = false;
            return;
        }
        w->pools[pool->szidx]++;
        w->blocks[pool->szidx] += pymt__pool_blocks(pool, pool->szidx);
        w->out[pool->szidx] += pool->count;
    }
}

bool pymt__heap_check_locked(void) {
    heap_walk w = {.ok = true};
    pymt__arena_foreach_locked(PYMT__ARENA_ACTIVE, heap_walk_arena, &w);
    if (!w.ok || w.dirty != dirty_total || !pymt__pool_lists_check_locked())
        return false;
    for (unsigned c = 0; c < PYMT__NCLASSES; c++)
        if (w.pools[c] != class_pools[c] || w.blocks[c] != class_blocks[c] ||
            w.out[c] != class_out[c])
            return false;
    return true;
}
