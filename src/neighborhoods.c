/* neighborhoods.c -- per-cell counts of each type among the k nearest
 * cells on the grid index, and the neighbourhood setup (k nearest or
 * radius) that interactions.c shares. */
#include "nbhd.h"
#include "util.h"
#include <string.h>

im_status im_nbhd_setup(im_nbhd *s, im_grid *g, const double *x,
                        const double *y, R_xlen_t n, int k, int ties,
                        double radius, int nth, R_xlen_t **pos) {
    double h = (k <= 0 && radius > 0) ? radius / 2.0 : 0.0;
    im_status st = im_grid_build(g, x, y, NULL, NULL, n, h, nth);
    if (st != IM_OK) return st;
    R_xlen_t *ps = (R_xlen_t *) R_alloc(n > 0 ? n : 1, sizeof(R_xlen_t));
    for (R_xlen_t p = 0; p < n; p++) ps[g->id[p]] = p;
    s->g = g;
    s->k = k > 0 ? k : 0;
    s->ties = ties;
    s->radius = radius;
    s->rq = im_radius_make(radius);
    *pos = ps;
    return IM_OK;
}

/* R caller: neighborhood_counts() in R/neighborhoods.R (k mode; used by
 * neighborhood_composition(), cellular_neighborhoods() and
 * local_colocalization_quotient()).  Returns an n x nlab integer matrix:
 * row i counts, by label, the k nearest other cells of cell i (with every
 * cell tied with the k-th when ties is TRUE).  Radius neighbourhoods are
 * counted by ffi_dist_count(). */
SEXP ffi_nbhd_counts(SEXP x, SEXP y, SEXP lab, SEXP nlab_, SEXP k_,
                     SEXP ties_, SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    if (TYPEOF(lab) != INTSXP) IM_BUG("labels must be integer");
    R_xlen_t n = XLENGTH(x);
    if (XLENGTH(y) != n || XLENGTH(lab) != n) IM_BUG("lengths differ");
    if (n >= INT_MAX) IM_BUG("too many cells in one image");
    int nlab = im_as_int(nlab_, "nlab");
    int k = im_as_int(k_, "k");
    int ties = im_as_int(ties_, "ties");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    if (nlab < 1 || k < 1) IM_BUG("bad nlab or k");
    const int *pl = INTEGER_RO(lab);
    for (R_xlen_t i = 0; i < n; i++)
        if (pl[i] < 0 || pl[i] >= nlab) IM_BUG("label out of range");

    im_grid g;
    im_nbhd s;
    R_xlen_t *pos;
    if (im_nbhd_setup(&s, &g, REAL_RO(x), REAL_RO(y), n, k, ties, 0.0,
                      nth, &pos) != IM_OK)
        IM_BUG("grid build failed");
    int *lab_g = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
    for (R_xlen_t p = 0; p < n; p++) lab_g[p] = pl[g.id[p]];

    double *sd = (double *) R_alloc((size_t) nth * k, sizeof(double));
    R_xlen_t *si = (R_xlen_t *) R_alloc((size_t) nth * k, sizeof(R_xlen_t));
    int *sc = (int *) R_alloc((size_t) nth * nlab, sizeof(int));
    memset(sc, 0, (size_t) nth * nlab * sizeof(int));

    SEXP out = PROTECT(Rf_allocMatrix(INTSXP, (int) n, nlab));
    int *po = INTEGER(out);
    const R_xlen_t chunk = im_chunk(im_nbhd_work(&s)) * nth;
    for (R_xlen_t c0 = 0; c0 < n; c0 += chunk) {
        R_xlen_t c1 = c0 + chunk < n ? c0 + chunk : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 16)
#endif
        for (R_xlen_t p = c0; p < c1; p++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            int *cnt = sc + (size_t) t * nlab;
            im_nbhd_each(&s, p, sd + (size_t) t * k, si + (size_t) t * k,
                         pos, NULL, cnt, lab_g);
            R_xlen_t i = g.id[p];
            for (int b = 0; b < nlab; b++) {
                po[i + (R_xlen_t) b * n] = cnt[b];
                cnt[b] = 0;
            }
        }
        R_CheckUserInterrupt();
    }
    UNPROTECT(1);
    return out;
}

/* R caller: nearest_center() (k-means assignment passes of
 * cellular_neighborhoods() over all windows): for each row of x (n x p)
 * the nearest row of centers (m x p) in squared Euclidean distance,
 * summed over columns in order from 0 as R's vectorised sum does (so the
 * same numbers), ties to the lower centre.  Returns list(cluster, d2). */
