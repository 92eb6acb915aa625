/* debug_report.c: the debug mode's reports. A report names the error, the families and
 * functions involved, the block's size, serial, guards, first payload bytes and (with
 * PYMT_DEBUG_BACKTRACE=1) its allocation stack. It is built in a stack buffer from a snapshot
 * copied under the registry's lock, then handed to the report hook (pymt_set_report_hook), or
 * written with write(2) to stderr or PYMT_DEBUG_LOG, after which a fatal error aborts. Nothing
 * here calls stdio or malloc: a report may be written from inside an allocation. */
#include "debug_block.h"

#include <errno.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int debug_fd = 2; /* report destination; set once by pymt__debug_report_init */

/* The report hook and its context change together under debug_hook_lock. */
static pthread_mutex_t debug_hook_lock = PTHREAD_MUTEX_INITIALIZER;
static pymt_report_hook debug_hook;
static void *debug_hook_ctx;

static const char *fam_text(int family) {
    switch (family) {
    case PYMT__FAM_RAW: return "raw memory";
    case PYMT__FAM_OBJMEM: return "object memory";
    case PYMT__FAM_OBJECT: return "objects";
    case PYMT__FAM_MALLOC: return "the C library interface (libpymt-malloc.so)";
    default: return "unknown family";
    }
}
/* The public function behind (family, op), for reports. */
static const char *fam_func(int family, int op) {
    static const char *const names[4][4] = {
        {"pymt_mem_malloc", "pymt_mem_calloc", "pymt_mem_realloc", "pymt_mem_free"},
        {"pymt_object_malloc", "pymt_object_calloc", "pymt_object_realloc", "pymt_object_free"},
        {"pymt_object_new/newvar", "pymt_object_new/newvar", "pymt_object_realloc", "pymt_object_del"},
        {"malloc", "calloc", "realloc", "free"},
    };
    if (family < 1 || family > 4 || op < 0 || op > 3)
        return "?";
    return names[family - 1][op];
}

typedef struct debug_buf {
    char *s;
    size_t len, cap;
} debug_buf;

