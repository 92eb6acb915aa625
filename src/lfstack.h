/* lfstack.h: the ConcurrencyKit stack calls pymt makes, as plain functions (lfstack.c), named
 * with CK's own suffixes (upmc: unique-pointer, multi-producer multi-consumer). That file is
 * compiled without sanitizer instrumentation; callers bracket each hand-off with
 * pymt__tsan_release (before a push) and pymt__tsan_acquire (after a non-empty pop) on the
 * stack's address, which is how TSan learns the ordering CK provides. */
#ifndef PYMT_LFSTACK_H
#define PYMT_LFSTACK_H

#include "atomic.h"

/* ck_stack_push_upmc: any thread, any time (ABA-free: a CAS that installs e with e->next = the
 * head it read is right whatever happened in between). */
void pymt__ck_push_upmc(ck_stack_t *s, ck_stack_entry_t *e);
/* ck_stack_batch_pop_upmc: swap the head with NULL and return the old chain; any thread. */
ck_stack_entry_t *pymt__ck_batch_pop_upmc(ck_stack_t *s);
/* ck_stack_pop_upmc: pop one entry. pymt lets only one thread pop a given stack at a time
 * (the arena layer's lock, a depot class's popper flag) while pushes run concurrently: with a
 * single popper nobody else can remove the head the popper read, so its next pointer cannot
 * change under it (no ABA). */
ck_stack_entry_t *pymt__ck_pop_upmc(ck_stack_t *s);

#endif /* PYMT_LFSTACK_H */
