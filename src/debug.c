/* debug.c: the debug wrappers. In debug mode (PYMT_MALLOC=debug, pymalloc_debug, malloc_debug)
 * every public allocation goes through here with its family; each block is decorated, kept in
 * a registry while live, kept aside in a quarantine for a while after it is freed, and every
 * misuse found on the way is reported (then the process aborts, unless a report hook is set).
 *
 * The block layout and byte values are in debug_block.h; reports are written by
 * debug_report.c.
 *
 * Registry: a hash set of live and quarantined blocks keyed by payload address, chained through
 * the head's next field (no memory of its own), PYMT__DEBUG_BUCKETS buckets guarded by PYMT__DEBUG_STRIPES
 * mutexes (bucket b is guarded by stripe b % PYMT__DEBUG_STRIPES). A pointer is only dereferenced once it
 * has been found there, so freeing a pointer pymt never handed out is reported without reading
 * the memory around it. A head's state, freed_by, freed_op, next and link change only under its
 * stripe's lock; its other fields are written before the block is inserted and never again.
 * Every walk checks a head's link word before it follows the head's next: a head whose next was
 * overwritten (an overrun of the block before it in a pool) cuts the chain there, and the call
 * that met it reports that head ("registry link changed") instead of reading on.
 *
 * Quarantine: a FIFO ring of freed blocks (at most PYMT__DEBUG_QUAR_BLOCKS blocks and PYMT__DEBUG_QUAR_BYTES
 * bytes), under its own mutex. A freed block stays in the registry (state FREED) while it is
 * there, so a second free of it is a "double free" rather than an unknown pointer. When a block
 * leaves the quarantine its head, guards and DEAD fill are checked (a changed payload byte is a
 * use after free), then it goes back to the underlying allocator. pymt_check_heap checks the
 * quarantine the same way.
 *
 * Locks: a stripe lock and the quarantine lock are never held together; none of them is held
 * while a report is written or a hook runs (the hook may call pymt).
 *
 * Underneath: the backend each family's table wraps (debug_below, set by pymt__debug_backend
 * before the first block): sys for the raw family and for everything in malloc_debug,
 * pools_locked for the object families in pymalloc_debug. A block goes back through its own
 * family's backend. */
#include "debug_block.h"

#include "arena.h"
#include "sys.h"

#include <execinfo.h>
#include <pthread.h>
#include <string.h>

#define PYMT__DEBUG_BUCKETS (1 << 20) /* registry buckets: 8 MiB of BSS heads, zero pages until used,
                                  so chains stay short up to millions of live blocks */
#define PYMT__DEBUG_STRIPES 16    /* registry locks (fork holds them all: ThreadSanitizer tracks <= 64) */
#define PYMT__DEBUG_QUAR_BLOCKS 4096
#define PYMT__DEBUG_QUAR_BYTES ((size_t)4 << 20)

_Static_assert(PYMT__DEBUG_BUCKETS % PYMT__DEBUG_STRIPES == 0, "stripes divide the buckets evenly");

typedef struct debug_stripe {
    pthread_mutex_t lock;
    size_t live[4]; /* live blocks per family (index family - 1); under lock */
} __attribute__((aligned(64))) debug_stripe;

static pymt__debug_head *debug_buckets[PYMT__DEBUG_BUCKETS]; /* under debug_stripes[b % PYMT__DEBUG_STRIPES].lock */
static debug_stripe debug_stripes[PYMT__DEBUG_STRIPES];

static struct {
    pthread_mutex_t lock;
    pymt__debug_head *ring[PYMT__DEBUG_QUAR_BLOCKS]; /* FIFO: head index, count */
    size_t first, count, bytes;
} debug_quar = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Atomic uint64_t debug_serial;     /* relaxed: only uniqueness matters */
static bool debug_ready;                  /* pymt__debug_init ran; set before any debug block */
static size_t debug_frame_bytes;          /* room for frames in new blocks: 0 or PYMT__DEBUG_FRAMES * 8 */

