// alloc_select.h: which allocator a benchmark process measures, and how the workloads reach it.
//
// One allocator per process, named on the command line (--alloc=NAME):
//
//   name           calls made by the workloads             how the process is set up
//   pymt           pymt_object_* / pymt_object_new...      nothing (default mode)
//   pymt-notcache  same                                    PYMT_TCACHE=0 (the single-lock core)
//   pymt-debug     same                                    PYMT_MALLOC=debug
//   pymt-harden    same                                    PYMT_HARDEN=1 (the hardened mode)
//   pymt-preload   malloc/realloc/free                     LD_PRELOAD=libpymt-malloc.so
//                                                          (clients/, built with the harness)
//   glibc          malloc/realloc/free                     no preload: the C library's malloc
//   mimalloc       malloc/realloc/free                     LD_PRELOAD=libmimalloc.so.2
//   jemalloc       malloc/realloc/free                     LD_PRELOAD=libjemalloc.so.2
//   tcmalloc       malloc/realloc/free                     LD_PRELOAD=libtcmalloc_minimal.so.4
//                                                          (gperftools, the Debian package)
//
// Why this is fair:
// - Every column is a direct call from the same compiled loop into a shared library through
//   one PLT entry: libpymt.so for the pymt columns, the preloaded library (or libc.so) for the
//   others. pymt-preload is pymt as a program that does not know it gets: the same
//   malloc-shaped calls as the glibc, mimalloc, jemalloc and tcmalloc columns, served by
//   pymt's drop-in malloc. No column pays an indirect call or a wrapper the others do not, because the
//   workloads are templates over a policy (PymtApi or SysApi below) whose members the
//   compiler inlines down to that one call.
// - Preloading is how these allocators are deployed in practice, and it avoids two malloc
//   implementations fighting over the same symbols in one process. pymt needs no preload: its
//   entry points have their own names and do not interpose malloc, so in the pymt columns
//   everything that is not the workload (google-benchmark, std::vector, thread start-up) runs
//   on glibc, as it would in a program embedding pymt. (pymt-preload is the exception: there
//   pymt serves everything, like the other preloads do for theirs; the libpymt.so linked
//   into the binary is then a second, separate pymt instance that the workloads do not call.)
// - The process checks before it measures that malloc really resolves to the library named
//   (dladdr on the symbol found by dlsym) and that pymt is in the requested mode
//   (pymt_get_mode, pymt_tcache_enabled, pymt_hardened_enabled: the pymt columns other than
//   pymt-harden run with PYMT_HARDEN=0, whatever the build's default); when not, it sets the
//   environment and re-executes itself once, and if that still fails it exits with status 3
//   ("unavailable") instead of measuring the wrong thing. The driver (ci/bench) records such a
//   column as n/a.
// - For the object family, the non-pymt columns do what pymt_object_new/newvar/del do:
//   the same size computation and overflow checks, malloc, and the same header writes.
// - Ratios are taken only between processes of one run of ci/bench on the same binary.
#ifndef PYMT_BENCH_ALLOC_SELECT_H
#define PYMT_BENCH_ALLOC_SELECT_H

#include <pymt/pymt.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace pb {

enum class Kind {
    Pymt,
    PymtNoTcache,
    PymtDebug,
    PymtHarden,
    PymtPreload,
    Glibc,
    Mimalloc,
    Jemalloc,
    Tcmalloc
};

// The pymt columns: object memory and the object family.
struct PymtApi {
    static void *malloc(size_t n) { return pymt_object_malloc(n); }
    static void *realloc(void *p, size_t n) { return pymt_object_realloc(p, n); }
    static void free(void *p) { pymt_object_free(p); }
    static pymt_object *object_new(const pymt_type *t) { return pymt_object_new(t); }
    static pymt_varobject *object_newvar(const pymt_type *t, ptrdiff_t n) {
        return pymt_object_newvar(t, n);
    }
    static void object_del(void *op) { pymt_object_del(op); }
};

// The other columns, pymt-preload included: whatever malloc the process resolved (glibc or
// the preloaded library).
struct SysApi {
    static void *malloc(size_t n) { return ::malloc(n); }
    static void *realloc(void *p, size_t n) { return ::realloc(p, n); }
    static void free(void *p) { ::free(p); }
    // The same work as pymt_object_new: check the type, allocate, write the head.
    static pymt_object *object_new(const pymt_type *t) {
        if (t == nullptr || t->tp_basicsize < sizeof(pymt_object)) {
            errno = EINVAL;
            return nullptr;
        }
        auto *op = static_cast<pymt_object *>(::malloc(t->tp_basicsize));
        if (op != nullptr) {
            op->ob_refcnt = 1;
            op->ob_type = t;
        }
        return op;
    }
    // The same work as pymt_object_newvar: overflow-checked size rounded up to 16, head, size.
    static pymt_varobject *object_newvar(const pymt_type *t, ptrdiff_t n) {
        if (t == nullptr || t->tp_basicsize < sizeof(pymt_object)) {
            errno = EINVAL;
            return nullptr;
        }
        size_t items;
        size_t size;
        if (n < 0 || __builtin_mul_overflow(static_cast<size_t>(n), t->tp_itemsize, &items) ||
            __builtin_add_overflow(items, t->tp_basicsize + (PYMT_ALIGNMENT - 1), &size)) {
            errno = ENOMEM;
            return nullptr;
        }
        size &= ~static_cast<size_t>(PYMT_ALIGNMENT - 1);
        auto *op = static_cast<pymt_varobject *>(::malloc(size));
        if (op != nullptr) {
            op->ob_base.ob_refcnt = 1;
            op->ob_base.ob_type = t;
            op->ob_size = n;
        }
        return op;
    }
    static void object_del(void *op) { ::free(op); }
};

struct Selection {
    Kind kind;
    std::string name;      // as given on the command line
    std::string provider;  // file name of the library that serves malloc (no directory)
    bool pymt_api() const {
        return kind == Kind::Pymt || kind == Kind::PymtNoTcache || kind == Kind::PymtDebug ||
               kind == Kind::PymtHarden;
    }
};

// Parse the name; false when unknown.
bool parse_kind(const std::string &name, Kind *out);
// Make the process serve the allocator (may re-execute argv); returns only when it does.
// Exits with status 3 when the allocator cannot be had on this machine.
Selection select_allocator(const std::string &name, char **argv);
// The allocator's own call that gives free memory back to the OS, if it has one.
// Returns the name of the call made (for the report) or "" when there is none.
std::string trim_memory(const Selection &sel);
// Names of every allocator, in report order.
const char *const *allocator_names();

}  // namespace pb

#endif  // PYMT_BENCH_ALLOC_SELECT_H