SEXP ffi_nbhd_nearest_center(SEXP x, SEXP centers) {
    im_check_double(x, "x must be double");
    im_check_double(centers, "centers must be double");
    SEXP dx = Rf_getAttrib(x, R_DimSymbol);
    SEXP dc = Rf_getAttrib(centers, R_DimSymbol);
    if (Rf_length(dx) != 2 || Rf_length(dc) != 2) IM_BUG("matrices");
    R_xlen_t n = INTEGER_RO(dx)[0];
    int p = INTEGER_RO(dx)[1], m = INTEGER_RO(dc)[0];
    if (INTEGER_RO(dc)[1] != p || m < 1) IM_BUG("centers");
    const double *px = REAL_RO(x), *pc = REAL_RO(centers);
    int nprot = 0;
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 2)); nprot++;
    SEXP cl = Rf_allocVector(INTSXP, n);
    SET_VECTOR_ELT(out, 0, cl);
    SEXP d2 = Rf_allocVector(REALSXP, n);
    SET_VECTOR_ELT(out, 1, d2);
    int *pcl = INTEGER(cl);
    double *pd = REAL(d2);
    for (R_xlen_t i0 = 0; i0 < n; i0 += IM_CHUNK) {
        R_xlen_t i1 = i0 + IM_CHUNK < n ? i0 + IM_CHUNK : n;
        for (R_xlen_t i = i0; i < i1; i++) {
            double best = 0.0;
            int bc = 1;
            for (int c = 0; c < m; c++) {
                double d = 0.0;
                for (int j = 0; j < p; j++) {
                    double t = px[i + (R_xlen_t) j * n] - pc[c + (R_xlen_t) j * m];
                    d = d + t * t;
                }
                if (c == 0 || d < best) {
                    best = d;
                    bc = c + 1;
                }
            }
            pcl[i] = bc;
            pd[i] = best;
        }
        R_CheckUserInterrupt();
    }
    UNPROTECT(nprot);
    return out;
}

/* R caller: kmeans_subsample(): per column j of x (n x p), the total sum
 * of squares sum((x_j - mean(x_j))^2) and the within-cluster sum
 * sum((x_j - centers[cl, j])^2), with R's arithmetic (mean() and sum()
 * accumulate in long double, the differences and squares are doubles), so
 * the numbers equal the R expressions without their n-long temporaries.
 * Returns a 2 x p matrix. */
SEXP ffi_nbhd_sumsq(SEXP x, SEXP centers, SEXP cl) {
    im_check_double(x, "x must be double");
    im_check_double(centers, "centers must be double");
    if (TYPEOF(cl) != INTSXP) IM_BUG("cl must be integer");
    SEXP dx = Rf_getAttrib(x, R_DimSymbol);
    SEXP dc = Rf_getAttrib(centers, R_DimSymbol);
    if (Rf_length(dx) != 2 || Rf_length(dc) != 2) IM_BUG("matrices");
    R_xlen_t n = INTEGER_RO(dx)[0];
    int p = INTEGER_RO(dx)[1], m = INTEGER_RO(dc)[0];
    if (INTEGER_RO(dc)[1] != p || XLENGTH(cl) != n) IM_BUG("dimensions");
    const double *px = REAL_RO(x), *pc = REAL_RO(centers);
    const int *pcl = INTEGER_RO(cl);
    for (R_xlen_t i = 0; i < n; i++)
        if (pcl[i] < 1 || pcl[i] > m) IM_BUG("cluster out of range");
    SEXP out = PROTECT(Rf_allocMatrix(REALSXP, 2, p));
    double *po = REAL(out);
    for (int j = 0; j < p; j++) {
        const double *v = px + (R_xlen_t) j * n;
        const double *cj = pc + (R_xlen_t) j * m;
        /* mean() as R computes it: sum, divide, one refinement pass */
        long double s = 0.0;
        for (R_xlen_t i = 0; i < n; i++) s += v[i];
        s /= n;
        if (R_FINITE((double) s)) {
            long double t = 0.0;
            for (R_xlen_t i = 0; i < n; i++) t += (v[i] - s);
            s += t / n;
        }
        double mu = (double) s;
        long double tot = 0.0, within = 0.0;
        for (R_xlen_t i = 0; i < n; i++) {
            double a = v[i] - mu, b = v[i] - cj[pcl[i] - 1];
            tot += a * a;
            within += b * b;
        }
        po[2 * j] = (double) tot;
        po[2 * j + 1] = (double) within;
        R_CheckUserInterrupt();
    }
    UNPROTECT(1);
    return out;
}
