/* debug.h: the interface between the API layers and the debug wrappers (debug.c).
 * When pymt__opt.debug is set (PYMT_MALLOC=debug, pymalloc_debug or malloc_debug, or a build
 * with PYMT_DEBUG=ON), every public allocation entry point forwards here with its family, and
 * debug.c decorates each block with a header and trailer (size, family, serial, guards), keeps
 * a registry of live blocks, and reports misuse. The per-thread caches are off in debug mode.
 * Underneath, debug.c allocates with pymt__sys_* (raw family, and everything in malloc_debug)
 * or pymt__objmem_*_nodebug (object families when pooling is on). */
#ifndef PYMT_DEBUG_H
#define PYMT_DEBUG_H

#include <stdbool.h>
#include <stddef.h>

/* Allocate n bytes for a family; zero: calloc semantics (n already overflow-checked). */
void *pymt__debug_malloc(int family, size_t n, bool zero);
/* realloc for a family; p == NULL allocates. */
void *pymt__debug_realloc(int family, void *p, size_t n);
/* free for a family; p == NULL is a no-op. */
void pymt__debug_free(int family, void *p);
/* Requested size of a live debug block (any family). */
size_t pymt__debug_usable_size(const void *p);
/* Called once from init when debug mode is on (reads PYMT_DEBUG_LOG and friends). */
void pymt__debug_init(void);
/* Live debug blocks per family: out[0] raw, out[1] object memory, out[2] objects. */
void pymt__debug_live_counts(size_t out[3]);
/* Release every block of the quarantine, checking each (pymt_trim calls it in debug mode, so
 * that arenas holding only quarantined blocks can go back to the OS). */
void pymt__debug_quarantine_flush(void);
/* fork handlers for the debug registry lock (called by init.c's atfork handlers). */
void pymt__debug_atfork_prepare(void);
void pymt__debug_atfork_parent(void);
void pymt__debug_atfork_child(void);

#endif /* PYMT_DEBUG_H */
