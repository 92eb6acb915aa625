/* atomic.h: C11 atomics with the memory order in the name, and the one place that includes
 * ConcurrencyKit. Every shared word of pymt is an _Atomic object accessed through these
 * helpers (never a plain access, never the default seq_cst), so ThreadSanitizer sees it.
 *
 * ConcurrencyKit: only its types are used here (ck_stack_t, ck_stack_entry_t). The CK functions
 * themselves are called from lfstack.c alone, a file compiled without sanitizers, because
 * CK's loads and stores are plain volatile accesses that TSan would report; its callers bracket
 * each call with __tsan_release/__tsan_acquire (pymt__tsan_* below) so TSan still sees every
 * hand-off. Builds that would use CK's inline assembly are refused. */
#ifndef PYMT_ATOMIC_H
#define PYMT_ATOMIC_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(CK_USE_CC_BUILTINS) || CK_USE_CC_BUILTINS != 1
#error "pymt needs CK_USE_CC_BUILTINS=1: ConcurrencyKit's inline assembly is invisible to TSan"
#endif
#include <ck_stack.h>

#define pymt__load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define pymt__load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define pymt__store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define pymt__store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define pymt__fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define pymt__fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define pymt__fetch_or_release(p, v) atomic_fetch_or_explicit((p), (v), memory_order_release)
#define pymt__fetch_and_release(p, v) atomic_fetch_and_explicit((p), (v), memory_order_release)
#define pymt__exchange_relaxed(p, v) atomic_exchange_explicit((p), (v), memory_order_relaxed)
#define pymt__exchange_acquire(p, v) atomic_exchange_explicit((p), (v), memory_order_acquire)
#define pymt__cas_weak_relaxed(p, expp, v)                                                   \
    atomic_compare_exchange_weak_explicit((p), (expp), (v), memory_order_relaxed,            \
                                          memory_order_relaxed)
/* _release: a success publishes what was written before it (a failure only reloads *expp);
 * _acquire: success and failure alike read *p with acquire (a failure's new *expp is then
 * followed). */
#define pymt__cas_weak_release(p, expp, v)                                                   \
    atomic_compare_exchange_weak_explicit((p), (expp), (v), memory_order_release,            \
                                          memory_order_relaxed)
#define pymt__cas_weak_acquire(p, expp, v)                                                   \
    atomic_compare_exchange_weak_explicit((p), (expp), (v), memory_order_acquire,            \
                                          memory_order_acquire)

/* TSan annotations for the CK hand-offs: empty unless built with -fsanitize=thread. */
#if defined(__SANITIZE_THREAD__)
#define PYMT__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PYMT__TSAN 1
#endif
#endif
#ifdef PYMT__TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define pymt__tsan_acquire(a) __tsan_acquire((void *)(a))
#define pymt__tsan_release(a) __tsan_release((void *)(a))
#elif defined(PYMT_CONFIG_VALGRIND) && PYMT_CONFIG_VALGRIND
/* Helgrind and DRD cannot see ConcurrencyKit's CAS either: the same points, told to them. */
#include <valgrind/helgrind.h>
#define pymt__tsan_acquire(a) ANNOTATE_HAPPENS_AFTER(a)
#define pymt__tsan_release(a) ANNOTATE_HAPPENS_BEFORE(a)
#else
#define pymt__tsan_acquire(a) ((void)(a))
#define pymt__tsan_release(a) ((void)(a))
#endif

/* A plain (not _Atomic) field that its owner writes under a lock and that a check reads
 * without it: both sides go through these, atomics to TSan, plain moves on x86-64. */
#define pymt__plain_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define pymt__plain_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* A lock of one word for short sections that one thread (an owner) takes on its slow paths and
 * others only try, never wait for (a thread cache's trim_lock, a large-block cache's lock):
 * lock spins on a relaxed load and yields the CPU while the word is held; trylock takes it
 * when free; unlock's release pairs with both acquiring exchanges. */
static inline bool pymt__yield_trylock(_Atomic uint32_t *l) {
    return atomic_exchange_explicit(l, 1, memory_order_acquire) == 0;
}
static inline void pymt__yield_lock(_Atomic uint32_t *l) {
    while (!pymt__yield_trylock(l))
        while (atomic_load_explicit(l, memory_order_relaxed) != 0)
            sched_yield();
}
static inline void pymt__yield_unlock(_Atomic uint32_t *l) {
    atomic_store_explicit(l, 0, memory_order_release);
}

#endif /* PYMT_ATOMIC_H */
