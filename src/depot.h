/* depot.h: the lock-free block depot (depot.c): batches of free blocks passed between
 * threads without the core lock. */
#ifndef PYMT_DEPOT_H
#define PYMT_DEPOT_H

#include "medium.h"

/* Publish a chain of n free blocks of class c (linked through word 0, NULL-terminated) on the
 * depot of the core that owns its first block (small classes; medium ones have one depot) when
 * that depot holds fewer than limit blocks of the class; false (nothing done) otherwise. */
bool pymt__depot_push(unsigned c, void *chain, size_t n, size_t limit);
/* Adopt one batch of class c from the calling thread's core's depot: returns its chain (linked
 * through word 0) and sets *n, or NULL. */
void *pymt__depot_take(unsigned c, size_t *n);
/* Blocks of class c in the depots now (exact when quiescent). */
size_t pymt__depot_count(unsigned c);
/* Give every depot block back to the pools (pymt_trim, fork child). Takes the core lock. */
void pymt__depot_drain(void);

/* Manifest slots per core and small class: a batch on the depot may carry one (depot.c). */
#define PYMT__DEPOT_MANIFESTS 4u
/* Manifest slots claimed now, over every core and class (white-box tests). */
unsigned pymt__depot_manifests_claimed(void);

/* fork child: the popper flags free again (the forking thread holds none). */
void pymt__depot_atfork_child(void);

/* Validator: every batch of class c holds blocks of class c in pymt's arenas, as many as it
 * says, and each depot's batches add up to its count. Takes the batches off the stack while it
 * walks them and puts them back, so it is safe with other threads running, but exact only
 * when none is using the depot. */
bool pymt__depot_check(unsigned c);

#endif /* PYMT_DEPOT_H */
