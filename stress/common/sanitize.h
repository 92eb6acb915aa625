/* sanitize.h: what the stress programs need to know about the tools watching them.
 *
 * STRESS_ASAN, STRESS_TSAN: 1 in an AddressSanitizer or ThreadSanitizer build (GCC and Clang
 * spell it differently), STRESS_SANITIZED: either. Programs use them to keep off paths the
 * sanitizer's own allocator cannot take (see stress_fork.c) and to size their work; run.c does
 * not install its crash handler under them.
 *
 * Helgrind and DRD know pthread synchronisation but not C11 atomics: built with
 * STRESS_HELGRIND=1 (CMake does it when PYMT_VALGRIND is on), each hand-off of the harness's own
 * (the slots, the prodcons ring) tells them about its happens-before edge, so what they still
 * report is inside pymt. Nothing otherwise. */
#ifndef PYMT_STRESS_SANITIZE_H
#define PYMT_STRESS_SANITIZE_H

#if defined(__SANITIZE_ADDRESS__)
#define STRESS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STRESS_ASAN 1
#endif
#endif
#ifndef STRESS_ASAN
#define STRESS_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_TSAN 1
#endif
#endif
#ifndef STRESS_TSAN
#define STRESS_TSAN 0
#endif
#define STRESS_SANITIZED (STRESS_ASAN || STRESS_TSAN)

#if defined(STRESS_HELGRIND) && STRESS_HELGRIND
#include <valgrind/helgrind.h>
#define STRESS_HB_BEFORE(addr) ANNOTATE_HAPPENS_BEFORE(addr)
#define STRESS_HB_AFTER(addr) ANNOTATE_HAPPENS_AFTER(addr)
#else
#define STRESS_HB_BEFORE(addr) ((void)(addr))
#define STRESS_HB_AFTER(addr) ((void)(addr))
#endif

#endif /* PYMT_STRESS_SANITIZE_H */
