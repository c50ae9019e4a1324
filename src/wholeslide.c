/* wholeslide.c -- nearest-neighbour distances for whole slides (R caller:
 * ws_nearest() in R/wholeslide.R).
 *
 * The grid search of ffi_dist_nearest() scans every grid cell of the disc
 * about a query whose radius is the answer, so a query far from all
 * targets (a hepatocyte millimetres away from the tumour) costs the
 * square of its distance in grid cells; on a whole slide those queries
 * dominate.  A k-d tree prunes by bounding boxes instead and costs about
 * the logarithm of the number of targets whatever the distance.  Squared
 * distances are computed as in the grid search (target minus query,
 * dx * dx + dy * dy), so the minimum and its square root are the same
 * numbers. */
#include "immunoscape.h"
#include "util.h"
#include <limits.h>
#include <math.h>

/* Points per leaf. */
#define WS_LEAF 8
/* Largest tree depth (a balanced tree of 2^40 leaves). */
#define WS_DEPTH 48

typedef struct {
    double *xs, *ys;         /* target coordinates in leaf order         */
    const int *id;           /* target cell ids in leaf order            */
    double *bx0, *bx1, *by0, *by1;   /* bounding box of each node        */
    R_xlen_t *lo, *hi;       /* node's range of xs / ys                  */
    int *left;               /* first child (right = left + 1); -1: leaf */
    int nnode;
} ws_tree;

/* Partial sort of idx[lo, hi) so that idx[k] has the k-th smallest key
 * and no larger key before it, no smaller after (quickselect, middle
 * pivot; ties do not matter for the tree). */
