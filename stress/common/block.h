/* block.h: allocating, checking, resizing and freeing a block through its family.
 *
 * stress_check() runs before every free and realloc (and when a block is adopted from another
 * thread); on a mismatch it prints the seed, the scenario, the checking thread, the block, the
 * first bad offset with expected vs found bytes, and what the block's header claims, then
 * aborts. A block handed out twice shows up here as a foreign owner/serial in the header.
 * It also checks 16-byte alignment, the object head (ob_refcnt, ob_type, ob_size) and
 * pymt_usable_size (the request in debug mode, a class size for a pool block).
 * stress_alloc also checks that a calloc'ed block is zero. A failed check or an unexpected NULL
 * ends the run through stress_fail (run.h). These functions also keep stress_wide_live, the
 * bytes of the live wide blocks (rng.h), which caps stress_rand_size's wide draws. */
#ifndef PYMT_STRESS_BLOCK_H
#define PYMT_STRESS_BLOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "pattern.h"
#include "rng.h"

/* Full check of a live block: alignment, usable size, object head, whole pattern. */
void stress_check(const stress_block *b);

/* Allocate a block of the raw or object-memory family (malloc or, sometimes, calloc), check
 * a calloc'ed block is zero, fill it. NULL (ENOMEM included) fails the run. */
void stress_alloc(stress_block *b, int fam, size_t size, stress_rng *r);

/* Allocate an object of type t (nitems used when t is var-sized), fill after its head. */
void stress_alloc_object(stress_block *b, const pymt_type *t, ptrdiff_t nitems);

/* Check, resize (raw or object-memory family), check the kept prefix (a mismatch names the
 * realloc, the old and the new size), refill as ours. */
void stress_realloc(stress_block *b, size_t newsize);

/* Check and free through the block's own family; the record becomes empty. */
void stress_free(stress_block *b);

#endif /* PYMT_STRESS_BLOCK_H */
