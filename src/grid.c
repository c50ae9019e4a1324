/* grid.c -- building and querying the spatial index (see grid.h). */
#include "grid.h"
#include <string.h>

#define IM_MAX_CELLS_AXIS 1073741824.0   /* 2^30 cells per axis */
#define IM_DENSE_FACTOR 4                 /* dense table: <= 4 cells/point */
#define IM_PAR_MIN 65536                  /* fewer points: loops stay serial */

/* LSD radix sort of (key, index) pairs by key (stable): 16 bits per pass,
 * or 8 for fewer than 65536 pairs, where clearing and summing 65536
 * counters per pass would cost more than the pairs themselves. */
static void radix_sort(uint64_t *key, R_xlen_t *idx, uint64_t *key2,
                       R_xlen_t *idx2, R_xlen_t n, uint64_t maxkey,
                       R_xlen_t *count /* [65536] */) {
    const int bits = n < 65536 ? 8 : 16;
    const int nb = 1 << bits;
    const uint64_t mask = (uint64_t) nb - 1;
    int shift = 0;
    while (shift < 64 && (shift == 0 || (maxkey >> shift) != 0)) {
        memset(count, 0, (size_t) nb * sizeof(R_xlen_t));
        for (R_xlen_t i = 0; i < n; i++) count[(key[i] >> shift) & mask]++;
        R_xlen_t s = 0;
        for (int b = 0; b < nb; b++) {
            R_xlen_t c = count[b];
            count[b] = s;
            s += c;
        }
        for (R_xlen_t i = 0; i < n; i++) {
            R_xlen_t p = count[(key[i] >> shift) & mask]++;
            key2[p] = key[i];
            idx2[p] = idx[i];
        }
        memcpy(key, key2, n * sizeof(uint64_t));
        memcpy(idx, idx2, n * sizeof(R_xlen_t));
        shift += bits;
    }
}

/* Fill the index for a given cell side.  Scratch arrays are reused between
 * attempts of the automatic cell-size search. */
