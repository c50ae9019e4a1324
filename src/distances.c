/* distances.c -- nearest distances and neighbour counts on the grid. */
#include "grid.h"
#include "util.h"
#include <string.h>

/* R caller: nearest_distances() via dist_nearest_image() */
SEXP ffi_dist_nearest(SEXP x, SEXP y, SEXP from, SEXP to, SEXP k_,
                      SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    R_xlen_t n = XLENGTH(x), nf, nt;
    if (XLENGTH(y) != n) IM_BUG("x and y differ in length");
    int k = im_as_int(k_, "k"), nth = im_threads(im_as_int(nthreads_, "nthreads"));
    if (k < 1) IM_BUG("k < 1");
    const double *px = REAL_RO(x), *py = REAL_RO(y);
    R_xlen_t *fi = im_index_arg(from, n, &nf);
    R_xlen_t *ti = im_index_arg(to, n, &nt);

    im_grid g;
    im_status st = im_grid_build(&g, px, py, NULL, ti, nt, 0.0, nth);
    if (st != IM_OK) IM_BUG("grid build failed");

    int nprot = 0;
    SEXP dist = PROTECT(Rf_allocMatrix(REALSXP, (int) nf, k)); nprot++;
    SEXP nid = PROTECT(im_alloc_index(nf * (R_xlen_t) k, n)); nprot++;
    double *pd = REAL(dist);
    double *scratch_d = (double *) R_alloc((size_t) nth * k, sizeof(double));
    R_xlen_t *scratch_i = (R_xlen_t *) R_alloc((size_t) nth * k,
                                               sizeof(R_xlen_t));
    /* per thread: the previous answer, a bound for the next query */
    R_xlen_t *hints = (R_xlen_t *) R_alloc((size_t) nth * k,
                                           sizeof(R_xlen_t));
    int *nhints = (int *) R_alloc(nth, sizeof(int));
    for (int t = 0; t < nth; t++) nhints[t] = 0;
    im_queries Q;
    im_grid_queries(&g, px, py, fi, nf, nth, &Q);
    int is_int = TYPEOF(nid) == INTSXP;
    int *pii = is_int ? INTEGER(nid) : NULL;
    double *pid = is_int ? NULL : REAL(nid);

    /* a k-nearest query costs about k^2 / 4 (sorted insertion) */
    const R_xlen_t chunk = im_chunk(4.0 * k + 0.25 * k * (double) k + 16.0) *
                           nth;
    for (R_xlen_t c0 = 0; c0 < nf; c0 += chunk) {
        R_xlen_t c1 = c0 + chunk < nf ? c0 + chunk : nf;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 16)
#endif
        for (R_xlen_t ii = c0; ii < c1; ii++) {
            R_xlen_t i = Q.pos[ii];
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            double *bd = scratch_d + (size_t) t * k;
            R_xlen_t *bi = scratch_i + (size_t) t * k;
            int found = im_grid_knn_hint(&g, Q.x[ii], Q.y[ii], Q.id[ii], k,
                                         bd, bi, hints + (size_t) t * k,
                                         nhints + t);
            for (int j = 0; j < k; j++) {
                R_xlen_t o = i + (R_xlen_t) j * nf;
                pd[o] = j < found ? sqrt(bd[j]) : NA_REAL;
                if (is_int) pii[o] = j < found ? (int) bi[j] + 1 : NA_INTEGER;
                else pid[o] = j < found ? (double) bi[j] + 1.0 : NA_REAL;
            }
        }
        R_CheckUserInterrupt();
    }
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 2)); nprot++;
    SET_VECTOR_ELT(out, 0, dist);
    SET_VECTOR_ELT(out, 1, nid);
    UNPROTECT(nprot);
    return out;
}

/* Spans of the (2 * reach + 1)^2 block of cells around cell (cx, cy). */
static inline int block_spans(const im_grid *g, int64_t cx, int64_t cy,
                              int reach, R_xlen_t *lo, R_xlen_t *hi) {
    R_xlen_t ra, rb;
    int ns = 0;
    im_grid_rows(g, cy - reach, cy + reach, &ra, &rb);
    for (R_xlen_t row = ra; row < rb; row++) {
        im_grid_span(g, row, cx - reach, cx + reach, lo + ns, hi + ns);
        if (hi[ns] > lo[ns]) ns++;
    }
    return ns;
}

/* Single-thread counting that visits every pair of points once: from each
 * point, only the "forward" half of its block (later points of its own
 * cell, the next `reach` cells of its row, the `reach` rows below), and
 * both points of a pair within r count each other when they are queries
 * (isq[] in index order). buf[] (n x nlab, index order) must be zeroed. */
