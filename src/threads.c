/* threads.c -- what OpenMP offers on this build. */
#include "immunoscape.h"

/* R caller: immunoscape_threads() */
SEXP ffi_threads_available(void) {
#ifdef _OPENMP
    return Rf_ScalarInteger(omp_get_num_procs());
#else
    return Rf_ScalarInteger(1);
#endif
}
