/* preload_thread_exit.c: under libpymt-malloc.so, threads whose first malloc comes from a
 * pthread key destructor in its last round (glibc runs PTHREAD_DESTRUCTOR_ITERATIONS rounds).
 *
 * pymt creates its own key at its first malloc, before this program's key, as it does before
 * any library's under the preload. Each thread here only sets the program's key; the key's
 * destructor re-arms itself for every round and mallocs, callocs, reallocs and frees in the
 * last one. The threads run one after the other, so each gets the stack and TLS block of the
 * one before. Then the process forks (the child mallocs and exits 0) and exits; the ctest runs
 * it with PYMT_STATS=1 and expects the statistics printed at exit to count one thread cache
 * (the main thread's): a thread cache left registered by an exited thread holds blocks that
 * are lost, and the next thread in the same TLS block made the registry a cycle, on which the
 * fork child and the statistics spun forever. alarm() turns a hang into a failure.
 * Example: PYMT_STATS=1 LD_PRELOAD=build/release/clients/libpymt-malloc.so \
 *            build/release/clients/tests/preload_thread_exit */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { THREADS = 8, BLOCKS = 40, HANG_SECONDS = 30 };

static pthread_key_t key;
static __thread int rounds_seen;
static void *volatile sink;

static void last_round_allocations(void) {
    void *p[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        p[i] = (i & 1) ? calloc(1, (size_t)(i % 8) * 48 + 1) : malloc((size_t)(i % 8) * 48 + 1);
        sink = p[i];
    }
    p[0] = realloc(p[0], 200);
    sink = malloc(5000);
    free(sink);
    for (int i = 0; i < BLOCKS; i++)
        free(p[i]);
}

static void key_destructor(void *value) {
    (void)value;
    if (++rounds_seen == PTHREAD_DESTRUCTOR_ITERATIONS)
        last_round_allocations();
    else
        pthread_setspecific(key, (void *)1); /* once more, in the next round */
}

static void *exiting_thread(void *arg) {
    (void)arg;
    pthread_setspecific(key, (void *)1);
    return NULL;
}

int main(void) {
    alarm(HANG_SECONDS);
    sink = malloc(16); /* pymt's key before the program's (through sink: GCC drops a plain
                          free(malloc(16))) */
    free(sink);
    if (pthread_key_create(&key, key_destructor) != 0)
        return 1;
    for (int i = 0; i < THREADS; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, exiting_thread, NULL) != 0 || pthread_join(t, NULL) != 0)
            return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        void *p = malloc(64);
        _exit(p != NULL ? 0 : 1);
    }
    int st = 0;
    for (int waited_ms = 0; pid > 0 && waitpid(pid, &st, WNOHANG) == 0; waited_ms += 10) {
        if (waited_ms >= HANG_SECONDS * 1000 / 2) {
            /* stuck in the fork handler, before it could set an alarm of its own */
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fprintf(stderr, "preload_thread_exit: the fork child hangs\n");
            return 1;
        }
        usleep(10000);
    }
    if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "preload_thread_exit: the fork child failed\n");
        return 1;
    }
    printf("preload_thread_exit: %d threads done\n", THREADS);
    fflush(stdout); /* before the statistics pymt prints at exit */
    return 0;
}