static im_status grid_fill(im_grid *g, const double *x, const double *y,
                           const int *lab, const R_xlen_t *sub, R_xlen_t n,
                           double xmin, double ymin, double xmax,
                           double ymax, double h, uint64_t *key,
                           R_xlen_t *ord, uint64_t *key2, R_xlen_t *ord2,
                           R_xlen_t *count, int nth) {
    (void) nth;
    g->n = n;
    g->x0 = xmin;
    g->y0 = ymin;
    if ((xmax - xmin) / h > IM_MAX_CELLS_AXIS - 2 ||
        (ymax - ymin) / h > IM_MAX_CELLS_AXIS - 2)
        h = fmax(xmax - xmin, ymax - ymin) / (IM_MAX_CELLS_AXIS - 2);
    g->h = h;
    g->inv_h = 1.0 / h;
    g->ncx = im_grid_cell(xmin, g->inv_h, xmax) + 1;
    g->ncy = im_grid_cell(ymin, g->inv_h, ymax) + 1;
    double ncell = (double) g->ncx * (double) g->ncy;
    g->dense = ncell <= (double) IM_DENSE_FACTOR * (double) n + 1024.0;

    uint64_t maxkey = 0;
    const double inv_h = g->inv_h;
    const uint64_t ncx = (uint64_t) g->ncx;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (n > IM_PAR_MIN) \
    reduction(max:maxkey) schedule(static)
#endif
    for (R_xlen_t i = 0; i < n; i++) {
        R_xlen_t p = sub ? sub[i] : i;
        uint64_t cx = (uint64_t) im_grid_cell(xmin, inv_h, x[p]);
        uint64_t cy = (uint64_t) im_grid_cell(ymin, inv_h, y[p]);
        key[i] = cy * ncx + cx;
        if (key[i] > maxkey) maxkey = key[i];
        ord[i] = i;
    }

    if (g->dense) {
        /* counting sort straight into the cell table */
        R_xlen_t nc = (R_xlen_t) ncell;
        g->cell_start = (R_xlen_t *) R_alloc(nc + 1, sizeof(R_xlen_t));
        memset(g->cell_start, 0, (nc + 1) * sizeof(R_xlen_t));
        for (R_xlen_t i = 0; i < n; i++) g->cell_start[key[i] + 1]++;
        for (R_xlen_t c = 0; c < nc; c++)
            g->cell_start[c + 1] += g->cell_start[c];
        for (R_xlen_t i = 0; i < n; i++) {
            R_xlen_t p = g->cell_start[key[i]]++;
            ord2[p] = i;
        }
        /* the increments moved every start to the next cell's start */
        for (R_xlen_t c = nc; c > 0; c--)
            g->cell_start[c] = g->cell_start[c - 1];
        g->cell_start[0] = 0;
        memcpy(ord, ord2, n * sizeof(R_xlen_t));
        g->nrow = (R_xlen_t) g->ncy;
        g->row_cy = NULL;
        g->row_first = NULL;
        g->cell_cx = NULL;
        g->cell_pt = NULL;
    } else {
        radix_sort(key, ord, key2, ord2, n, maxkey, count);
        R_xlen_t ncells = 0, nrow = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if (i == 0 || key[i] != key[i - 1]) ncells++;
            if (i == 0 || key[i] / g->ncx != key[i - 1] / g->ncx) nrow++;
        }
        g->nrow = nrow;
        g->row_cy = (int64_t *) R_alloc(nrow > 0 ? nrow : 1, sizeof(int64_t));
        g->row_first = (R_xlen_t *) R_alloc(nrow + 1, sizeof(R_xlen_t));
        g->cell_cx = (int64_t *) R_alloc(ncells > 0 ? ncells : 1,
                                         sizeof(int64_t));
        g->cell_pt = (R_xlen_t *) R_alloc(ncells + 1, sizeof(R_xlen_t));
        R_xlen_t c = -1, r = -1;
        for (R_xlen_t i = 0; i < n; i++) {
            uint64_t cy = key[i] / g->ncx, cx = key[i] % g->ncx;
            if (i == 0 || cy != key[i - 1] / g->ncx) {
                r++;
                g->row_cy[r] = (int64_t) cy;
                g->row_first[r] = c + 1;
            }
            if (i == 0 || key[i] != key[i - 1]) {
                c++;
                g->cell_cx[c] = (int64_t) cx;
                g->cell_pt[c] = i;
            }
        }
        g->row_first[nrow] = ncells;
        g->cell_pt[ncells] = n;
        g->cell_start = NULL;
    }

    double *xs = g->xs, *ys = g->ys;
    R_xlen_t *gid = g->id;
    int *glab = g->lab;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (n > IM_PAR_MIN) schedule(static)
#endif
    for (R_xlen_t i = 0; i < n; i++) {
        R_xlen_t p = sub ? sub[ord[i]] : ord[i];
        xs[i] = x[p];
        ys[i] = y[p];
        gid[i] = p;
        if (glab) glab[i] = lab[p];
    }
    return IM_OK;
}

/* Mean number of points sharing a cell with a point, for cell side h,
 * without building the index (scratch arrays only). */
static double crowding_at(const double *x, const double *y,
                          const R_xlen_t *sub, R_xlen_t n, double xmin,
                          double ymin, double xmax, double ymax, double h,
                          uint64_t *key, R_xlen_t *ord, uint64_t *key2,
                          R_xlen_t *ord2, R_xlen_t *count, int nth) {
    double inv_h = 1.0 / h;
    uint64_t ncx = (uint64_t) im_grid_cell(xmin, inv_h, xmax) + 1;
    (void) ymax;
    (void) nth;
    uint64_t maxkey = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (n > IM_PAR_MIN) \
    reduction(max:maxkey) schedule(static)
#endif
    for (R_xlen_t i = 0; i < n; i++) {
        R_xlen_t p = sub ? sub[i] : i;
        uint64_t cx = (uint64_t) im_grid_cell(xmin, inv_h, x[p]);
        uint64_t cy = (uint64_t) im_grid_cell(ymin, inv_h, y[p]);
        key[i] = cy * ncx + cx;
        if (key[i] > maxkey) maxkey = key[i];
        ord[i] = i;
    }
    radix_sort(key, ord, key2, ord2, n, maxkey, count);
    double s = 0.0, run = 1.0;
    for (R_xlen_t i = 1; i <= n; i++) {
        if (i < n && key[i] == key[i - 1]) {
            run += 1.0;
        } else {
            s += run * run;
            run = 1.0;
        }
    }
    return s / (double) n;
}

