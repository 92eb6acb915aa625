/* block.c: allocation through the three families, with checks (block.h). */
#include "block.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "run.h"

_Atomic size_t stress_wide_live;

/* A block of old bytes (0: none) now has new bytes (0: freed): keep stress_wide_live. */
static void stress_wide_resize(size_t old, size_t new) {
    if (stress_size_is_wide(old))
        atomic_fetch_sub_explicit(&stress_wide_live, old, memory_order_relaxed);
    if (stress_size_is_wide(new))
        atomic_fetch_add_explicit(&stress_wide_live, new, memory_order_relaxed);
}

void stress_check(const stress_block *b) {
    if (!b->p)
        stress_fail("check of an empty record");
    if ((uintptr_t)b->p % PYMT_ALIGNMENT)
        stress_fail("block %p (%s, %zu bytes) is not aligned to %d", b->p,
                    stress_family_name(b->fam), b->size, PYMT_ALIGNMENT);
    /* pymt_usable_size: the requested size in debug mode (objects: rounded up to 16), the
     * size class for a pool block, at least the request on the system allocator. */
    size_t us = pymt_usable_size(b->p);
    bool debug = stress_mode == PYMT_MODE_PYMALLOC_DEBUG || stress_mode == PYMT_MODE_MALLOC_DEBUG;
    bool ok = us >= b->size;
    if (debug && b->fam != STRESS_OBJECT)
        ok = us == b->size || (b->size == 0 && us <= PYMT_ALIGNMENT);
    else if (debug)
        ok = ok && us < b->size + PYMT_ALIGNMENT;
    else if (stress_mode == PYMT_MODE_PYMALLOC && b->fam != STRESS_MEM && b->size <= stress_tier_max)
        /* a class of the tiers: a multiple of 16 up to the ceiling, and no more than a third
         * above the request in the small tier, less than twice it in the medium tier (realloc
         * keeps a block that shrinks by less than a quarter, by less than half) */
        ok = ok && us % PYMT_ALIGNMENT == 0 && us <= stress_tier_max &&
             (us <= PYMT_SMALL_REQUEST_THRESHOLD ? 3 * us < 4 * b->size + 4 * PYMT_ALIGNMENT
                                                 : us < 2 * b->size);
    if (!ok)
        stress_fail("block %p (%s, %zu bytes): pymt_usable_size says %zu", b->p,
                    stress_family_name(b->fam), b->size, us);
    if (b->fam == STRESS_OBJECT) {
        const pymt_object *o = (const pymt_object *)b->p;
        if (o->ob_type != b->type || o->ob_refcnt != 1)
            stress_fail("object %p (%s): head changed: ob_type=%p (expected %p) "
                        "ob_refcnt=%" PRIdPTR,
                        b->p, b->type->tp_name, (const void *)o->ob_type, (const void *)b->type,
                        o->ob_refcnt);
        if (b->type->tp_itemsize && ((const pymt_varobject *)b->p)->ob_size != b->nitems)
            stress_fail("object %p (%s): ob_size=%td, expected %td", b->p, b->type->tp_name,
                        ((const pymt_varobject *)b->p)->ob_size, b->nitems);
    }
    stress_check_prefix(b, b->p, b->size, "pattern");
}

void stress_alloc(stress_block *b, int fam, size_t size, stress_rng *r) {
    bool zero = stress_rng_pct(r, 15);
    void *p;
    if (zero) {
        size_t el = 1 + (size_t)stress_rng_below(r, 4), nel = (size + el - 1) / el;
        if (size <= PYMT_SMALL_REQUEST_THRESHOLD && nel * el > PYMT_SMALL_REQUEST_THRESHOLD)
            el = 1, nel = size; /* do not round a pool-sized request past the threshold */
        size = nel * el;
        p = fam == STRESS_MEM ? pymt_mem_calloc(nel, el) : pymt_object_calloc(nel, el);
    } else {
        p = fam == STRESS_MEM ? pymt_mem_malloc(size) : pymt_object_malloc(size);
    }
    if (!p)
        stress_fail("%s(%zu) returned NULL (errno %d)", zero ? "calloc" : "malloc", size, errno);
    if (zero)
        for (size_t i = 0; i < size; i++)
            if (((unsigned char *)p)[i])
                stress_fail("calloc'ed block %p (%s, %zu bytes) has byte %zu = 0x%02x", p,
                            stress_family_name(fam), size, i, ((unsigned char *)p)[i]);
    b->p = p;
    b->size = size;
    b->fam = (uint8_t)fam;
    b->type = NULL;
    b->nitems = 0;
    stress_fill(b);
    stress_wide_resize(0, size);
}

void stress_alloc_object(stress_block *b, const pymt_type *t, ptrdiff_t nitems) {
    void *p;
    size_t size;
    if (t->tp_itemsize) {
        pymt_varobject *v = pymt_object_newvar(t, nitems);
        if (!v)
            stress_fail("pymt_object_newvar(%s, %td) returned NULL (errno %d)", t->tp_name, nitems,
                        errno);
        if (v->ob_size != nitems)
            stress_fail("pymt_object_newvar(%s, %td): ob_size=%td", t->tp_name, nitems, v->ob_size);
        p = v;
        size = t->tp_basicsize + (size_t)nitems * t->tp_itemsize;
    } else {
        p = pymt_object_new(t);
        if (!p)
            stress_fail("pymt_object_new(%s) returned NULL (errno %d)", t->tp_name, errno);
        size = t->tp_basicsize;
        nitems = 0;
    }
    const pymt_object *o = p;
    if (o->ob_refcnt != 1 || o->ob_type != t)
        stress_fail("new object %p (%s): ob_refcnt=%" PRIdPTR " ob_type=%p", p, t->tp_name,
                    o->ob_refcnt, (const void *)o->ob_type);
    b->p = p;
    b->size = size;
    b->fam = STRESS_OBJECT;
    b->type = t;
    b->nitems = nitems;
    stress_fill(b);
}

void stress_realloc(stress_block *b, size_t newsize) {
    stress_check(b);
    void *np = b->fam == STRESS_MEM ? pymt_mem_realloc(b->p, newsize)
                                    : pymt_object_realloc(b->p, newsize);
    if (!np)
        stress_fail("realloc(%p, %zu -> %zu, %s) returned NULL (errno %d)", b->p, b->size, newsize,
                    stress_family_name(b->fam), errno);
    size_t keep = b->size < newsize ? b->size : newsize;
    stress_block old = *b;
    old.p = np;
    /* The kept bytes still carry the old pattern, computed over the old size. */
    stress_check_prefix(&old, np, keep, "realloc kept prefix (%p, %zu -> %zu bytes)", b->p,
                        b->size, newsize);
    stress_wide_resize(b->size, newsize);
    b->p = np;
    b->size = newsize;
    stress_fill(b);
}

void stress_free(stress_block *b) {
    stress_check(b);
    switch (b->fam) {
    case STRESS_MEM: pymt_mem_free(b->p); break;
    case STRESS_OBJMEM: pymt_object_free(b->p); break;
    case STRESS_OBJECT: pymt_object_del(b->p); break;
    default: stress_fail("free of a record with family %d", b->fam);
    }
    stress_wide_resize(b->size, 0);
    memset(b, 0, sizeof *b);
}