static void put_s(debug_buf *b, const char *s) {
    while (*s && b->len + 1 < b->cap)
        b->s[b->len++] = *s++;
    b->s[b->len] = '\0';
}
/* PUT(b, s1, s2, ...): append the strings in order. */
static void put_list(debug_buf *b, const char *const *list) {
    for (; *list; list++)
        put_s(b, *list);
}
#define PUT(b, ...) put_list((b), (const char *const[]){__VA_ARGS__, NULL})
/* "object memory (pymt_object_free)" */
static void put_fam(debug_buf *b, int family, const char *func) {
    PUT(b, fam_text(family), " (", func, ")");
}
static void put_u(debug_buf *b, uint64_t v) {
    char t[24];
    int i = 23;
    t[i] = '\0';
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_s(b, t + i);
}
static void put_x(debug_buf *b, uint64_t v) {
    char t[24];
    int i = 23;
    t[i] = '\0';
    do {
        t[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    t[--i] = 'x';
    t[--i] = '0';
    put_s(b, t + i);
}
static void put_bytes(debug_buf *b, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char t[4] = {"0123456789abcdef"[p[i] >> 4], "0123456789abcdef"[p[i] & 15], ' ', 0};
        if (i + 1 == n)
            t[2] = 0;
        put_s(b, t);
    }
}

void pymt__debug_snap_take(pymt__debug_snap *s, pymt__debug_head *h) {
    s->known = true;
    s->header_ok = pymt__debug_check_word(h) == h->check;
    s->size = h->size;
    s->serial = h->serial;
    s->family = h->family;
    s->op = h->op;
    s->state = h->state;
    s->freed_by = h->freed_by;
    s->freed_op = h->freed_op;
    memcpy(s->lead, h->guard, PYMT__DEBUG_GUARD);
    if (s->header_ok) {
        memcpy(s->trail, pymt__debug_payload(h) + h->size, PYMT__DEBUG_GUARD);
        s->ndata = h->size < PYMT__DEBUG_DUMP ? h->size : PYMT__DEBUG_DUMP;
        memcpy(s->data, pymt__debug_payload(h), s->ndata);
        s->nframes = h->nframes <= PYMT__DEBUG_FRAMES ? h->nframes : 0;
        if (s->nframes)
            memcpy(s->frames, pymt__debug_base(h), (size_t)s->nframes * sizeof(void *));
    } else {
        s->ndata = 0;
        s->nframes = 0;
    }
}

static void write_all(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* One frame of an allocation stack: the address, the function and offset and the object it is
 * in (dladdr: the dynamic symbol table, so static functions show as the nearest exported one),
 * and a ready addr2line command for file:line. Addresses are return addresses, so the line
 * asked of addr2line is that of the byte before (the call). Shared objects and PIE programs
 * are asked at their offset from the load address; a fixed-address program at the address. */
static void put_frame(debug_buf *b, int i, void *frame) {
    uintptr_t pc = (uintptr_t)frame;
    Dl_info info;
    put_s(b, "\n    #");
    put_u(b, (uint64_t)i);
    put_s(b, " ");
    put_x(b, pc);
    if (dladdr(frame, &info) == 0 || info.dli_fname == NULL)
        return;
    if (info.dli_sname != NULL && info.dli_saddr != NULL) {
        put_s(b, " ");
        put_s(b, info.dli_sname);
        put_s(b, "+");
        put_x(b, pc - (uintptr_t)info.dli_saddr);
    }
    put_s(b, " in ");
    put_s(b, info.dli_fname);
    uintptr_t base = (uintptr_t)info.dli_fbase;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)info.dli_fbase;
    uintptr_t at = (eh != NULL && eh->e_type == ET_EXEC) ? pc - 1 : pc - 1 - base;
    put_s(b, "\n       addr2line -f -C -e ");
    put_s(b, info.dli_fname);
    put_s(b, " ");
    put_x(b, at);
}

void pymt__debug_report(enum pymt__debug_error err, const pymt__debug_snap *s, int family, int op, bool fatal) {
    char text[4096];
    debug_buf b = {text, 0, sizeof text};
    int saved_errno = errno;
    const char *by = op == PYMT__DEBUG_OP_USABLE ? "pymt_usable_size"
                     : family                    ? fam_func(family, op)
                     : op == PYMT__DEBUG_OP_TRIM ? "pymt_trim"
                                                 : "pymt_check_heap";
    PUT(&b, "pymt debug: ");
    switch (err) {
    case PYMT__DEBUG_E_MISMATCH:
        PUT(&b, "family mismatch: allocated by ");
        put_fam(&b, s->family, fam_func(s->family, s->op));
        PUT(&b, op == PYMT__DEBUG_OP_REALLOC ? ", reallocated by " : ", freed by ");
        put_fam(&b, family, by);
        break;
    case PYMT__DEBUG_E_DOUBLE_FREE:
        PUT(&b, op == PYMT__DEBUG_OP_REALLOC ? "realloc of a freed block: " : "double free: ",
            "already freed by ");
        put_fam(&b, s->freed_by, fam_func(s->freed_by, s->freed_op));
        PUT(&b, ", now passed to ");
        put_fam(&b, family, by);
        break;
    case PYMT__DEBUG_E_UNKNOWN:
        PUT(&b, "pointer never handed out by pymt (or freed long ago) passed to ");
        put_fam(&b, family, by);
        break;
    case PYMT__DEBUG_E_HEADER:
        PUT(&b, "block header corrupted (an underrun past the leading guard bytes, or an overrun "
                "of the block before it), found by ", by);
        break;
    case PYMT__DEBUG_E_UNDERRUN:
        PUT(&b, "buffer underrun: leading guard bytes changed, found by ", by);
        break;
    case PYMT__DEBUG_E_OVERRUN:
        PUT(&b, "buffer overrun: trailing guard bytes changed, found by ", by);
        break;
    case PYMT__DEBUG_E_LINK:
        PUT(&b, "block header's registry link changed (an overrun of the block before it, or an "
                "underrun past the leading guard bytes); pymt cannot look past it, found by ", by);
        break;
    case PYMT__DEBUG_E_USE_AFTER_FREE:
        PUT(&b, "use after free: written after being freed (first changed byte at offset ");
        put_u(&b, s->bad_offset);
        PUT(&b, family ? "), found when it left the quarantine, during "
                       : "), found in the quarantine by ",
            by);
        break;
    default:
        PUT(&b, "internal error");
        break;
    }
    PUT(&b, "\n  address ");
    put_x(&b, (uintptr_t)s->p);
    if (s->known) {
        if (s->header_ok) {
            PUT(&b, ": ");
            put_u(&b, s->size);
            PUT(&b, " bytes requested, serial ");
            put_u(&b, s->serial);
            PUT(&b, "\n  allocated by ");
            put_fam(&b, s->family, fam_func(s->family, s->op));
            if (s->state == PYMT__DEBUG_FREED && err != PYMT__DEBUG_E_DOUBLE_FREE) {
                PUT(&b, ", freed by ");
                put_fam(&b, s->freed_by, fam_func(s->freed_by, s->freed_op));
            }
        } else {
            PUT(&b, ": header check word wrong; size ");
            put_u(&b, s->size);
            PUT(&b, ", serial ");
            put_u(&b, s->serial);
            PUT(&b, " and family byte ");
            put_u(&b, (uint64_t)s->family);
            PUT(&b, " are untrustworthy");
        }
        PUT(&b, "\n  leading guard (16 bytes before p): ",
            pymt__debug_guard_ok(s->lead) ? "intact" : "CHANGED", "\n    found    ");
        put_bytes(&b, s->lead, PYMT__DEBUG_GUARD);
        PUT(&b, "\n    expected fd x 16");
        if (s->header_ok) {
            PUT(&b, "\n  trailing guard (16 bytes at p+");
            put_u(&b, s->size);
            PUT(&b, "): ", pymt__debug_guard_ok(s->trail) ? "intact" : "CHANGED", "\n    found    ");
            put_bytes(&b, s->trail, PYMT__DEBUG_GUARD);
            PUT(&b, "\n    expected fd x 16\n  payload (first ");
            put_u(&b, s->ndata);
            PUT(&b, " bytes): ");
            put_bytes(&b, s->data, s->ndata);
        }
        if (s->nframes > 0) {
            put_s(&b, "\n  allocation stack:");
            for (int i = 0; i < s->nframes; i++)
                put_frame(&b, i, s->frames[i]);
        }
    }
    put_s(&b, "\n");

    pthread_mutex_lock(&debug_hook_lock);
    pymt_report_hook hook = debug_hook;
    void *ctx = debug_hook_ctx;
    pthread_mutex_unlock(&debug_hook_lock);
    if (hook) {
        hook(text, b.len, ctx);
        errno = saved_errno;
        return;
    }
    write_all(debug_fd, text, b.len);
    if (fatal)
        abort();
    errno = saved_errno;
}

void pymt__debug_report_unknown(const void *p, int family, int op) {
    pymt__debug_snap s;
    s.p = p;
    s.known = false;
    pymt__debug_report(PYMT__DEBUG_E_UNKNOWN, &s, family, op, true);
}

void pymt__debug_report_init(const char *log) {
    if (log != NULL && log[0]) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0)
            debug_fd = fd;
        else
            pymt__write_err("pymt: PYMT_DEBUG_LOG cannot be opened; reports go to stderr\n");
    }
}

void pymt__debug_report_atfork_prepare(void) {
    pthread_mutex_lock(&debug_hook_lock);
}
void pymt__debug_report_atfork_parent(void) {
    pthread_mutex_unlock(&debug_hook_lock);
}

void pymt_set_report_hook(pymt_report_hook hook, void *ctx) {
    pthread_mutex_lock(&debug_hook_lock);
    debug_hook = hook;
    debug_hook_ctx = hook ? ctx : NULL;
    pthread_mutex_unlock(&debug_hook_lock);
}
