/* python_domains.h: pymt as CPython's allocator, the PEP 445 tables shared by pymt-python
 * (pymt_python.c) and the hook library libpymt-pyhook.so (python_hook.c).
 *
 *   domain               CPython default     pymt                    called
 *   PYMEM_DOMAIN_RAW     malloc              pymt_mem_*              with or without the GIL
 *   PYMEM_DOMAIN_MEM     pymalloc            pymt_object_malloc...   with the GIL
 *   PYMEM_DOMAIN_OBJ     pymalloc            pymt_object_malloc...   with the GIL
 *
 * Every pymt family is thread-safe, so the RAW domain's "no GIL" contract holds. Only the
 * types of Python.h are used here: nothing links libpython, so the hook library can be loaded
 * into a process that has an interpreter of its own. */
#ifndef PYMT_PYTHON_DOMAINS_H
#define PYMT_PYTHON_DOMAINS_H

#include <Python.h>

/* Fill in the allocator tables for the RAW domain (*raw) and the MEM and OBJ domains (*obj).
 * Call before pymt's first allocation: it also sets PYMT_PURGE_MAX to 32M unless the
 * environment has it already (free pools kept resident up to 32 MiB, nearer pymalloc, which
 * never purges a pool). */
void pymt_python_tables(PyMemAllocatorEx *raw, PyMemAllocatorEx *obj);

#endif /* PYMT_PYTHON_DOMAINS_H */