/* ---- small helpers ------------------------------------------------------------------------- */

static inline size_t bucket_of(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 44); /* 20 bits: PYMT__DEBUG_BUCKETS */
}
_Static_assert(PYMT__DEBUG_BUCKETS == 1 << 20, "bucket_of keeps 20 bits");
static inline debug_stripe *stripe_of(size_t b) {
    return &debug_stripes[b % PYMT__DEBUG_STRIPES];
}
/* Raw memory, the object families, and the drop-in's malloc are three domains. */
static inline int domain_of(int family) {
    return family == PYMT__FAM_OBJECT ? PYMT__FAM_OBJMEM : family;
}
static inline bool same_domain(int a, int b) {
    return domain_of(a) == domain_of(b);
}
/* A pointer the drop-in's free or realloc may hand to the C library without a report: not a
 * debug block and not in one of pymt's arenas, so a block glibc gave out before pymt was
 * initialised (or through an aligned allocation, which the debug backend does not make). */
static inline bool foreign_to_pymt(int family, const void *p) {
    return family == PYMT__FAM_MALLOC && !pymt__arena_lookup(p);
}
/* Offset of the first byte of [p, p+n) that is not DEAD, or n. */
static size_t dead_mismatch(const unsigned char *p, size_t n) {
    size_t i = 0;
    const uint64_t dead8 = 0x0101010101010101ull * PYMT__DEBUG_DEAD;
    while (i < n && ((uintptr_t)(p + i) & 7))
        if (p[i++] != PYMT__DEBUG_DEAD)
            return i - 1;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != dead8)
            break;
    }
    for (; i < n; i++)
        if (p[i] != PYMT__DEBUG_DEAD)
            return i;
    return n;
}

/* ---- the underlying allocators ------------------------------------------------------------ */

static const pymt__backend *debug_below[5]; /* by family; set by init before any block */

static void *under_malloc(int family, size_t n) {
    const pymt__backend *t = debug_below[family];
    return t->malloc(t->ctx, n);
}
static void under_free(int family, void *base) {
    const pymt__backend *t = debug_below[family];
    t->free(t->ctx, base);
}

/* ---- the registry -------------------------------------------------------------------------- */

/* The guards of a block whose head passed its check. */
static enum pymt__debug_error guards_check(pymt__debug_head *h) {
    if (!pymt__debug_guard_ok(h->guard))
        return PYMT__DEBUG_E_UNDERRUN;
    if (!pymt__debug_guard_ok(pymt__debug_payload(h) + h->size))
        return PYMT__DEBUG_E_OVERRUN;
    return PYMT__DEBUG_OK;
}

/* Set h's registry link (stripe lock held). */
static void link_set(pymt__debug_head *h, pymt__debug_head *next) {
    h->next = next;
    h->link = pymt__debug_link_word(h);
}
static bool link_ok(const pymt__debug_head *h) {
    return h->link == pymt__debug_link_word(h);
}

/* The block of payload p in bucket b (stripe lock held), or NULL. A head met on the way whose
 * link is not the registry's cuts the chain: *cut names it (else NULL). */
static pymt__debug_head *reg_find_locked(size_t b, const void *p, pymt__debug_head **cut) {
    *cut = NULL;
    for (pymt__debug_head *h = debug_buckets[b]; h; h = h->next) {
        if (pymt__debug_payload(h) == (const unsigned char *)p)
            return h;
        if (!link_ok(h)) {
            *cut = h;
            return NULL;
        }
    }
    return NULL;
}
static void reg_insert(pymt__debug_head *h) {
    size_t b = bucket_of(pymt__debug_payload(h));
    debug_stripe *st = stripe_of(b);
    pthread_mutex_lock(&st->lock);
    link_set(h, debug_buckets[b]);
    debug_buckets[b] = h;
    st->live[h->family - 1]++;
    pthread_mutex_unlock(&st->lock);
}
/* Unlink h; NULL, or the head whose changed link cut the chain before h could be unlinked (h
 * stays in the registry then). A snapshot of that head goes in *s. */
