/* debug.c: the debug wrappers. In debug mode (PYMT_MALLOC=debug, pymalloc_debug, malloc_debug)
 * every public allocation goes through here with its family; each block is decorated, kept in
 * a registry while live, kept aside in a quarantine for a while after it is freed, and every
 * misuse found on the way is reported (then the process aborts, unless a report hook is set).
 *
 * The block layout and byte values are in debug_block.h; reports are written by
 * debug_report.c.
 *
 * Registry: a hash set of live and quarantined blocks keyed by payload address, chained through
 * the head's next field (no memory of its own), DBG_BUCKETS buckets guarded by DBG_STRIPES
 * mutexes (bucket b is guarded by stripe b % DBG_STRIPES). A pointer is only dereferenced once it
 * has been found there, so freeing a pointer pymt never handed out is reported without reading
 * the memory around it. A head's state, freed_by and next change only under its stripe's lock;
 * its other fields are written before the block is inserted and never again.
 *
 * Quarantine: a FIFO ring of freed blocks (at most DBG_QUAR_BLOCKS blocks and DBG_QUAR_BYTES
 * bytes), under its own mutex. A freed block stays in the registry (state FREED) while it is
 * there, so a second free of it is a "double free" rather than an unknown pointer. When a block
 * leaves the quarantine its head, guards and DEAD fill are checked (a changed payload byte is a
 * use after free), then it goes back to the underlying allocator. pymt_check_heap checks the
 * quarantine the same way.
 *
 * Locks: a stripe lock and the quarantine lock are never held together; none of them is held
 * while a report is written or a hook runs (the hook may call pymt).
 *
 * Underneath: pymt__sys_* for the raw family, and for everything when pooling is off
 * (malloc_debug); pymt__objmem_*_nodebug for object memory and objects when pooling is on. The
 * object families (object memory and objects) are one domain, as in CPython (PyObject_Del ==
 * PyObject_Free): mixing them is allowed; mixing either with raw memory is a family mismatch. */
#include "debug_block.h"
#include "atomic.h"

#include <execinfo.h>
#include <pthread.h>
#include <string.h>

#define DBG_BUCKETS (1 << 20) /* registry buckets: 8 MiB of BSS heads, zero pages until used,
                                  so chains stay short up to millions of live blocks */
#define DBG_STRIPES 16    /* registry locks (fork holds them all: ThreadSanitizer tracks <= 64) */
#define DBG_QUAR_BLOCKS 4096
#define DBG_QUAR_BYTES ((size_t)4 << 20)

_Static_assert(DBG_BUCKETS % DBG_STRIPES == 0, "stripes divide the buckets evenly");

typedef struct dbg_stripe {
    pthread_mutex_t lock;
    size_t live[3]; /* live blocks per family (index family - 1); under lock */
} __attribute__((aligned(64))) dbg_stripe;

static dbg_head *dbg_buckets[DBG_BUCKETS]; /* under dbg_stripes[b % DBG_STRIPES].lock */
static dbg_stripe dbg_stripes[DBG_STRIPES];

static struct {
    pthread_mutex_t lock;
    dbg_head *ring[DBG_QUAR_BLOCKS]; /* FIFO: head index, count */
    size_t first, count, bytes;
} dbg_quar = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Atomic uint64_t dbg_serial;     /* relaxed: only uniqueness matters */
static bool dbg_ready;                  /* pymt__debug_init ran; set before any debug block */
static size_t dbg_frame_bytes;          /* room for frames in new blocks: 0 or DBG_FRAMES * 8 */

/* ---- small helpers ------------------------------------------------------------------------- */

