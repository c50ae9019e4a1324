/* init.c -- registration table only. */
#include "immunoscape.h"
#include <R_ext/Rdynload.h>

/* One table row: the cast through void (*)(void) keeps -Wextra's
 * -Wcast-function-type quiet (a plain (DL_FUNC) cast trips it). */
#define CALLDEF(name, n) {#name, (DL_FUNC) (void (*)(void)) &name, n}

SEXP ffi_dist_nearest(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_dist_count(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_window_area(SEXP, SEXP, SEXP);
SEXP ffi_window_inside(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_window_fits(SEXP, SEXP, SEXP, SEXP);
SEXP ffi_cells_check(SEXP, SEXP, SEXP, SEXP);
SEXP ffi_window_bdist(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_window_circle_frac(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_window_overlap(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_window_crossing(SEXP, SEXP, SEXP);
SEXP ffi_window_concave(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_regions_signed_distance(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_regions_band_area(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP,
                           SEXP, SEXP, SEXP);
SEXP ffi_regions_mask(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP,
                      SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_threads_available(void);
SEXP ffi_threads_forked(void);
SEXP ffi_threads_cap(void);
void im_threads_init(void);
SEXP ffi_nbhd_nearest_center(SEXP, SEXP);
SEXP ffi_nbhd_sumsq(SEXP, SEXP, SEXP);
SEXP ffi_nbhd_counts(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_inter_perm(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP,
                    SEXP, SEXP, SEXP);
SEXP ffi_inter_order(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_kfun_pairs(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_kfun_csr(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_ws_nearest(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_kfun_moments(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_kfun_labels(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP,
                     SEXP);
SEXP ffi_kfun_nearest(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_kfun_nearest_labels(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP,
                             SEXP);
SEXP ffi_kfun_eroded(SEXP, SEXP, SEXP);
SEXP ffi_kfun_status(SEXP);
SEXP ffi_kfun_acos_fast(SEXP);
SEXP ffi_kfun_weights(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_tls_link(SEXP, SEXP, SEXP, SEXP);
SEXP ffi_tls_near(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);

static const R_CallMethodDef call_methods[] = {
    CALLDEF(ffi_dist_nearest, 6),
    CALLDEF(ffi_dist_count, 8),
    CALLDEF(ffi_window_area, 3),
    CALLDEF(ffi_window_inside, 5),
    CALLDEF(ffi_window_fits, 4),
    CALLDEF(ffi_cells_check, 4),
    CALLDEF(ffi_window_bdist, 6),
    CALLDEF(ffi_window_circle_frac, 7),
    CALLDEF(ffi_window_overlap, 6),
    CALLDEF(ffi_window_crossing, 3),
    CALLDEF(ffi_window_concave, 7),
    CALLDEF(ffi_regions_signed_distance, 7),
    CALLDEF(ffi_regions_band_area, 11),
    CALLDEF(ffi_regions_mask, 14),
    CALLDEF(ffi_threads_available, 0),
    CALLDEF(ffi_threads_forked, 0),
    CALLDEF(ffi_threads_cap, 0),
    CALLDEF(ffi_nbhd_nearest_center, 2),
    CALLDEF(ffi_nbhd_sumsq, 3),
    CALLDEF(ffi_nbhd_counts, 7),
    CALLDEF(ffi_inter_perm, 12),
    CALLDEF(ffi_inter_order, 5),
    CALLDEF(ffi_kfun_pairs, 9),
    CALLDEF(ffi_kfun_csr, 8),
    CALLDEF(ffi_kfun_labels, 10),
    CALLDEF(ffi_kfun_moments, 8),
    CALLDEF(ffi_ws_nearest, 7),
    CALLDEF(ffi_kfun_nearest, 8),
    CALLDEF(ffi_kfun_nearest_labels, 9),
    CALLDEF(ffi_kfun_eroded, 3),
    CALLDEF(ffi_kfun_status, 1),
    CALLDEF(ffi_kfun_acos_fast, 1),
    CALLDEF(ffi_kfun_weights, 6),
    CALLDEF(ffi_tls_link, 4),
    CALLDEF(ffi_tls_near, 8),
    {NULL, NULL, 0}
};

void R_init_immunoscape(DllInfo *dll) {
    R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
    R_useDynamicSymbols(dll, FALSE);
    R_forceSymbols(dll, TRUE);
    im_threads_init();
}
