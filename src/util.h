/* util.h -- entry-layer helpers (R API). */
#ifndef IMMUNOSCAPE_UTIL_H
#define IMMUNOSCAPE_UTIL_H
#include "immunoscape.h"
#include <limits.h>

/* 1-based R index vector (integer or double) -> 0-based R_alloc array. */
R_xlen_t *im_index_arg(SEXP idx, R_xlen_t n, R_xlen_t *len);
/* Vector for 1-based indices into n things: integer, or double if huge. */
SEXP im_alloc_index(R_xlen_t m, R_xlen_t n);
/* Store 0-based index value0 (negative: NA) as 1-based at position i. */
void im_set_index(SEXP v, R_xlen_t i, R_xlen_t value0);
void im_check_double(SEXP x, const char *what);
/* Validate a window given as vertex vectors x, y (double, equal lengths)
 * and 0-based ring offsets (integer, starting at 0, each ring at least
 * min_vertices long, ending at the number of vertices); returns the
 * number of rings.  Internal error otherwise. */
int im_check_rings(SEXP x, SEXP y, SEXP ring_start, int min_vertices);
/* Raise the classed R error of a kernel status st (not IM_OK) through
 * stop_status() in R/conditions.R; `what` names the computation.  Main
 * thread, outside OpenMP regions; does not return. */
void im_stop_status(im_status st, const char *what);

#endif
