/* debug_block.h: a debug block as debug.c (registry, quarantine, entry points) and
 * debug_report.c (the report writer) both see it: its layout and byte values, the errors found
 * in it, and the snapshot a report is written from. Private to those two files.
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
 *   FORBIDDEN 0xFD  the 16 guard bytes before and the 16 after the payload */
#ifndef PYMT_DEBUG_BLOCK_H
#define PYMT_DEBUG_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

#define DBG_CLEAN 0xCD
#define DBG_DEAD 0xDD
#define DBG_FORBIDDEN 0xFD
#define DBG_GUARD 16      /* guard bytes on each side */
#define DBG_FRAMES 16     /* allocation stack depth kept with PYMT_DEBUG_BACKTRACE=1 */
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

static inline unsigned char *payload_of(dbg_head *h) {
    return (unsigned char *)(h + 1);
}
/* Blocks allocated while init primes backtrace() have no frames: each head says. */
static inline size_t frame_room(const dbg_head *h) {
    return h->framed ? DBG_FRAMES * sizeof(void *) : 0;
}
static inline char *base_of(dbg_head *h) {
    return (char *)h - frame_room(h);
}
static inline uint16_t dbg_check(const dbg_head *h) {
    uint64_t x = h->size * 0xff51afd7ed558ccdull ^ h->serial * 0xc4ceb9fe1a85ec53ull;
    x ^= (uint64_t)h->family << 8 | (uint64_t)h->op << 16 | (uint64_t)h->nframes << 24 |
         (uint64_t)h->framed << 32;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebull;
    return (uint16_t)(x >> 48);
}
static inline bool guard_ok(const unsigned char *g) {
    for (int i = 0; i < DBG_GUARD; i++)
        if (g[i] != DBG_FORBIDDEN)
            return false;
    return true;
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

/* debug_report.c. A snapshot of h for a report (s->p set by the caller); under h's stripe lock
 * or by the block's owner. */
void pymt__dbg_snap_take(dbg_snap *s, dbg_head *h);
/* Build the report for err on s (used by family through op; family 0: pymt's own checks), then
 * hand it to the hook, or write it and abort (fatal) or return (pymt_check_heap). Returns only
 * when a hook took it or !fatal. No lock of debug.c may be held. */
void pymt__dbg_report(enum dbg_error err, const dbg_snap *s, int family, int op, bool fatal);
/* The same for a pointer that is not a debug block (nothing of it is read); fatal. */
void pymt__dbg_report_unknown(const void *p, int family, int op);
/* Open PYMT_DEBUG_LOG when set (reports go to stderr otherwise); from pymt__debug_init. */
void pymt__dbg_report_init(void);
/* fork: the report hook's lock, taken before debug.c's locks and released after them. */
void pymt__dbg_report_atfork_prepare(void);
void pymt__dbg_report_atfork_parent(void);

#endif /* PYMT_DEBUG_BLOCK_H */
