/* window.c -- window geometry: area, point in window. */
#include "immunoscape.h"
#include "util.h"
#include <math.h>

/* Signed area of all rings (outer rings counter-clockwise > 0, holes
 * clockwise < 0): the window area. */
static double rings_area(const double *x, const double *y, const int *rs,
                         int nring) {
    double a = 0.0;
    for (int r = 0; r < nring; r++) {
        int s = rs[r], e = rs[r + 1];
        double ar = 0.0;
        for (int i = s; i < e; i++) {
            int j = i + 1 < e ? i + 1 : s;
            ar += (x[i] - x[s]) * (y[j] - y[s]) - (x[j] - x[s]) * (y[i] - y[s]);
        }
        a += ar / 2.0;
    }
    return a;
}

/* R caller: window_area() */
SEXP ffi_window_area(SEXP x, SEXP y, SEXP ring_start) {
    int nring = Rf_length(ring_start) - 1;
    return Rf_ScalarReal(rings_area(REAL_RO(x), REAL_RO(y),
                                    INTEGER_RO(ring_start), nring));
}

/* 1 inside, 0 outside; points on an edge count as inside. Even-odd rule
 * over all rings, so holes need no special treatment. */
static int inside_rings(double px, double py, const double *x,
                        const double *y, const int *rs, int nring) {
    int c = 0;
    for (int r = 0; r < nring; r++) {
        int s = rs[r], e = rs[r + 1];
        for (int i = s; i < e; i++) {
            int j = i + 1 < e ? i + 1 : s;
            double xi = x[i], yi = y[i], xj = x[j], yj = y[j];
            /* on the edge? */
            double cr = (xj - xi) * (py - yi) - (yj - yi) * (px - xi);
            if (cr == 0.0 && px >= fmin(xi, xj) && px <= fmax(xi, xj) &&
                py >= fmin(yi, yj) && py <= fmax(yi, yj))
                return 1;
            if ((yi > py) != (yj > py)) {
                double xc = xi + (py - yi) * (xj - xi) / (yj - yi);
                if (px < xc) c = !c;
            }
        }
    }
    return c;
}

/* R caller: window_contains() */
SEXP ffi_window_inside(SEXP px, SEXP py, SEXP x, SEXP y, SEXP ring_start) {
    R_xlen_t n = XLENGTH(px);
    int nring = Rf_length(ring_start) - 1;
    SEXP out = PROTECT(Rf_allocVector(LGLSXP, n));
    int *po = LOGICAL(out);
    const double *qx = REAL_RO(px), *qy = REAL_RO(py);
    const double *wx = REAL_RO(x), *wy = REAL_RO(y);
    const int *rs = INTEGER_RO(ring_start);
    for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < n ? c0 + IM_CHUNK : n;
        for (R_xlen_t i = c0; i < c1; i++)
            po[i] = inside_rings(qx[i], qy[i], wx, wy, rs, nring);
        R_CheckUserInterrupt();
    }
    UNPROTECT(1);
    return out;
}
