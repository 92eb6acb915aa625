/* debug.c: the debug wrappers. In debug mode (PYMT_MALLOC=debug, pymalloc_debug, malloc_debug)
 * every public allocation goes through here with its family; each block is decorated, kept in
 * a registry while live, kept aside in a quarantine for a while after it is freed, and every
 * misuse found on the way is reported (then the process aborts, unless a report hook is set).
 *
 * A debug block (sizes for 64-bit; frames only with PYMT_DEBUG_BACKTRACE=1):
 *
 *   base                                        p (returned, 16-byte aligned)
 *   +------------------+------------------------+----------------+---------------+
 *   | frames 16 x 8 B  | head: next, size,      | payload:       | trailer:      |
 *   | (optional, 128B) | serial, check, family, | n bytes        | 16 x 0xFD     |
 *   |                  | op, state, freed_by,   |                |               |
 *   |                  | nframes, framed;       |                |               |
 *   |                  | guard: 16 x 0xFD       |                |               |
 *   +------------------+------------------------+----------------+---------------+
 *                       <------ 48 bytes ------>                  <-- 16 bytes -->
 *
 * The head is a multiple of 16 bytes and the system allocator and the pools hand out 16-byte
 * aligned memory, so the payload stays 16-byte aligned. Overhead: 64 bytes (192 with frames).
 *
 * Byte values (the ones pymalloc and the Windows CRT debug heap use, so a hex dump reads the
 * same as in CPython):
 *   CLEAN     0xCD  fresh payload of malloc/realloc growth (never calloc, which zeroes)
 *   DEAD      0xDD  the whole payload once freed; checked when the block leaves quarantine
 *   FORBIDDEN 0xFD  the 16 guard bytes before and the 16 after the payload
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
 * while a report is written or a hook runs (the hook may call pymt). Reports are built in a stack
 * buffer and written with write(2): nothing here calls stdio or malloc (backtrace() is primed in
 * pymt__debug_init because its first call may allocate).
 *
 * Underneath: pymt__sys_* for the raw family, and for everything when pooling is off
 * (malloc_debug); pymt__objmem_*_nodebug for object memory and objects when pooling is on. The
 * object families (object memory and objects) are one domain, as in CPython (PyObject_Del ==
 * PyObject_Free): mixing them is allowed; mixing either with raw memory is a family mismatch. */
#include "internal.h"
#include "atomic.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DBG_CLEAN 0xCD
#define DBG_DEAD 0xDD
#define DBG_FORBIDDEN 0xFD
#define DBG_GUARD 16      /* guard bytes on each side */
#define DBG_FRAMES 16     /* allocation stack depth kept with PYMT_DEBUG_BACKTRACE=1 */
#define DBG_BUCKETS (1 << 20) /* registry buckets: 8 MiB of BSS heads, zero pages until used,
                                  so chains stay short up to millions of live blocks */
#define DBG_STRIPES 16    /* registry locks (fork holds them all: ThreadSanitizer tracks <= 64) */
#define DBG_QUAR_BLOCKS 4096
#define DBG_QUAR_BYTES ((size_t)4 << 20)
#define DBG_DUMP 16       /* payload bytes shown in a report */

enum { DBG_LIVE = 1, DBG_FREED = 2 };
/* What the program called; family 0 marks pymt's own checks (op 0 check_heap, DBG_OP_TRIM). */
enum { DBG_OP_MALLOC = 0, DBG_OP_CALLOC = 1, DBG_OP_REALLOC = 2, DBG_OP_FREE = 3, DBG_OP_TRIM = 4 };

typedef struct dbg_head {
    struct dbg_head *next;    /* registry chain; under the stripe lock */
    size_t size;              /* requested bytes */
    uint64_t serial;          /* allocation number, from 1 */
    uint16_t check;           /* dbg_check() of the fields above: a clobbered head shows */
    uint8_t family;           /* allocating family (enum pymt__family) */
    uint8_t op;               /* DBG_OP_MALLOC/CALLOC/REALLOC */
    uint8_t state;            /* DBG_LIVE or DBG_FREED; under the stripe lock */
    uint8_t freed_by;         /* family that freed it; under the stripe lock */
    uint8_t nframes;          /* frames kept before the head */
    uint8_t framed;           /* room for DBG_FRAMES frames before the head (0 or 1) */
    unsigned char guard[DBG_GUARD]; /* FORBIDDEN; the payload follows */
} dbg_head;

