/* test_fork_init.c: a fork while other threads make pymt's first calls.
 *
 * pymt initialises itself on the first call, under a mutex held for the whole set-up, and its
 * fork handlers take that mutex across a fork. If a fork ran without the handlers while a
 * thread held the mutex, the child would inherit it locked with no thread left to release it,
 * and its first call into pymt would block for ever. Registering the handlers at the first
 * initialisation left two such windows: a second thread that found the first one registering
 * them went on to initialise before they were registered, and the C library ignores handlers
 * registered after a fork has started. They are now registered when the library is loaded.
 *
 * The windows are a few instructions wide in a real program; this binary widens them by
 * interposing two C library functions that pymt calls, each delayed while `slow` is set: the
 * registration of fork handlers (__register_atfork, which pthread_atfork calls), and
 * getenv("PYMT_MALLOC"), which initialisation calls under its mutex. Thread A makes the first
 * call, thread B the second, 50 ms apart; 50 ms later the main thread forks. Registered at the
 * first call, the handlers were still on their way in when B took the mutex and forked with it,
 * and the child was killed by its alarm. */
#include "check.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

static atomic_int slow;
static atomic_int slowed_getenv; /* calls delayed: proof that init still reads the variable */

/* Not under the sanitizers, whose runtimes start before main and intercept fork themselves. */
#if !CHECK_SANITIZED
typedef void handler(void);
int __register_atfork(handler *prepare, handler *parent, handler *child, void *dso);
int __register_atfork(handler *prepare, handler *parent, handler *child, void *dso) {
    int (*real)(handler *, handler *, handler *, void *);
    *(void **)&real = dlsym(RTLD_NEXT, "__register_atfork");
    if (atomic_load(&slow))
        usleep(300000);
    return real(prepare, parent, child, dso);
}

char *getenv(const char *name) {
    char *(*real)(const char *);
    *(void **)&real = dlsym(RTLD_NEXT, "getenv");
    if (atomic_load(&slow) && strcmp(name, "PYMT_MALLOC") == 0) {
        atomic_fetch_add(&slowed_getenv, 1);
        usleep(200000);
    }
    return real(name);
}
#endif

static void *first_call(void *arg) {
    (void)arg;
    pymt_object_free(pymt_object_malloc(32));
    return NULL;
}

static void fork_while_threads_make_the_first_calls(void) {
    if (CHECK_SANITIZED)
        CHECK_SKIP("the sanitizers' runtimes intercept fork and the atfork machinery");
    atomic_store(&slow, 1);
    pthread_t a, b;
    REQUIRE(pthread_create(&a, NULL, first_call, NULL) == 0);
    usleep(50000);
    REQUIRE(pthread_create(&b, NULL, first_call, NULL) == 0);
    usleep(50000);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(10); /* the deadlock this guards against would hang here */
        void *p = pymt_object_malloc(32);
        pymt_object_free(p);
        _exit(p != NULL ? 0 : 3);
    }
    int status = -1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    atomic_store(&slow, 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    /* without the delay under the mutex the case proves nothing: init must still read it */
    CHECK(atomic_load(&slowed_getenv) >= 1);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        check_fail_at(__FILE__, __LINE__, "the child's first pymt call returns (it hung)");
    CHECK_CHILD_EXIT0("forked child", status, "");
}

static const check_case cases[] = {
    CHECK_CASE(fork_while_threads_make_the_first_calls),
};
CHECK_MAIN(cases)
