/* python_hook.c: libpymt-pyhook.so, pymt under an unmodified python3.11.
 *
 *   LD_PRELOAD=libpymt-pyhook.so python3.11 script.py
 *
 * A constructor, run by the dynamic loader before the program's main, installs pymt in the
 * three CPython domains (python_domains.h) with PyMem_SetAllocator, looked up at run time: the
 * library does not link libpython, it finds the interpreter the process already has. The stock
 * binary stays as Debian built it (PGO and LTO), so this measures pymt against CPython's own
 * pymalloc with nothing else changed, which pymt-python cannot: it links Debian's
 * libpython3.11.a, built without LTO (clients/README.md has the figures).
 *
 * The library stays inert (installs nothing, prints nothing, and pymt never initialises) in a
 * process that
 *   - has no PyMem_SetAllocator: not a Python process (LD_PRELOAD reaches every child, also
 *     `sh`, `git`, ...);
 *   - already exports pymt_object_malloc: another pymt serves it (pymt-python, or a program
 *     linking libpymt), and two instances must not share CPython's blocks.
 * It refuses, with one line on stderr, when the interpreter is not the CPython minor version it
 * was compiled for (Py_Version, 3.11+) or is already initialised (the library was loaded by
 * dlopen: pymalloc's live blocks would reach pymt).
 *
 * Before main there is no argument or environment parsing yet, so CPython's pre-initialisation
 * runs later, inside Py_BytesMain. When PYTHONMALLOC, PYTHONDEVMODE=1 or -X dev names an
 * allocator, it replaces pymt with CPython's choice there. No block crosses: up to that point
 * CPython allocates only with its default RAW allocator, set temporarily while it reads its
 * pre-configuration (the python_hook_* tests run PYTHONMALLOC=malloc_debug, whose debug hooks
 * check the header of every block freed). pymt-python handles these settings itself. */
#define PY_SSIZE_T_CLEAN
#include "python_domains.h"

#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#define STR_(x) #x
#define STR(x) STR_(x)

typedef void set_allocator_fn(PyMemAllocatorDomain, PyMemAllocatorEx *);
typedef int is_initialized_fn(void);

static void say(const char *msg) {
    ssize_t r = write(STDERR_FILENO, msg, strlen(msg));
    (void)r;
}

__attribute__((constructor)) static void pymt_pyhook_install(void) {
    set_allocator_fn *set = (set_allocator_fn *)dlsym(RTLD_DEFAULT, "PyMem_SetAllocator");
    if (set == NULL || dlsym(RTLD_DEFAULT, "pymt_object_malloc") != NULL)
        return;
    const unsigned long *version = dlsym(RTLD_DEFAULT, "Py_Version");
    if (version == NULL || (*version >> 16) != ((unsigned long)PY_VERSION_HEX >> 16)) {
        say("libpymt-pyhook.so: this interpreter is not CPython " STR(PY_MAJOR_VERSION) "."
            STR(PY_MINOR_VERSION) "; pymt not installed\n");
        return;
    }
    is_initialized_fn *initialized = (is_initialized_fn *)dlsym(RTLD_DEFAULT, "Py_IsInitialized");
    if (initialized == NULL || initialized()) {
        say("libpymt-pyhook.so: loaded after the interpreter started (preload it with "
            "LD_PRELOAD); pymt not installed\n");
        return;
    }
    PyMemAllocatorEx raw, obj;
    pymt_python_tables(&raw, &obj);
    set(PYMEM_DOMAIN_RAW, &raw);
    set(PYMEM_DOMAIN_MEM, &obj);
    set(PYMEM_DOMAIN_OBJ, &obj);
}
