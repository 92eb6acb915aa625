/* harden.c: the hardened mode's secrets, drawn once, and its reports (harden.h). A report is one
 * line assembled in a stack buffer without stdio, written with write(2), then abort(): it runs
 * where the heap is known to be corrupt, so it allocates nothing and takes no lock. */
#include "harden.h"

#include <string.h>

#include "os.h"

bool pymt__hardened;
pymt__harden_keys pymt__hkeys = {0, 1, 0, 0};

void pymt__harden_init(bool on) {
    if (on) {
        uint64_t r[4];
        pymt__os_random(r, sizeof r);
        pymt__hkeys.link = (uintptr_t)r[0];
        pymt__hkeys.rot = 1 + (unsigned)(r[1] % 63);
        pymt__hkeys.tag = (uintptr_t)r[2];
        pymt__hkeys.canary = (uint32_t)r[3];
    }
    pymt__hardened = on;
}

/* ---- the report line ----------------------------------------------------------------------- */

typedef struct msg {
    char buf[512];
    size_t len;
} msg;

static void put(msg *m, const char *s) {
    size_t n = strlen(s);
    if (n > sizeof m->buf - 1 - m->len)
        n = sizeof m->buf - 1 - m->len;
    memcpy(m->buf + m->len, s, n);
    m->len += n;
}

static void put_hex(msg *m, uintptr_t v) {
    char tmp[2 + 16 + 1];
    char *q = tmp + sizeof tmp - 1;
    *q = '\0';
    do {
        *--q = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    *--q = 'x';
    *--q = '0';
    put(m, q);
}

static void put_dec(msg *m, size_t v) {
    char tmp[21];
    char *q = tmp + sizeof tmp - 1;
    *q = '\0';
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(m, q);
}

/* "block 0x... (class c, N-byte blocks)" */
static void put_block(msg *m, const void *block, unsigned c) {
    put(m, "block ");
    put_hex(m, (uintptr_t)block);
    put(m, " (class ");
    put_dec(m, c);
    if (c < PYMT__NCLASSES) {
        put(m, ", ");
        put_dec(m, pymt__class_to_size(c));
        put(m, "-byte blocks");
    }
    put(m, ")");
}

static void start(msg *m) {
    m->len = 0;
    put(m, "pymt: fatal: hardened mode: ");
}

__attribute__((noreturn)) static void finish(msg *m) {
    put(m, "\n");
    m->buf[m->len] = '\0';
    pymt__fatal(m->buf);
}

void pymt__harden_bad_link(const void *block, unsigned c, const void *found, const char *where) {
    msg m;
    start(&m);
    put(&m, "corrupted free-list link ");
    if (block != NULL) {
        put(&m, "in free ");
        put_block(&m, block, c);
    } else {
        put(&m, "at the head of a list of class ");
        put_dec(&m, c);
    }
    put(&m, " in ");
    put(&m, where);
    put(&m, ": it leads to ");
    put_hex(&m, (uintptr_t)found);
    put(&m, ", which is not a free block of that class; something wrote into the block after "
            "it was freed (use after free)");
    finish(&m);
}

void pymt__harden_bad_marker(const void *block, unsigned c, const char *where) {
    msg m;
    start(&m);
    put(&m, "the free marker of free ");
    put_block(&m, block, c);
    put(&m, " in ");
    put(&m, where);
    put(&m, " was overwritten; something wrote into the block after it was freed (use after "
            "free)");
    finish(&m);
}

void pymt__harden_double_free(const char *call, const void *block, unsigned c,
                              const char *where) {
    msg m;
    start(&m);
    put(&m, call);
    put(&m, " of ");
    put_block(&m, block, c);
    put(&m, ", which is already free: ");
    put(&m, strcmp(call, "free") == 0 ? "a double free" : "a use after free");
    put(&m, "; the block is in ");
    put(&m, where);
    finish(&m);
}

void pymt__harden_bad_pointer(const char *call, const void *p, unsigned c) {
    msg m;
    start(&m);
    put(&m, call);
    put(&m, "(");
    put_hex(&m, (uintptr_t)p);
    put(&m, "): not the start of a block: the pointer lies in a pool of class ");
    put_dec(&m, c);
    if (c < PYMT__NCLASSES) {
        put(&m, " (");
        put_dec(&m, pymt__class_to_size(c));
        put(&m, "-byte blocks)");
    }
    put(&m, " but not on a block boundary");
    finish(&m);
}

void pymt__harden_uncarved(const char *call, const void *p, unsigned c) {
    msg m;
    start(&m);
    put(&m, call);
    put(&m, " of ");
    put_block(&m, p, c);
    put(&m, ", which its pool has never handed out: a pointer pymt did not return (forged or "
            "computed past the end of another block)");
    finish(&m);
}

void pymt__harden_not_in_pool(const char *call, const void *p) {
    msg m;
    start(&m);
    put(&m, call);
    put(&m, "(");
    put_hex(&m, (uintptr_t)p);
    put(&m, "): the pointer lies in pymt's arena range but in no pool in use: a double free or "
            "a use after free of a block whose arena has emptied and been given back since, or "
            "a pointer pymt never returned");
    finish(&m);
}

void pymt__harden_bad_pool(const void *pool, const char *what) {
    msg m;
    start(&m);
    put(&m, "corrupted pool header at ");
    put_hex(&m, (uintptr_t)pool);
    put(&m, ": ");
    put(&m, what);
    put(&m, "; a write past the end of a block below it (an overflow) is the likely cause");
    finish(&m);
}
