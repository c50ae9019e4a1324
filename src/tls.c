/* tls.c -- tertiary lymphoid structures: single linkage of seed cells into
 * connected groups (union-find on the spatial index) and the T cells near
 * each group.
 *
 * Linkage: two seeds are linked when their distance d <= link (the
 * package-wide meaning of "within"); groups are the connected components
 * of that graph.  Every seed queries the disc of radius `link` around it
 * on the grid and unites itself with the seeds it finds there, so the
 * work is O(n + pairs within link) and the memory O(n): no edge list.
 * The union-find is lock-free (compare-and-swap on the parent array, the
 * smaller root always wins), so the queries run in parallel; the
 * components do not depend on the order of the unions, and the labels are
 * numbered by their smallest member, so the result is identical for any
 * number of threads.
 */
#include "grid.h"
#include "util.h"
#include <string.h>

/* Fewer points: the loops stay serial (starting threads costs more). */
#define TLS_PAR_MIN 32768

/* ---- lock-free union-find over positions 0..n-1 ------------------------ */

static inline R_xlen_t uf_load(R_xlen_t *p, R_xlen_t a) {
#ifdef _OPENMP
    return __atomic_load_n(p + a, __ATOMIC_RELAXED);
#else
    return p[a];
#endif
}

static inline int uf_cas(R_xlen_t *p, R_xlen_t a, R_xlen_t expect,
                         R_xlen_t want) {
#ifdef _OPENMP
    return __atomic_compare_exchange_n(p + a, &expect, want, 0,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED);
#else
    if (p[a] != expect) return 0;
    p[a] = want;
    return 1;
#endif
}

/* Root of a, halving the path on the way (a benign race: a parent is only
 * ever replaced by one of its ancestors). */
static inline R_xlen_t uf_find(R_xlen_t *p, R_xlen_t a) {
    for (;;) {
        R_xlen_t b = uf_load(p, a);
        if (b == a) return a;
        R_xlen_t c = uf_load(p, b);
        if (c != b) uf_cas(p, a, b, c);
        a = b;
    }
}

/* Join the sets of a and b: the larger root is hung below the smaller. */
static inline void uf_unite(R_xlen_t *p, R_xlen_t a, R_xlen_t b) {
    for (;;) {
        a = uf_find(p, a);
        b = uf_find(p, b);
        if (a == b) return;
        if (a > b) { R_xlen_t t = a; a = b; b = t; }
        if (uf_cas(p, b, b, a)) return;
    }
}

/* Link the indexed points (positions of grid g) whose distance is <= r:
 * parent[] ends as a forest whose trees are the components.  Rows of the
 * disc above the point only (pairs are met once); chunks of IM_CHUNK
 * points between interrupt checks. */
static void link_points(const im_grid *g, double r, R_xlen_t *parent,
                        int nth) {
    R_xlen_t n = g->n;
    for (R_xlen_t i = 0; i < n; i++) parent[i] = i;
    im_radius q = im_radius_make(r);
    for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < n ? c0 + IM_CHUNK : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (n > TLS_PAR_MIN) \
    schedule(dynamic, 512)
#endif
        for (R_xlen_t i = c0; i < c1; i++) {
            double qx = g->xs[i], qy = g->ys[i];
            im_disc it;
            R_xlen_t lo, hi;
            im_disc_begin(g, qx, qy, r, &it);
            while (im_disc_next(g, &it, &lo, &hi)) {
                /* positions are in row-major cell order: a pair (i, j)
                 * with j < i was seen from j */
                if (hi <= i + 1) continue;
                if (lo <= i) lo = i + 1;
                for (R_xlen_t j = lo; j < hi; j++) {
                    double dx = g->xs[j] - qx, dy = g->ys[j] - qy;
                    if (!im_within(dx * dx + dy * dy, &q)) continue;
                    uf_unite(parent, i, j);
                }
            }
        }
        R_CheckUserInterrupt();
    }
}

/* R caller: tls_link() */
SEXP ffi_tls_link(SEXP x, SEXP y, SEXP link_, SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    R_xlen_t n = XLENGTH(x);
    if (XLENGTH(y) != n) IM_BUG("x and y differ in length");
    if (n > INT_MAX) IM_BUG("too many seeds for integer labels");
    double r = im_as_double(link_, "link");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    if (!(r >= 0) || !R_FINITE(r)) IM_BUG("bad link distance");
    const double *px = REAL_RO(x), *py = REAL_RO(y);

    int nprot = 0;
    SEXP out = PROTECT(Rf_allocVector(INTSXP, n)); nprot++;
    int *lab = INTEGER(out);
    if (n == 0) {
        UNPROTECT(nprot);
        return out;
    }
    im_grid g;
    double h = im_grid_radius_cell(px, py, NULL, n, r);
    im_status st = im_grid_build(&g, px, py, NULL, NULL, n, h, nth);
    if (st != IM_OK) im_stop_status(st, "the TLS linkage");
    R_xlen_t *parent = (R_xlen_t *) R_alloc(n, sizeof(R_xlen_t));
    link_points(&g, r, parent, nth);

    /* root position of every point, by original index; then labels
     * 1, 2, ... in order of the smallest original index of a component */
    R_xlen_t *root = (R_xlen_t *) R_alloc(n, sizeof(R_xlen_t));
    int *first = (int *) R_alloc(n, sizeof(int));
    for (R_xlen_t k = 0; k < n; k++) {
        root[g.id[k]] = uf_find(parent, k);
        first[k] = 0;
    }
    int ncomp = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        R_xlen_t rt = root[i];
        if (!first[rt]) first[rt] = ++ncomp;
        lab[i] = first[rt];
    }
    UNPROTECT(nprot);
    return out;
}

