/* slots.c: the hand-off slots' array (slots.h). */
#include "slots.h"

#include <stdlib.h>

#include "block.h"
#include "run.h"

void stress_slots_init(stress_slots *s, size_t n) {
    s->n = n;
    s->slot = calloc(n, sizeof *s->slot);
    s->store = calloc(n, sizeof *s->store);
    if (!s->slot || !s->store)
        stress_fail("out of memory for %zu slots", n);
    for (size_t i = 0; i < n; i++)
        atomic_init(&s->slot[i], &s->store[i]);
}

size_t stress_slots_drain(stress_slots *s) {
    size_t freed = 0;
    for (size_t i = 0; i < s->n; i++) {
        stress_block *b = atomic_load_explicit(&s->slot[i], memory_order_acquire);
        if (b && b->p) {
            stress_free(b);
            freed++;
        }
    }
    return freed;
}

void stress_slots_destroy(stress_slots *s) {
    free(s->slot);
    free(s->store);
    s->slot = NULL;
    s->store = NULL;
}
