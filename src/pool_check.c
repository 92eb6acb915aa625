/* pool_check.c: the pool cores' figures and validators: the counts the statistics read, the
 * look-up of a block on its pool's free list (the hardened mode's double-free report), and the
 * checks of a pool, of each core's lists and of the whole heap against the cores' counters
 * (tests, pymt_check_heap, the debug preset's expensive assertions). All with the core lock
 * held (pymt__core_lock). */
#include "pool_core.h"

void pymt__pool_counts_locked(pymt__pool_class_counts out[PYMT__NCLASSES], size_t *pools_free,
                              size_t *lock_count, size_t *contended) {
    size_t pf = 0, locks = 0, busy = 0;
    for (unsigned c = 0; c < PYMT__NCLASSES; c++)
        out[c].pools = out[c].blocks = out[c].out = 0;
    for (unsigned i = 0; i < pymt__ncores; i++) {
        const pymt__core *k = &pymt__cores[i];
        for (unsigned c = 0; c < PYMT__NCLASSES; c++) {
            out[c].pools += k->class_pools[c];
            out[c].blocks += k->class_blocks[c];
            out[c].out += k->class_out[c];
        }
        /* empty pools: in usable arenas (full arenas have none) */
        for (const pymt__arena *a = k->usable_arenas; a != NULL; a = a->nextarena)
            pf += a->nfreepools;
        locks += k->locks;
        busy += k->contended;
    }
    *pools_free = pf;
    *lock_count = locks;
    *contended = busy;
}

void pymt__pool_purge_counts_locked(size_t *purged, size_t *refaulted) {
    *purged = *refaulted = 0;
    for (unsigned i = 0; i < pymt__ncores; i++) {
        *purged += pymt__cores[i].purged;
        *refaulted += pymt__cores[i].refaulted;
    }
}

bool pymt__pool_lists_block_locked(const void *p) {
    pymt__pool *pool = pymt__pool_of(p);
    unsigned c = pool->szidx;
    if (c >= PYMT__NCLASSES)
        return false;
    size_t bound = pymt__pool_blocks(pool, c);
    for (void *b = pool->freeblock; b != NULL && bound-- > 0; b = pymt__link_get(b)) {
        if (!pymt__pool_holds_block(pool, b, c))
            return false;
        if (b == p)
            return true;
    }
    return false;
}

bool pymt__pool_check_locked(const pymt__pool *pool) {
    unsigned c = pool->szidx;
    const pymt__arena *a = pool->arena;
    if (c >= PYMT__NCLASSES || a == NULL ||
        a->address != ((uintptr_t)pool & ~(uintptr_t)PYMT__ARENA_MASK) ||
        pymt__block_class(pool) != c || pymt__arena_core(pool) >= pymt__ncores)
        return false;
    const pymt__core *k = &pymt__cores[pymt__arena_core(pool)];
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
    /* on its core's usedpools[c] exactly when partly used */
    bool linked =
        pool->prevpool != NULL ? pool->prevpool->nextpool == pool : k->usedpools[c] == pool;
    if (pymt__pool_is_full(pool))
        return !linked && pool->prevpool == NULL && pool->nextpool == NULL;
    return linked && (pool->nextpool == NULL || pool->nextpool->prevpool == pool);
}

bool pymt__pool_core_lists_check(const pymt__core *k) {
    for (unsigned c = 0; c < PYMT__NCLASSES; c++) {
        const pymt__pool *prev = NULL;
        size_t n = 0;
        for (const pymt__pool *p = k->usedpools[c]; p != NULL; prev = p, p = p->nextpool) {
            if (p->prevpool != prev || p->szidx != c || p->count == 0 || pymt__pool_is_full(p) ||
                pymt__arena_core(p) != k->index || ++n > k->class_pools[c])
                return false;
        }
    }
    const pymt__arena *last[PYMT__POOLS_PER_ARENA + 1] = {0};
    const pymt__arena *prev = NULL;
    for (const pymt__arena *a = k->usable_arenas; a != NULL; prev = a, a = a->nextarena) {
        if (a->prevarena != prev || pymt__load_relaxed(&a->state) != PYMT__ARENA_ACTIVE || a->nfreepools == 0 ||
            a->nfreepools > PYMT__POOLS_PER_ARENA ||
            (prev != NULL && prev->nfreepools > a->nfreepools) ||
            pymt__arena_core((const void *)a->address) != k->index)
            return false;
        last[a->nfreepools] = a;
    }
    for (unsigned n = 1; n <= PYMT__POOLS_PER_ARENA; n++)
        if (k->nfp2lasta[n] != last[n])
            return false;
    return true;
}

bool pymt__pool_lists_check_locked(void) {
    for (unsigned i = 0; i < pymt__ncores; i++)
        if (!pymt__pool_core_lists_check(&pymt__cores[i]))
            return false;
    return true;
}

typedef struct heap_walk {
    size_t pools[PYMT__NCLASSES], blocks[PYMT__NCLASSES], out[PYMT__NCLASSES];
    size_t dirty;
    unsigned core; /* the core whose arenas are walked */
    bool ok;
} heap_walk;

static void heap_walk_arena(pymt__arena *a, void *ctx) {
    heap_walk *w = ctx;
    if (!pymt__arena_check_locked(a)) {
        w->ok = false;
        return;
    }
    /* a core carves pool 0 as it takes an arena, so an active arena has a core index */
    if (a->ncarved == 0 || pymt__arena_core((const void *)a->address) >= pymt__ncores) {
        w->ok = false;
        return;
    }
    if (pymt__arena_core((const void *)a->address) != w->core)
        return;
    uint64_t free_mask = 0;
    uint32_t dirty = 0;
    for (const pymt__pool *p = a->freepools; p != NULL; p = p->nextpool) {
        free_mask |= (uint64_t)1 << (((uintptr_t)p >> PYMT__POOL_BITS) & (PYMT__POOLS_PER_ARENA - 1));
        dirty += pymt__pool_dirty(p);
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
    for (unsigned i = 0; i < pymt__ncores; i++) {
        const pymt__core *k = &pymt__cores[i];
        heap_walk w = {.ok = true, .core = i};
        pymt__arena_foreach_locked(PYMT__ARENA_ACTIVE, heap_walk_arena, &w);
        if (!w.ok || w.dirty != k->dirty_total || !pymt__pool_core_lists_check(k))
            return false;
        size_t used = 0;
        for (unsigned c = 0; c < PYMT__NCLASSES; c++) {
            if (w.pools[c] != k->class_pools[c] || w.blocks[c] != k->class_blocks[c] ||
                w.out[c] != k->class_out[c])
                return false;
            used += w.pools[c];
        }
        if (used != k->pools_used)
            return false;
    }
    return true;
}
