/* backend.h: the backends, one pymt__backend table each (the table type is in types.h), that
 * init (init.c) wires to the families once, at start-up:
 *
 *   mode            raw (pymt_mem_*)  object memory          objects                drop-in malloc
 *   pymalloc        raw               pools                  pools                  pools (*)
 *     caches off    raw               pools_locked           pools_locked           pools_locked (*)
 *     hardened      raw               hardened               hardened               hardened (*)
 *     hardened, caches off  raw       hardened_locked        hardened_locked        hardened_locked (*)
 *   malloc          raw               sys                    sys                    sys
 *   pymalloc_debug  debug(raw, sys)   debug(objmem, locked)  debug(object, locked)  debug(malloc, locked)
 *   malloc_debug    debug(raw, sys)   debug(objmem, sys)     debug(object, sys)     debug(malloc, sys)
 *   (locked: pools_locked. (*) up to the pools' ceiling, 512 bytes or with the medium tier
 *   256 KiB (medium.h); the drop-in sends larger requests, and frees
 *   of blocks outside pymt's arenas, to sys. The drop-in's debug table takes every size, and
 *   hands blocks it never made, outside pymt's arenas, back to glibc unreported.)
 *
 *   sys           the system allocator (sys.c), nothing else
 *   raw           sys, and a pool block handed to free or realloc is a fatal family mismatch
 *   pools         object memory: 1..512 bytes from the pools and 513 B..256 KiB from the medium
 *                 tier (while it is on) through the thread cache, larger requests from the
 *                 system allocator behind the per-thread large-block cache
 *   pools_locked  the same without thread caches: one lock acquisition per call (the thread's
 *                 core's, or the medium class's)
 *   hardened      pools through per-thread hardened magazines: free-list links encoded with
 *                 a secret and checked when followed, double frees and frees of interior
 *                 pointers stopped with a report (tcache.c, harden.h); the inline fast path
 *                 never sees these blocks: the bins stay empty with max 0, as in every mode
 *                 but pymalloc with caches
 *   hardened_locked  pools_locked, with hardened's realloc check
 *   debug         decorates the blocks of the backend it wraps (debug.h)
 * A backend below the API never asks which mode is on: the table it was put in says it all.
 * The hardened mode (PYMT_HARDEN=1, or the PYMT_HARDEN build option) also switches the checks
 * of the layers that keep free blocks (pool core, depot, thread caches) on, through one flag
 * init sets before the first pool block exists (pymt__hardened, harden.h), read in slow paths
 * only; with the debug modes it applies to the pools below the debug backend. */
#ifndef PYMT_BACKEND_H
#define PYMT_BACKEND_H

#include "tcache.h"

extern const pymt__backend pymt__backend_sys;
extern const pymt__backend pymt__backend_raw;
extern const pymt__backend pymt__backend_pools;
extern const pymt__backend pymt__backend_pools_locked;
extern const pymt__backend pymt__backend_hardened;
extern const pymt__backend pymt__backend_hardened_locked;

#endif /* PYMT_BACKEND_H */
