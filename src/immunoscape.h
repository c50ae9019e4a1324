/* immunoscape.h -- the one shared header of the C core.
 *
 * Layers: R wrapper -> ffi_<family>_<verb>() entry points (the only code
 * that touches the R API) -> kernels (plain C on plain arrays, no R API,
 * safe inside OpenMP regions, report problems through im_status).
 */
#ifndef IMMUNOSCAPE_H
#define IMMUNOSCAPE_H

#define R_NO_REMAP
#include <R.h>
#include <Rinternals.h>
#include <stdint.h>
#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Status codes returned by kernels; R/conditions.R maps them to classed
 * errors (keep the two lists in sync). */
typedef enum {
    IM_OK = 0,
    IM_ERR_ALLOC = 1,      /* scratch allocation failed                  */
    IM_ERR_RANGE = 2,      /* coordinate range too large for the index   */
    IM_ERR_WINDOW = 3,     /* degenerate or invalid window polygon       */
    IM_ERR_INPUT = 4       /* inconsistent input to a kernel             */
} im_status;

/* The largest coordinate magnitude a window may have (R accepts 1e12
 * microns): squares and products of coordinates stay finite. */
#define IM_MAX_COORD 1e15

/* Work units between two R_CheckUserInterrupt() calls. */
#define IM_CHUNK 65536

/* Work (pairs visited) between two interrupt checks: about 0.1 s. */
#define IM_WORK_CHUNK 8388608.0

/* Items per chunk between interrupt checks when each item costs about
 * `work` pair visits: IM_CHUNK for cheap items, fewer (down to 1) for
 * costly ones, so that any loop stops within about a second. */
static inline R_xlen_t im_chunk(double work) {
    double c = IM_WORK_CHUNK / (work > 1.0 ? work : 1.0);
    if (!(c < (double) IM_CHUNK)) return IM_CHUNK;
    return c < 1.0 ? 1 : (R_xlen_t) c;
}

/* Internal bugs only: data problems go through im_status. */
#define IM_BUG(msg) Rf_error("immunoscape internal error at %s:%d: %s", \
                             __FILE__, __LINE__, msg)

/* Number of threads actually usable. */
/* Set in a child process forked after OpenMP started (BiocParallel's
 * MulticoreParam, parallel::mclapply): the GNU OpenMP runtime is not
 * fork-safe, so such a child runs every region on one thread. */
extern volatile int im_forked;
/* The most threads a region may start (src/threads.c). */
extern int im_thread_cap;

static inline int im_threads(int requested) {
#ifdef _OPENMP
    if (im_forked) return 1;
    if (requested > im_thread_cap) return im_thread_cap;
    return requested < 1 ? 1 : requested;
#else
    (void) requested;
    return 1;
#endif
}

/* Small helpers shared by the entry layers. */
static inline int im_as_int(SEXP x, const char *what) {
    if (Rf_length(x) != 1) IM_BUG(what);
    return Rf_asInteger(x);
}
static inline double im_as_double(SEXP x, const char *what) {
    if (Rf_length(x) != 1) IM_BUG(what);
    return Rf_asReal(x);
}

#endif
