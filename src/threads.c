/* threads.c -- what OpenMP offers on this build, and one thread in
 * forked children. */
#include "immunoscape.h"
#if defined(_OPENMP) && !defined(_WIN32)
#include <pthread.h>
#endif

volatile int im_forked = 0;
int im_thread_cap = 1;

#if defined(_OPENMP) && !defined(_WIN32)
static void im_after_fork_child(void) {
    im_forked = 1;
}
#endif

/* Called once from R_init_immunoscape(). */
void im_threads_init(void) {
#if defined(_OPENMP) && !defined(_WIN32)
    pthread_atfork(NULL, NULL, im_after_fork_child);
#endif
#ifdef _OPENMP
    /* the runtime's limit, and no more than max(8, 4 x processors): each
     * thread takes a stack, and 1e5 of them overflow it as the region
     * starts */
    int procs = omp_get_num_procs(), limit = omp_get_thread_limit();
    int cap = procs > 2 ? 4 * procs : 8;
    if (limit > 0 && limit < cap) cap = limit;
    im_thread_cap = cap < 1 ? 1 : cap;
#endif
}

/* R caller: thread_cap() in R/threads.R. */
SEXP ffi_threads_cap(void) {
    return Rf_ScalarInteger(im_thread_cap);
}

/* R caller: immunoscape_threads() */
SEXP ffi_threads_available(void) {
#ifdef _OPENMP
    return Rf_ScalarInteger(omp_get_num_procs());
#else
    return Rf_ScalarInteger(1);
#endif
}

/* R caller: tests only (test-threads): 1 in a forked child. */
SEXP ffi_threads_forked(void) {
    return Rf_ScalarInteger(im_forked);
}