double im_grid_radius_cell(const double *x, const double *y,
                           const R_xlen_t *sub, R_xlen_t n, double r) {
    if (!(r > 0) || n == 0) return 0.0;       /* automatic */
    double xmin = R_PosInf, ymin = R_PosInf, xmax = R_NegInf, ymax = R_NegInf;
    for (R_xlen_t i = 0; i < n; i++) {
        R_xlen_t p = sub ? sub[i] : i;
        if (x[p] < xmin) xmin = x[p];
        if (x[p] > xmax) xmax = x[p];
        if (y[p] < ymin) ymin = y[p];
        if (y[p] > ymax) ymax = y[p];
    }
    double area = (xmax - xmin) * (ymax - ymin);
    double expected = area > 0 ? (double) n / area * M_PI * r * r : 1e9;
    return expected < 30.0 ? r : r / 2.0;
}

double im_grid_crowding(const im_grid *g) {
    if (g->n == 0) return 0.0;
    double s = 0.0;
    if (g->dense) {
        R_xlen_t nc = (R_xlen_t) g->ncx * (R_xlen_t) g->ncy;
        for (R_xlen_t c = 0; c < nc; c++) {
            double k = (double) (g->cell_start[c + 1] - g->cell_start[c]);
            s += k * k;
        }
    } else {
        R_xlen_t nc = g->row_first[g->nrow];
        for (R_xlen_t c = 0; c < nc; c++) {
            double k = (double) (g->cell_pt[c + 1] - g->cell_pt[c]);
            s += k * k;
        }
    }
    return s / (double) g->n;
}

im_status im_grid_build(im_grid *g, const double *x, const double *y,
                        const int *lab, const R_xlen_t *sub, R_xlen_t n,
                        double h, int nth) {
    (void) nth;
    memset(g, 0, sizeof(*g));
    R_xlen_t nn = n > 0 ? n : 1;
    g->xs = (double *) R_alloc(nn, sizeof(double));
    g->ys = (double *) R_alloc(nn, sizeof(double));
    g->id = (R_xlen_t *) R_alloc(nn, sizeof(R_xlen_t));
    g->lab = lab ? (int *) R_alloc(nn, sizeof(int)) : NULL;
    if (n == 0) {
        g->h = 1.0;
        g->inv_h = 1.0;
        g->ncx = g->ncy = 0;
        g->dense = 1;
        g->cell_start = (R_xlen_t *) R_alloc(1, sizeof(R_xlen_t));
        g->cell_start[0] = 0;
        return IM_OK;
    }

    double xmin = R_PosInf, ymin = R_PosInf, xmax = R_NegInf, ymax = R_NegInf;
    int bad = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (n > IM_PAR_MIN) \
    reduction(min:xmin, ymin) reduction(max:xmax, ymax) reduction(|:bad) \
    schedule(static)
#endif
    for (R_xlen_t i = 0; i < n; i++) {
        R_xlen_t p = sub ? sub[i] : i;
        if (!R_FINITE(x[p]) || !R_FINITE(y[p])) {
            bad = 1;
            continue;
        }
        if (x[p] < xmin) xmin = x[p];
        if (x[p] > xmax) xmax = x[p];
        if (y[p] < ymin) ymin = y[p];
        if (y[p] > ymax) ymax = y[p];
    }
    if (bad) return IM_ERR_INPUT;

    uint64_t *key = (uint64_t *) R_alloc(nn, sizeof(uint64_t));
    uint64_t *key2 = (uint64_t *) R_alloc(nn, sizeof(uint64_t));
    R_xlen_t *ord = (R_xlen_t *) R_alloc(nn, sizeof(R_xlen_t));
    R_xlen_t *ord2 = (R_xlen_t *) R_alloc(nn, sizeof(R_xlen_t));
    R_xlen_t *count = (R_xlen_t *) R_alloc(65536, sizeof(R_xlen_t));

    double ext = fmax(xmax - xmin, ymax - ymin);
    if (h > 0) {
        return grid_fill(g, x, y, lab, sub, n, xmin, ymin, xmax, ymax, h, key,
                         ord, key2, ord2, count, nth);
    }

    /* Automatic cell side: start from about two points per cell of the
     * bounding box, then halve while points crowd into few cells
     * (clusters, or a few far-away points inflating the box). Duplicated
     * points share a cell at any size: the crowding reached at the finest
     * size is the floor that halving cannot beat, so stop near it. */
    double area = (xmax - xmin) * (ymax - ymin);
    if (!(area > 0)) area = ext * ext;
    h = area > 0 ? sqrt(2.0 * area / (double) n) : 1.0;
    if (!(h > 0)) h = 1.0;
    double hmin = ext > 0 ? ext / (IM_MAX_CELLS_AXIS / 4) : h;
    if (h < hmin) h = hmin;
    double crowd = crowding_at(x, y, sub, n, xmin, ymin, xmax, ymax, h, key,
                               ord, key2, ord2, count, nth);
    if (crowd > 6.0 && h / 2.0 >= hmin) {
        double floor_crowd = crowding_at(x, y, sub, n, xmin, ymin, xmax,
                                         ymax, hmin, key, ord, key2, ord2,
                                         count, nth);
        double target = fmax(6.0, 1.5 * floor_crowd);
        while (crowd > target && h / 2.0 >= hmin) {
            h /= 2.0;
            crowd = crowding_at(x, y, sub, n, xmin, ymin, xmax, ymax, h, key,
                                ord, key2, ord2, count, nth);
        }
    }
    return grid_fill(g, x, y, lab, sub, n, xmin, ymin, xmax, ymax, h, key,
                     ord, key2, ord2, count, nth);
}

