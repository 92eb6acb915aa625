/* pattern.h: the record of a block, and the pattern its owner writes into it.
 *
 * Blocks: every block a program holds is described by a stress_block record kept outside the
 * block (owner thread id, serial, family, size). The block itself carries a pattern named for
 * its owner and serial:
 *
 *   region = the bytes the program may write (for objects: after the object head)
 *   region >= 16 bytes:
 *   +----------------------+----------------------+---------+---------+-- ... --+
 *   | STRESS_TAG | owner   | serial               | w(2)    | w(3)    |         |   8-byte words,
 *   +----------------------+----------------------+---------+---------+-- ... --+   the last cut
 *   w(k) = h + k * STRESS_STEP, h = mix(owner, serial)                               short
 *   region < 16 bytes: the bytes of w(0), w(1) (no header: there is no room)
 *
 * stress_fill writes the calling thread's pattern under a fresh serial; stress_check_prefix
 * compares the first bytes of the region with the record's pattern and, on a mismatch, prints
 * the block, the first bad offset with expected vs found bytes and what the block's header
 * claims (a block handed out twice shows a foreign owner/serial there), then fails the run. */
#ifndef PYMT_STRESS_PATTERN_H
#define PYMT_STRESS_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include "pymt/pymt.h"

enum stress_family {
    STRESS_EMPTY = 0,
    STRESS_MEM = 1,    /* pymt_mem_*           */
    STRESS_OBJMEM = 2, /* pymt_object_malloc.. */
    STRESS_OBJECT = 3  /* pymt_object_new/newvar/del */
};

const char *stress_family_name(int fam);

typedef struct stress_block {
    void *p;                /* NULL: empty record */
    size_t size;            /* bytes requested (objects: basicsize + n * itemsize) */
    const pymt_type *type;  /* objects only */
    ptrdiff_t nitems;       /* var-size objects only */
    uint64_t serial;        /* per-owner serial of the fill */
    uint32_t owner;         /* thread id that wrote the pattern */
    uint8_t fam;            /* enum stress_family */
} stress_block;

#define STRESS_TAG 0x5354520000000000ull  /* "STR" in the top bytes of the owner word */
#define STRESS_STEP 0x9E3779B97F4A7C15ull /* odd: consecutive words differ in every byte lane */

/* Write the current thread's pattern with a fresh serial over the block's region. */
void stress_fill(stress_block *b);

/* Check the first len bytes of the region against the block's (owner, serial) pattern; a
 * mismatch is reported as "<what> mismatch: ..." ("pattern", or what the caller checks), what
 * formatted from fmt and its arguments only then. */
void stress_check_prefix(const stress_block *b, const void *p, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* PYMT_STRESS_PATTERN_H */
