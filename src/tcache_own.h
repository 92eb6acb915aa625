/* tcache_own.h: what tcache.c shares with tcache_harden.c, the hardened magazines: the calling
 * thread's cache, its set-up, the magazine bound of a class, and the way a chain leaves a
 * cache. Nothing outside the tcache layer includes it. */
#ifndef PYMT_TCACHE_OWN_H
#define PYMT_TCACHE_OWN_H

#include "tcache.h"

/* The read-only stand-in of a thread whose cache is not set up yet (tcache.c). */
extern PYMT__HIDDEN pymt__tcache pymt__tc_new;

/* The calling thread's cache: its record, or the stand-in for one not set up yet. */
static inline pymt__tcache *pymt__tc_self(void) {
    pymt__tcache *tc = pymt__tc.tc;
    return pymt__likely(tc != NULL) ? tc : &pymt__tc_new;
}

/* One more on a counter only its owner writes (stats read it). */
static inline void pymt__tc_bump(_Atomic size_t *c) {
    pymt__store_relaxed(c, pymt__load_relaxed(c) + 1);
}

/* The largest bound of class c's magazine: about 8 KiB of a small class, 64 KiB of a medium
 * one, within 16 (4 for medium) .. 256 blocks. */
uint32_t pymt__tc_class_max(unsigned c);
/* Set the calling thread's cache up and put it on the registry. Returns the record, or the
 * stand-in for a thread that does not cache. */
pymt__tcache *pymt__tc_setup(void);
/* The calling thread's cache for a free of p (class c), set up on first use; NULL when the
 * thread cannot cache, and then p has gone straight to its pool. */
pymt__tcache *pymt__tc_cache_for_free(void *p, unsigned c);
/* Send a chain of n blocks of class c from tc away (depot, else pools); returns its bytes. */
size_t pymt__tc_chain_give_back(pymt__tcache *tc, unsigned c, void *chain, size_t n);

#endif /* PYMT_TCACHE_OWN_H */
