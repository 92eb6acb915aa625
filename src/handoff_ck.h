/* handoff_ck.h: the ConcurrencyKit calls pymt makes, as plain functions (handoff_ck.c). That file
 * is compiled without sanitizer instrumentation; callers bracket each hand-off with
 * pymt__tsan_release (before a push) and pymt__tsan_acquire (after a non-empty take or pop) on
 * the stack's address, which is how TSan learns the ordering CK provides. */
#ifndef PYMT_HANDOFF_CK_H
#define PYMT_HANDOFF_CK_H

#include "atomic.h"

/* ck_stack_push_upmc: any thread, any time (ABA-free: a CAS that installs e with e->next = the
 * head it read is right whatever happened in between). */
void pymt__ck_push_mpmc(ck_stack_t *s, ck_stack_entry_t *e);
/* ck_stack_batch_pop_upmc: swap the head with NULL and return the old chain; any thread. */
ck_stack_entry_t *pymt__ck_take_all_mpmc(ck_stack_t *s);
/* ck_stack_pop_upmc: pop one entry. Only one thread may pop at a time (callers hold the core
 * lock), pushes may run concurrently: with a single popper nobody else can remove the head the
 * popper read, so its next pointer cannot change under it (no ABA). */
ck_stack_entry_t *pymt__ck_pop_mpsc(ck_stack_t *s);
/* Head as seen now (plain read; a hint only, for "is it empty?" checks outside the lock). */
ck_stack_entry_t *pymt__ck_peek(ck_stack_t *s);

#endif /* PYMT_HANDOFF_CK_H */
