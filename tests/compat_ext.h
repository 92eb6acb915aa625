/* compat_ext.h: what test_compat.c calls in compat_ext.c (no Python or pymt names here). */
#ifndef PYMT_TESTS_COMPAT_EXT_H
#define PYMT_TESTS_COMPAT_EXT_H

/* Exercise every family through the Python names; returns the number of wrong results. */
int compat_ext_run(void);
/* One live block of each family, and its release through the same Python name family. */
void *compat_ext_buffer(void);
void compat_ext_buffer_free(void *p);
void *compat_ext_record(void);
void compat_ext_record_free(void *p);
void *compat_ext_object(void);
void compat_ext_object_free(void *op);
/* Free a PyMem_Malloc block with PyObject_Del (aborts in debug mode). */
void compat_ext_mismatch(void);

#endif