static void count_pairs_once(const im_grid *g, int reach, const im_radius *rq,
                             const int *isq, int nlab, int *buf,
                             R_xlen_t p0, R_xlen_t p1) {
    const double *restrict gx = g->xs, *restrict gy = g->ys;
    const int *restrict gl = g->lab;
    R_xlen_t lo[8], hi[8];
    int64_t ccx = -1, ccy = -1;
    int ns = 0;
    R_xlen_t cell_end = 0;
    for (R_xlen_t p = p0; p < p1; p++) {
        double qx = gx[p], qy = gy[p];
        int64_t cx = im_grid_cell(g->x0, g->inv_h, qx);
        int64_t cy = im_grid_cell(g->y0, g->inv_h, qy);
        if (cx != ccx || cy != ccy) {
            R_xlen_t ra, rb, a, b;
            ns = 0;
            /* the rest of the point's own cell and the cells after it */
            im_grid_rows(g, cy, cy, &ra, &rb);
            im_grid_span(g, ra, cx, cx, &a, &cell_end);
            im_grid_span(g, ra, cx + 1, cx + reach, &a, &b);
            lo[ns] = a; hi[ns] = b; ns += b > a;
            im_grid_rows(g, cy + 1, cy + reach, &ra, &rb);
            for (R_xlen_t row = ra; row < rb; row++) {
                im_grid_span(g, row, cx - reach, cx + reach, &a, &b);
                lo[ns] = a; hi[ns] = b; ns += b > a;
            }
            ccx = cx;
            ccy = cy;
        }
        int qp = isq[p];
        int *accp = buf + p * nlab;
        int lp = gl[p];
        /* later points of the same cell: [p + 1, cell_end) */
        for (R_xlen_t j = p + 1; j < cell_end; j++) {
            if (!qp && !isq[j]) continue;
            double dx = gx[j] - qx, dy = gy[j] - qy;
            int in = im_within(dx * dx + dy * dy, rq);
            accp[gl[j]] += in & qp;
            buf[j * nlab + lp] += in & isq[j];
        }
        for (int s = 0; s < ns; s++) {
            R_xlen_t j1 = hi[s];
            for (R_xlen_t j = lo[s]; j < j1; j++) {
                if (!qp && !isq[j]) continue;
                double dx = gx[j] - qx, dy = gy[j] - qy;
                int in = im_within(dx * dx + dy * dy, rq);
                accp[gl[j]] += in & qp;
                buf[j * nlab + lp] += in & isq[j];
            }
        }
    }
}

/* Several threads: each query point (qsorted[p] >= 0) scans its whole
 * block and writes only its own row of buf[] (index order), so threads
 * never share an output; the block spans are found once per cell. */
static void count_per_point(const im_grid *g, int reach, const im_radius *rq,
                            const R_xlen_t *qsorted, int nlab, int *buf,
                            int nth) {
    R_xlen_t n = g->n;
    const R_xlen_t chunk = im_chunk(im_grid_pairs(g, reach * g->h) + 16.0) *
                           nth;
    for (R_xlen_t c0 = 0; c0 < n; c0 += chunk) {
        R_xlen_t c1 = c0 + chunk < n ? c0 + chunk : n;
#ifdef _OPENMP
#pragma omp parallel num_threads(nth)
#endif
        {
            const double *restrict gx = g->xs, *restrict gy = g->ys;
            const int *restrict gl = g->lab;
            R_xlen_t lo[8], hi[8];
            int64_t ccx = -1, ccy = -1;
            int ns = 0;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 64)
#endif
            for (R_xlen_t p = c0; p < c1; p++) {
                if (qsorted[p] < 0) continue;
                double qx = gx[p], qy = gy[p];
                int64_t cx = im_grid_cell(g->x0, g->inv_h, qx);
                int64_t cy = im_grid_cell(g->y0, g->inv_h, qy);
                if (cx != ccx || cy != ccy) {
                    ns = block_spans(g, cx, cy, reach, lo, hi);
                    ccx = cx;
                    ccy = cy;
                }
                int *acc = buf + p * nlab;
                for (int l = 0; l < nlab; l++) acc[l] = 0;
                for (int s = 0; s < ns; s++) {
                    R_xlen_t j1 = hi[s];
                    for (R_xlen_t j = lo[s]; j < j1; j++) {
                        double dx = gx[j] - qx, dy = gy[j] - qy;
                        acc[gl[j]] += im_within(dx * dx + dy * dy, rq);
                    }
                }
                acc[gl[p]]--;   /* the point itself, at distance 0 */
            }
        }
        R_CheckUserInterrupt();
    }
}