void im_grid_queries(const im_grid *g, const double *x, const double *y,
                     const R_xlen_t *q, R_xlen_t nq, int nth,
                     im_queries *out) {
    (void) nth;
    R_xlen_t nn = nq > 0 ? nq : 1;
    R_xlen_t *ord = (R_xlen_t *) R_alloc(nn, sizeof(R_xlen_t));
    R_xlen_t *ord2 = (R_xlen_t *) R_alloc(nn, sizeof(R_xlen_t));
    uint64_t *key = (uint64_t *) R_alloc(nn, sizeof(uint64_t));
    uint64_t *key2 = (uint64_t *) R_alloc(nn, sizeof(uint64_t));
    R_xlen_t *count = (R_xlen_t *) R_alloc(65536, sizeof(R_xlen_t));
    uint64_t maxkey = 0;
    int64_t ncx = g->ncx > 0 ? g->ncx : 1, ncy = g->ncy > 0 ? g->ncy : 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (nq > IM_PAR_MIN) \
    reduction(max:maxkey) schedule(static)
#endif
    for (R_xlen_t i = 0; i < nq; i++) {
        R_xlen_t p = q ? q[i] : i;
        int64_t cx = im_grid_cell(g->x0, g->inv_h, x[p]);
        int64_t cy = im_grid_cell(g->y0, g->inv_h, y[p]);
        if (cx < 0) cx = 0;
        if (cx > ncx - 1) cx = ncx - 1;
        if (cy < 0) cy = 0;
        if (cy > ncy - 1) cy = ncy - 1;
        key[i] = (uint64_t) cy * (uint64_t) ncx + (uint64_t) cx;
        if (key[i] > maxkey) maxkey = key[i];
        ord[i] = i;
    }
    radix_sort(key, ord, key2, ord2, nq, maxkey, count);
    /* reuse the scratch: key2 -> x, ord2 -> id */
    out->n = nq;
    out->pos = ord;
    out->id = ord2;
    out->x = (double *) key2;
    out->y = (double *) R_alloc(nn, sizeof(double));
    R_xlen_t *oid = out->id;
    double *ox = out->x, *oy = out->y;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (nq > IM_PAR_MIN) schedule(static)
#endif
    for (R_xlen_t k = 0; k < nq; k++) {
        R_xlen_t p = q ? q[ord[k]] : ord[k];
        oid[k] = p;
        ox[k] = x[p];
        oy[k] = y[p];
    }
}

/* Insert candidate point at index position pos (squared distance d2) into
 * the sorted list of the best k, ordered by (distance, original index). */
