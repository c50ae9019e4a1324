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
    int is_int = TYPEOF(nid) == INTSXP;
    int *pii = is_int ? INTEGER(nid) : NULL;
    double *pid = is_int ? NULL : REAL(nid);

    for (R_xlen_t c0 = 0; c0 < nf; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < nf ? c0 + IM_CHUNK : nf;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 256)
#endif
        for (R_xlen_t i = c0; i < c1; i++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            double *bd = scratch_d + (size_t) t * k;
            R_xlen_t *bi = scratch_i + (size_t) t * k;
            R_xlen_t q = fi[i];
            int found = im_grid_knn(&g, px[q], py[q], q, k, bd, bi);
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

/* R caller: count_neighbors() via count_neighbors_image() */
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

    im_grid g;
    if (im_grid_build(&g, px, py, pl, NULL, n, radius > 0 ? radius / 2 : 0.0)
        != IM_OK)
        IM_BUG("grid build failed");

    SEXP out = PROTECT(Rf_allocMatrix(INTSXP, (int) nf, nlab));
    int *po = INTEGER(out);
    for (R_xlen_t i = 0; i < nf * (R_xlen_t) nlab; i++) po[i] = 0;
    const im_radius rq = im_radius_make(radius);

    for (R_xlen_t c0 = 0; c0 < nf; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < nf ? c0 + IM_CHUNK : nf;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 256)
#endif
        for (R_xlen_t i = c0; i < c1; i++) {
            R_xlen_t q = fi[i], lo, hi;
            double qx = px[q], qy = py[q];
            im_disc it;
            im_disc_begin(&g, qx, qy, radius, &it);
            while (im_disc_next(&g, &it, &lo, &hi)) {
                for (R_xlen_t j = lo; j < hi; j++) {
                    double dx = g.xs[j] - qx, dy = g.ys[j] - qy;
                    if (im_within(dx * dx + dy * dy, &rq) && g.id[j] != q)
                        po[i + (R_xlen_t) g.lab[j] * nf]++;
                }
            }
        }
        R_CheckUserInterrupt();
    }
    UNPROTECT(1);
    return out;
}