static inline size_t bucket_of(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 44); /* 20 bits: DBG_BUCKETS */
}
_Static_assert(DBG_BUCKETS == 1 << 20, "bucket_of keeps 20 bits");
static inline dbg_stripe *stripe_of(size_t b) {
    return &dbg_stripes[b % DBG_STRIPES];
}
static inline bool same_domain(int a, int b) {
    return (a == PYMT__FAM_RAW) == (b == PYMT__FAM_RAW);
}
/* Offset of the first byte of [p, p+n) that is not DEAD, or n. */
static size_t dead_mismatch(const unsigned char *p, size_t n) {
    size_t i = 0;
    const uint64_t dead8 = 0x0101010101010101ull * DBG_DEAD;
    while (i < n && ((uintptr_t)(p + i) & 7))
        if (p[i++] != DBG_DEAD)
            return i - 1;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != dead8)
            break;
    }
    for (; i < n; i++)
        if (p[i] != DBG_DEAD)
            return i;
    return n;
}

/* ---- the underlying allocators ------------------------------------------------------------ */

static void *under_malloc(int family, size_t n) {
    if (family != PYMT__FAM_RAW && pymt__opt.pooling)
        return pymt__objmem_malloc_nodebug(n);
    return pymt__sys_malloc(n);
}
static void under_free(int family, void *base) {
    if (family != PYMT__FAM_RAW && pymt__opt.pooling)
        pymt__objmem_free_nodebug(base);
    else
        pymt__sys_free(base);
}

/* ---- the registry -------------------------------------------------------------------------- */

/* The guards of a block whose head passed its check. */
static enum dbg_error guards_check(dbg_head *h) {
    if (!guard_ok(h->guard))
        return DBG_E_UNDERRUN;
    if (!guard_ok(payload_of(h) + h->size))
        return DBG_E_OVERRUN;
    return DBG_OK;
}

