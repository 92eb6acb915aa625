/* debug_block.h: a debug block as debug.c (registry, quarantine, entry points) and
 * debug_report.c (the report writer) both see it: its layout and byte values, the errors found
 * in it, and the snapshot a report is written from. Private to those two files.
 *
 * A debug block (sizes for 64-bit; frames only with PYMT_DEBUG_BACKTRACE=1):
 *
 *   base                                        p (returned, 16-byte aligned)
 *   +------------------+------------------------+----------------+---------------+
 *   | frames 16 x 8 B  | head: next, size,      | payload:       | trailer:      |
 *   | (optional, 128B) | serial, check, link,   | n bytes        | 16 x 0xFD     |
 *   |                  | nframes, framed,       |                |               |
 *   |                  | family, op, state,     |                |               |
 *   |                  | freed_by, freed_op;    |                |               |
 *   |                  | guard: 16 x 0xFD       |                |               |
 *   +------------------+------------------------+----------------+---------------+
 *                       <------ 48 bytes ------>                  <-- 16 bytes -->
 *
 * In the pools the head of one block follows the trailer of the one before it, so an overrun of
 * more than 16 bytes reaches next first: each head's link word is a check of its next as the
 * registry last set it, and no walk follows a next whose link word does not match.
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

#include "debug.h"

#define PYMT__DEBUG_CLEAN 0xCD
#define PYMT__DEBUG_DEAD 0xDD
#define PYMT__DEBUG_FORBIDDEN 0xFD
#define PYMT__DEBUG_GUARD 16      /* guard bytes on each side */
#define PYMT__DEBUG_FRAMES 16     /* allocation stack depth kept with PYMT_DEBUG_BACKTRACE=1 */
#define PYMT__DEBUG_DUMP 16       /* payload bytes shown in a report */

enum { PYMT__DEBUG_LIVE = 1, PYMT__DEBUG_FREED = 2 };
/* What the program called; family 0 marks pymt's own checks (op 0 check_heap, PYMT__DEBUG_OP_TRIM). */
enum { PYMT__DEBUG_OP_MALLOC = 0, PYMT__DEBUG_OP_CALLOC = 1, PYMT__DEBUG_OP_REALLOC = 2, PYMT__DEBUG_OP_FREE = 3, PYMT__DEBUG_OP_TRIM = 4,
       PYMT__DEBUG_OP_USABLE = 5 };

/* The bit-fields come in groups that a non-bit-field member keeps apart, so each group is a
 * memory location of its own: nframes to op never change after the block is inserted (and are
 * read without the lock, by whoever alone holds a quarantined block), freed_by and freed_op
 * change under the stripe lock. */
typedef struct pymt__debug_head {
    struct pymt__debug_head *next;    /* registry chain; under the stripe lock */
    size_t size;              /* requested bytes */
    uint64_t serial;          /* allocation number, from 1 */
    uint16_t check;           /* pymt__debug_check_word(): size, serial, nframes, framed, family, op */
    uint16_t link;            /* pymt__debug_link_word() of next; under the stripe lock */
    uint8_t nframes : 7;      /* frames kept before the head */
    uint8_t framed : 1;       /* room for PYMT__DEBUG_FRAMES frames before the head */
    uint8_t family : 4;       /* allocating family (enum pymt__family) */
    uint8_t op : 4;           /* PYMT__DEBUG_OP_MALLOC/CALLOC/REALLOC */
    uint8_t state;            /* PYMT__DEBUG_LIVE or PYMT__DEBUG_FREED; under the stripe lock */
    uint8_t freed_by : 4;     /* family that freed it; under the stripe lock */
    uint8_t freed_op : 4;     /* ... and through what: PYMT__DEBUG_OP_FREE or _REALLOC */
    unsigned char guard[PYMT__DEBUG_GUARD]; /* FORBIDDEN; the payload follows */
} pymt__debug_head;

_Static_assert(sizeof(pymt__debug_head) == 48, "the debug head is 48 bytes");
_Static_assert(sizeof(pymt__debug_head) % PYMT__ALIGNMENT == 0, "the payload stays aligned");
_Static_assert(PYMT__DEBUG_FRAMES * sizeof(void *) % PYMT__ALIGNMENT == 0, "frames keep the alignment");

