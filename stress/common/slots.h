/* slots.h: cross-thread hand-off of block records.
 *
 * stress_slots is an array of atomic pointers to records. A thread
 * swaps one of its records (live or empty) into a slot and takes whatever was there (acq_rel
 * exchange: the swap itself carries the record and the block contents to the next thread). Every
 * record is always in exactly one place: a thread's table or a slot; none is lost or doubled.
 * The swap is inline (workers call it in their loop); creating, draining and freeing the
 * array are in slots.c. */
#ifndef PYMT_STRESS_SLOTS_H
#define PYMT_STRESS_SLOTS_H

#include <stdatomic.h>
#include <stddef.h>

#include "pattern.h"
#include "sanitize.h"

typedef struct stress_slots {
    size_t n;
    _Atomic(stress_block *) *slot;
    stress_block *store; /* n empty records the slots start with */
} stress_slots;

void stress_slots_init(stress_slots *s, size_t n);

/* Put mine into slot i, take what was there. acq_rel: the release publishes mine (record and
 * block contents) to the next taker; the acquire pairs with the previous swapper's release. */
static inline stress_block *stress_slots_swap(stress_slots *s, size_t i, stress_block *mine) {
    STRESS_HB_BEFORE(&s->slot[i]);
    stress_block *got = atomic_exchange_explicit(&s->slot[i], mine, memory_order_acq_rel);
    STRESS_HB_AFTER(&s->slot[i]);
    return got;
}

/* After the workers are joined: free every block still in a slot. */
size_t stress_slots_drain(stress_slots *s);
void stress_slots_destroy(stress_slots *s);

#endif /* PYMT_STRESS_SLOTS_H */