static dbg_head *reg_find_locked(size_t b, const void *p) {
    for (dbg_head *h = dbg_buckets[b]; h; h = h->next)
        if (payload_of(h) == (const unsigned char *)p)
            return h;
    return NULL;
}
static void reg_insert(dbg_head *h) {
    size_t b = bucket_of(payload_of(h));
    dbg_stripe *st = stripe_of(b);
    pthread_mutex_lock(&st->lock);
    h->next = dbg_buckets[b];
    dbg_buckets[b] = h;
    st->live[h->family - 1]++;
    pthread_mutex_unlock(&st->lock);
}
static void reg_remove(dbg_head *h) {
    size_t b = bucket_of(payload_of(h));
    dbg_stripe *st = stripe_of(b);
    pthread_mutex_lock(&st->lock);
    for (dbg_head **pp = &dbg_buckets[b]; *pp; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    pthread_mutex_unlock(&st->lock);
}

/* The checks of free and realloc, under the stripe lock: find p, check it, and on success take
 * it (state FREED, freed_by family). On failure fill *s for the report. */
static enum dbg_error reg_take(const void *p, int family, dbg_head **out, dbg_snap *s) {
    size_t b = bucket_of(p);
    dbg_stripe *st = stripe_of(b);
    enum dbg_error err = DBG_OK;
    pthread_mutex_lock(&st->lock);
    dbg_head *h = reg_find_locked(b, p);
    if (!h)
        err = DBG_E_UNKNOWN;
    else if (dbg_check(h) != h->check || (h->state != DBG_LIVE && h->state != DBG_FREED))
        err = DBG_E_HEADER;
    else if (h->state != DBG_LIVE)
        err = DBG_E_DOUBLE_FREE;
    else if (!same_domain(h->family, family))
        err = DBG_E_MISMATCH;
    else
        err = guards_check(h);
    if (err == DBG_OK) {
        h->state = DBG_FREED;
        h->freed_by = (uint8_t)family;
        st->live[h->family - 1]--;
        *out = h;
    } else if (h) {
        s->p = p;
        pymt__dbg_snap_take(s, h);
    }
    pthread_mutex_unlock(&st->lock);
    return err;
}
/* Undo reg_take (realloc could not get its new block). */
static void reg_untake(dbg_head *h) {
    size_t b = bucket_of(payload_of(h));
    dbg_stripe *st = stripe_of(b);
    pthread_mutex_lock(&st->lock);
    h->state = DBG_LIVE;
    h->freed_by = 0;
    st->live[h->family - 1]++;
    pthread_mutex_unlock(&st->lock);
}

/* ---- the quarantine ------------------------------------------------------------------------ */

static size_t block_bytes(const dbg_head *h) {
    return frame_room(h) + sizeof(dbg_head) + h->size + DBG_GUARD;
}

/* Take the oldest block off the quarantine ring (dbg_quar.lock held, count > 0). */
static dbg_head *quar_pop_locked(void) {
    dbg_head *o = dbg_quar.ring[dbg_quar.first];
    dbg_quar.bytes -= block_bytes(o);
    dbg_quar.first = (dbg_quar.first + 1) % DBG_QUAR_BLOCKS;
    dbg_quar.count--;
    return o;
}

/* Check a freed block that only the caller can reach now (it left the quarantine). */
static enum dbg_error freed_check(dbg_head *h, dbg_snap *s) {
    size_t off = 0;
    enum dbg_error err = dbg_check(h) != h->check ? DBG_E_HEADER : guards_check(h);
    if (err == DBG_OK && (off = dead_mismatch(payload_of(h), h->size)) != h->size)
        err = DBG_E_USE_AFTER_FREE;
    if (err != DBG_OK) {
        s->p = payload_of(h);
        pymt__dbg_snap_take(s, h);
        s->bad_offset = off;
    }
    return err;
}

/* Give a block that left the quarantine back to its allocator, checking it first. */
static void quar_release(dbg_head *h, int family, int op) {
    dbg_snap s;
    enum dbg_error err = freed_check(h, &s);
    reg_remove(h);
    if (err != DBG_OK) {
        pymt__dbg_report(err, &s, family, op, true);
        /* A hook took it. A changed payload is harmless to the allocator; a clobbered head or
         * guard may mean the neighbours are clobbered too, so that block is leaked. */
        if (err != DBG_E_USE_AFTER_FREE)
            return;
    }
    under_free(h->family, base_of(h));
}

/* Put a freed (DEAD-filled) block in the quarantine and release what falls out of it. */
static void quar_push(dbg_head *h, int family, int op) {
    dbg_head *out[4];
    int nout = 0;
    pthread_mutex_lock(&dbg_quar.lock);
    if (dbg_quar.count == DBG_QUAR_BLOCKS)
        out[nout++] = quar_pop_locked();
    dbg_quar.ring[(dbg_quar.first + dbg_quar.count) % DBG_QUAR_BLOCKS] = h;
    dbg_quar.count++;
    dbg_quar.bytes += block_bytes(h);
    /* Keep the byte budget; a few blocks per call at most, the rest on later calls. */
    while (dbg_quar.bytes > DBG_QUAR_BYTES && dbg_quar.count > 0 && nout < 4)
        out[nout++] = quar_pop_locked();
    pthread_mutex_unlock(&dbg_quar.lock);
    for (int i = 0; i < nout; i++)
        quar_release(out[i], family, op);
}

/* Empty the quarantine (checking each block), so pymt_trim can give whole arenas back. */
void pymt__debug_quarantine_flush(void) {
    if (!dbg_ready)
        return;
    for (;;) {
        dbg_head *out[64];
        int nout = 0;
        pthread_mutex_lock(&dbg_quar.lock);
        while (dbg_quar.count > 0 && nout < 64)
            out[nout++] = quar_pop_locked();
        pthread_mutex_unlock(&dbg_quar.lock);
        if (nout == 0)
            return;
        for (int i = 0; i < nout; i++)
            quar_release(out[i], 0, DBG_OP_TRIM);
    }
}

/* ---- entry points -------------------------------------------------------------------------- */

static void *dbg_alloc(int family, size_t n, int op) {
    size_t room = dbg_frame_bytes; /* read once: init may allocate before setting it */
    size_t extra = room + sizeof(dbg_head) + DBG_GUARD;
    if (pymt__unlikely(n > (size_t)PTRDIFF_MAX - extra)) {
        errno = ENOMEM;
        return NULL;
    }
    char *base = under_malloc(family, n + extra);
    if (pymt__unlikely(!base)) {
        errno = ENOMEM;
        return NULL;
    }
    pymt__assert(((uintptr_t)base & (PYMT__ALIGNMENT - 1)) == 0);
    dbg_head *h = (dbg_head *)(base + room);
    int nframes = 0;
    if (room) {
        nframes = backtrace((void **)base, DBG_FRAMES);
        if (nframes < 0)
            nframes = 0;
    }
    h->next = NULL;
    h->size = n;
    h->serial = pymt__fetch_add_relaxed(&dbg_serial, 1) + 1;
    h->family = (uint8_t)family;
    h->op = (uint8_t)op;
    h->state = DBG_LIVE;
    h->freed_by = 0;
    h->nframes = (uint8_t)nframes;
    h->framed = room != 0;
    h->check = dbg_check(h);
    memset(h->guard, DBG_FORBIDDEN, DBG_GUARD);
    unsigned char *p = payload_of(h);
    memset(p, op == DBG_OP_CALLOC ? 0 : DBG_CLEAN, n);
    memset(p + n, DBG_FORBIDDEN, DBG_GUARD);
    reg_insert(h);
    return p;
}

void *pymt__debug_malloc(int family, size_t n, bool zero) {
    return dbg_alloc(family, n, zero ? DBG_OP_CALLOC : DBG_OP_MALLOC);
}

/* Take live block p out of the registry for a free or realloc through family; on any misuse
 * report it and return NULL (a hook took the report: the caller abandons the operation). */
static dbg_head *dbg_take_checked(void *p, int family, int op) {
    dbg_head *h = NULL;
    dbg_snap s;
    enum dbg_error err = reg_take(p, family, &h, &s);
    if (pymt__likely(err == DBG_OK))
        return h;
    if (err == DBG_E_UNKNOWN)
        pymt__dbg_report_unknown(p, family, op);
    else
        pymt__dbg_report(err, &s, family, op, true);
    return NULL;
}

void pymt__debug_free(int family, void *p) {
    if (!p)
        return;
    dbg_head *h = dbg_take_checked(p, family, DBG_OP_FREE);
    if (pymt__unlikely(h == NULL))
        return; /* a hook took the report: the free is abandoned */
    memset(p, DBG_DEAD, h->size);
    quar_push(h, family, DBG_OP_FREE);
}

void *pymt__debug_realloc(int family, void *p, size_t n) {
    if (!p)
        return dbg_alloc(family, n, DBG_OP_REALLOC);
    dbg_head *h = dbg_take_checked(p, family, DBG_OP_REALLOC);
    if (pymt__unlikely(h == NULL))
        return NULL; /* a hook took the report: the realloc is abandoned, p untouched */
    /* Always move: the old block goes to the quarantine, so a stale pointer to it is caught. */
    unsigned char *q = dbg_alloc(h->family == PYMT__FAM_RAW ? PYMT__FAM_RAW : family, n,
                                 DBG_OP_REALLOC);
    if (!q) {
        reg_untake(h);
        errno = ENOMEM;
        return NULL;
    }
    memcpy(q, p, h->size < n ? h->size : n);
    memset(p, DBG_DEAD, h->size);
    quar_push(h, family, DBG_OP_REALLOC);
    return q;
}

size_t pymt__debug_usable_size(const void *p) {
    if (!p)
        return 0;
    size_t b = bucket_of(p);
    dbg_stripe *st = stripe_of(b);
    size_t n = 0;
    pthread_mutex_lock(&st->lock);
    dbg_head *h = reg_find_locked(b, p);
    if (h && h->state == DBG_LIVE)
        n = h->size;
    pthread_mutex_unlock(&st->lock);
    return n;
}

void pymt__debug_live_counts(size_t out[3]) {
    out[0] = out[1] = out[2] = 0;
    if (!dbg_ready)
        return;
    for (int i = 0; i < DBG_STRIPES; i++) {
        pthread_mutex_lock(&dbg_stripes[i].lock);
        for (int f = 0; f < 3; f++)
            out[f] += dbg_stripes[i].live[f];
        pthread_mutex_unlock(&dbg_stripes[i].lock);
    }
}

void pymt__debug_init(void) {
    for (int i = 0; i < DBG_STRIPES; i++)
        pthread_mutex_init(&dbg_stripes[i].lock, NULL);
    pymt__dbg_report_init();
    if (pymt__opt.debug_backtrace) {
        /* The first backtrace() loads the unwinder, which may allocate: do it now, not in the
         * middle of an allocation. */
        void *prime[2];
        (void)backtrace(prime, 2);
        dbg_frame_bytes = DBG_FRAMES * sizeof(void *);
    }
    dbg_ready = true;
}

/* Fork: take every lock so the child inherits a consistent registry and quarantine. */
void pymt__debug_atfork_prepare(void) {
    if (!dbg_ready)
        return;
    pymt__dbg_report_atfork_prepare();
    pthread_mutex_lock(&dbg_quar.lock);
    for (int i = 0; i < DBG_STRIPES; i++)
        pthread_mutex_lock(&dbg_stripes[i].lock);
}
void pymt__debug_atfork_parent(void) {
    if (!dbg_ready)
        return;
    for (int i = DBG_STRIPES - 1; i >= 0; i--)
        pthread_mutex_unlock(&dbg_stripes[i].lock);
    pthread_mutex_unlock(&dbg_quar.lock);
    pymt__dbg_report_atfork_parent();
}
void pymt__debug_atfork_child(void) {
    pymt__debug_atfork_parent(); /* the forking thread owns the locks in the child too */
}

/* ---- public -------------------------------------------------------------------------------- */

#define DBG_CHECK_BATCH 8

size_t pymt_check_heap(void) {
    pymt__ensure_init();
    if (!pymt__opt.debug || !dbg_ready)
        return 0;
    size_t bad = 0;
    /* Live blocks: guards and head. Bad ones are copied out under the lock and reported after
     * it is dropped (the hook may call pymt); a bucket with more than DBG_CHECK_BATCH bad blocks
     * has the rest counted but not reported. */
    for (size_t b = 0; b < DBG_BUCKETS; b++) {
        dbg_snap snaps[DBG_CHECK_BATCH];
        enum dbg_error errs[DBG_CHECK_BATCH];
        size_t nsnap = 0;
        dbg_stripe *st = stripe_of(b);
        pthread_mutex_lock(&st->lock);
        for (dbg_head *h = dbg_buckets[b]; h; h = h->next) {
            if (h->state != DBG_LIVE)
                continue; /* quarantined: checked below */
            enum dbg_error err = dbg_check(h) != h->check ? DBG_E_HEADER : guards_check(h);
            if (err == DBG_OK)
                continue;
            bad++;
            if (nsnap < DBG_CHECK_BATCH) {
                snaps[nsnap].p = payload_of(h);
                pymt__dbg_snap_take(&snaps[nsnap], h);
                errs[nsnap++] = err;
            }
        }
        pthread_mutex_unlock(&st->lock);
        for (size_t i = 0; i < nsnap; i++)
            pymt__dbg_report(errs[i], &snaps[i], 0, 0, false);
    }
    /* Quarantined blocks: head, guards and DEAD fill. The quarantine lock keeps them from being
     * released meanwhile; their payloads were filled before they were pushed (ordered by this
     * lock). Reports wait until the lock is dropped; the blocks stay in the quarantine and are
     * reported again when they leave it. */
    dbg_snap qsnaps[DBG_CHECK_BATCH + 1]; /* the last one is scratch for the uncounted */
    enum dbg_error qerrs[DBG_CHECK_BATCH];
    size_t nq = 0;
    pthread_mutex_lock(&dbg_quar.lock);
    for (size_t i = 0; i < dbg_quar.count; i++) {
        dbg_head *h = dbg_quar.ring[(dbg_quar.first + i) % DBG_QUAR_BLOCKS];
        enum dbg_error err = freed_check(h, &qsnaps[nq]);
        if (err == DBG_OK)
            continue;
        bad++;
        if (nq < DBG_CHECK_BATCH)
            qerrs[nq++] = err;
    }
    pthread_mutex_unlock(&dbg_quar.lock);
    for (size_t i = 0; i < nq; i++)
        pymt__dbg_report(qerrs[i], &qsnaps[i], 0, 0, false);
    return bad;
}