static inline void knn_insert(const im_grid *g, double *bd, R_xlen_t *bp,
                              int *found, int k, double d2, R_xlen_t pos) {
    int m = *found;
    R_xlen_t id = g->id[pos];
    if (m == k) {
        if (d2 > bd[k - 1] || (d2 == bd[k - 1] && id > g->id[bp[k - 1]]))
            return;
        m = k - 1;
    } else {
        (*found)++;
    }
    while (m > 0 && (bd[m - 1] > d2 ||
                     (bd[m - 1] == d2 && g->id[bp[m - 1]] > id))) {
        bd[m] = bd[m - 1];
        bp[m] = bp[m - 1];
        m--;
    }
    bd[m] = d2;
    bp[m] = pos;
}

/* Scan the cells of box a minus box b (b may be empty: b->x1 < b->x0),
 * stopping as soon as k candidates are in hand (they only bound the
 * k-th distance; the exact search follows). Returns 1 if it stopped. */
typedef struct { int64_t x0, x1, y0, y1; } im_box;

static inline int ring_scan(const im_grid *g, const im_box *a,
                            const im_box *b, double qx, double qy,
                            R_xlen_t skip, int k, double *bd, R_xlen_t *bi,
                            int *found) {
    R_xlen_t ra, rb;
    im_grid_rows(g, a->y0, a->y1, &ra, &rb);
    int bempty = b->x1 < b->x0 || b->y1 < b->y0;
    for (R_xlen_t row = ra; row < rb; row++) {
        int64_t cy = im_grid_row_cy(g, row);
        int64_t seg[4];
        int nseg;
        if (bempty || cy < b->y0 || cy > b->y1) {
            seg[0] = a->x0; seg[1] = a->x1; nseg = 1;
        } else {
            seg[0] = a->x0; seg[1] = b->x0 - 1;
            seg[2] = b->x1 + 1; seg[3] = a->x1; nseg = 2;
        }
        for (int s = 0; s < nseg; s++) {
            R_xlen_t lo, hi;
            im_grid_span(g, row, seg[2 * s], seg[2 * s + 1], &lo, &hi);
            for (R_xlen_t j = lo; j < hi; j++) {
                if (g->id[j] == skip) continue;
                double dx = g->xs[j] - qx, dy = g->ys[j] - qy;
                knn_insert(g, bd, bi, found, k, dx * dx + dy * dy, j);
                if (*found == k) return 1;
            }
        }
    }
    return 0;
}

static inline void box_clamp(const im_grid *g, im_box *b) {
    if (b->x0 < 0) b->x0 = 0;
    if (b->y0 < 0) b->y0 = 0;
    if (b->x1 > g->ncx - 1) b->x1 = g->ncx - 1;
    if (b->y1 > g->ncy - 1) b->y1 = g->ncy - 1;
}

/* Scan row `row` within the chord of the disc of squared radius *r2 around
 * (qx, qy); *r2 shrinks to the k-th distance once k points are held. */
static inline void disc_row_scan(const im_grid *g, R_xlen_t row, double dy,
                                 double qx, double qy, double pad,
                                 R_xlen_t skip, int k, double *bd,
                                 R_xlen_t *bi, int *found, double *r2) {
    double w2 = *r2 - dy * dy;
    double w = (w2 > 0 ? sqrt(w2) : 0.0) + pad;
    R_xlen_t lo, hi;
    im_grid_span(g, row, im_grid_cell(g->x0, g->inv_h, qx - w),
                 im_grid_cell(g->x0, g->inv_h, qx + w), &lo, &hi);
    for (R_xlen_t j = lo; j < hi; j++) {
        double dx = g->xs[j] - qx, dyy = g->ys[j] - qy;
        double d2 = dx * dx + dyy * dyy;
        if (d2 > *r2 || g->id[j] == skip) continue;
        knn_insert(g, bd, bi, found, k, d2, j);
        if (*found == k) *r2 = bd[k - 1];
    }
}

/* Vertical distance from qy to the band of row cy (0 inside), less pad. */
static inline double row_gap(const im_grid *g, int64_t cy, double qy,
                             double pad) {
    double blo = g->y0 + (double) cy * g->h, bhi = blo + g->h;
    double d = qy < blo ? blo - qy : (qy > bhi ? qy - bhi : 0.0);
    d -= pad;
    return d > 0 ? d : 0.0;
}

