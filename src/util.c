/* util.c -- helpers shared by the entry layers (R API allowed here). */
#include "util.h"

R_xlen_t *im_index_arg(SEXP idx, R_xlen_t n, R_xlen_t *len) {
    R_xlen_t m = XLENGTH(idx);
    R_xlen_t *out = (R_xlen_t *) R_alloc(m > 0 ? m : 1, sizeof(R_xlen_t));
    if (TYPEOF(idx) == INTSXP) {
        const int *p = INTEGER_RO(idx);
        for (R_xlen_t i = 0; i < m; i++) {
            if (p[i] == NA_INTEGER || p[i] < 1 || p[i] > n)
                IM_BUG("index out of range");
            out[i] = (R_xlen_t) p[i] - 1;
        }
    } else if (TYPEOF(idx) == REALSXP) {
        const double *p = REAL_RO(idx);
        for (R_xlen_t i = 0; i < m; i++) {
            if (!R_FINITE(p[i]) || p[i] < 1 || p[i] > (double) n)
                IM_BUG("index out of range");
            out[i] = (R_xlen_t) p[i] - 1;
        }
    } else {
        IM_BUG("index must be integer or double");
    }
    *len = m;
    return out;
}

SEXP im_alloc_index(R_xlen_t m, R_xlen_t n) {
    return Rf_allocVector(n < INT_MAX ? INTSXP : REALSXP, m);
}

void im_set_index(SEXP v, R_xlen_t i, R_xlen_t value0) {
    if (TYPEOF(v) == INTSXP) {
        INTEGER(v)[i] = value0 < 0 ? NA_INTEGER : (int) (value0 + 1);
    } else {
        REAL(v)[i] = value0 < 0 ? NA_REAL : (double) value0 + 1.0;
    }
}

void im_check_double(SEXP x, const char *what) {
    if (TYPEOF(x) != REALSXP) IM_BUG(what);
}

int im_check_rings(SEXP x, SEXP y, SEXP ring_start, int min_vertices) {
    im_check_double(x, "window x must be double");
    im_check_double(y, "window y must be double");
    if (XLENGTH(x) != XLENGTH(y)) IM_BUG("window x and y differ in length");
    if (TYPEOF(ring_start) != INTSXP) IM_BUG("ring_start must be integer");
    R_xlen_t len = XLENGTH(ring_start);
    if (len < 2 || len - 1 > INT_MAX) IM_BUG("ring_start needs >= 2 values");
    const int *rs = INTEGER_RO(ring_start);
    if (rs[0] != 0) IM_BUG("ring_start must start at 0");
    for (R_xlen_t r = 0; r + 1 < len; r++) {
        /* written so that NA (INT_MIN) and overflow fail too */
        if (rs[r + 1] == NA_INTEGER ||
            (double) rs[r + 1] - (double) rs[r] < (double) min_vertices)
            IM_BUG("ring_start must increase (>= 3 vertices per ring)");
    }
    if ((R_xlen_t) rs[len - 1] != XLENGTH(x))
        IM_BUG("ring_start must end at the number of vertices");
    return (int) (len - 1);
}

void im_stop_status(im_status st, const char *what) {
    SEXP name = PROTECT(Rf_mkString("immunoscape"));
    SEXP ns = PROTECT(R_FindNamespace(name));
    SEXP code = PROTECT(Rf_ScalarInteger((int) st));
    SEXP msg = PROTECT(Rf_mkString(what));
    SEXP call = PROTECT(Rf_lang3(Rf_install("stop_status"), code, msg));
    Rf_eval(call, ns);
    UNPROTECT(5);
    IM_BUG("stop_status() returned");
}

/* R caller: check_cells_intact() in R/checks.R.  One pass over the
 * standard columns of a spatial_cells object: 0 if x and y (double or
 * integer) are finite and the type and image codes are not NA, else the
 * first column that fails (1 x, 2 y, 3 type, 4 image). */
SEXP ffi_cells_check(SEXP x, SEXP y, SEXP type, SEXP image) {
    SEXP xy[2] = {x, y};
    for (int c = 0; c < 2; c++) {
        SEXP v = xy[c];
        R_xlen_t n = XLENGTH(v);
        int ok = 1;
        if (TYPEOF(v) == REALSXP) {
            const double *p = REAL_RO(v);
            /* x - x is 0 exactly when x is finite (NaN and Inf give NaN);
             * branch-free, unlike R_FINITE() here */
            for (R_xlen_t i = 0; i < n; i++) ok &= (p[i] - p[i]) == 0.0;
        } else if (TYPEOF(v) == INTSXP) {
            const int *p = INTEGER_RO(v);
            for (R_xlen_t i = 0; i < n; i++) ok &= p[i] != NA_INTEGER;
        } else {
            ok = 0;
        }
        if (!ok) return Rf_ScalarInteger(c + 1);
    }
    SEXP f[2] = {type, image};
    for (int c = 0; c < 2; c++) {
        if (TYPEOF(f[c]) != INTSXP) return Rf_ScalarInteger(c + 3);
        const int *p = INTEGER_RO(f[c]);
        R_xlen_t n = XLENGTH(f[c]);
        int ok = 1;
        for (R_xlen_t i = 0; i < n; i++) ok &= p[i] != NA_INTEGER;
        if (!ok) return Rf_ScalarInteger(c + 3);
    }
    return Rf_ScalarInteger(0);
}
