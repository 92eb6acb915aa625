/* pattern.c: pattern fill and check (pattern.h). */
#include "pattern.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rng.h"
#include "run.h"

const char *stress_family_name(int fam) {
    switch (fam) {
    case STRESS_MEM: return "pymt_mem";
    case STRESS_OBJMEM: return "pymt_object_malloc";
    case STRESS_OBJECT: return "pymt_object_new";
    default: return "empty";
    }
}

static _Thread_local uint64_t stress_serial_next; /* each thread numbers its own fills */

static inline uint64_t stress_pattern_seed(uint32_t owner, uint64_t serial) {
    uint64_t x = ((uint64_t)owner << 40) ^ serial ^ 0x243F6A8885A308D3ull;
    return stress_splitmix64(&x);
}

/* Word k of the pattern of (owner, serial) over a region of len bytes. */
static inline uint64_t stress_pattern_word(uint32_t owner, uint64_t serial, uint64_t h, size_t k,
                                           size_t len) {
    if (len >= 16) {
        if (k == 0)
            return STRESS_TAG | owner;
        if (k == 1)
            return serial;
    }
    return h + (uint64_t)k * STRESS_STEP;
}

/* Offset of the writable region inside the block. */
static inline size_t stress_region_off(const stress_block *b) {
    if (b->fam != STRESS_OBJECT)
        return 0;
    return b->type->tp_itemsize ? sizeof(pymt_varobject) : sizeof(pymt_object);
}

static inline void stress_fill_region(unsigned char *q, size_t len, uint32_t owner,
                                      uint64_t serial) {
    uint64_t h = stress_pattern_seed(owner, serial);
    size_t k = 0;
    for (; (k + 1) * 8 <= len; k++) {
        uint64_t w = stress_pattern_word(owner, serial, h, k, len);
        memcpy(q + k * 8, &w, 8);
    }
    if (k * 8 < len) {
        uint64_t w = stress_pattern_word(owner, serial, h, k, len);
        memcpy(q + k * 8, &w, len - k * 8); /* little-endian: the low bytes */
    }
}

void stress_fill(stress_block *b) {
    b->owner = stress_tid;
    b->serial = ++stress_serial_next;
    size_t off = stress_region_off(b);
    if (b->size > off)
        stress_fill_region((unsigned char *)b->p + off, b->size - off, b->owner, b->serial);
}

static void stress_mismatch(const stress_block *b, const char *what, size_t off, size_t len,
                            const unsigned char *expect, const unsigned char *found)
    __attribute__((noreturn));
static void stress_mismatch(const stress_block *b, const char *what, size_t off, size_t len,
                            const unsigned char *expect, const unsigned char *found) {
    char e[64], f[64], claim[96] = "";
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++) {
        snprintf(e + 3 * i, 4, "%02x ", expect[i]);
        snprintf(f + 3 * i, 4, "%02x ", found[i]);
    }
    e[3 * n] = f[3 * n] = '\0';
    size_t roff = stress_region_off(b);
    if (b->size >= roff + 16) {
        uint64_t w0, w1;
        memcpy(&w0, (const unsigned char *)b->p + roff, 8);
        memcpy(&w1, (const unsigned char *)b->p + roff + 8, 8);
        if ((w0 & 0xFFFFFF0000000000ull) == STRESS_TAG)
            snprintf(claim, sizeof claim, "; the block's header names owner=%u serial=%" PRIu64,
                     (unsigned)(w0 & 0xFFFFFFFFu), w1);
        else
            snprintf(claim, sizeof claim,
                     "; the block's header is not a stress header (0x%016" PRIx64 ")", w0);
    }
    stress_fail("%s mismatch: block=%p family=%s size=%zu owner=%u serial=%" PRIu64
                " at offset %zu: expected [%s] found [%s]%s",
                what, b->p, stress_family_name(b->fam), b->size, b->owner, b->serial, off, e, f,
                claim);
}

void stress_check_prefix(const stress_block *b, const void *p, size_t len, const char *fmt, ...) {
    size_t off = stress_region_off(b);
    size_t full = b->size > off ? b->size - off : 0;
    if (len > full)
        len = full;
    if (len == 0)
        return;
    const unsigned char *q = (const unsigned char *)p + off;
    uint64_t h = stress_pattern_seed(b->owner, b->serial);
    for (size_t k = 0; k * 8 < len; k++) {
        uint64_t w = stress_pattern_word(b->owner, b->serial, h, k, full), got = 0;
        size_t n = len - k * 8 < 8 ? len - k * 8 : 8;
        memcpy(&got, q + k * 8, n);
        if (n < 8)
            w &= (1ull << (8 * n)) - 1;
        if (got != w) {
            size_t i = 0;
            while (((const unsigned char *)&w)[i] == ((const unsigned char *)&got)[i])
                i++;
            unsigned char ew[8], fw[8];
            memcpy(ew, &w, 8);
            memcpy(fw, &got, 8);
            char what[128];
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(what, sizeof what, fmt, ap);
            va_end(ap);
            stress_mismatch(b, what, off + k * 8 + i, n - i, ew + i, fw + i);
        }
    }
}
