/* backend.h: the backends, one pymt__backend table each (the table type is in types.h), that
 * init (init.c) wires to the families once, at start-up:
 *
 *   mode            raw (pymt_mem_*)  object memory          objects                drop-in malloc
 *   pymalloc        raw               pools                  pools                  pools (*)
 *     caches off    raw               pools_locked           pools_locked           pools_locked (*)
 *   malloc          raw               sys                    sys                    sys
 *   pymalloc_debug  debug(raw, sys)   debug(objmem, locked)  debug(object, locked)  debug(malloc, locked)
 *   malloc_debug    debug(raw, sys)   debug(objmem, sys)     debug(object, sys)     debug(malloc, sys)
 *   (locked: pools_locked. (*) up to 512 bytes; the drop-in sends larger requests, and frees
 *   of blocks outside pymt's arenas, to sys. The drop-in's debug table takes every size, and
 *   hands blocks it never made, outside pymt's arenas, back to glibc unreported.)
 *
 *   sys           the system allocator (sys.c), nothing else
 *   raw           sys, and a pool block handed to free or realloc is a fatal family mismatch
 *   pools         object memory: 1..512 bytes from the pools through the thread cache, larger
 *                 requests from the system allocator behind the per-thread large-block cache
 *   pools_locked  the same without thread caches: one core-lock acquisition per call
 *   debug         decorates the blocks of the backend it wraps (debug.h)
 * A backend below the API never asks which mode is on: the table it was put in says it all. */
#ifndef PYMT_BACKEND_H
#define PYMT_BACKEND_H

#include "tcache.h"

extern const pymt__backend pymt__backend_sys;
extern const pymt__backend pymt__backend_raw;
extern const pymt__backend pymt__backend_pools;
extern const pymt__backend pymt__backend_pools_locked;

#endif /* PYMT_BACKEND_H */
