/* demo.c: a short tour of the three families, run by the README's first command until the
 * benchmark comparison replaces it. Four threads allocate objects of every kind, hand some over
 * to each other, free everything, and the statistics are printed before and after. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pymt/pymt.h"

typedef struct point {
    pymt_object ob_base;
    double x, y;
} point;

typedef struct bytes_obj {
    pymt_varobject ob_base;
    char data[];
} bytes_obj;

static const pymt_type point_type = {"point", sizeof(point), 0};
static const pymt_type bytes_type = {"bytes", sizeof(bytes_obj), 1};

#define PER_THREAD 20000
static void *shared[4][PER_THREAD];

static void *worker(void *arg) {
    int id = (int)(size_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        switch (i % 3) {
        case 0: {
            point *p = PYMT_OBJECT_NEW(point, &point_type);
            p->x = i;
            p->y = id;
            shared[id][i] = p;
            break;
        }
        case 1: {
            bytes_obj *b = PYMT_OBJECT_NEWVAR(bytes_obj, &bytes_type, i % 300);
            memset(b->data, 'a', (size_t)(i % 300));
            shared[id][i] = b;
            break;
        }
        default:
            shared[id][i] = pymt_object_malloc((size_t)(i % 700) + 1);
        }
    }
    return NULL;
}

static void *freer(void *arg) {
    int id = (int)(size_t)arg;
    int victim = (id + 1) % 4; /* free another thread's objects: cross-thread frees */
    for (int i = 0; i < PER_THREAD; i++) {
        if (i % 3 == 2)
            pymt_object_free(shared[victim][i]);
        else
            pymt_object_del(shared[victim][i]);
    }
    return NULL;
}

int main(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *raw = pymt_mem_malloc(4096);
    snprintf(raw, 4096, "raw memory comes from the system allocator");
    printf("== with %d objects live ==\n", 4 * PER_THREAD);
    pymt_print_stats(stdout);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, freer, (void *)(size_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    pymt_mem_free(raw);
    pymt_thread_flush();
    size_t released = pymt_trim();
    printf("\n== after freeing everything and pymt_trim() (%zu bytes returned to the OS) ==\n",
           released);
    pymt_print_stats(stdout);
    return 0;
}
