/* grid.h -- the spatial index every family uses.
 *
 * A uniform grid (cell list) over one set of points.  Points are sorted in
 * row-major cell order (cy, then cx), so that the cells cxa..cxb of one row
 * hold one contiguous run of points: every query is a short list of
 * contiguous "spans".  Only occupied cells are stored when the bounding box
 * would need more than a few cells per point ("sparse" mode), so memory is
 * O(n) whatever the layout: a single far-away point cannot blow the index
 * up, and clustered points get small cells (see im_grid_build()).
 *
 * Building allocates with R_alloc (main thread, entry layer only).
 * Queries are pure C, read-only and thread-safe.
 */
#ifndef IMMUNOSCAPE_GRID_H
#define IMMUNOSCAPE_GRID_H

#include "immunoscape.h"
#include <math.h>

typedef struct {
    R_xlen_t n;            /* points in the index                         */
    double x0, y0;         /* origin: minimum x and y                     */
    double h, inv_h;       /* cell side and its inverse                   */
    int64_t ncx, ncy;      /* cells per row, rows of the bounding box     */
    int dense;             /* 1: cell_start is a full ncx * ncy table     */
    double *xs, *ys;       /* coordinates in cell order                   */
    R_xlen_t *id;          /* original (0-based) index in cell order      */
    int *lab;              /* labels in cell order, or NULL               */
    R_xlen_t *cell_start;  /* dense: [ncx * ncy + 1] first point of cell  */
    R_xlen_t nrow;         /* sparse: occupied rows                       */
    int64_t *row_cy;       /* sparse: [nrow] row number, increasing       */
    R_xlen_t *row_first;   /* sparse: [nrow + 1] first cell of the row    */
    int64_t *cell_cx;      /* sparse: [ncell] column number of the cell   */
    R_xlen_t *cell_pt;     /* sparse: [ncell + 1] first point of the cell */
} im_grid;

/* Build the index over points sub[0..n-1] of (x, y) (sub == NULL: the
 * first n points), carrying labels lab[] (or NULL).  h > 0 fixes the cell
 * side (radius queries use about half the radius); h <= 0 chooses it from
 * the points themselves so that a point shares its cell with only a few
 * others even where points cluster.  Main thread only (uses R_alloc);
 * its loops over the points use nth OpenMP threads (the index does not
 * depend on nth). */
im_status im_grid_build(im_grid *g, const double *x, const double *y,
                        const int *lab, const R_xlen_t *sub, R_xlen_t n,
                        double h, int nth);

/* About how many indexed points lie within r of a point, were they spread
 * evenly over the bounding box of the index (at least 1, at most n). */
static inline double im_grid_pairs(const im_grid *g, double r) {
    double w = (double) g->ncx * g->h, hh = (double) g->ncy * g->h;
    double a = w * hh;
    double p = a > 0 ? (double) g->n * 3.14159265358979 * r * r / a
                     : (double) g->n;
    if (!(p < (double) g->n)) p = (double) g->n;
    return p < 1.0 ? 1.0 : p;
}

/* Query points q[0..nq-1] of (x, y) (q == NULL: the first nq points) in a
 * cache-friendly order: sorted by the grid cell they fall in (clamped to
 * the grid), with their coordinates copied in that order. Visiting
 * queries k = 0..n-1 in this order touches neighbouring memory; pos[k]
 * says which query (0..nq-1) it is and id[k] its point index, so results
 * are stored by pos[] and the order never changes an answer. Main thread
 * only (uses R_alloc). */
typedef struct {
    R_xlen_t n;
    R_xlen_t *pos;   /* position in the caller's query list */
    R_xlen_t *id;    /* point index (q[pos], or pos)        */
    double *x, *y;   /* coordinates, in this order           */
} im_queries;

void im_grid_queries(const im_grid *g, const double *x, const double *y,
                     const R_xlen_t *q, R_xlen_t nq, int nth,
                     im_queries *out);

/* Cell side for radius-r queries over n points spread over the box
 * [xmin, xmax] x [ymin, ymax]: r when few points fall within r (row
 * overhead dominates), r / 2 when many do (scanned area dominates). */
double im_grid_radius_cell(const double *x, const double *y,
                           const R_xlen_t *sub, R_xlen_t n, double r);

/* Mean number of points sharing a cell with a point of the index. */
double im_grid_crowding(const im_grid *g);

/* The k nearest indexed points to (qx, qy), skipping the point whose
 * original index is `skip` (-1: none).  Writes squared distances d2[] and
 * original indices id[] in increasing order of (distance, index); returns
 * how many were found (fewer than k when the index is small). */
int im_grid_knn(const im_grid *g, double qx, double qy, R_xlen_t skip,
                int k, double *d2, R_xlen_t *id);

/* The same with a hint: hint[0..*nhint-1] holds index positions of the
 * previous answer (caller-owned, length k, *nhint = 0 at first); when it
 * holds k points they bound the k-th distance, which makes queries far
 * from clustered points cheap. Updated with this query's answer. The
 * result never depends on the hint. */
int im_grid_knn_hint(const im_grid *g, double qx, double qy, R_xlen_t skip,
                     int k, double *d2, R_xlen_t *id, R_xlen_t *hint,
                     int *nhint);

/* ---- inline primitives ------------------------------------------------ */

/* Cell number of coordinate v along an axis (clamped to a safe range for
 * query points far outside the grid). */
