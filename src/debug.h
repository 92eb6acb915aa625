/* debug.h: the debug backend (debug.c, debug_report.c). It wraps whichever backend is below it
 * (sys or pools_locked, see backend.h) and knows nothing of the API above it: init builds one
 * table per family (raw, object memory, objects), each tagging its blocks with its family.
 * Every block is decorated with a header and trailer (size, family, serial, guards), kept in a
 * registry while live and in a quarantine for a while after it is freed, and every misuse found
 * on the way is reported (then the process aborts, unless a report hook is set). The object
 * families (object memory and objects) are one domain, as in CPython (PyObject_Del ==
 * PyObject_Free): mixing them is allowed; mixing either with raw memory is a family mismatch. */
#ifndef PYMT_DEBUG_H
#define PYMT_DEBUG_H

#include "types.h"

/* Once, from init, before the first debug table is used: frames records the allocation
 * stack of every block (PYMT_DEBUG_BACKTRACE); log is the file reports go to (PYMT_DEBUG_LOG)
 * or NULL for stderr. */
void pymt__debug_init(bool frames, const char *log);
/* Fill *t with the debug backend for family (enum pymt__family) over below. Blocks of every
 * family that shares below's domain are freed through below. From init only. */
void pymt__debug_backend(pymt__backend *t, int family, const pymt__backend *below);
/* pymt_check_heap: check every live and quarantined block; returns how many are bad. 0 when
 * debug mode is off. */
size_t pymt__debug_check_heap(void);
/* Live debug blocks per family: out[0] raw, out[1] object memory, out[2] objects. */
void pymt__debug_live_counts(size_t out[3]);
/* Freed blocks the quarantine holds now, and their bytes with decorations. */
void pymt__debug_quarantine_counts(size_t *blocks, size_t *bytes);
/* Release every block of the quarantine, checking each (pymt_trim calls it, so that arenas
 * holding only quarantined blocks can go back to the OS). Nothing to do outside debug mode. */
void pymt__debug_quarantine_flush(void);
/* fork handlers for the debug locks (called by init.c's atfork handlers). */
void pymt__debug_atfork_prepare(void);
void pymt__debug_atfork_parent(void);
void pymt__debug_atfork_child(void);

#endif /* PYMT_DEBUG_H */