/* R caller: tls_t_counts().  Seeds (bx, by) carry group labels blab in
 * 1..ngroup; returns a list: per group, the number of points (tx, ty)
 * within distance r of at least one seed of the group; per point, the
 * smallest label of a group within r (0: none). */
SEXP ffi_tls_near(SEXP bx, SEXP by, SEXP blab, SEXP tx, SEXP ty, SEXP r_,
                  SEXP ngroup_, SEXP nthreads_) {
    im_check_double(bx, "bx must be double");
    im_check_double(by, "by must be double");
    im_check_double(tx, "tx must be double");
    im_check_double(ty, "ty must be double");
    R_xlen_t nb = XLENGTH(bx), nt = XLENGTH(tx);
    if (XLENGTH(by) != nb || XLENGTH(blab) != nb || XLENGTH(ty) != nt ||
        TYPEOF(blab) != INTSXP)
        IM_BUG("bad seeds or points");
    double r = im_as_double(r_, "r");
    int ng = im_as_int(ngroup_, "ngroup");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    if (!(r >= 0) || !R_FINITE(r) || ng < 0) IM_BUG("bad radius or groups");
    const int *lab = INTEGER_RO(blab);
    for (R_xlen_t i = 0; i < nb; i++)
        if (lab[i] < 1 || lab[i] > ng) IM_BUG("seed label out of range");

    int nprot = 0;
    SEXP counts = PROTECT(Rf_allocVector(INTSXP, ng)); nprot++;
    SEXP nearest = PROTECT(Rf_allocVector(INTSXP, nt)); nprot++;
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 2)); nprot++;
    SET_VECTOR_ELT(out, 0, counts);
    SET_VECTOR_ELT(out, 1, nearest);
    int *cnt = INTEGER(counts);
    int *near = INTEGER(nearest);
    for (int k = 0; k < ng; k++) cnt[k] = 0;
    for (R_xlen_t i = 0; i < nt; i++) near[i] = 0;
    if (nb == 0 || nt == 0) {
        UNPROTECT(nprot);
        return out;
    }
    const double *pbx = REAL_RO(bx), *pby = REAL_RO(by);
    const double *ptx = REAL_RO(tx), *pty = REAL_RO(ty);
    im_grid g;
    double h = im_grid_radius_cell(pbx, pby, NULL, nb, r);
    im_status st = im_grid_build(&g, pbx, pby, lab, NULL, nb, h, nth);
    if (st != IM_OK) im_stop_status(st, "the T cells near TLS");
    im_radius q = im_radius_make(r);

    /* pass 1 (parallel): the smallest group label within r of each point
     * (0: none), and whether another group is within r too */
    unsigned char *multi = (unsigned char *) R_alloc(nt, 1);
    for (R_xlen_t c0 = 0; c0 < nt; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < nt ? c0 + IM_CHUNK : nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (nt > TLS_PAR_MIN) \
    schedule(dynamic, 512)
#endif
        for (R_xlen_t i = c0; i < c1; i++) {
            double qx = ptx[i], qy = pty[i];
            int best = 0, more = 0;
            im_disc it;
            R_xlen_t lo, hi;
            im_disc_begin(&g, qx, qy, r, &it);
            while (im_disc_next(&g, &it, &lo, &hi)) {
                for (R_xlen_t j = lo; j < hi; j++) {
                    int l = g.lab[j];
                    if (l == best) continue;
                    double dx = g.xs[j] - qx, dy = g.ys[j] - qy;
                    if (!im_within(dx * dx + dy * dy, &q)) continue;
                    if (best == 0) {
                        best = l;
                    } else {
                        more = 1;
                        if (l < best) best = l;
                    }
                }
            }
            near[i] = best;
            multi[i] = (unsigned char) more;
        }
        R_CheckUserInterrupt();
    }
    /* pass 2 (serial): counts; points near several groups count once for
     * each of them */
    R_xlen_t *stamp = (R_xlen_t *) R_alloc(ng + 1, sizeof(R_xlen_t));
    for (int k = 0; k <= ng; k++) stamp[k] = -1;
    for (R_xlen_t i = 0; i < nt; i++) {
        if (!near[i]) continue;
        if (!multi[i]) {
            cnt[near[i] - 1]++;
            continue;
        }
        R_xlen_t mark = i;
        double qx = ptx[i], qy = pty[i];
        im_disc it;
        R_xlen_t lo, hi;
        im_disc_begin(&g, qx, qy, r, &it);
        while (im_disc_next(&g, &it, &lo, &hi)) {
            for (R_xlen_t j = lo; j < hi; j++) {
                int l = g.lab[j];
                if (stamp[l] == mark) continue;
                double dx = g.xs[j] - qx, dy = g.ys[j] - qy;
                if (!im_within(dx * dx + dy * dy, &q)) continue;
                stamp[l] = mark;
                cnt[l - 1]++;
            }
        }
    }
    UNPROTECT(nprot);
    return out;
}
