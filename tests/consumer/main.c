/* main.c: a program that uses pymt the way an outside project would, through the installed
 * header and library only. It touches every family and the statistics and exits 0 when all
 * of them behave; run.sh builds it against an installed prefix (CMake shared and static,
 * pkg-config shared, static and fully static) and against the build tree. */
#include <pymt/pymt.h>

#include <stdio.h>
#include <string.h>

typedef struct pair {
    pymt_object ob_base;
    long first, second;
} pair;

static const pymt_type pair_type = {"pair", sizeof(pair), 0};

int main(void) {
    int bad = 0;
    char *small = pymt_object_malloc(100);
    char *large = pymt_object_calloc(10, 100);
    char *raw = pymt_mem_malloc(64);
    pair *p = PYMT_OBJECT_NEW(pair, &pair_type);
    if (!small || !large || !raw || !p)
        return 1;
    memset(small, 'a', 100);
    memset(raw, 'b', 64);
    for (int i = 0; i < 1000; i++)
        bad |= large[i] != 0;
    small = pymt_object_realloc(small, 2000);
    bad |= small == NULL || small[99] != 'a';
    bad |= p->ob_base.ob_refcnt != 1 || p->ob_base.ob_type != &pair_type;
    bad |= pymt_usable_size(raw) < 64;

    pymt_stats s;
    bad |= pymt_get_stats(&s, sizeof s) != 0 || s.mode != pymt_get_mode();

    pymt_object_del(p);
    pymt_mem_free(raw);
    pymt_object_free(large);
    pymt_object_free(small);
    pymt_thread_flush();
    printf("pymt %d.%d.%d consumer: mode %d, %s\n", PYMT_VERSION_MAJOR, PYMT_VERSION_MINOR,
           PYMT_VERSION_PATCH, (int)pymt_get_mode(), bad ? "FAILED" : "ok");
    return bad;
}