int im_grid_knn(const im_grid *g, double qx, double qy, R_xlen_t skip,
                int k, double *bd, R_xlen_t *bi) {
    return im_grid_knn_hint(g, qx, qy, skip, k, bd, bi, NULL, NULL);
}

int im_grid_knn_hint(const im_grid *g, double qx, double qy, R_xlen_t skip,
                     int k, double *bd, R_xlen_t *bi, R_xlen_t *hint,
                     int *nhint) {
    int found = 0;
    if (g->n == 0 || k < 1) return 0;
    int64_t qcx = im_grid_cell(g->x0, g->inv_h, qx);
    int64_t qcy = im_grid_cell(g->y0, g->inv_h, qy);
    double bound2 = R_PosInf;
    /* The previous query's answer (a nearby query, when queries run in
     * index order) bounds the k-th distance at once. */
    if (hint && nhint && *nhint == k) {
        bound2 = 0.0;
        for (int m = 0; m < k; m++) {
            R_xlen_t p = hint[m];
            if (g->id[p] == skip) { bound2 = R_PosInf; break; }
            double dx = g->xs[p] - qx, dy = g->ys[p] - qy;
            double d2 = dx * dx + dy * dy;
            if (d2 > bound2) bound2 = d2;
        }
    }
    if (!(bound2 < R_PosInf)) {
        /* Phase 1: growing square rings around the query cell until k
         * points are in hand: an upper bound on the k-th distance. */
        int64_t L = 0;
        if (-qcx > L) L = -qcx;
        if (qcx - (g->ncx - 1) > L) L = qcx - (g->ncx - 1);
        if (-qcy > L) L = -qcy;
        if (qcy - (g->ncy - 1) > L) L = qcy - (g->ncy - 1);
        im_box old = {0, -1, 0, -1};
        int64_t step = 1;
        for (;;) {
            im_box nb = {qcx - L, qcx + L, qcy - L, qcy + L};
            box_clamp(g, &nb);
            if (ring_scan(g, &nb, &old, qx, qy, skip, k, bd, bi, &found))
                break;
            old = nb;
            if (nb.x0 == 0 && nb.y0 == 0 && nb.x1 == g->ncx - 1 &&
                nb.y1 == g->ncy - 1)
                break;                    /* fewer than k points exist */
            L += step;
            step *= 2;
        }
        bound2 = found == k ? bd[k - 1] : R_PosInf;
    }
    /* Phase 2: the exact search, rows in order of their distance from the
     * query, each trimmed to the chord of the shrinking disc. */
    double pad = 1e-9 * (g->h + fabs(qx) + fabs(qy) + fabs(g->x0) +
                         fabs(g->y0));
    double r2 = bound2 < R_PosInf ? bound2 * (1.0 + 1e-12) + pad * pad
                                  : R_PosInf;
    found = 0;
    /* rows are numbered 0..nrow-1 in increasing cy; `up` starts at the
     * first row at or above the query's row, `down` just below it */
    R_xlen_t nrow = g->dense ? (R_xlen_t) g->ncy : g->nrow, up;
    if (g->dense) {
        up = qcy < 0 ? 0 : (qcy > g->ncy ? (R_xlen_t) g->ncy : (R_xlen_t) qcy);
    } else {
        up = im_lower_bound64(g->row_cy, g->nrow, qcy);
    }
    R_xlen_t down = up - 1;
    for (;;) {
        double gu = up < nrow ? row_gap(g, im_grid_row_cy(g, up), qy, pad)
                              : R_PosInf;
        double gd = down >= 0 ? row_gap(g, im_grid_row_cy(g, down), qy, pad)
                              : R_PosInf;
        if (gu <= gd) {
            if (!(gu < R_PosInf) || gu * gu > r2) break;
            disc_row_scan(g, up, gu, qx, qy, pad, skip, k, bd, bi, &found,
                          &r2);
            up++;
        } else {
            if (gd * gd > r2) break;
            disc_row_scan(g, down, gd, qx, qy, pad, skip, k, bd, bi, &found,
                          &r2);
            down--;
        }
    }
    if (hint && nhint) {
        for (int m = 0; m < found; m++) hint[m] = bi[m];
        *nhint = found;
    }
    for (int m = 0; m < found; m++) bi[m] = g->id[bi[m]];
    return found;
}