static void ws_select(R_xlen_t *idx, const double *key, R_xlen_t lo,
                      R_xlen_t hi, R_xlen_t k) {
    hi--;
    while (hi > lo) {
        double piv = key[idx[lo + (hi - lo) / 2]];
        R_xlen_t i = lo, j = hi;
        while (i <= j) {
            while (key[idx[i]] < piv) i++;
            while (key[idx[j]] > piv) j--;
            if (i <= j) {
                R_xlen_t t = idx[i];
                idx[i] = idx[j];
                idx[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return;
    }
}

static void ws_build(ws_tree *T, int node, R_xlen_t *idx, const double *x,
                     const double *y, R_xlen_t lo, R_xlen_t hi, int depth) {
    double x0 = R_PosInf, x1 = R_NegInf, y0 = R_PosInf, y1 = R_NegInf;
    for (R_xlen_t i = lo; i < hi; i++) {
        double a = x[idx[i]], b = y[idx[i]];
        if (a < x0) x0 = a;
        if (a > x1) x1 = a;
        if (b < y0) y0 = b;
        if (b > y1) y1 = b;
    }
    T->bx0[node] = x0;
    T->bx1[node] = x1;
    T->by0[node] = y0;
    T->by1[node] = y1;
    T->lo[node] = lo;
    T->hi[node] = hi;
    if (hi - lo <= WS_LEAF || depth >= WS_DEPTH - 1) {
        T->left[node] = -1;
        return;
    }
    R_xlen_t mid = lo + (hi - lo) / 2;
    ws_select(idx, x1 - x0 >= y1 - y0 ? x : y, lo, hi, mid);
    int l = T->nnode;
    T->nnode += 2;
    T->left[node] = l;
    ws_build(T, l, idx, x, y, lo, mid, depth + 1);
    ws_build(T, l + 1, idx, x, y, mid, hi, depth + 1);
}

static inline double ws_box2(const ws_tree *T, int v, double qx, double qy) {
    double dx = T->bx0[v] - qx, dy = T->by0[v] - qy;
    double ex = qx - T->bx1[v], ey = qy - T->by1[v];
    if (ex > dx) dx = ex;
    if (ey > dy) dy = ey;
    if (dx < 0) dx = 0;
    if (dy < 0) dy = 0;
    return dx * dx + dy * dy;
}

/* Smallest squared distance from (qx, qy) to a target other than the
 * cell qid, below best2 (+Inf, or just above the squared distance to some
 * target); *at: its leaf position. */
static double ws_query(const ws_tree *T, double qx, double qy, int qid,
                       double best2, R_xlen_t *at) {
    int stack[2 * WS_DEPTH + 2];
    int top = 0;
    stack[top++] = 0;
    while (top) {
        int v = stack[--top];
        if (ws_box2(T, v, qx, qy) >= best2) continue;
        int l = T->left[v];
        if (l < 0) {
            for (R_xlen_t i = T->lo[v]; i < T->hi[v]; i++) {
                if (T->id[i] == qid) continue;
                double dx = T->xs[i] - qx, dy = T->ys[i] - qy;
                double d2 = dx * dx + dy * dy;
                if (d2 < best2) {
                    best2 = d2;
                    *at = i;
                }
            }
            continue;
        }
        double dl = ws_box2(T, l, qx, qy), dr = ws_box2(T, l + 1, qx, qy);
        /* the nearer child is searched first (pushed last) */
        if (dl <= dr) {
            if (dr < best2) stack[top++] = l + 1;
            if (dl < best2) stack[top++] = l;
        } else {
            if (dl < best2) stack[top++] = l;
            if (dr < best2) stack[top++] = l + 1;
        }
    }
    return best2;
}

/* R caller: ws_nearest(): distance from each query (qx, qy; cell id qid)
 * to the nearest target (tx, ty; cell id tid) that is not the query cell
 * itself, NA without one.  Queries are answered in
 * the order given (ws_nearest() sorts them along a grid so that the
 * previous answer bounds the next query); the result does not depend on
 * the order or on nthreads. */
SEXP ffi_ws_nearest(SEXP qx_, SEXP qy_, SEXP qid_, SEXP tx_, SEXP ty_,
                    SEXP tid_, SEXP nthreads_) {
    im_check_double(qx_, "qx must be double");
    im_check_double(qy_, "qy must be double");
    im_check_double(tx_, "tx must be double");
    im_check_double(ty_, "ty must be double");
    R_xlen_t nq = XLENGTH(qx_), nt = XLENGTH(tx_);
    if (XLENGTH(qy_) != nq || XLENGTH(ty_) != nt || XLENGTH(qid_) != nq ||
        XLENGTH(tid_) != nt || TYPEOF(qid_) != INTSXP ||
        TYPEOF(tid_) != INTSXP)
        IM_BUG("bad arguments");
    const int *qid = INTEGER_RO(qid_), *tid = INTEGER_RO(tid_);
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    const double *qx = REAL_RO(qx_), *qy = REAL_RO(qy_);
    const double *tx = REAL_RO(tx_), *ty = REAL_RO(ty_);
    int nprot = 0;
    SEXP out = PROTECT(Rf_allocVector(REALSXP, nq)); nprot++;
    double *pd = REAL(out);
    if (nt == 0) {
        for (R_xlen_t i = 0; i < nq; i++) pd[i] = NA_REAL;
        UNPROTECT(nprot);
        return out;
    }
    ws_tree T;
    R_xlen_t maxnode = 4 * (nt / WS_LEAF + 1) + 4;
    if (maxnode > INT_MAX / 2) IM_BUG("too many targets");
    T.bx0 = (double *) R_alloc(maxnode, sizeof(double));
    T.bx1 = (double *) R_alloc(maxnode, sizeof(double));
    T.by0 = (double *) R_alloc(maxnode, sizeof(double));
    T.by1 = (double *) R_alloc(maxnode, sizeof(double));
    T.lo = (R_xlen_t *) R_alloc(maxnode, sizeof(R_xlen_t));
    T.hi = (R_xlen_t *) R_alloc(maxnode, sizeof(R_xlen_t));
    T.left = (int *) R_alloc(maxnode, sizeof(int));
    T.nnode = 1;
    R_xlen_t *idx = (R_xlen_t *) R_alloc(nt, sizeof(R_xlen_t));
    for (R_xlen_t i = 0; i < nt; i++) idx[i] = i;
    ws_build(&T, 0, idx, tx, ty, 0, nt, 0);
    T.xs = (double *) R_alloc(nt, sizeof(double));
    T.ys = (double *) R_alloc(nt, sizeof(double));
    int *ids = (int *) R_alloc(nt, sizeof(int));
    for (R_xlen_t i = 0; i < nt; i++) {
        T.xs[i] = tx[idx[i]];
        T.ys[i] = ty[idx[i]];
        ids[i] = tid[idx[i]];
    }
    T.id = ids;
    /* fixed blocks of queries; each starts without a bound */
    const R_xlen_t blk = 4096;
    R_xlen_t nblk = (nq + blk - 1) / blk;
    for (R_xlen_t c0 = 0; c0 < nblk; c0 += 64) {
        R_xlen_t c1 = c0 + 64 < nblk ? c0 + 64 : nblk;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
#endif
        for (R_xlen_t b = c0; b < c1; b++) {
            R_xlen_t i0 = b * blk, i1 = i0 + blk < nq ? i0 + blk : nq;
            R_xlen_t at = -1;
            for (R_xlen_t i = i0; i < i1; i++) {
                double bound = R_PosInf;
                if (at >= 0 && ids[at] == qid[i]) at = -1;
                if (at >= 0) {
                    double dx = T.xs[at] - qx[i], dy = T.ys[at] - qy[i];
                    bound = dx * dx + dy * dy;
                    /* the previous answer itself is a candidate */
                    bound = nextafter(bound, R_PosInf);
                }
                R_xlen_t best = at;
                double d2 = ws_query(&T, qx[i], qy[i], qid[i], bound, &best);
                if (best == at && at >= 0) {
                    double dx = T.xs[at] - qx[i], dy = T.ys[at] - qy[i];
                    d2 = dx * dx + dy * dy;
                }
                at = best;
                pd[i] = best >= 0 ? sqrt(d2) : NA_REAL;
            }
        }
        (void) nth;
        R_CheckUserInterrupt();
    }
    UNPROTECT(nprot);
    return out;
}
