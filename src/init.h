/* init.h: one-time initialisation (init.c): the options, the backend table of each family
 * (backend.h has the wiring per mode), and the fork handlers. Every public entry point calls
 * pymt__ensure_init before it reads a table or an option; the inline fast paths need not,
 * because a thread's bins are empty and refuse pushes until a slow path has run, and every
 * slow path starts here. */
#ifndef PYMT_INIT_H
#define PYMT_INIT_H

#include "backend.h"
#include "debug.h"
#include "options.h"

/* The options in force; valid after pymt__ensure_init. */
extern pymt__options pymt__opt;

/* The backend of each family, wired once by init (the system allocator until then, so calls
 * that re-enter pymt while it initialises itself are served by the C library). Read them after
 * pymt__ensure_init. */
extern const pymt__backend *pymt__table_raw;      /* pymt_mem_* */
extern const pymt__backend *pymt__table_objmem;   /* pymt_object_malloc/calloc/realloc/free */
extern const pymt__backend *pymt__table_object;   /* pymt_object_new/newvar/del */
extern const pymt__backend *pymt__table_override; /* malloc/free/... of the drop-in, pool sizes */
extern const pymt__backend *pymt__table_override_large; /* ... larger, and blocks not in arenas */

/* True once pymt__init_slow has finished (an acquire load: the options and tables are then
 * visible). */
bool pymt__initialized(void);
void pymt__init_slow(void);
static inline void pymt__ensure_init(void) {
    if (pymt__unlikely(!pymt__initialized()))
        pymt__init_slow();
}
/* The drop-in malloc's first call: the system allocator switches to glibc's internal entry
 * points, then pymt initialises. In debug mode it says on stderr what the checks cover. */
void pymt__init_for_override(void);

#endif /* PYMT_INIT_H */
