/* thread.c: the barrier and thread create/join (thread.h). */
#include "thread.h"

#include <string.h>

#include "run.h"

void stress_barrier_init(stress_barrier *b, unsigned n) {
    int e = pthread_barrier_init(&b->b, NULL, n);
    if (e)
        stress_fail("pthread_barrier_init(%u): %s", n, strerror(e));
}

bool stress_barrier_wait(stress_barrier *b) {
    int e = pthread_barrier_wait(&b->b);
    if (e != 0 && e != PTHREAD_BARRIER_SERIAL_THREAD)
        stress_fail("pthread_barrier_wait: %s", strerror(e));
    return e == PTHREAD_BARRIER_SERIAL_THREAD;
}

void stress_barrier_destroy(stress_barrier *b) {
    pthread_barrier_destroy(&b->b);
}

void stress_thread_create(pthread_t *t, void *(*fn)(void *), void *arg) {
    int e = pthread_create(t, NULL, fn, arg);
    if (e)
        stress_fail("pthread_create: %s", strerror(e));
}

void stress_thread_join(pthread_t t) {
    int e = pthread_join(t, NULL);
    if (e)
        stress_fail("pthread_join: %s", strerror(e));
}