static pymt__debug_head *reg_remove(pymt__debug_head *h, pymt__debug_snap *s) {
    size_t b = bucket_of(pymt__debug_payload(h));
    debug_stripe *st = stripe_of(b);
    pymt__debug_head *prev = NULL, *cut = NULL;
    pthread_mutex_lock(&st->lock);
    for (pymt__debug_head *x = debug_buckets[b]; x; prev = x, x = x->next) {
        if (!link_ok(x)) {
            cut = x;
            s->p = pymt__debug_payload(x);
            pymt__debug_snap_take(s, x);
            break;
        }
        if (x == h) {
            if (prev != NULL)
                link_set(prev, h->next);
            else
                debug_buckets[b] = h->next;
            break;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return cut;
}

/* The checks of free and realloc, under the stripe lock: find p, check it, and on success take
 * it (state FREED, freed_by family, freed_op op). On failure fill *s for the report. */
static enum pymt__debug_error reg_take(const void *p, int family, int op, pymt__debug_head **out,
                                       pymt__debug_snap *s) {
    size_t b = bucket_of(p);
    debug_stripe *st = stripe_of(b);
    enum pymt__debug_error err = PYMT__DEBUG_OK;
    pthread_mutex_lock(&st->lock);
    pymt__debug_head *cut;
    pymt__debug_head *h = reg_find_locked(b, p, &cut);
    if (cut) {
        err = PYMT__DEBUG_E_LINK; /* the report is about the head that cut the chain */
        s->p = pymt__debug_payload(cut);
        pymt__debug_snap_take(s, cut);
    } else if (!h)
        err = PYMT__DEBUG_E_UNKNOWN;
    else if (pymt__debug_check_word(h) != h->check || (h->state != PYMT__DEBUG_LIVE && h->state != PYMT__DEBUG_FREED))
        err = PYMT__DEBUG_E_HEADER;
    else if (h->state != PYMT__DEBUG_LIVE)
        err = PYMT__DEBUG_E_DOUBLE_FREE;
    else if (!same_domain(h->family, family))
        err = PYMT__DEBUG_E_MISMATCH;
    else
        err = guards_check(h);
    if (err == PYMT__DEBUG_OK) {
        h->state = PYMT__DEBUG_FREED;
        h->freed_by = (uint8_t)family & 15;
        h->freed_op = (uint8_t)op & 15;
        st->live[h->family - 1]--;
        *out = h;
    } else if (h) {
        s->p = p;
        pymt__debug_snap_take(s, h);
    }
    pthread_mutex_unlock(&st->lock);
    return err;
}
/* Undo reg_take (realloc could not get its new block). */
static void reg_untake(pymt__debug_head *h) {
    size_t b = bucket_of(pymt__debug_payload(h));
    debug_stripe *st = stripe_of(b);
    pthread_mutex_lock(&st->lock);
    h->state = PYMT__DEBUG_LIVE;
    h->freed_by = 0;
    h->freed_op = 0;
    st->live[h->family - 1]++;
    pthread_mutex_unlock(&st->lock);
}

/* ---- the quarantine ------------------------------------------------------------------------ */

static size_t block_bytes(const pymt__debug_head *h) {
    return pymt__debug_frame_room(h) + sizeof(pymt__debug_head) + h->size + PYMT__DEBUG_GUARD;
}

/* Take the oldest block off the quarantine ring (debug_quar.lock held, count > 0). */
static pymt__debug_head *quar_pop_locked(void) {
    pymt__debug_head *o = debug_quar.ring[debug_quar.first];
    debug_quar.bytes -= block_bytes(o);
    debug_quar.first = (debug_quar.first + 1) % PYMT__DEBUG_QUAR_BLOCKS;
    debug_quar.count--;
    return o;
}

/* Check a freed block that only the caller can reach now (it left the quarantine). */
static enum pymt__debug_error freed_check(pymt__debug_head *h, pymt__debug_snap *s) {
    size_t off = 0;
    enum pymt__debug_error err = pymt__debug_check_word(h) != h->check ? PYMT__DEBUG_E_HEADER : guards_check(h);
    if (err == PYMT__DEBUG_OK && (off = dead_mismatch(pymt__debug_payload(h), h->size)) != h->size)
        err = PYMT__DEBUG_E_USE_AFTER_FREE;
    if (err != PYMT__DEBUG_OK) {
        s->p = pymt__debug_payload(h);
        pymt__debug_snap_take(s, h);
        s->bad_offset = off;
    }
    return err;
}

/* Give a block that left the quarantine back to its allocator, checking it first. */
static void quar_release(pymt__debug_head *h, int family, int op) {
    pymt__debug_snap s;
    enum pymt__debug_error err = freed_check(h, &s);
    if (reg_remove(h, &s) != NULL) {
        /* h is still in the registry, behind the cut: it cannot be given back */
        pymt__debug_report(PYMT__DEBUG_E_LINK, &s, family, op, true);
        return;
    }
    if (err != PYMT__DEBUG_OK) {
        pymt__debug_report(err, &s, family, op, true);
        /* A hook took it. A changed payload is harmless to the allocator; a clobbered head or
         * guard may mean the neighbours are clobbered too, so that block is leaked. */
        if (err != PYMT__DEBUG_E_USE_AFTER_FREE)
            return;
    }
    under_free(h->family, pymt__debug_base(h));
}

/* Put a freed (DEAD-filled) block in the quarantine and release what falls out of it: the
 * oldest blocks, as many as it takes to keep both bounds (in batches, each checked and released
 * outside the lock), so a ring of small blocks followed by big ones does not pass the bytes. */
static void quar_push(pymt__debug_head *h, int family, int op) {
    enum { BATCH = 16 };
    pymt__debug_head *out[BATCH];
    int nout = 0;
    pthread_mutex_lock(&debug_quar.lock);
    if (debug_quar.count == PYMT__DEBUG_QUAR_BLOCKS)
        out[nout++] = quar_pop_locked();
    debug_quar.ring[(debug_quar.first + debug_quar.count) % PYMT__DEBUG_QUAR_BLOCKS] = h;
    debug_quar.count++;
    debug_quar.bytes += block_bytes(h);
    for (;;) {
        while (debug_quar.bytes > PYMT__DEBUG_QUAR_BYTES && debug_quar.count > 0 && nout < BATCH)
            out[nout++] = quar_pop_locked();
        pthread_mutex_unlock(&debug_quar.lock);
        for (int i = 0; i < nout; i++)
            quar_release(out[i], family, op);
        if (nout < BATCH)
            return;
        nout = 0;
        pthread_mutex_lock(&debug_quar.lock);
    }
}

void pymt__debug_quarantine_counts(size_t *blocks, size_t *bytes) {
    *blocks = *bytes = 0;
    if (!debug_ready)
        return;
    pthread_mutex_lock(&debug_quar.lock);
    *blocks = debug_quar.count;
    *bytes = debug_quar.bytes;
    pthread_mutex_unlock(&debug_quar.lock);
}

/* Empty the quarantine (checking each block), so pymt_trim can give whole arenas back. */
void pymt__debug_quarantine_flush(void) {
    if (!debug_ready)
        return;
    for (;;) {
        pymt__debug_head *out[64];
        int nout = 0;
        pthread_mutex_lock(&debug_quar.lock);
        while (debug_quar.count > 0 && nout < 64)
            out[nout++] = quar_pop_locked();
        pthread_mutex_unlock(&debug_quar.lock);
        if (nout == 0)
            return;
        for (int i = 0; i < nout; i++)
            quar_release(out[i], 0, PYMT__DEBUG_OP_TRIM);
    }
}

/* ---- entry points -------------------------------------------------------------------------- */

static void *debug_alloc(int family, size_t n, int op) {
    size_t room = debug_frame_bytes; /* read once: init may allocate before setting it */
    size_t extra = room + sizeof(pymt__debug_head) + PYMT__DEBUG_GUARD;
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
    pymt__debug_head *h = (pymt__debug_head *)(base + room);
    int nframes = 0;
    if (room) {
        nframes = backtrace((void **)base, PYMT__DEBUG_FRAMES);
        if (nframes < 0)
            nframes = 0;
    }
    h->next = NULL;
    h->link = 0;
    h->size = n;
    h->serial = pymt__fetch_add_relaxed(&debug_serial, 1) + 1;
    h->family = (uint8_t)family & 15;
    h->op = (uint8_t)op & 15;
    h->state = PYMT__DEBUG_LIVE;
    h->freed_by = 0;
    h->freed_op = 0;
    h->nframes = (uint8_t)nframes & 127;
    h->framed = room != 0;
    h->check = pymt__debug_check_word(h);
    memset(h->guard, PYMT__DEBUG_FORBIDDEN, PYMT__DEBUG_GUARD);
    unsigned char *p = pymt__debug_payload(h);
    memset(p, op == PYMT__DEBUG_OP_CALLOC ? 0 : PYMT__DEBUG_CLEAN, n);
    memset(p + n, PYMT__DEBUG_FORBIDDEN, PYMT__DEBUG_GUARD);
    reg_insert(h);
    return p;
}

static void *debug_malloc(int family, size_t n, bool zero) {
    return debug_alloc(family, n, zero ? PYMT__DEBUG_OP_CALLOC : PYMT__DEBUG_OP_MALLOC);
}

/* Take live block p out of the registry for a free or realloc through family; on any misuse
 * report it and return NULL (a hook took the report: the caller abandons the operation). A
 * pointer that is the C library's (foreign_to_pymt) is not reported: *foreign says so and the
 * caller hands it to the C library. */
static pymt__debug_head *debug_take_checked(void *p, int family, int op, bool *foreign) {
    pymt__debug_head *h = NULL;
    pymt__debug_snap s;
    *foreign = false;
    enum pymt__debug_error err = reg_take(p, family, op, &h, &s);
    if (pymt__likely(err == PYMT__DEBUG_OK))
        return h;
    if (err == PYMT__DEBUG_E_UNKNOWN && foreign_to_pymt(family, p)) {
        *foreign = true;
        return NULL;
    }
    if (err == PYMT__DEBUG_E_UNKNOWN)
        pymt__debug_report_unknown(p, family, op);
    else
        pymt__debug_report(err, &s, family, op, true);
    return NULL;
}

static void debug_free(int family, void *p) {
    if (!p)
        return;
    bool foreign;
    pymt__debug_head *h = debug_take_checked(p, family, PYMT__DEBUG_OP_FREE, &foreign);
    if (pymt__unlikely(h == NULL)) {
        if (foreign)
            pymt__sys_free(p);
        return; /* else a hook took the report: the free is abandoned */
    }
    memset(p, PYMT__DEBUG_DEAD, h->size);
    quar_push(h, family, PYMT__DEBUG_OP_FREE);
}

static void *debug_realloc(int family, void *p, size_t n) {
    if (!p)
        return debug_alloc(family, n, PYMT__DEBUG_OP_REALLOC);
    bool foreign;
    pymt__debug_head *h = debug_take_checked(p, family, PYMT__DEBUG_OP_REALLOC, &foreign);
    if (pymt__unlikely(h == NULL))
        /* the C library's block stays the C library's; else a hook took the report: the
         * realloc is abandoned, p untouched */
        return foreign ? pymt__sys_realloc(p, n) : NULL;
    /* Always move: the old block goes to the quarantine, so a stale pointer to it is caught. */
    unsigned char *q = debug_alloc(h->family == PYMT__FAM_RAW ? PYMT__FAM_RAW : family, n,
                                 PYMT__DEBUG_OP_REALLOC);
    if (!q) {
        reg_untake(h);
        errno = ENOMEM;
        return NULL;
    }
    memcpy(q, p, h->size < n ? h->size : n);
    memset(p, PYMT__DEBUG_DEAD, h->size);
    quar_push(h, family, PYMT__DEBUG_OP_REALLOC);
    return q;
}

static size_t debug_usable_size(int family, const void *p) {
    if (!p)
        return 0;
    size_t b = bucket_of(p);
    debug_stripe *st = stripe_of(b);
    size_t n = 0;
    bool found = false;
    pymt__debug_snap s;
    pthread_mutex_lock(&st->lock);
    pymt__debug_head *cut;
    pymt__debug_head *h = reg_find_locked(b, p, &cut);
    if (h && h->state == PYMT__DEBUG_LIVE) {
        n = h->size;
        found = true;
    } else if (cut) {
        s.p = pymt__debug_payload(cut);
        pymt__debug_snap_take(&s, cut);
    }
    pthread_mutex_unlock(&st->lock);
    if (cut) {
        pymt__debug_report(PYMT__DEBUG_E_LINK, &s, family, PYMT__DEBUG_OP_USABLE, true);
        return 0;
    }
    if (!found && foreign_to_pymt(family, p))
        return pymt__sys_usable_size(p);
    return n;
}

void pymt__debug_live_counts(size_t out[3]) {
    out[0] = out[1] = out[2] = 0;
    if (!debug_ready)
        return;
    for (int i = 0; i < PYMT__DEBUG_STRIPES; i++) {
        pthread_mutex_lock(&debug_stripes[i].lock);
        for (int f = 0; f < 3; f++)
            out[f] += debug_stripes[i].live[f];
        pthread_mutex_unlock(&debug_stripes[i].lock);
    }
}

void pymt__debug_init(bool frames, const char *log) {
    for (int i = 0; i < PYMT__DEBUG_STRIPES; i++)
        pthread_mutex_init(&debug_stripes[i].lock, NULL);
    pymt__debug_report_init(log);
    if (frames) {
        /* The first backtrace() loads the unwinder, which may allocate: do it now, not in the
         * middle of an allocation. */
        void *prime[2];
        (void)backtrace(prime, 2);
        debug_frame_bytes = PYMT__DEBUG_FRAMES * sizeof(void *);
    }
    debug_ready = true;
}

/* Fork: take every lock so the child inherits a consistent registry and quarantine. */
void pymt__debug_atfork_prepare(void) {
    if (!debug_ready)
        return;
    pymt__debug_report_atfork_prepare();
    pthread_mutex_lock(&debug_quar.lock);
    for (int i = 0; i < PYMT__DEBUG_STRIPES; i++)
        pthread_mutex_lock(&debug_stripes[i].lock);
}
void pymt__debug_atfork_parent(void) {
    if (!debug_ready)
        return;
    for (int i = PYMT__DEBUG_STRIPES - 1; i >= 0; i--)
        pthread_mutex_unlock(&debug_stripes[i].lock);
    pthread_mutex_unlock(&debug_quar.lock);
    pymt__debug_report_atfork_parent();
}
void pymt__debug_atfork_child(void) {
    pymt__debug_atfork_parent(); /* the forking thread owns the locks in the child too */
}

#define PYMT__DEBUG_CHECK_BATCH 8

size_t pymt__debug_check_heap(void) {
    if (!debug_ready)
        return 0;
    size_t bad = 0;
    /* Live blocks: guards and head. Bad ones are copied out under the lock and reported after
     * it is dropped (the hook may call pymt); a bucket with more than PYMT__DEBUG_CHECK_BATCH bad blocks
     * has the rest counted but not reported. */
    for (size_t b = 0; b < PYMT__DEBUG_BUCKETS; b++) {
        pymt__debug_snap snaps[PYMT__DEBUG_CHECK_BATCH];
        enum pymt__debug_error errs[PYMT__DEBUG_CHECK_BATCH];
        size_t nsnap = 0;
        debug_stripe *st = stripe_of(b);
        pthread_mutex_lock(&st->lock);
        for (pymt__debug_head *h = debug_buckets[b]; h; h = h->next) {
            enum pymt__debug_error err = PYMT__DEBUG_OK;
            if (!link_ok(h))
                err = PYMT__DEBUG_E_LINK; /* the rest of the chain cannot be walked */
            else if (h->state == PYMT__DEBUG_LIVE) /* quarantined blocks are checked below */
                err = pymt__debug_check_word(h) != h->check ? PYMT__DEBUG_E_HEADER : guards_check(h);
            if (err == PYMT__DEBUG_OK)
                continue;
            bad++;
            if (nsnap < PYMT__DEBUG_CHECK_BATCH) {
                snaps[nsnap].p = pymt__debug_payload(h);
                pymt__debug_snap_take(&snaps[nsnap], h);
                errs[nsnap++] = err;
            }
            if (err == PYMT__DEBUG_E_LINK)
                break;
        }
        pthread_mutex_unlock(&st->lock);
        for (size_t i = 0; i < nsnap; i++)
            pymt__debug_report(errs[i], &snaps[i], 0, 0, false);
    }
    /* Quarantined blocks: head, guards and DEAD fill. The quarantine lock keeps them from being
     * released meanwhile; their payloads were filled before they were pushed (ordered by this
     * lock). Reports wait until the lock is dropped; the blocks stay in the quarantine and are
     * reported again when they leave it. */
    pymt__debug_snap qsnaps[PYMT__DEBUG_CHECK_BATCH + 1]; /* the last one is scratch for the uncounted */
    enum pymt__debug_error qerrs[PYMT__DEBUG_CHECK_BATCH];
    size_t nq = 0;
    pthread_mutex_lock(&debug_quar.lock);
    for (size_t i = 0; i < debug_quar.count; i++) {
        pymt__debug_head *h = debug_quar.ring[(debug_quar.first + i) % PYMT__DEBUG_QUAR_BLOCKS];
        enum pymt__debug_error err = freed_check(h, &qsnaps[nq]);
        if (err == PYMT__DEBUG_OK)
            continue;
        bad++;
        if (nq < PYMT__DEBUG_CHECK_BATCH)
            qerrs[nq++] = err;
    }
    pthread_mutex_unlock(&debug_quar.lock);
    for (size_t i = 0; i < nq; i++)
        pymt__debug_report(qerrs[i], &qsnaps[i], 0, 0, false);
    return bad;
}

/* ---- the backend table --------------------------------------------------------------------- */

static void *t_malloc(void *ctx, size_t n) {
    return debug_malloc((int)(intptr_t)ctx, n, false);
}
static void *t_calloc(void *ctx, size_t nelem, size_t elsize) {
    return debug_malloc((int)(intptr_t)ctx, nelem * elsize, true); /* checked by the caller */
}
static void *t_realloc(void *ctx, void *p, size_t n) {
    return debug_realloc((int)(intptr_t)ctx, p, n);
}
static void t_free(void *ctx, void *p) {
    debug_free((int)(intptr_t)ctx, p);
}
static size_t t_usable(void *ctx, const void *p) {
    return debug_usable_size((int)(intptr_t)ctx, p);
}

void pymt__debug_backend(pymt__backend *t, int family, const pymt__backend *below) {
    pymt__assert(family >= PYMT__FAM_RAW && family <= PYMT__FAM_MALLOC);
    debug_below[family] = below;
    *t = (pymt__backend){(void *)(intptr_t)family, t_malloc, t_calloc, t_realloc, t_free,
                         t_usable};
}