static inline unsigned char *pymt__debug_payload(pymt__debug_head *h) {
    return (unsigned char *)(h + 1);
}
/* Blocks allocated while init primes backtrace() have no frames: each head says. */
static inline size_t pymt__debug_frame_room(const pymt__debug_head *h) {
    return h->framed ? PYMT__DEBUG_FRAMES * sizeof(void *) : 0;
}
static inline char *pymt__debug_base(pymt__debug_head *h) {
    return (char *)h - pymt__debug_frame_room(h);
}
static inline uint16_t pymt__debug_check_word(const pymt__debug_head *h) {
    uint64_t x = h->size * 0xff51afd7ed558ccdull ^ h->serial * 0xc4ceb9fe1a85ec53ull;
    x ^= (uint64_t)h->family << 8 | (uint64_t)h->op << 16 | (uint64_t)h->nframes << 24 |
         (uint64_t)h->framed << 32;
    x ^= x >> 29;
    x *= 0x94d049bb133111ebull;
    return (uint16_t)(x >> 48);
}
/* The check of h's registry link: next as the registry set it, at this head's address. */
static inline uint16_t pymt__debug_link_word(const pymt__debug_head *h) {
    uint64_t x = (uint64_t)(uintptr_t)h->next * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)h;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    return (uint16_t)(x >> 48);
}
static inline bool pymt__debug_guard_ok(const unsigned char *g) {
    for (int i = 0; i < PYMT__DEBUG_GUARD; i++)
        if (g[i] != PYMT__DEBUG_FORBIDDEN)
            return false;
    return true;
}

enum pymt__debug_error {
    PYMT__DEBUG_OK = 0,
    PYMT__DEBUG_E_MISMATCH,
    PYMT__DEBUG_E_DOUBLE_FREE,
    PYMT__DEBUG_E_UNKNOWN,
    PYMT__DEBUG_E_HEADER,
    PYMT__DEBUG_E_UNDERRUN,
    PYMT__DEBUG_E_OVERRUN,
    PYMT__DEBUG_E_USE_AFTER_FREE,
    PYMT__DEBUG_E_LINK, /* the head's registry link changed: the registry's chain is cut there */
};

/* What a report says about a block, copied under the stripe lock (or by the block's owner). */
typedef struct pymt__debug_snap {
    const void *p;
    bool known;                  /* p is (or was) a debug block: the fields below are valid */
    bool header_ok;              /* the check word matched: size and trailer can be trusted */
    size_t size;
    uint64_t serial;
    int family, op, state, freed_by, freed_op;
    unsigned char lead[PYMT__DEBUG_GUARD], trail[PYMT__DEBUG_GUARD];
    unsigned char data[PYMT__DEBUG_DUMP];
    size_t ndata;
    size_t bad_offset;           /* use after free: first changed payload byte */
    int nframes;
    void *frames[PYMT__DEBUG_FRAMES];
} pymt__debug_snap;

/* debug_report.c. A snapshot of h for a report (s->p set by the caller); under h's stripe lock
 * or by the block's owner. */
void pymt__debug_snap_take(pymt__debug_snap *s, pymt__debug_head *h);
/* Build the report for err on s (used by family through op; family 0: pymt's own checks), then
 * hand it to the hook, or write it and abort (fatal) or return (pymt_check_heap). Returns only
 * when a hook took it or !fatal. No lock of debug.c may be held. */
void pymt__debug_report(enum pymt__debug_error err, const pymt__debug_snap *s, int family, int op, bool fatal);
/* The same for a pointer that is not a debug block (nothing of it is read); fatal. */
void pymt__debug_report_unknown(const void *p, int family, int op);
/* Open PYMT_DEBUG_LOG when set (reports go to stderr otherwise); from pymt__debug_init. */
void pymt__debug_report_init(const char *log);
/* fork: the report hook's lock, taken before debug.c's locks and released after them. */
void pymt__debug_report_atfork_prepare(void);
void pymt__debug_report_atfork_parent(void);

#endif /* PYMT_DEBUG_BLOCK_H */