_Static_assert(sizeof(dbg_head) == 48, "the debug head is 48 bytes");
_Static_assert(sizeof(dbg_head) % PYMT__ALIGNMENT == 0, "the payload stays aligned");
_Static_assert(DBG_FRAMES * sizeof(void *) % PYMT__ALIGNMENT == 0, "frames keep the alignment");
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
static int dbg_fd = 2;                  /* report destination; set once by pymt__debug_init */
static bool dbg_ready;                  /* pymt__debug_init ran; set before any debug block */
static size_t dbg_frame_bytes;          /* room for frames in new blocks: 0 or DBG_FRAMES * 8 */

/* The report hook and its context change together under dbg_hook_lock. */
static pthread_mutex_t dbg_hook_lock = PTHREAD_MUTEX_INITIALIZER;
static pymt_report_hook dbg_hook;
static void *dbg_hook_ctx;

/* ---- small helpers ------------------------------------------------------------------------- */

static inline unsigned char *payload_of(dbg_head *h) {
    return (unsigned char *)(h + 1);
}
static inline size_t bucket_of(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 44); /* 20 bits: DBG_BUCKETS */
}
_Static_assert(DBG_BUCKETS == 1 << 20, "bucket_of keeps 20 bits");
static inline dbg_stripe *stripe_of(size_t b) {
    return &dbg_stripes[b % DBG_STRIPES];
}
/* Blocks allocated while init primes backtrace() have no frames: each head says. */
static inline size_t frame_room(const dbg_head *h) {
    return h->framed ? DBG_FRAMES * sizeof(void *) : 0;
}
static inline char *base_of(dbg_head *h) {
    return (char *)h - frame_room(h);
}
static inline bool same_domain(int a, int b) {
    return (a == PYMT__FAM_RAW) == (b == PYMT__FAM_RAW);
}
static uint16_t dbg_check(const dbg_head *h) {
    uint64_t x = h->size * 0xff51afd7ed558ccdull ^ h->serial * 0xc4ceb9fe1a85ec53ull;
    x ^= (uint64_t)h->family << 8 | (uint64_t)h->op << 16 | (uint64_t)h->nframes << 24 |
         (uint64_t)h->framed << 32;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebull;
    return (uint16_t)(x >> 48);
}
static bool guard_ok(const unsigned char *g) {
    for (int i = 0; i < DBG_GUARD; i++)
        if (g[i] != DBG_FORBIDDEN)
            return false;
    return true;
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

static const char *fam_text(int family) {
    switch (family) {
    case PYMT__FAM_RAW: return "raw memory";
    case PYMT__FAM_OBJMEM: return "object memory";
    case PYMT__FAM_OBJECT: return "objects";
    default: return "unknown family";
    }
}
/* The public function behind (family, op), for reports. */
static const char *fam_func(int family, int op) {
    static const char *const names[3][4] = {
        {"pymt_mem_malloc", "pymt_mem_calloc", "pymt_mem_realloc", "pymt_mem_free"},
        {"pymt_object_malloc", "pymt_object_calloc", "pymt_object_realloc", "pymt_object_free"},
        {"pymt_object_new", "pymt_object_new", "pymt_object_realloc", "pymt_object_del"},
    };
    if (family < 1 || family > 3 || op < 0 || op > 3)
        return "?";
    return names[family - 1][op];
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

/* ---- the report ---------------------------------------------------------------------------- */

typedef struct dbg_buf {
    char *s;
    size_t len, cap;
} dbg_buf;

static void put_s(dbg_buf *b, const char *s) {
    while (*s && b->len + 1 < b->cap)
        b->s[b->len++] = *s++;
    b->s[b->len] = '\0';
}
/* PUT(b, s1, s2, ...): append the strings in order. */
static void put_list(dbg_buf *b, const char *const *list) {
    for (; *list; list++)
        put_s(b, *list);
}
#define PUT(b, ...) put_list((b), (const char *const[]){__VA_ARGS__, NULL})
/* "object memory (pymt_object_free)" */
static void put_fam(dbg_buf *b, int family, const char *func) {
    PUT(b, fam_text(family), " (", func, ")");
}
static void put_u(dbg_buf *b, uint64_t v) {
    char t[24];
    int i = 23;
    t[i] = '\0';
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_s(b, t + i);
}
static void put_x(dbg_buf *b, uint64_t v) {
    char t[24];
    int i = 23;
    t[i] = '\0';
    do {
        t[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    t[--i] = 'x';
    t[--i] = '0';
    put_s(b, t + i);
}
static void put_bytes(dbg_buf *b, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char t[4] = {"0123456789abcdef"[p[i] >> 4], "0123456789abcdef"[p[i] & 15], ' ', 0};
        if (i + 1 == n)
            t[2] = 0;
        put_s(b, t);
    }
}

enum dbg_error {
    DBG_OK = 0,
    DBG_E_MISMATCH,
    DBG_E_DOUBLE_FREE,
    DBG_E_UNKNOWN,
    DBG_E_HEADER,
    DBG_E_UNDERRUN,
    DBG_E_OVERRUN,
    DBG_E_USE_AFTER_FREE,
};

/* What a report says about a block, copied under the stripe lock (or by the block's owner). */
typedef struct dbg_snap {
    const void *p;
    bool known;                  /* p is (or was) a debug block: the fields below are valid */
    bool header_ok;              /* the check word matched: size and trailer can be trusted */
    size_t size;
    uint64_t serial;
    int family, op, state, freed_by;
    unsigned char lead[DBG_GUARD], trail[DBG_GUARD];
    unsigned char data[DBG_DUMP];
    size_t ndata;
    size_t bad_offset;           /* use after free: first changed payload byte */
    int nframes;
    void *frames[DBG_FRAMES];
} dbg_snap;

static void snap_take(dbg_snap *s, dbg_head *h) {
    s->known = true;
    s->header_ok = dbg_check(h) == h->check;
    s->size = h->size;
    s->serial = h->serial;
    s->family = h->family;
    s->op = h->op;
    s->state = h->state;
    s->freed_by = h->freed_by;
    memcpy(s->lead, h->guard, DBG_GUARD);
    if (s->header_ok) {
        memcpy(s->trail, payload_of(h) + h->size, DBG_GUARD);
        s->ndata = h->size < DBG_DUMP ? h->size : DBG_DUMP;
        memcpy(s->data, payload_of(h), s->ndata);
        s->nframes = h->nframes <= DBG_FRAMES ? h->nframes : 0;
        if (s->nframes)
            memcpy(s->frames, base_of(h), (size_t)s->nframes * sizeof(void *));
    } else {
        s->ndata = 0;
        s->nframes = 0;
    }
}

static void write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Build the report for err on s (used by family through op), then hand it to the hook, or write
 * it and abort (fatal) or return (pymt_check_heap). Returns only when a hook took it or !fatal. */
static void dbg_report(enum dbg_error err, const dbg_snap *s, int family, int op, bool fatal) {
    char text[4096];
    dbg_buf b = {text, 0, sizeof text};
    int saved_errno = errno;
    const char *by = family ? fam_func(family, op)
                     : op == DBG_OP_TRIM ? "pymt_trim" : "pymt_check_heap";
    PUT(&b, "pymt debug: ");
    switch (err) {
    case DBG_E_MISMATCH:
        PUT(&b, "family mismatch: allocated by ");
        put_fam(&b, s->family, fam_func(s->family, s->op));
        PUT(&b, op == DBG_OP_REALLOC ? ", reallocated by " : ", freed by ");
        put_fam(&b, family, by);
        break;
    case DBG_E_DOUBLE_FREE:
        PUT(&b, op == DBG_OP_REALLOC ? "realloc of a freed block: " : "double free: ",
            "already freed by ");
        put_fam(&b, s->freed_by, fam_func(s->freed_by, DBG_OP_FREE));
        PUT(&b, ", now passed to ");
        put_fam(&b, family, by);
        break;
    case DBG_E_UNKNOWN:
        PUT(&b, "pointer never handed out by pymt (or freed long ago) passed to ");
        put_fam(&b, family, by);
        break;
    case DBG_E_HEADER:
        PUT(&b, "block header corrupted (underrun past the leading guard bytes), found by ", by);
        break;
    case DBG_E_UNDERRUN:
        PUT(&b, "buffer underrun: leading guard bytes changed, found by ", by);
        break;
    case DBG_E_OVERRUN:
        PUT(&b, "buffer overrun: trailing guard bytes changed, found by ", by);
        break;
    case DBG_E_USE_AFTER_FREE:
        PUT(&b, "use after free: written after being freed (first changed byte at offset ");
        put_u(&b, s->bad_offset);
        PUT(&b, family ? "), found when it left the quarantine, during "
                       : "), found in the quarantine by ",
            by);
        break;
    default:
        PUT(&b, "internal error");
        break;
    }
    PUT(&b, "\n  address ");
    put_x(&b, (uintptr_t)s->p);
    if (s->known) {
        if (s->header_ok) {
            PUT(&b, ": ");
            put_u(&b, s->size);
            PUT(&b, " bytes requested, serial ");
            put_u(&b, s->serial);
            PUT(&b, "\n  allocated by ");
            put_fam(&b, s->family, fam_func(s->family, s->op));
            if (s->state == DBG_FREED && err != DBG_E_DOUBLE_FREE) {
                PUT(&b, ", freed by ");
                put_fam(&b, s->freed_by, fam_func(s->freed_by, DBG_OP_FREE));
            }
        } else {
            PUT(&b, ": header check word wrong; size ");
            put_u(&b, s->size);
            PUT(&b, ", serial ");
            put_u(&b, s->serial);
            PUT(&b, " and family byte ");
            put_u(&b, (uint64_t)s->family);
            PUT(&b, " are untrustworthy");
        }
        PUT(&b, "\n  leading guard (16 bytes before p): ",
            guard_ok(s->lead) ? "intact" : "CHANGED", "\n    found    ");
        put_bytes(&b, s->lead, DBG_GUARD);
        PUT(&b, "\n    expected fd x 16");
        if (s->header_ok) {
            PUT(&b, "\n  trailing guard (16 bytes at p+");
            put_u(&b, s->size);
            PUT(&b, "): ", guard_ok(s->trail) ? "intact" : "CHANGED", "\n    found    ");
            put_bytes(&b, s->trail, DBG_GUARD);
            PUT(&b, "\n    expected fd x 16\n  payload (first ");
            put_u(&b, s->ndata);
            PUT(&b, " bytes): ");
            put_bytes(&b, s->data, s->ndata);
        }
        if (s->nframes > 0) {
            put_s(&b, "\n  allocation stack:");
            for (int i = 0; i < s->nframes; i++) {
                put_s(&b, " ");
                put_x(&b, (uintptr_t)s->frames[i]);
            }
        }
    }
    put_s(&b, "\n");

    pthread_mutex_lock(&dbg_hook_lock);
    pymt_report_hook hook = dbg_hook;
    void *ctx = dbg_hook_ctx;
    pthread_mutex_unlock(&dbg_hook_lock);
    if (hook) {
        hook(text, b.len, ctx);
        errno = saved_errno;
        return;
    }
    write_all(dbg_fd, text, b.len);
    if (s->known && s->nframes > 0) {
        write_all(dbg_fd, "  allocation stack, symbolised:\n", 32);
        backtrace_symbols_fd(s->frames, s->nframes, dbg_fd);
    }
    if (fatal)
        abort();
    errno = saved_errno;
}

/* Report err on an unknown pointer (nothing of it is read). */
static void report_unknown(const void *p, int family, int op) {
    dbg_snap s;
    s.p = p;
    s.known = false;
    dbg_report(DBG_E_UNKNOWN, &s, family, op, true);
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
        snap_take(s, h);
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
        snap_take(s, h);
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
        dbg_report(err, &s, family, op, true);
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
        report_unknown(p, family, op);
    else
        dbg_report(err, &s, family, op, true);
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
    if (pymt__opt.debug_log && pymt__opt.debug_log[0]) {
        int fd = open(pymt__opt.debug_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0)
            dbg_fd = fd;
        else
            pymt__write_err("pymt: PYMT_DEBUG_LOG cannot be opened; reports go to stderr\n");
    }
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
    pthread_mutex_lock(&dbg_hook_lock);
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
    pthread_mutex_unlock(&dbg_hook_lock);
}
void pymt__debug_atfork_child(void) {
    pymt__debug_atfork_parent(); /* the forking thread owns the locks in the child too */
}

/* ---- public -------------------------------------------------------------------------------- */

void pymt_set_report_hook(pymt_report_hook hook, void *ctx) {
    pthread_mutex_lock(&dbg_hook_lock);
    dbg_hook = hook;
    dbg_hook_ctx = hook ? ctx : NULL;
    pthread_mutex_unlock(&dbg_hook_lock);
}

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
                snap_take(&snaps[nsnap], h);
                errs[nsnap++] = err;
            }
        }
        pthread_mutex_unlock(&st->lock);
        for (size_t i = 0; i < nsnap; i++)
            dbg_report(errs[i], &snaps[i], 0, 0, false);
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
        dbg_report(qerrs[i], &qsnaps[i], 0, 0, false);
    return bad;
}