/* R caller: count_neighbors() via neighbor_count_matrix() */
SEXP ffi_dist_count(SEXP x, SEXP y, SEXP lab, SEXP nlab_, SEXP from,
                    SEXP radius_, SEXP nthreads_, SEXP copy_mb_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    if (TYPEOF(lab) != INTSXP) IM_BUG("labels must be integer");
    R_xlen_t n = XLENGTH(x), nf;
    if (XLENGTH(y) != n || XLENGTH(lab) != n) IM_BUG("lengths differ");
    int nlab = im_as_int(nlab_, "nlab");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    double radius = im_as_double(radius_, "radius");
    if (!(radius >= 0) || !R_FINITE(radius)) IM_BUG("bad radius");
    const double *px = REAL_RO(x), *py = REAL_RO(y);
    const int *pl = INTEGER_RO(lab);
    for (R_xlen_t i = 0; i < n; i++)
        if (pl[i] < 0 || pl[i] >= nlab) IM_BUG("label out of range");
    R_xlen_t *fi = im_index_arg(from, n, &nf);

    /* Cells of side r (or r / 2 in dense data), a hair larger so that every
     * neighbour within r of a point lies in the block of cells within
     * `reach` of the point's cell despite rounding. */
    double h = im_grid_radius_cell(px, py, NULL, n, radius);
    int reach = 1;
    if (h > 0) {
        reach = h < radius ? 2 : 1;
        h *= 1.0 + 1e-9;
    }
    im_grid g;
    if (im_grid_build(&g, px, py, pl, NULL, n, h, nth) != IM_OK)
        IM_BUG("grid build failed");
    /* (the index may widen cells for huge extents: reach still holds) */
    if (!(radius > 0)) reach = 0;     /* radius 0: coincident points only */

    /* queries in index order: position in `from` of each index point (-1:
     * not a query), gathered in one tight pass (independent loads overlap;
     * doing it inside the query loop stalls on every miss) */
    int every = nf == n;
    for (R_xlen_t i = 0; every && i < nf; i++) every = fi[i] == i;
    R_xlen_t *qsorted = g.id;          /* every point, in order: identity */
    if (!every) {
        R_xlen_t *qpos = (R_xlen_t *) R_alloc(n > 0 ? n : 1, sizeof(R_xlen_t));
        for (R_xlen_t i = 0; i < n; i++) qpos[i] = -1;
        for (R_xlen_t i = 0; i < nf; i++) qpos[fi[i]] = i;
        qsorted = (R_xlen_t *) R_alloc(n > 0 ? n : 1, sizeof(R_xlen_t));
        for (R_xlen_t p = 0; p < n; p++) qsorted[p] = qpos[g.id[p]];
    }

    SEXP out = PROTECT(Rf_allocMatrix(INTSXP, nlab, (int) nf));
    int *po = INTEGER(out);
    const im_radius rq = im_radius_make(radius);
    int *buf = (int *) R_alloc((size_t) (n > 0 ? n : 1) * nlab, sizeof(int));
    if (reach > 3) IM_BUG("reach too large");

    /* Each pair once, both ends updated. With several threads every
     * thread adds into its own copy of the counts (summed afterwards: the
     * counts are integers, so the result never depends on the threads);
     * when those copies would be too large, every query point scans its
     * whole block instead and writes only its own counts. */
    double copies = (double) (nth - 1) * (double) n * nlab * sizeof(int);
    double copy_mb = im_as_double(copy_mb_, "copy_mb");
    if (nth == 1 || copies <= copy_mb * 1024 * 1024) {
        int *isq = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
        for (R_xlen_t p = 0; p < n; p++) isq[p] = qsorted[p] >= 0;
        size_t len = (size_t) (n > 0 ? n : 1) * nlab;
        int *priv = nth > 1 ? (int *) R_alloc((size_t) (nth - 1) * len,
                                              sizeof(int)) : NULL;
        memset(buf, 0, len * sizeof(int));
        if (priv) memset(priv, 0, (size_t) (nth - 1) * len * sizeof(int));
        R_xlen_t step = im_chunk(im_grid_pairs(&g, radius) / 2 + 16.0) *
                        nth;
        for (R_xlen_t c0 = 0; c0 < n; c0 += step) {
            R_xlen_t c1 = c0 + step < n ? c0 + step : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static, 1)
#endif
            for (int t = 0; t < nth; t++) {
                R_xlen_t per = (c1 - c0 + nth - 1) / nth;
                R_xlen_t a = c0 + (R_xlen_t) t * per;
                R_xlen_t b = a + per < c1 ? a + per : c1;
                int *dst = t == 0 ? buf : priv + (size_t) (t - 1) * len;
                if (a < b) count_pairs_once(&g, reach, &rq, isq, nlab, dst,
                                            a, b);
            }
            R_CheckUserInterrupt();
        }
        for (int t = 1; t < nth; t++) {
            const int *src = priv + (size_t) (t - 1) * len;
            for (size_t i = 0; i < len; i++) buf[i] += src[i];
        }
    } else {
        count_per_point(&g, reach, &rq, qsorted, nlab, buf, nth);
    }

    /* scatter from index order to the caller's order in one tight pass
     * (independent stores overlap; inside the query loop they stall) */
    for (R_xlen_t p = 0; p < n; p++) {
        R_xlen_t qi = qsorted[p];
        if (qi < 0) continue;
        int *dst = po + qi * nlab;
        const int *src = buf + p * nlab;
        for (int l = 0; l < nlab; l++) dst[l] = src[l];
    }
    UNPROTECT(1);
    return out;
}
