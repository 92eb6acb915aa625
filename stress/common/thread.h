/* thread.h: starting, joining and lining up the worker threads.
 *
 * A real barrier (pthread_barrier_t) so every worker starts its loop at once, and thread
 * create/join. Every call that fails ends the run through stress_fail (run.h). */
#ifndef PYMT_STRESS_THREAD_H
#define PYMT_STRESS_THREAD_H

#include <pthread.h>
#include <stdbool.h>

typedef struct stress_barrier {
    pthread_barrier_t b;
} stress_barrier;

void stress_barrier_init(stress_barrier *b, unsigned n);
/* Returns true in exactly one of the waiting threads (the "serial" one). */
bool stress_barrier_wait(stress_barrier *b);
void stress_barrier_destroy(stress_barrier *b);

void stress_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);
void stress_thread_join(pthread_t t);

#endif /* PYMT_STRESS_THREAD_H */
