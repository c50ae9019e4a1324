/* init.c -- registration table only. */
#include "immunoscape.h"
#include <R_ext/Rdynload.h>

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
SEXP ffi_regions_signed_distance(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_regions_band_area(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP,
                           SEXP, SEXP);
SEXP ffi_regions_mask(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP,
                      SEXP, SEXP, SEXP, SEXP);
SEXP ffi_threads_available(void);
SEXP ffi_threads_forked(void);
void im_threads_init(void);
SEXP ffi_nbhd_counts(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_inter_perm(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP,
                    SEXP, SEXP, SEXP);
SEXP ffi_inter_order(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_kfun_pairs(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ffi_kfun_csr(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
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
    {"ffi_dist_nearest", (DL_FUNC) &ffi_dist_nearest, 6},
    {"ffi_dist_count", (DL_FUNC) &ffi_dist_count, 8},
    {"ffi_window_area", (DL_FUNC) &ffi_window_area, 3},
    {"ffi_window_inside", (DL_FUNC) &ffi_window_inside, 5},
    {"ffi_window_fits", (DL_FUNC) &ffi_window_fits, 4},
    {"ffi_cells_check", (DL_FUNC) &ffi_cells_check, 4},
    {"ffi_window_bdist", (DL_FUNC) &ffi_window_bdist, 6},
    {"ffi_window_circle_frac", (DL_FUNC) &ffi_window_circle_frac, 7},
    {"ffi_window_overlap", (DL_FUNC) &ffi_window_overlap, 6},
    {"ffi_window_crossing", (DL_FUNC) &ffi_window_crossing, 3},
    {"ffi_window_concave", (DL_FUNC) &ffi_window_concave, 7},
    {"ffi_regions_signed_distance", (DL_FUNC) &ffi_regions_signed_distance, 6},
    {"ffi_regions_band_area", (DL_FUNC) &ffi_regions_band_area, 10},
    {"ffi_regions_mask", (DL_FUNC) &ffi_regions_mask, 13},
    {"ffi_threads_available", (DL_FUNC) &ffi_threads_available, 0},
    {"ffi_threads_forked", (DL_FUNC) &ffi_threads_forked, 0},
    {"ffi_nbhd_counts", (DL_FUNC) &ffi_nbhd_counts, 7},
    {"ffi_inter_perm", (DL_FUNC) &ffi_inter_perm, 12},
    {"ffi_inter_order", (DL_FUNC) &ffi_inter_order, 5},
    {"ffi_kfun_pairs", (DL_FUNC) &ffi_kfun_pairs, 9},
    {"ffi_kfun_csr", (DL_FUNC) &ffi_kfun_csr, 8},
    {"ffi_kfun_labels", (DL_FUNC) &ffi_kfun_labels, 10},
    {"ffi_kfun_nearest", (DL_FUNC) &ffi_kfun_nearest, 8},
    {"ffi_kfun_nearest_labels", (DL_FUNC) &ffi_kfun_nearest_labels, 9},
    {"ffi_kfun_eroded", (DL_FUNC) &ffi_kfun_eroded, 3},
    {"ffi_kfun_status", (DL_FUNC) &ffi_kfun_status, 1},
    {"ffi_kfun_acos_fast", (DL_FUNC) &ffi_kfun_acos_fast, 1},
    {"ffi_kfun_weights", (DL_FUNC) &ffi_kfun_weights, 6},
    {"ffi_tls_link", (DL_FUNC) &ffi_tls_link, 4},
    {"ffi_tls_near", (DL_FUNC) &ffi_tls_near, 8},
    {NULL, NULL, 0}
};

void R_init_immunoscape(DllInfo *dll) {
    R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
    R_useDynamicSymbols(dll, FALSE);
    R_forceSymbols(dll, TRUE);
    im_threads_init();
}
