/* lfstack.c: every ConcurrencyKit call of pymt, and nothing else. Compiled with
 * -fno-sanitize=all (src/CMakeLists.txt): CK's builtins mode performs its loads and stores as
 * plain volatile accesses, which TSan reports as races against the __sync read-modify-writes, and
 * its entry writes land in poisoned pool blocks under ASan. The callers (arena.c, depot.c)
 * publish with pymt__tsan_release and adopt with pymt__tsan_acquire on the stack's address. */
#include "lfstack.h"

void pymt__ck_push_upmc(ck_stack_t *s, ck_stack_entry_t *e) {
    ck_stack_push_upmc(s, e);
}

ck_stack_entry_t *pymt__ck_batch_pop_upmc(ck_stack_t *s) {
    return ck_stack_batch_pop_upmc(s);
}

ck_stack_entry_t *pymt__ck_pop_upmc(ck_stack_t *s) {
    return ck_stack_pop_upmc(s);
}
