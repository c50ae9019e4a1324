/* distances.c -- nearest distances and neighbour counts on the grid. */
#include "grid.h"
#include "util.h"

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
    im_status st = im_grid_build(&g, px, py, NULL, ti, nt, 0.0);
    if (st != IM_OK) IM_BUG("grid build failed");

    int nprot = 0;
    SEXP dist = PROTECT(Rf_allocMatrix(REALSXP, (int) nf, k)); nprot++;
    SEXP nid = PROTECT(im_alloc_index(nf * (R_xlen_t) k, n)); nprot++;
    double *pd = REAL(dist);
    double *scratch_d = (double *) R_alloc((size_t) nth * k, sizeof(double));
    R_xlen_t *scratch_i = (R_xlen_t *) R_alloc((size_t) nth * k,
                                               sizeof(R_xlen_t));
    im_queries Q;
    im_grid_queries(&g, px, py, fi, nf, &Q);
    int is_int = TYPEOF(nid) == INTSXP;
    int *pii = is_int ? INTEGER(nid) : NULL;
    double *pid = is_int ? NULL : REAL(nid);

    for (R_xlen_t c0 = 0; c0 < nf; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < nf ? c0 + IM_CHUNK : nf;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 256)
#endif
        for (R_xlen_t ii = c0; ii < c1; ii++) {
            R_xlen_t i = Q.pos[ii];
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            double *bd = scratch_d + (size_t) t * k;
            R_xlen_t *bi = scratch_i + (size_t) t * k;
            int found = im_grid_knn(&g, Q.x[ii], Q.y[ii], Q.id[ii], k, bd, bi);
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

/* R caller: count_neighbors() via neighbor_count_matrix() */
SEXP ffi_dist_count(SEXP x, SEXP y, SEXP lab, SEXP nlab_, SEXP from,
                    SEXP radius_, SEXP nthreads_) {
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
    if (im_grid_build(&g, px, py, pl, NULL, n, h) != IM_OK)
        IM_BUG("grid build failed");
    if (!(radius > 0)) reach = 0;     /* radius 0: coincident points only */
    if (radius > 0 && g.h < radius / reach) {
        /* the index widened the cells (huge extent): reach must follow */
        reach = (int) ceil(radius / g.h) + 1;
    }

    /* queries in index order: position of each index point in `from` */
    R_xlen_t *qpos = (R_xlen_t *) R_alloc(n > 0 ? n : 1, sizeof(R_xlen_t));
    for (R_xlen_t i = 0; i < n; i++) qpos[i] = -1;
    for (R_xlen_t i = 0; i < nf; i++) qpos[fi[i]] = i;
    /* ... gathered into index order in one tight pass (independent loads
     * overlap; doing it inside the query loop stalls on every miss) */
    R_xlen_t *qsorted = (R_xlen_t *) R_alloc(n > 0 ? n : 1, sizeof(R_xlen_t));
    for (R_xlen_t p = 0; p < n; p++) qsorted[p] = qpos[g.id[p]];

    SEXP out = PROTECT(Rf_allocMatrix(INTSXP, nlab, (int) nf));
    int *po = INTEGER(out);
    const im_radius rq = im_radius_make(radius);
    int maxspan = 2 * reach + 1;
    R_xlen_t *slo = (R_xlen_t *) R_alloc((size_t) nth * maxspan,
                                         sizeof(R_xlen_t));
    int *sacc = (int *) R_alloc((size_t) nth * nlab, sizeof(int));
    R_xlen_t *shi = (R_xlen_t *) R_alloc((size_t) nth * maxspan,
                                         sizeof(R_xlen_t));

    /* Points are visited in index (cell) order: the spans of the block
     * around a cell are found once and serve every point of that cell.
     * Each point writes only its own column of `out`. */
    for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < n ? c0 + IM_CHUNK : n;
#ifdef _OPENMP
#pragma omp parallel num_threads(nth)
#endif
        {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            R_xlen_t *lo = slo + (size_t) t * maxspan;
            R_xlen_t *hi = shi + (size_t) t * maxspan;
            int *acc = sacc + (size_t) t * nlab;
            int64_t ccx = -1, ccy = -1;
            int ns = 0;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1024)
#endif
            for (R_xlen_t p = c0; p < c1; p++) {
                R_xlen_t qi = qsorted[p];
                if (qi < 0) continue;
                double qx = g.xs[p], qy = g.ys[p];
                int64_t cx = im_grid_cell(g.x0, g.inv_h, qx);
                int64_t cy = im_grid_cell(g.y0, g.inv_h, qy);
                if (cx != ccx || cy != ccy) {
                    ns = block_spans(&g, cx, cy, reach, lo, hi);
                    ccx = cx;
                    ccy = cy;
                }
                for (int l = 0; l < nlab; l++) acc[l] = 0;
                for (int s = 0; s < ns; s++) {
                    for (R_xlen_t j = lo[s]; j < hi[s]; j++) {
                        double dx = g.xs[j] - qx, dy = g.ys[j] - qy;
                        acc[g.lab[j]] += im_within(dx * dx + dy * dy, &rq);
                    }
                }
                acc[g.lab[p]]--;   /* the point itself, at distance 0 */
                int *cnt = po + qi * nlab;
                for (int l = 0; l < nlab; l++) cnt[l] = acc[l];
            }
        }
        R_CheckUserInterrupt();
    }
    UNPROTECT(1);
    return out;
}