static inline int64_t im_grid_cell(double origin, double inv_h, double v) {
    double c = (v - origin) * inv_h;
    if (c < -4.0e18) c = -4.0e18;
    if (c > 4.0e18) c = 4.0e18;
    /* floor without a libm call: truncate, then step down for negatives */
    int64_t k = (int64_t) c;
    return (double) k > c ? k - 1 : k;
}

static inline R_xlen_t im_lower_bound64(const int64_t *a, R_xlen_t n,
                                        int64_t v) {
    R_xlen_t lo = 0, hi = n;
    while (lo < hi) {
        R_xlen_t mid = lo + (hi - lo) / 2;
        if (a[mid] < v) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* Rows whose number lies in [cya, cyb]: row indices [*ra, *rb). */
static inline void im_grid_rows(const im_grid *g, int64_t cya, int64_t cyb,
                                R_xlen_t *ra, R_xlen_t *rb) {
    if (cya < 0) cya = 0;
    if (cyb > g->ncy - 1) cyb = g->ncy - 1;
    if (g->n == 0 || cyb < cya) { *ra = *rb = 0; return; }
    if (g->dense) { *ra = (R_xlen_t) cya; *rb = (R_xlen_t) cyb + 1; return; }
    *ra = im_lower_bound64(g->row_cy, g->nrow, cya);
    *rb = im_lower_bound64(g->row_cy, g->nrow, cyb + 1);
}

static inline int64_t im_grid_row_cy(const im_grid *g, R_xlen_t row) {
    return g->dense ? (int64_t) row : g->row_cy[row];
}

/* Points of row `row` in the cells cxa..cxb: the contiguous run [lo, hi). */
static inline void im_grid_span(const im_grid *g, R_xlen_t row, int64_t cxa,
                                int64_t cxb, R_xlen_t *lo, R_xlen_t *hi) {
    if (cxa < 0) cxa = 0;
    if (cxb > g->ncx - 1) cxb = g->ncx - 1;
    if (cxb < cxa) { *lo = *hi = 0; return; }
    if (g->dense) {
        R_xlen_t base = (R_xlen_t) row * (R_xlen_t) g->ncx;
        *lo = g->cell_start[base + cxa];
        *hi = g->cell_start[base + cxb + 1];
        return;
    }
    R_xlen_t c0 = g->row_first[row], c1 = g->row_first[row + 1];
    if (cxb < g->cell_cx[c0] || cxa > g->cell_cx[c1 - 1]) {
        *lo = *hi = 0;                    /* outside the row's extent */
        return;
    }
    R_xlen_t a = c0 + im_lower_bound64(g->cell_cx + c0, c1 - c0, cxa);
    R_xlen_t b = c0 + im_lower_bound64(g->cell_cx + c0, c1 - c0, cxb + 1);
    *lo = g->cell_pt[a];
    *hi = g->cell_pt[b];
}

/* Distance test with the package-wide meaning "sqrt(dx^2 + dy^2) <= r":
 * cheap comparisons of squares away from the boundary, the square root
 * only where rounding could decide. */
typedef struct { double r, lo2, hi2; } im_radius;

static inline im_radius im_radius_make(double r) {
    im_radius q;
    q.r = r;
    q.lo2 = r * r * (1.0 - 1e-12);
    q.hi2 = r * r * (1.0 + 1e-12);
    return q;
}
static inline int im_within(double d2, const im_radius *q) {
    /* branch-free in the common case: the one branch (a distance within
     * rounding of r) is almost never taken, so it is always predicted */
    int in = d2 <= q->lo2;
    int edge = (d2 > q->lo2) & (d2 <= q->hi2);
    if (edge) in = sqrt(d2) <= q->r;
    return in;
}

/* Iterator over the spans that can hold points within distance r of
 * (qx, qy); each row is trimmed to the chord of the disc. */
typedef struct {
    double qx, qy, r2, pad;
    R_xlen_t row, row_end;
} im_disc;

static inline void im_disc_begin(const im_grid *g, double qx, double qy,
                                 double r, im_disc *it) {
    it->qx = qx;
    it->qy = qy;
    it->r2 = r * r;
    /* slack for rounding in the cell assignment of points */
    it->pad = 1e-9 * (g->h + fabs(qx) + fabs(qy) + fabs(g->x0) +
                      fabs(g->y0)) + 1e-300;
    im_grid_rows(g, im_grid_cell(g->y0, g->inv_h, qy - r - it->pad),
                 im_grid_cell(g->y0, g->inv_h, qy + r + it->pad),
                 &it->row, &it->row_end);
}

static inline int im_disc_next(const im_grid *g, im_disc *it, R_xlen_t *lo,
                               R_xlen_t *hi) {
    while (it->row < it->row_end) {
        R_xlen_t row = it->row++;
        double blo = g->y0 + (double) im_grid_row_cy(g, row) * g->h;
        double bhi = blo + g->h;
        double dy = it->qy < blo ? blo - it->qy
                                 : (it->qy > bhi ? it->qy - bhi : 0.0);
        dy -= it->pad;
        if (dy < 0) dy = 0;
        double w2 = it->r2 - dy * dy;
        double w = (w2 > 0 ? sqrt(w2) : 0.0) + it->pad;
        im_grid_span(g, row, im_grid_cell(g->x0, g->inv_h, it->qx - w),
                     im_grid_cell(g->x0, g->inv_h, it->qx + w), lo, hi);
        if (*hi > *lo) return 1;
    }
    return 0;
}

#endif
