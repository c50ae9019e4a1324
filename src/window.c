/* window.c -- tissue-window geometry (see window.h): the edge grid, point
 * in window, distance to the window edge, the fraction of a circle inside
 * the window (Ripley's isotropic correction), the area of W intersected
 * with a shifted copy of W (translation correction), the concave tissue
 * mask, and the ffi_window_* entry points. */
#include "window.h"
#include "util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- small geometry ---------------------------------------------------- */

/* Twice the signed area of the triangle (a, b, c): > 0 when c is on the
 * left of a -> b. */
static inline double orient(double ax, double ay, double bx, double by,
                            double cx, double cy) {
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
}

/* Squared distance from (px, py) to the segment (ax, ay) - (bx, by). */
static inline double seg_dist2(double px, double py, double ax, double ay,
                               double bx, double by) {
    double ex = bx - ax, ey = by - ay;
    double qx = px - ax, qy = py - ay;
    double l2 = ex * ex + ey * ey;
    double t = l2 > 0 ? (qx * ex + qy * ey) / l2 : 0.0;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    double dx = qx - t * ex, dy = qy - t * ey;
    return dx * dx + dy * dy;
}

/* Is (px, py) on the closed segment a - b?  Exact test in floating point,
 * the package-wide meaning of "on the boundary". */
static inline int on_segment(double px, double py, double ax, double ay,
                             double bx, double by) {
    if (px < (ax < bx ? ax : bx) || px > (ax < bx ? bx : ax) ||
        py < (ay < by ? ay : by) || py > (ay < by ? by : ay))
        return 0;
    return orient(ax, ay, bx, by, px, py) == 0.0;
}

/* Does the edge a - b cross the segment p - q?  Vertices on the line p-q
 * count as lying on its right (half-open rule), so the parity of crossings
 * along p -> q is consistent for points p, q off the boundary. */
static inline int seg_cross(double px, double py, double qx, double qy,
                            double ax, double ay, double bx, double by) {
    int sa = orient(px, py, qx, qy, ax, ay) > 0;
    int sb = orient(px, py, qx, qy, bx, by) > 0;
    if (sa == sb) return 0;
    double op = orient(ax, ay, bx, by, px, py);
    double oq = orient(ax, ay, bx, by, qx, qy);
    return (op > 0 && oq < 0) || (op < 0 && oq > 0);
}

/* ---- growable scratch of doubles (kernels; no R API) ------------------- */

#define IM_STACK_BUF 256

typedef struct {
    double *v;
    size_t n, cap;
    int heap, failed;
} dbuf;

static inline void dbuf_init(dbuf *b, double *stack) {
    b->v = stack;
    b->n = 0;
    b->cap = IM_STACK_BUF;
    b->heap = 0;
    b->failed = 0;
}

static void dbuf_push(dbuf *b, double a) {
    if (b->failed) return;
    if (b->n == b->cap) {
        size_t nc = 2 * b->cap;
        double *nv = (double *) malloc(nc * sizeof(double));
        if (!nv) { b->failed = 1; return; }
        memcpy(nv, b->v, b->n * sizeof(double));
        if (b->heap) free(b->v);
        b->v = nv;
        b->cap = nc;
        b->heap = 1;
    }
    b->v[b->n++] = a;
}

static inline void dbuf_free(dbuf *b) {
    if (b->heap) free(b->v);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static void sort_doubles(double *v, size_t n) {
    if (n < 24) {
        for (size_t i = 1; i < n; i++) {
            double t = v[i];
            size_t j = i;
            while (j > 0 && v[j - 1] > t) { v[j] = v[j - 1]; j--; }
            v[j] = t;
        }
    } else {
        qsort(v, n, sizeof(double), cmp_double);
    }
}

/* ---- grid arithmetic --------------------------------------------------- */

static inline int cell_coord(double origin, double inv_h, double v, int n) {
    double c = floor((v - origin) * inv_h);
    if (!(c >= 0)) return 0;            /* also NaN */
    if (c > (double) (n - 1)) return n - 1;
    return (int) c;
}

/* Columns [*ca, *cb] of row `row` of grid g that the segment a - b passes
 * through (with the rounding slack g->pad); returns 0 if it misses the
 * row. */
static int seg_row_span(const im_egrid *g, double ax, double ay, double bx,
                        double by, int row, int *ca, int *cb) {
    double yl = g->gy0 + (double) row * g->h - g->pad;
    double yh = yl + g->h + 2.0 * g->pad;
    double y0 = ay < by ? ay : by, y1 = ay < by ? by : ay;
    if (y1 < yl || y0 > yh) return 0;
    double xl, xr;
    if (ay == by) {
        xl = ax < bx ? ax : bx;
        xr = ax < bx ? bx : ax;
    } else {
        double lo = y0 > yl ? y0 : yl, hi = y1 < yh ? y1 : yh;
        double k = (bx - ax) / (by - ay);
        double xa = ax + (lo - ay) * k, xb = ax + (hi - ay) * k;
        xl = xa < xb ? xa : xb;
        xr = xa < xb ? xb : xa;
    }
    *ca = cell_coord(g->gx0, g->inv_h, xl - g->pad, g->ncx);
    *cb = cell_coord(g->gx0, g->inv_h, xr + g->pad, g->ncx);
    return 1;
}

static inline void seg_rows(const im_egrid *g, double ay, double by,
                            int *ra, int *rb) {
    double y0 = ay < by ? ay : by, y1 = ay < by ? by : ay;
    *ra = cell_coord(g->gy0, g->inv_h, y0 - g->pad, g->ncy);
    *rb = cell_coord(g->gy0, g->inv_h, y1 + g->pad, g->ncy);
}

static inline R_xlen_t grid_cell(const im_egrid *g, double x, double y) {
    return (R_xlen_t) cell_coord(g->gy0, g->inv_h, y, g->ncy) * g->ncx +
           cell_coord(g->gx0, g->inv_h, x, g->ncx);
}

/* ---- 1-d squared distance transform (Felzenszwalb & Huttenlocher) ------ */

/* d[q] = min_p (q - p)^2 + f[p] over p with finite f[p]; arg[q] = that p
 * (arg may be NULL).  Work arrays v[n], z[n + 1].  No finite f: d = Inf,
 * arg = -1. */
static void edt_1d(const double *f, int n, double *d, int *arg, int *v,
                   double *z) {
    int k = -1;
    for (int q = 0; q < n; q++) {
        if (!R_FINITE(f[q])) continue;
        double fq = f[q] + (double) q * q, s = 0.0;
        while (k >= 0) {
            int p = v[k];
            s = (fq - (f[p] + (double) p * p)) / (2.0 * (q - p));
            if (s <= z[k]) k--; else break;
        }
        k++;
        v[k] = q;
        z[k] = k == 0 ? -INFINITY : s;
        z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (int q = 0; q < n; q++) {
            d[q] = INFINITY;
            if (arg) arg[q] = -1;
        }
        return;
    }
    int j = 0;
    for (int q = 0; q < n; q++) {
        while (z[j + 1] < q) j++;
        double dq = (double) (q - v[j]);
        d[q] = dq * dq + f[v[j]];
        if (arg) arg[q] = v[j];
    }
}

/* ---- building the window ----------------------------------------------- */

/* Register every edge in the cells of g it passes through: counting pass
 * (pos == NULL, returns the total) or filling pass. */
static R_xlen_t grid_register(const im_window *w, im_egrid *g,
                              R_xlen_t *pos) {
    R_xlen_t total = 0;
    for (int i = 0; i < w->nv; i++) {
        int j = w->next[i], ra, rb;
        double ax = w->x[i], ay = w->y[i], bx = w->x[j], by = w->y[j];
        seg_rows(g, ay, by, &ra, &rb);
        for (int r = ra; r <= rb; r++) {
            int ca, cb;
            if (!seg_row_span(g, ax, ay, bx, by, r, &ca, &cb)) continue;
            total += cb - ca + 1;
            if (!pos) continue;
            for (int c = ca; c <= cb; c++) {
                R_xlen_t cell = (R_xlen_t) r * g->ncx + c;
                g->cell_edge[pos[cell]++] = i;
            }
        }
    }
    return total;
}

static void grid_dims(const im_window *w, im_egrid *g, double h,
                      double scale) {
    g->h = h;
    g->inv_h = 1.0 / h;
    g->gx0 = w->xmin - h;
    g->gy0 = w->ymin - h;
    g->ncx = (int) floor((w->xmax - g->gx0) * g->inv_h) + 2;
    g->ncy = (int) floor((w->ymax - g->gy0) * g->inv_h) + 2;
    g->pad = 1e-9 * (h + scale);
}

/* Build grid g with cell side about h (larger if the grid would have more
 * than max_cells cells or too many registrations of long edges). */
static void grid_build(const im_window *w, im_egrid *g, double h,
                       double max_cells) {
    double scale = fabs(w->xmin) + fabs(w->xmax) + fabs(w->ymin) +
                   fabs(w->ymax);
    double ext = fmax(w->xmax - w->xmin, w->ymax - w->ymin);
    if (!(h > 0)) h = ext > 0 ? ext : (scale > 0 ? scale : 1.0);
    if (h < ext * 1e-5) h = ext * 1e-5;
    /* bounded: h grows by at least 1.25 per attempt from >= ext * 1e-5,
     * so a few dozen attempts reach h >= ext (a 3 x 3 grid, always
     * accepted below); the coordinates are bounded (IM_MAX_COORD), so
     * the cell counts are finite */
    for (int attempt = 0;; attempt++) {
        if (attempt >= 100 || !(h < 1e300)) h = ext + scale + 1.0;
        grid_dims(w, g, h, scale);
        double ncell = (double) g->ncx * (double) g->ncy;
        if (attempt >= 100) break;
        if (!(ncell <= max_cells)) { h *= 1.25; continue; }
        R_xlen_t total = grid_register(w, g, NULL);
        if ((double) total > 16.0 * w->nv + 2.0 * ncell + 1024) {
            h *= 1.5;
            continue;
        }
        break;
    }
    R_xlen_t nc = (R_xlen_t) g->ncx * g->ncy;
    g->cell_start = (R_xlen_t *) R_alloc(nc + 1, sizeof(R_xlen_t));
    for (R_xlen_t c = 0; c <= nc; c++) g->cell_start[c] = 0;
    for (int i = 0; i < w->nv; i++) {
        int j = w->next[i], ra, rb;
        seg_rows(g, w->y[i], w->y[j], &ra, &rb);
        for (int r = ra; r <= rb; r++) {
            int ca, cb;
            if (!seg_row_span(g, w->x[i], w->y[i], w->x[j], w->y[j], r, &ca,
                              &cb))
                continue;
            for (int c = ca; c <= cb; c++)
                g->cell_start[(R_xlen_t) r * g->ncx + c + 1]++;
        }
    }
    for (R_xlen_t c = 0; c < nc; c++) g->cell_start[c + 1] += g->cell_start[c];
    g->cell_edge = (int *) R_alloc(g->cell_start[nc] > 0 ? g->cell_start[nc]
                                                         : 1, sizeof(int));
    R_xlen_t *pos = (R_xlen_t *) R_alloc(nc, sizeof(R_xlen_t));
    for (R_xlen_t c = 0; c < nc; c++) pos[c] = g->cell_start[c];
    grid_register(w, g, pos);
    g->nz_next = NULL;
    g->near_cell = NULL;
}

/* Crossings of the segment p - q with the edges listed in cells c1 and c2
 * (c2 < 0: none) of the fine grid, each edge counted once (stamp[] marks
 * those of c1). */
static int cross_count(const im_window *w, double px, double py, double qx,
                       double qy, R_xlen_t c1, R_xlen_t c2, int *stamp,
                       int mark) {
    const im_egrid *g = &w->fine;
    int n = 0;
    for (R_xlen_t k = g->cell_start[c1]; k < g->cell_start[c1 + 1]; k++) {
        int e = g->cell_edge[k], f = w->next[e];
        stamp[e] = mark;
        n += seg_cross(px, py, qx, qy, w->x[e], w->y[e], w->x[f], w->y[f]);
    }
    if (c2 >= 0) {
        for (R_xlen_t k = g->cell_start[c2]; k < g->cell_start[c2 + 1];
             k++) {
            int e = g->cell_edge[k], f = w->next[e];
            if (stamp[e] == mark) continue;
            n += seg_cross(px, py, qx, qy, w->x[e], w->y[e], w->x[f],
                           w->y[f]);
        }
    }
    return n;
}

/* Reference point of each fine cell: a point of the cell far from its
 * edges, and whether it is inside, found by walking along each row from a
 * point left of the window. */
static void grid_references(im_window *w) {
    static const double cand[13][2] = {
        {0.5, 0.5}, {0.381966, 0.381966}, {0.618034, 0.381966},
        {0.381966, 0.618034}, {0.618034, 0.618034}, {0.25, 0.5},
        {0.75, 0.5}, {0.5, 0.25}, {0.5, 0.75}, {0.2, 0.2}, {0.8, 0.2},
        {0.2, 0.8}, {0.8, 0.8}
    };
    const im_egrid *g = &w->fine;
    R_xlen_t nc = (R_xlen_t) g->ncx * g->ncy;
    w->ref_x = (double *) R_alloc(nc, sizeof(double));
    w->ref_y = (double *) R_alloc(nc, sizeof(double));
    w->ref_in = (unsigned char *) R_alloc(nc, sizeof(unsigned char));
    for (int r = 0; r < g->ncy; r++) {
        for (int c = 0; c < g->ncx; c++) {
            R_xlen_t cell = (R_xlen_t) r * g->ncx + c;
            double bx = g->gx0 + c * g->h, by = g->gy0 + r * g->h;
            double best = -1.0, rx = bx + 0.5 * g->h, ry = by + 0.5 * g->h;
            if (g->cell_start[cell + 1] > g->cell_start[cell]) {
                for (int k = 0; k < 13; k++) {
                    double px = bx + cand[k][0] * g->h;
                    double py = by + cand[k][1] * g->h;
                    double dmin = INFINITY;
                    for (R_xlen_t m = g->cell_start[cell];
                         m < g->cell_start[cell + 1]; m++) {
                        int e = g->cell_edge[m], f = w->next[e];
                        double d2 = seg_dist2(px, py, w->x[e], w->y[e],
                                              w->x[f], w->y[f]);
                        if (d2 < dmin) dmin = d2;
                    }
                    if (dmin > best) { best = dmin; rx = px; ry = py; }
                    if (best >= 0.01 * g->h * g->h) break;
                }
            }
            w->ref_x[cell] = rx;
            w->ref_y[cell] = ry;
        }
    }
    int *stamp = (int *) R_alloc(w->nv, sizeof(int));
    for (int i = 0; i < w->nv; i++) stamp[i] = -1;
    int mark = 0;
    for (int r = 0; r < g->ncy; r++) {
        R_xlen_t c0 = (R_xlen_t) r * g->ncx;
        int par = cross_count(w, g->gx0 - g->h, w->ref_y[c0], w->ref_x[c0],
                              w->ref_y[c0], c0, -1, stamp, mark++) & 1;
        w->ref_in[c0] = (unsigned char) par;
        for (int c = 1; c < g->ncx; c++) {
            R_xlen_t a = c0 + c - 1, b = c0 + c;
            par ^= cross_count(w, w->ref_x[a], w->ref_y[a], w->ref_x[b],
                               w->ref_y[b], a, b, stamp, mark++) & 1;
            w->ref_in[b] = (unsigned char) par;
        }
    }
}

/* Non-empty cells per row of g, and a nearest non-empty cell of every cell
 * (exact Euclidean transform on cell centres). */
static void grid_near(im_egrid *g) {
    int ncx = g->ncx, ncy = g->ncy;
    R_xlen_t nc = (R_xlen_t) ncx * ncy;
    g->nz_next = (int *) R_alloc(nc, sizeof(int));
    for (int r = 0; r < ncy; r++) {
        int nxt = ncx;
        for (int c = ncx - 1; c >= 0; c--) {
            R_xlen_t cell = (R_xlen_t) r * ncx + c;
            if (g->cell_start[cell + 1] > g->cell_start[cell]) nxt = c;
            g->nz_next[cell] = nxt;
        }
    }

    int nmax = ncx > ncy ? ncx : ncy;
    double *f = (double *) R_alloc(nmax, sizeof(double));
    double *d = (double *) R_alloc(nmax, sizeof(double));
    double *z = (double *) R_alloc(nmax + 1, sizeof(double));
    int *v = (int *) R_alloc(nmax, sizeof(int));
    int *arg = (int *) R_alloc(nmax, sizeof(int));
    double *gd = (double *) R_alloc(nc, sizeof(double));
    int *gcol = (int *) R_alloc(nc, sizeof(int));
    for (int r = 0; r < ncy; r++) {
        for (int c = 0; c < ncx; c++) {
            R_xlen_t cell = (R_xlen_t) r * ncx + c;
            f[c] = g->cell_start[cell + 1] > g->cell_start[cell] ? 0.0
                                                                 : INFINITY;
        }
        edt_1d(f, ncx, d, arg, v, z);
        for (int c = 0; c < ncx; c++) {
            gd[(R_xlen_t) r * ncx + c] = d[c];
            gcol[(R_xlen_t) r * ncx + c] = arg[c];
        }
    }
    g->near_cell = (int *) R_alloc(nc, sizeof(int));
    for (int c = 0; c < ncx; c++) {
        for (int r = 0; r < ncy; r++) f[r] = gd[(R_xlen_t) r * ncx + c];
        edt_1d(f, ncy, d, arg, v, z);
        for (int r = 0; r < ncy; r++) {
            int rr = arg[r];   /* every window has edges: rr >= 0 */
            g->near_cell[(R_xlen_t) r * ncx + c] =
                rr * ncx + gcol[(R_xlen_t) rr * ncx + c];
        }
    }
}

/* Runs of consecutive edges with their bounding boxes and Green sums, and
 * the summed-area table of non-empty fine cells (for overlaps). */
#define IM_CHAIN 8
static void window_chains(im_window *w) {
    const im_egrid *g = &w->fine;
    R_xlen_t n1 = (R_xlen_t) (g->ncx + 1) * (g->ncy + 1);
    w->nz_sat = (int *) R_alloc(n1, sizeof(int));
    for (int c = 0; c <= g->ncx; c++) w->nz_sat[c] = 0;
    for (int r = 0; r < g->ncy; r++) {
        int *row = w->nz_sat + (R_xlen_t) (r + 1) * (g->ncx + 1);
        const int *up = row - (g->ncx + 1);
        row[0] = 0;
        int acc = 0;
        for (int c = 0; c < g->ncx; c++) {
            R_xlen_t cell = (R_xlen_t) r * g->ncx + c;
            acc += g->cell_start[cell + 1] > g->cell_start[cell];
            row[c + 1] = up[c + 1] + acc;
        }
    }
    int nchain = 0;
    for (int r = 0; r < w->nring; r++) {
        int len = w->ring_start[r + 1] - w->ring_start[r];
        nchain += (len + IM_CHAIN - 1) / IM_CHAIN;
    }
    w->nchain = nchain;
    w->chain_start = (int *) R_alloc(nchain + 1, sizeof(int));
    w->chain_box = (double *) R_alloc(4 * (size_t) nchain, sizeof(double));
    w->chain_sum = (double *) R_alloc(3 * (size_t) nchain, sizeof(double));
    double cx = 0.5 * (w->xmin + w->xmax), cy = 0.5 * (w->ymin + w->ymax);
    int k = 0;
    for (int r = 0; r < w->nring; r++) {
        for (int s = w->ring_start[r]; s < w->ring_start[r + 1];
             s += IM_CHAIN) {
            int end = w->ring_start[r + 1];
            int e1 = s + IM_CHAIN < end ? s + IM_CHAIN : end;
            double *box = w->chain_box + 4 * (size_t) k;
            double *sum = w->chain_sum + 3 * (size_t) k;
            box[0] = box[2] = INFINITY;
            box[1] = box[3] = -INFINITY;
            sum[0] = sum[1] = sum[2] = 0.0;
            for (int i = s; i < e1; i++) {
                int j = w->next[i];
                double ax = w->x[i] - cx, ay = w->y[i] - cy;
                double bx = w->x[j] - cx, by = w->y[j] - cy;
                sum[0] += ax * by - bx * ay;
                sum[1] += bx - ax;
                sum[2] += by - ay;
                box[0] = fmin(box[0], fmin(w->x[i], w->x[j]));
                box[1] = fmax(box[1], fmax(w->x[i], w->x[j]));
                box[2] = fmin(box[2], fmin(w->y[i], w->y[j]));
                box[3] = fmax(box[3], fmax(w->y[i], w->y[j]));
            }
            w->chain_start[k++] = s;
        }
    }
    w->chain_start[nchain] = w->nv;
}

/* Does any edge of W come near the box [x0, x1] x [y0, y1]?  0 means the
 * box lies in one edge-free region (inside or outside). */
static inline int box_has_edges(const im_window *w, double x0, double x1,
                                double y0, double y1) {
    const im_egrid *g = &w->fine;
    if (x1 < w->xmin - g->pad || x0 > w->xmax + g->pad ||
        y1 < w->ymin - g->pad || y0 > w->ymax + g->pad)
        return 0;
    int ca = cell_coord(g->gx0, g->inv_h, x0 - g->pad, g->ncx);
    int cb = cell_coord(g->gx0, g->inv_h, x1 + g->pad, g->ncx) + 1;
    int ra = cell_coord(g->gy0, g->inv_h, y0 - g->pad, g->ncy);
    int rb = cell_coord(g->gy0, g->inv_h, y1 + g->pad, g->ncy) + 1;
    R_xlen_t W1 = g->ncx + 1;
    const int *t = w->nz_sat;
    return t[rb * W1 + cb] - t[ra * W1 + cb] - t[rb * W1 + ca] +
           t[ra * W1 + ca] > 0;
}

/* Signed area of ring [s, e) (positive counter-clockwise): the shoelace
 * sum, relative to the first vertex (R: ring_signed_area()). */
static double ring_signed_area(const double *x, const double *y, int s,
                               int e) {
    double a = 0.0;
    for (int i = s; i < e; i++) {
        int j = i + 1 < e ? i + 1 : s;
        a += (x[i] - x[s]) * (y[j] - y[s]) - (x[j] - x[s]) * (y[i] - y[s]);
    }
    return a / 2.0;
}

/* Area of a window: the signed areas of its rings added (holes are
 * clockwise, so they subtract). */
static double rings_area(const double *x, const double *y,
                         const int *ring_start, int nring) {
    double a = 0.0;
    for (int r = 0; r < nring; r++)
        a += ring_signed_area(x, y, ring_start[r], ring_start[r + 1]);
    return a;
}

im_status im_window_build(im_window *w, const double *x, const double *y,
                          const int *ring_start, int nring) {
    if (nring < 1 || ring_start[0] != 0) return IM_ERR_WINDOW;
    for (int r = 0; r < nring; r++)
        if (ring_start[r + 1] - ring_start[r] < 3) return IM_ERR_WINDOW;
    int nv = ring_start[nring];
    w->nv = nv;
    w->nring = nring;
    w->x = (double *) R_alloc(nv, sizeof(double));
    w->y = (double *) R_alloc(nv, sizeof(double));
    w->next = (int *) R_alloc(nv, sizeof(int));
    w->prev = (int *) R_alloc(nv, sizeof(int));
    w->ring_start = (int *) R_alloc(nring + 1, sizeof(int));
    memcpy(w->ring_start, ring_start, (size_t) (nring + 1) * sizeof(int));
    w->xmin = w->ymin = INFINITY;
    w->xmax = w->ymax = -INFINITY;
    for (int i = 0; i < nv; i++) {
        if (!R_FINITE(x[i]) || !R_FINITE(y[i])) return IM_ERR_WINDOW;
        if (fabs(x[i]) > IM_MAX_COORD || fabs(y[i]) > IM_MAX_COORD)
            return IM_ERR_RANGE;
        w->x[i] = x[i];
        w->y[i] = y[i];
        if (x[i] < w->xmin) w->xmin = x[i];
        if (x[i] > w->xmax) w->xmax = x[i];
        if (y[i] < w->ymin) w->ymin = y[i];
        if (y[i] > w->ymax) w->ymax = y[i];
    }
    w->area = rings_area(x, y, ring_start, nring);
    double perim = 0.0;
    for (int r = 0; r < nring; r++) {
        int s = ring_start[r], e = ring_start[r + 1];
        for (int i = s; i < e; i++) {
            int j = i + 1 < e ? i + 1 : s;
            w->next[i] = j;
            w->prev[j] = i;
            perim += hypot(x[j] - x[i], y[j] - y[i]);
        }
    }
    /* one axis-parallel rectangle? */
    w->rect = 0;
    if (nring == 1 && nv == 4 && w->area > 0) {
        int ok = 1;
        for (int i = 0; i < 4 && ok; i++) {
            int j = w->next[i];
            int horiz = w->y[i] == w->y[j], vert = w->x[i] == w->x[j];
            ok = horiz != vert;
            ok = ok && (w->x[i] == w->xmin || w->x[i] == w->xmax) &&
                 (w->y[i] == w->ymin || w->y[i] == w->ymax);
        }
        w->rect = ok;
    }
    /* a few units in the last place of the coordinates (below the
     * registration slack of the grids) */
    w->snap = 1e-12 * (fabs(w->xmin) + fabs(w->xmax) + fabs(w->ymin) +
                       fabs(w->ymax) + (w->xmax - w->xmin) +
                       (w->ymax - w->ymin));
    /* coarse grid: about two cells per edge (distances scan few rows);
     * fine grid: cells about twice the mean edge length, so that a
     * non-empty cell holds a few edges (at most 32 cells per edge). */
    double W = w->xmax - w->xmin, H = w->ymax - w->ymin;
    double hc = W * H > 0 ? sqrt(W * H / (2.0 * nv)) : fmax(W, H) / (2.0 * nv);
    grid_build(w, &w->coarse, hc, 4.0 * nv + 64);
    grid_near(&w->coarse);
    double hf = fmin(w->coarse.h, 1.0 * perim / nv);
    double hmin = W * H > 0 ? sqrt(W * H / (32.0 * nv + 64)) : 0.0;
    if (hf < hmin) hf = hmin;
    if (hf >= 0.75 * w->coarse.h) {
        w->fine = w->coarse;
    } else {
        grid_build(w, &w->fine, hf, 40.0 * nv + 256);
    }
    grid_references(w);
    window_chains(w);
    return IM_OK;
}

/* ---- point in window --------------------------------------------------- */

/* Off-boundary parity test for a point of fine cell `cell`. */
static inline int cell_parity(const im_window *w, R_xlen_t cell, double x,
                              double y) {
    const im_egrid *g = &w->fine;
    int par = w->ref_in[cell];
    double rx = w->ref_x[cell], ry = w->ref_y[cell];
    for (R_xlen_t k = g->cell_start[cell]; k < g->cell_start[cell + 1];
         k++) {
        int e = g->cell_edge[k], f = w->next[e];
        par ^= seg_cross(rx, ry, x, y, w->x[e], w->y[e], w->x[f], w->y[f]);
    }
    return par;
}

int im_window_inside(const im_window *w, double x, double y) {
    if (!(x >= w->xmin && x <= w->xmax && y >= w->ymin && y <= w->ymax))
        return 0;
    if (w->rect) return 1;
    const im_egrid *g = &w->fine;
    R_xlen_t cell = grid_cell(g, x, y);
    for (R_xlen_t k = g->cell_start[cell]; k < g->cell_start[cell + 1];
         k++) {
        int e = g->cell_edge[k], f = w->next[e];
        if (on_segment(x, y, w->x[e], w->y[e], w->x[f], w->y[f])) return 1;
    }
    return cell_parity(w, cell, x, y);
}

/* Angle of (dx, dy) in [0, 2 pi), exact for axis-parallel directions. */
static inline double angle_2pi(double dx, double dy) {
    if (dy == 0.0) dy = 0.0;   /* no negative zero */
    double a = atan2(dy, dx);
    return a < 0 ? a + 2.0 * M_PI : a;
}

/* Is (x, y) + eps * sgn * (1, delta) inside, for infinitesimal
 * 0 < delta << eps?  Points off the boundary: im_window_inside().  Points
 * on the boundary (within w->snap of an edge, so that edges of
 * W and of a shifted W that are collinear up to rounding count as
 * collinear) are classified by the local geometry: the side of the edge,
 * or the interior angle at a vertex.  This resolves collinear and
 * touching edges of W and W + d consistently. */
static int inside_dir(const im_window *w, double x, double y, int sgn) {
    const im_egrid *g = &w->fine;
    double eps2 = w->snap * w->snap;
    if (!(x >= w->xmin - w->snap && x <= w->xmax + w->snap &&
          y >= w->ymin - w->snap && y <= w->ymax + w->snap))
        return 0;
    R_xlen_t cell = grid_cell(g, x, y);
    int on = 0, count = 0;
    double base = sgn > 0 ? 0.0 : M_PI;
    for (R_xlen_t k = g->cell_start[cell]; k < g->cell_start[cell + 1];
         k++) {
        int e = g->cell_edge[k], f = w->next[e];
        double ax = w->x[e], ay = w->y[e], bx = w->x[f], by = w->y[f];
        if (seg_dist2(x, y, ax, ay, bx, by) > eps2) continue;
        on = 1;
        double dbx = x - bx, dby = y - by;
        if (dbx * dbx + dby * dby <= eps2) continue;  /* vertex b: next edge */
        double dax = x - ax, day = y - ay;
        if (dax * dax + day * day <= eps2) {
            /* at vertex a: interior angle from the direction of the next
             * vertex counter-clockwise to that of the previous one */
            int p = w->prev[e];
            double tu = angle_2pi(bx - ax, by - ay);
            double tp = angle_2pi(w->x[p] - ax, w->y[p] - ay);
            double sweep = tp - tu;
            if (sweep <= 0) sweep += 2.0 * M_PI;
            double phi = base - tu;
            if (phi < 0) phi += 2.0 * M_PI;
            count += phi < sweep;
        } else {
            /* inside an edge: the interior is on its left */
            double ey = by - ay, ex = bx - ax;
            count += ey != 0.0 ? (sgn * -ey > 0) : (sgn * ex > 0);
        }
    }
    if (on) return count & 1;
    if (!(x >= w->xmin && x <= w->xmax && y >= w->ymin && y <= w->ymax))
        return 0;
    return cell_parity(w, cell, x, y);
}

/* ---- distance to the window edge --------------------------------------- */

double im_window_bdist(const im_window *w, double x, double y) {
    if (!R_FINITE(x) || !R_FINITE(y)) return NA_REAL;
    if (w->rect && x >= w->xmin && x <= w->xmax && y >= w->ymin &&
        y <= w->ymax) {
        double d = x - w->xmin, t = w->xmax - x;
        if (t < d) d = t;
        t = y - w->ymin;
        if (t < d) d = t;
        t = w->ymax - y;
        if (t < d) d = t;
        return d;
    }
    const im_egrid *g = &w->coarse;
    R_xlen_t nc = g->near_cell[grid_cell(g, x, y)];
    double best = INFINITY;
    for (R_xlen_t k = g->cell_start[nc]; k < g->cell_start[nc + 1]; k++) {
        int e = g->cell_edge[k], f = w->next[e];
        double d2 = seg_dist2(x, y, w->x[e], w->y[e], w->x[f], w->y[f]);
        if (d2 < best) best = d2;
    }
    double d = sqrt(best);
    /* rows outward from the point's own row, while a row can still hold
     * an edge closer than the best so far */
    int r0 = cell_coord(g->gy0, g->inv_h, y, g->ncy);
    int up = 1, down = 1;
    for (int k = 0; up || down; k++) {
        for (int side = 0; side < 2; side++) {
            if (side == 0 && !down) continue;
            if (side == 1 && (!up || k == 0)) continue;
            int r = side == 0 ? r0 - k : r0 + k;
            if (r < 0 || r >= g->ncy) {
                if (side == 0) down = 0; else up = 0;
                continue;
            }
            double yl = g->gy0 + (double) r * g->h, yh = yl + g->h;
            double dy = y < yl ? yl - y : (y > yh ? y - yh : 0.0);
            dy -= g->pad;
            if (dy < 0) dy = 0;
            if (dy > d) {
                if (side == 0) down = 0; else up = 0;
                continue;
            }
            double half = sqrt(d * d - dy * dy) + g->pad;
            int ca = cell_coord(g->gx0, g->inv_h, x - half, g->ncx);
            int cb = cell_coord(g->gx0, g->inv_h, x + half, g->ncx);
            /* non-empty cells of the row with column in [ca, cb] */
            R_xlen_t base = (R_xlen_t) r * g->ncx;
            for (int c = g->nz_next[base + ca]; c <= cb;
                 c = c + 1 < g->ncx ? g->nz_next[base + c + 1] : g->ncx) {
                R_xlen_t cell = base + c;
                for (R_xlen_t m = g->cell_start[cell];
                     m < g->cell_start[cell + 1]; m++) {
                    int e = g->cell_edge[m], f = w->next[e];
                    double d2 = seg_dist2(x, y, w->x[e], w->y[e], w->x[f],
                                          w->y[f]);
                    if (d2 < best) { best = d2; d = sqrt(best); }
                }
            }
        }
    }
    return sqrt(best);
}

/* ---- fraction of a circle inside the window ---------------------------- */

/* Angles at which the circle (x, y, r) meets the edge e (pushed on b). */
static void circle_edge(const im_window *w, int e, double x, double y,
                        double r, dbuf *b) {
    int f = w->next[e];
    double ax = w->x[e] - x, ay = w->y[e] - y;
    double ex = w->x[f] - w->x[e], ey = w->y[f] - w->y[e];
    double A = ex * ex + ey * ey;
    if (!(A > 0)) return;
    double B = ax * ex + ay * ey, C = ax * ax + ay * ay - r * r;
    double disc = B * B - A * C;
    if (disc < 0) return;
    double sq = sqrt(disc);
    double q = B >= 0 ? -(B + sq) : -(B - sq);
    double t[2];
    int nt = 0;
    if (q != 0.0) {
        t[nt++] = q / A;
        t[nt++] = C / q;
    } else {
        t[nt++] = 0.0;   /* B = 0 and disc = 0: A C = 0, tangent at a */
    }
    const double tol = 1e-9;
    for (int k = 0; k < nt; k++) {
        double tk = t[k];
        if (!(tk >= -tol && tk <= 1.0 + tol)) continue;
        if (tk < 0) tk = 0;
        if (tk > 1) tk = 1;
        dbuf_push(b, angle_2pi(ax + tk * ex, ay + tk * ey));
    }
}

double im_window_circle_frac(const im_window *w, double x, double y,
                             double r) {
    if (!R_FINITE(x) || !R_FINITE(y) || !(r >= 0)) return NA_REAL;
    if (r == 0) return (double) im_window_inside(w, x, y);
    if (!R_FINITE(r)) return 0.0;
    /* circle misses the window's bounding box */
    if (x + r < w->xmin || x - r > w->xmax || y + r < w->ymin ||
        y - r > w->ymax)
        return 0.0;
    const im_egrid *g = &w->fine;
    double stack[IM_STACK_BUF];
    dbuf b;
    dbuf_init(&b, stack);
    int ra = cell_coord(g->gy0, g->inv_h, y - r - g->pad, g->ncy);
    int rb = cell_coord(g->gy0, g->inv_h, y + r + g->pad, g->ncy);
    for (int row = ra; row <= rb; row++) {
        /* the circle's x-extent within this row band: two arcs */
        double yl = g->gy0 + (double) row * g->h - g->pad - y;
        double yh = yl + g->h + 2.0 * g->pad;
        if (yh < -r || yl > r) continue;
        double lo = yl > -r ? yl : -r, hi = yh < r ? yh : r;
        double tmin = lo <= 0 && hi >= 0 ? 0.0
                      : (fabs(lo) < fabs(hi) ? fabs(lo) : fabs(hi));
        double tmax = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
        double wmax = sqrt(fmax(r * r - tmin * tmin, 0.0)) + g->pad;
        double wmin = sqrt(fmax(r * r - tmax * tmax, 0.0)) - g->pad;
        if (wmin < 0) wmin = 0;
        int c1 = cell_coord(g->gx0, g->inv_h, x - wmax, g->ncx);
        int c2 = cell_coord(g->gx0, g->inv_h, x - wmin, g->ncx);
        int c3 = cell_coord(g->gx0, g->inv_h, x + wmin, g->ncx);
        int c4 = cell_coord(g->gx0, g->inv_h, x + wmax, g->ncx);
        for (int c = c1; c <= c4; c++) {
            if (c > c2 && c < c3) { c = c3 - 1; continue; }
            R_xlen_t cell = (R_xlen_t) row * g->ncx + c;
            for (R_xlen_t k = g->cell_start[cell];
                 k < g->cell_start[cell + 1]; k++)
                circle_edge(w, g->cell_edge[k], x, y, r, &b);
        }
    }
    double frac;
    if (b.failed) {
        frac = NAN;
    } else if (b.n == 0) {
        frac = (double) im_window_inside(w, x + r, y);
    } else {
        /* arcs between consecutive crossings: in or out by their midpoint
         * (repeated angles give empty arcs) */
        sort_doubles(b.v, b.n);
        double in = 0.0;
        for (size_t k = 0; k < b.n; k++) {
            double a0 = b.v[k];
            double a1 = k + 1 < b.n ? b.v[k + 1] : b.v[0] + 2.0 * M_PI;
            double len = a1 - a0;
            if (!(len > 0)) continue;
            double mid = 0.5 * (a0 + a1);
            if (im_window_inside(w, x + r * cos(mid), y + r * sin(mid)))
                in += len;
        }
        frac = in / (2.0 * M_PI);
        if (frac > 1) frac = 1;
    }
    dbuf_free(&b);
    return frac;
}

/* ---- area of W intersected with a shifted W ---------------------------- */

/* Length fraction (0..1) of the segment p -> q lying inside W, points on
 * the boundary classified by inside_dir(sgn). */
static double seg_inside_frac(const im_window *w, double px, double py,
                              double qx, double qy, int sgn, dbuf *b) {
    double sx0 = px < qx ? px : qx, sx1 = px < qx ? qx : px;
    double sy0 = py < qy ? py : qy, sy1 = py < qy ? qy : py;
    if (sx1 < w->xmin || sx0 > w->xmax || sy1 < w->ymin || sy0 > w->ymax)
        return 0.0;
    double rx = qx - px, ry = qy - py;
    double rl2 = rx * rx + ry * ry;
    if (!(rl2 > 0)) return 0.0;
    const im_egrid *g = &w->fine;
    /* fast path: both ends in one cell that no edge comes near */
    R_xlen_t c1 = grid_cell(g, px, py);
    if (c1 == grid_cell(g, qx, qy) &&
        g->cell_start[c1] == g->cell_start[c1 + 1])
        return w->ref_in[c1] ? 1.0 : 0.0;
    b->n = 0;
    dbuf_push(b, 0.0);
    dbuf_push(b, 1.0);
    double rl = sqrt(rl2);
    const double tol = 1e-9;
    int ra, rb;
    seg_rows(g, py, qy, &ra, &rb);
    for (int row = ra; row <= rb; row++) {
        int ca, cb;
        if (!seg_row_span(g, px, py, qx, qy, row, &ca, &cb)) continue;
        for (int c = ca; c <= cb; c++) {
            R_xlen_t cell = (R_xlen_t) row * g->ncx + c;
            for (R_xlen_t k = g->cell_start[cell];
                 k < g->cell_start[cell + 1]; k++) {
                int e = g->cell_edge[k], f = w->next[e];
                double ax = w->x[e], ay = w->y[e], bx = w->x[f], by = w->y[f];
                double sx = bx - ax, sy = by - ay;
                double apx = ax - px, apy = ay - py;
                double den = rx * sy - ry * sx;
                if (den != 0.0) {
                    double t = (apx * sy - apy * sx) / den;
                    double u = (apx * ry - apy * rx) / den;
                    if (t >= -tol && t <= 1 + tol && u >= -tol && u <= 1 + tol)
                        dbuf_push(b, t < 0 ? 0.0 : (t > 1 ? 1.0 : t));
                }
                /* ends of the edge (nearly) on the line p-q: ends of the
                 * overlap of collinear edges, touching vertices */
                double da = fabs(rx * apy - ry * apx) / rl;
                double db = fabs(rx * (by - py) - ry * (bx - px)) / rl;
                if (da <= g->pad) {
                    double t = (apx * rx + apy * ry) / rl2;
                    if (t > 0 && t < 1) dbuf_push(b, t);
                }
                if (db <= g->pad) {
                    double t = ((bx - px) * rx + (by - py) * ry) / rl2;
                    if (t > 0 && t < 1) dbuf_push(b, t);
                }
            }
        }
    }
    if (b->failed) return NAN;
    double in = 0.0;
    if (b->n == 2) {
        if (inside_dir(w, px + 0.5 * rx, py + 0.5 * ry, sgn)) in = 1.0;
        return in;
    }
    sort_doubles(b->v, b->n);
    for (size_t k = 0; k + 1 < b->n; k++) {
        double t0 = b->v[k], t1 = b->v[k + 1];
        if (!(t1 > t0)) continue;
        double tm = 0.5 * (t0 + t1);
        if (inside_dir(w, px + tm * rx, py + tm * ry, sgn)) in += t1 - t0;
    }
    return in;
}

double im_window_overlap(const im_window *w, double dx, double dy) {
    if (!R_FINITE(dx) || !R_FINITE(dy)) return NA_REAL;
    double W = w->xmax - w->xmin, H = w->ymax - w->ymin;
    if (fabs(dx) >= W || fabs(dy) >= H) return 0.0;
    if (w->rect) return (W - fabs(dx)) * (H - fabs(dy));
    if (dx == 0.0 && dy == 0.0) return w->area;
    /* Green's theorem: area = 1/2 of the integral of x dy - y dx over the
     * boundary of the intersection, which consists of the edges of W inside
     * W + d and the edges of W + d inside W.  Coordinates relative to the
     * centre c of the bounding box; o = c + d / 2 is the origin. */
    double cx = 0.5 * (w->xmin + w->xmax), cy = 0.5 * (w->ymin + w->ymax);
    double ox = cx + 0.5 * dx, oy = cy + 0.5 * dy;
    double stack[IM_STACK_BUF];
    dbuf b;
    dbuf_init(&b, stack);
    double sum = 0.0;
    for (int k = 0; k < w->nchain && !b.failed; k++) {
        const double *box = w->chain_box + 4 * (size_t) k;
        const double *cs = w->chain_sum + 3 * (size_t) k;
        int s = w->chain_start[k], e1 = w->chain_start[k + 1];
        /* edges of W, in W + d  <=>  shifted back by d, in W (perturbed
         * by -eps); a run far from every edge is wholly in or out */
        if (!box_has_edges(w, box[0] - dx, box[1] - dx, box[2] - dy,
                           box[3] - dy)) {
            double qx = w->x[s] - dx, qy = w->y[s] - dy;
            if (qx >= w->xmin && qx <= w->xmax && qy >= w->ymin &&
                qy <= w->ymax && w->ref_in[grid_cell(&w->fine, qx, qy)])
                /* sum of (a - o) x (b - o) with a, b relative to c */
                sum += cs[0] - (ox - cx) * cs[2] + (oy - cy) * cs[1];
        } else {
            for (int i = s; i < e1; i++) {
                int j = w->next[i];
                double ax = w->x[i], ay = w->y[i], bx = w->x[j], by = w->y[j];
                double fa = seg_inside_frac(w, ax - dx, ay - dy, bx - dx,
                                            by - dy, -1, &b);
                if (fa > 0)
                    sum += fa * ((ax - ox) * (by - oy) - (bx - ox) * (ay - oy));
            }
        }
        /* edges of W + d, in W (perturbed by +eps) */
        if (!box_has_edges(w, box[0] + dx, box[1] + dx, box[2] + dy,
                           box[3] + dy)) {
            double qx = w->x[s] + dx, qy = w->y[s] + dy;
            if (qx >= w->xmin && qx <= w->xmax && qy >= w->ymin &&
                qy <= w->ymax && w->ref_in[grid_cell(&w->fine, qx, qy)])
                sum += cs[0] + (cx + dx - ox) * cs[2] - (cy + dy - oy) * cs[1];
        } else {
            for (int i = s; i < e1; i++) {
                int j = w->next[i];
                double ax = w->x[i], ay = w->y[i], bx = w->x[j], by = w->y[j];
                double fb = seg_inside_frac(w, ax + dx, ay + dy, bx + dx,
                                            by + dy, 1, &b);
                if (fb > 0)
                    sum += fb * ((ax + dx - ox) * (by + dy - oy) -
                                 (bx + dx - ox) * (ay + dy - oy));
            }
        }
    }
    double out = b.failed ? NAN : 0.5 * sum;
    dbuf_free(&b);
    if (out < 0) out = 0;
    if (out > w->area) out = w->area;
    return out;
}

/* ---- proper crossings between edges (validation of user polygons) ------ */

/* First pair of edges that cross at a point interior to both, or -1. */
static int window_first_crossing(const im_window *w, int *other) {
    const im_egrid *gr = &w->fine;
    R_xlen_t nc = (R_xlen_t) gr->ncx * gr->ncy;
    for (R_xlen_t c = 0; c < nc; c++) {
        for (R_xlen_t k = gr->cell_start[c]; k < gr->cell_start[c + 1]; k++) {
            int e = gr->cell_edge[k], ef = w->next[e];
            for (R_xlen_t m = k + 1; m < gr->cell_start[c + 1]; m++) {
                int g = gr->cell_edge[m], gf = w->next[g];
                if (g == ef || gf == e || g == e) continue;
                double o1 = orient(w->x[e], w->y[e], w->x[ef], w->y[ef],
                                   w->x[g], w->y[g]);
                double o2 = orient(w->x[e], w->y[e], w->x[ef], w->y[ef],
                                   w->x[gf], w->y[gf]);
                double o3 = orient(w->x[g], w->y[g], w->x[gf], w->y[gf],
                                   w->x[e], w->y[e]);
                double o4 = orient(w->x[g], w->y[g], w->x[gf], w->y[gf],
                                   w->x[ef], w->y[ef]);
                if (((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) &&
                    ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0))) {
                    *other = g;
                    return e;
                }
            }
        }
    }
    return -1;
}

/* ---- entry points ------------------------------------------------------ */

static void window_arg(im_window *w, SEXP x, SEXP y, SEXP ring_start) {
    int nring = im_check_rings(x, y, ring_start, 3);
    im_status st = im_window_build(w, REAL_RO(x), REAL_RO(y),
                                   INTEGER_RO(ring_start), nring);
    if (st == IM_ERR_RANGE) im_stop_status(st, "the window polygon");
    if (st != IM_OK)
        IM_BUG("invalid window rings (R layer should have caught this)");
}

/* R caller: window_area() */
SEXP ffi_window_area(SEXP x, SEXP y, SEXP ring_start) {
    int nring = im_check_rings(x, y, ring_start, 1);
    return Rf_ScalarReal(rings_area(REAL_RO(x), REAL_RO(y),
                                    INTEGER_RO(ring_start), nring));
}

/* R caller: window_inside() (cells_in_window(), assign_holes()), and
 * hotspots().  Serial: about 30 ns a point whatever the window. */
SEXP ffi_window_inside(SEXP px, SEXP py, SEXP x, SEXP y, SEXP ring_start) {
    im_check_double(px, "px must be double");
    im_check_double(py, "py must be double");
    R_xlen_t n = XLENGTH(px);
    if (XLENGTH(py) != n) IM_BUG("px and py differ in length");
    im_window w;
    window_arg(&w, x, y, ring_start);
    SEXP out = PROTECT(Rf_allocVector(LGLSXP, n));
    int *po = LOGICAL(out);
    const double *qx = REAL_RO(px), *qy = REAL_RO(py);
    for (R_xlen_t c0 = 0; c0 < n; c0 += 16 * IM_CHUNK) {
        R_xlen_t c1 = c0 + 16 * IM_CHUNK < n ? c0 + 16 * IM_CHUNK : n;
        for (R_xlen_t i = c0; i < c1; i++)
            po[i] = im_window_inside(&w, qx[i], qy[i]);
        R_CheckUserInterrupt();
    }
    UNPROTECT(1);
    return out;
}

/* R caller: kf_image() (ripley_k() and friends): do all points lie in
 * the rectangle bounds = (xmin, xmax, ymin, ymax) widened by tol?  One
 * pass, stopping at the first point outside. */
SEXP ffi_window_fits(SEXP px, SEXP py, SEXP bounds, SEXP tol_) {
    im_check_double(px, "px must be double");
    im_check_double(py, "py must be double");
    im_check_double(bounds, "bounds must be double");
    R_xlen_t n = XLENGTH(px);
    if (XLENGTH(py) != n || XLENGTH(bounds) != 4) IM_BUG("bad lengths");
    double tol = im_as_double(tol_, "tol");
    const double *b = REAL_RO(bounds), *qx = REAL_RO(px), *qy = REAL_RO(py);
    double x0 = b[0] - tol, x1 = b[1] + tol, y0 = b[2] - tol, y1 = b[3] + tol;
    int ok = 1;
    for (R_xlen_t c0 = 0; c0 < n && ok; c0 += 16 * IM_CHUNK) {
        R_xlen_t c1 = c0 + 16 * IM_CHUNK < n ? c0 + 16 * IM_CHUNK : n;
        int in = 1;
        for (R_xlen_t i = c0; i < c1; i++)
            in &= (qx[i] >= x0) & (qx[i] <= x1) & (qy[i] >= y0) &
                  (qy[i] <= y1);
        ok = in;
    }
    return Rf_ScalarLogical(ok);
}

/* R caller: window_bdist() (cells_edge_distance()) */
SEXP ffi_window_bdist(SEXP px, SEXP py, SEXP x, SEXP y, SEXP ring_start,
                      SEXP nthreads_) {
    im_check_double(px, "px must be double");
    im_check_double(py, "py must be double");
    R_xlen_t n = XLENGTH(px);
    if (XLENGTH(py) != n) IM_BUG("px and py differ in length");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    im_window w;
    window_arg(&w, x, y, ring_start);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, n));
    double *po = REAL(out);
    const double *qx = REAL_RO(px), *qy = REAL_RO(py);
    for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < n ? c0 + IM_CHUNK : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
        for (R_xlen_t i = c0; i < c1; i++)
            po[i] = im_window_bdist(&w, qx[i], qy[i]);
        R_CheckUserInterrupt();
    }
    UNPROTECT(1);
    return out;
}

/* R caller: window_circle_frac() */
SEXP ffi_window_circle_frac(SEXP px, SEXP py, SEXP r, SEXP x, SEXP y,
                            SEXP ring_start, SEXP nthreads_) {
    im_check_double(px, "px must be double");
    im_check_double(py, "py must be double");
    im_check_double(r, "r must be double");
    R_xlen_t n = XLENGTH(px), nr = XLENGTH(r);
    if (XLENGTH(py) != n) IM_BUG("px and py differ in length");
    if (nr != 1 && nr != n) IM_BUG("r must have length 1 or n");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    im_window w;
    window_arg(&w, x, y, ring_start);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, n));
    double *po = REAL(out);
    const double *qx = REAL_RO(px), *qy = REAL_RO(py), *pr = REAL_RO(r);
    int failed = 0;
    for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < n ? c0 + IM_CHUNK : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 256) \
    reduction(|:failed)
#endif
        for (R_xlen_t i = c0; i < c1; i++) {
            double v = im_window_circle_frac(&w, qx[i], qy[i],
                                             pr[nr == 1 ? 0 : i]);
            if (ISNAN(v) && !ISNA(v)) failed |= 1;
            po[i] = v;
        }
        R_CheckUserInterrupt();
    }
    if (failed) im_stop_status(IM_ERR_ALLOC, "the circle fractions");
    UNPROTECT(1);
    return out;
}

/* R caller: window_overlap() */
SEXP ffi_window_overlap(SEXP dx, SEXP dy, SEXP x, SEXP y, SEXP ring_start,
                        SEXP nthreads_) {
    im_check_double(dx, "dx must be double");
    im_check_double(dy, "dy must be double");
    R_xlen_t n = XLENGTH(dx);
    if (XLENGTH(dy) != n) IM_BUG("dx and dy differ in length");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    im_window w;
    window_arg(&w, x, y, ring_start);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, n));
    double *po = REAL(out);
    const double *pdx = REAL_RO(dx), *pdy = REAL_RO(dy);
    int failed = 0;
    for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK / 64) {
        R_xlen_t c1 = c0 + IM_CHUNK / 64 < n ? c0 + IM_CHUNK / 64 : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 4) \
    reduction(|:failed)
#endif
        for (R_xlen_t i = c0; i < c1; i++) {
            double v = im_window_overlap(&w, pdx[i], pdy[i]);
            if (ISNAN(v) && !ISNA(v)) failed |= 1;
            po[i] = v;
        }
        R_CheckUserInterrupt();
    }
    if (failed) im_stop_status(IM_ERR_ALLOC, "the window overlaps");
    UNPROTECT(1);
    return out;
}

/* R caller: check_window_geometry() */
SEXP ffi_window_crossing(SEXP x, SEXP y, SEXP ring_start) {
    im_window w;
    window_arg(&w, x, y, ring_start);
    int other = -1;
    int e = window_first_crossing(&w, &other);
    if (e < 0) return Rf_allocVector(INTSXP, 0);
    SEXP out = PROTECT(Rf_allocVector(INTSXP, 2));
    INTEGER(out)[0] = e + 1;
    INTEGER(out)[1] = other + 1;
    UNPROTECT(1);
    return out;
}

/* ---- the concave tissue mask ------------------------------------------- */

/* Squared distance (pixels), along each row, to the nearest pixel with
 * (mask & bit) == want, capped at cap. */
void im_mask_rows(const unsigned char *mask, int *img, int nx, int ny,
                      unsigned char bit, int want, int cap, int nth) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
    for (int j = 0; j < ny; j++) {
        const unsigned char *m = mask + (R_xlen_t) j * nx;
        int *o = img + (R_xlen_t) j * nx;
        int last = -1;
        for (int i = 0; i < nx; i++) {
            if (((m[i] & bit) != 0) == want) last = i;
            double d = last < 0 ? INFINITY : (double) (i - last);
            o[i] = d * d < cap ? (int) (d * d) : cap;
        }
        last = -1;
        for (int i = nx - 1; i >= 0; i--) {
            if (((m[i] & bit) != 0) == want) last = i;
            if (last < 0) continue;
            double d = (double) (last - i);
            if (d * d < o[i]) o[i] = (int) (d * d);
        }
    }
}

/* Column pass of the distance transform: pixels whose squared distance
 * to the features is <= thr (above = 0) or > thr (above = 1) and which
 * have all bits of `need` get bit `set`. */
void im_mask_cols(unsigned char *mask, const int *img, int nx, int ny,
                      double thr, int above, unsigned char need,
                      unsigned char set, int nth, double *work) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
    for (int i = 0; i < nx; i++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double *f = work + (size_t) t * (4 * (size_t) ny + 2);
        double *d = f + ny, *z = d + ny;
        int *v = (int *) (z + ny + 1);   /* ny ints fit in ny / 2 + 1 doubles */
        for (int j = 0; j < ny; j++) f[j] = img[(R_xlen_t) j * nx + i];
        edt_1d(f, ny, d, NULL, v, z);
        for (int j = 0; j < ny; j++) {
            unsigned char *m = mask + (R_xlen_t) j * nx + i;
            int hit = above ? d[j] > thr : d[j] <= thr;
            if (hit && (*m & need) == need) *m |= set;
        }
    }
}

int im_uf_find(int *parent, int a) {
    while (parent[a] != a) {
        parent[a] = parent[parent[a]];
        a = parent[a];
    }
    return a;
}

void im_uf_union(int *parent, int a, int b) {
    a = im_uf_find(parent, a);
    b = im_uf_find(parent, b);
    if (a < b) parent[b] = a; else if (b < a) parent[a] = b;
}

/* Douglas-Peucker on the closed ring u[0..k-1], v[0..k-1] (doubled pixel
 * units): keep[] marks the vertices kept so that no dropped vertex lies
 * farther than tol from the kept polyline.  stack: 2 * k ints. */
static void ring_simplify(const int *u, const int *v, R_xlen_t k, double tol,
                          unsigned char *keep, R_xlen_t *stack) {
    for (R_xlen_t q = 0; q < k; q++) keep[q] = 0;
    /* anchors: vertex 0 and the vertex farthest from it */
    R_xlen_t far = 0;
    double best = -1;
    for (R_xlen_t q = 1; q < k; q++) {
        double du = u[q] - u[0], dv = v[q] - v[0], d2 = du * du + dv * dv;
        if (d2 > best) { best = d2; far = q; }
    }
    keep[0] = keep[far] = 1;
    R_xlen_t top = 0;
    stack[top++] = 0; stack[top++] = far;
    stack[top++] = far; stack[top++] = k;   /* k stands for vertex 0 */
    while (top > 0) {
        R_xlen_t b = stack[--top], a = stack[--top];
        if (b - a < 2) continue;
        R_xlen_t bb = b == k ? 0 : b;
        double au = u[a], av = v[a], eu = u[bb] - au, ev = v[bb] - av;
        double l2 = eu * eu + ev * ev;
        R_xlen_t arg = -1;
        double dmax = -1;
        for (R_xlen_t q = a + 1; q < b; q++) {
            double d2;
            double pu = u[q] - au, pv = v[q] - av;
            if (l2 > 0) {
                double t = (pu * eu + pv * ev) / l2;
                if (t < 0) t = 0;
                if (t > 1) t = 1;
                double du = pu - t * eu, dv = pv - t * ev;
                d2 = du * du + dv * dv;
            } else {
                d2 = pu * pu + pv * pv;
            }
            if (d2 > dmax) { dmax = d2; arg = q; }
        }
        if (dmax > tol * tol) {
            keep[arg] = 1;
            stack[top++] = a; stack[top++] = arg;
            stack[top++] = arg; stack[top++] = b;
        }
    }
}

/* Closing of the seed pixels (bit 1) of mask[nx * ny] with a disc of
 * radius R, eroded by R - m only: see window.h. */
R_xlen_t im_mask_close(unsigned char *mask, int *img, int nx, int ny,
                       double R, double m, double s, int nth) {
    R_xlen_t npix = (R_xlen_t) nx * ny;
    int nmax = nx > ny ? nx : ny;
    double *work = (double *) R_alloc((size_t) nth * (4 * (size_t) nmax + 2),
                                      sizeof(double));
    /* dilation: within R of a seed pixel (bit 2) */
    double t1 = (R / s) * (R / s);
    int cap1 = (int) floor(t1) + 1;
    im_mask_rows(mask, img, nx, ny, 1, 1, cap1, nth);
    R_CheckUserInterrupt();
    im_mask_cols(mask, img, nx, ny, t1, 0, 0, 2, nth, work);
    R_CheckUserInterrupt();
    /* erosion by R - m: farther than that from every non-dilated pixel */
    double Re = R - m > 0 ? R - m : 0.0;
    double t2 = (Re / s) * (Re / s);
    int cap2 = (int) floor(t2) + 1;
    im_mask_rows(mask, img, nx, ny, 2, 0, cap2, nth);
    R_CheckUserInterrupt();
    im_mask_cols(mask, img, nx, ny, t2, 1, 2, 4, nth, work);
    R_CheckUserInterrupt();
    R_xlen_t nseed_lost = 0;
    for (R_xlen_t p = 0; p < npix; p++) {
        if ((mask[p] & 1) && !(mask[p] & 4)) nseed_lost++;
        mask[p] = (mask[p] & 4) ? 1 : 0;
    }
    for (int i = 0; i < nx; i++) mask[i] = mask[npix - nx + i] = 0;
    for (int j = 0; j < ny; j++) mask[(R_xlen_t) j * nx] =
        mask[(R_xlen_t) j * nx + nx - 1] = 0;
    return nseed_lost;
}

/* R caller: window_concave() */
SEXP ffi_window_concave(SEXP x, SEXP y, SEXP radius_, SEXP pixel_,
                        SEXP margin_, SEXP simplify_, SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    R_xlen_t n = XLENGTH(x);
    if (XLENGTH(y) != n || n < 1) IM_BUG("bad cells");
    double R = im_as_double(radius_, "radius");
    double s = im_as_double(pixel_, "pixel");
    double m = im_as_double(margin_, "margin");
    double simp = im_as_double(simplify_, "simplify") * 2.0;  /* doubled */
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    if (!(R > 0) || !(s > 0) || !(m >= 0) || !R_FINITE(R) || !R_FINITE(s))
        IM_BUG("bad mask parameters");
    const double *px = REAL_RO(x), *py = REAL_RO(y);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (R_xlen_t i = 0; i < n; i++) {
        if (px[i] < x0) x0 = px[i];
        if (px[i] > x1) x1 = px[i];
        if (py[i] < y0) y0 = py[i];
        if (py[i] > y1) y1 = py[i];
    }
    double P = R + 3.0 * s;
    double X0 = x0 - P, Y0 = y0 - P;
    double fnx = ceil((x1 - x0 + 2.0 * P) / s) + 1.0;
    double fny = ceil((y1 - y0 + 2.0 * P) / s) + 1.0;
    if (fnx * fny > 2.0e8 || fnx > 1e6 || fny > 1e6)
        IM_BUG("mask too large (R layer chooses the pixel size)");
    int nx = (int) fnx, ny = (int) fny;
    R_xlen_t npix = (R_xlen_t) nx * ny;
    unsigned char *mask = (unsigned char *) R_alloc(npix, 1);
    int *img = (int *) R_alloc(npix, sizeof(int));
    memset(mask, 0, (size_t) npix);
    for (R_xlen_t i = 0; i < n; i++) {
        int ci = (int) floor((px[i] - X0) / s);
        int cj = (int) floor((py[i] - Y0) / s);
        if (ci < 1 || ci > nx - 2 || cj < 1 || cj > ny - 2)
            IM_BUG("cell outside the mask");
        mask[(R_xlen_t) cj * nx + ci] = 1;
    }
    if (im_mask_close(mask, img, nx, ny, R, m, s, nth))
        IM_BUG("closing lost a cell");

    return im_mask_contour(mask, img, nx, ny, X0, Y0, s, simp);
}

/* Trace the foreground (bit 1) of mask[nx * ny] (row-major, frame pixels
 * background) into polygon rings: see window.h. */
SEXP im_mask_contour(unsigned char *mask, int *img, int nx, int ny,
                     double X0, double Y0, double s, double simp) {
    /* 8-connected components of the foreground (labels in img) */
    int nprov = 0;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            R_xlen_t p = (R_xlen_t) j * nx + i;
            if (!mask[p]) continue;
            int prior = (i > 0 && mask[p - 1]) ||
                        (j > 0 && ((i > 0 && mask[p - nx - 1]) ||
                                   mask[p - nx] ||
                                   (i < nx - 1 && mask[p - nx + 1])));
            if (!prior) nprov++;
        }
    int *parent = (int *) R_alloc(nprov > 0 ? nprov : 1, sizeof(int));
    int nl = 0;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            R_xlen_t p = (R_xlen_t) j * nx + i;
            img[p] = -1;
            if (!mask[p]) continue;
            int nb[4], k = 0;
            if (i > 0 && mask[p - 1]) nb[k++] = img[p - 1];
            if (j > 0) {
                if (i > 0 && mask[p - nx - 1]) nb[k++] = img[p - nx - 1];
                if (mask[p - nx]) nb[k++] = img[p - nx];
                if (i < nx - 1 && mask[p - nx + 1]) nb[k++] = img[p - nx + 1];
            }
            if (k == 0) {
                parent[nl] = nl;
                img[p] = nl++;
            } else {
                img[p] = nb[0];
                for (int q = 1; q < k; q++) im_uf_union(parent, nb[0], nb[q]);
            }
        }
    R_CheckUserInterrupt();

    /* marching squares: contour vertices on lattice edges between a
     * foreground and a background pixel centre, foreground on the left */
    R_xlen_t nbound = 0;
    for (int j = 0; j < ny; j++)
        for (int i = 0; i < nx; i++) {
            R_xlen_t p = (R_xlen_t) j * nx + i;
            if (i < nx - 1 && mask[p] != mask[p + 1]) nbound++;
            if (j < ny - 1 && mask[p] != mask[p + nx]) nbound++;
        }
    int *ru = (int *) R_alloc(nbound + 1, sizeof(int));
    int *rv = (int *) R_alloc(nbound + 1, sizeof(int));
    int *tu = (int *) R_alloc(nbound + 1, sizeof(int));
    int *tv = (int *) R_alloc(nbound + 1, sizeof(int));
    unsigned char *keep = (unsigned char *) R_alloc(nbound + 1, 1);
    R_xlen_t *stack = (R_xlen_t *) R_alloc(2 * nbound + 8, sizeof(R_xlen_t));
    /* rings: at most one per 4 boundary vertices */
    R_xlen_t maxring = nbound / 4 + 1;
    R_xlen_t *rstart = (R_xlen_t *) R_alloc(maxring + 1, sizeof(R_xlen_t));
    int *rlab = (int *) R_alloc(maxring, sizeof(int));
    int *rhole = (int *) R_alloc(maxring, sizeof(int));
    R_xlen_t nout = 0, nring = 0;
#define FG(i, j) (mask[(R_xlen_t) (j) * nx + (i)] & 1)
    enum { SB = 0, SR = 1, ST = 2, SL = 3 };
    for (int j = 1; j < ny - 1; j++) {
        for (int i = 0; i < nx - 1; i++) {
            R_xlen_t p0 = (R_xlen_t) j * nx + i;
            int a = FG(i, j), b = FG(i + 1, j);
            if (a == b || (mask[p0] & 8)) continue;
            int lab = im_uf_find(parent, a ? img[p0] : img[p0 + 1]);
            R_xlen_t k = 0;
            int ci, cj, side;
            tu[k] = 2 * i + 1;
            tv[k++] = 2 * j;
            mask[p0] |= 8;
            if (a) { ci = i; cj = j; side = SB; }
            else { ci = i; cj = j - 1; side = ST; }
            for (;;) {
                int A = FG(ci, cj), B = FG(ci + 1, cj);
                int C = FG(ci + 1, cj + 1), D = FG(ci, cj + 1);
                int ex;
                if (A && C && !B && !D) ex = side == SB ? SR : SL;
                else if (B && D && !A && !C) ex = side == SL ? SB : ST;
                else if (B && !A) ex = SB;
                else if (C && !B) ex = SR;
                else if (D && !C) ex = ST;
                else ex = SL;
                int hu, hv, hj = -1, hi = -1;
                switch (ex) {
                case SB:
                    hu = 2 * ci + 1; hv = 2 * cj; hi = ci; hj = cj;
                    cj--; side = ST; break;
                case SR:
                    hu = 2 * ci + 2; hv = 2 * cj + 1;
                    ci++; side = SL; break;
                case ST:
                    hu = 2 * ci + 1; hv = 2 * cj + 2; hi = ci; hj = cj + 1;
                    cj++; side = SB; break;
                default:
                    hu = 2 * ci; hv = 2 * cj + 1;
                    ci--; side = SR; break;
                }
                if (hj >= 0) {
                    if (hi == i && hj == j) break;
                    mask[(R_xlen_t) hj * nx + hi] |= 8;
                }
                if (k >= nbound) IM_BUG("contour longer than the boundary");
                tu[k] = hu;
                tv[k++] = hv;
            }
            /* drop vertices between collinear steps */
            R_xlen_t kc = 0;
            for (R_xlen_t q = 0; q < k; q++) {
                R_xlen_t qp = q == 0 ? k - 1 : q - 1;
                R_xlen_t qn = q + 1 < k ? q + 1 : 0;
                int d1u = (tu[q] > tu[qp]) - (tu[q] < tu[qp]);
                int d1v = (tv[q] > tv[qp]) - (tv[q] < tv[qp]);
                int d2u = (tu[qn] > tu[q]) - (tu[qn] < tu[q]);
                int d2v = (tv[qn] > tv[q]) - (tv[qn] < tv[q]);
                if (d1u == d2u && d1v == d2v) continue;
                tu[kc] = tu[q];
                tv[kc++] = tv[q];
            }
            /* optional simplification of larger rings */
            if (simp > 0 && kc > 8) {
                ring_simplify(tu, tv, kc, simp, keep, stack);
                R_xlen_t nk = 0;
                for (R_xlen_t q = 0; q < kc; q++) nk += keep[q];
                if (nk < 4) for (R_xlen_t q = 0; q < kc; q++) keep[q] = 1;
            } else {
                for (R_xlen_t q = 0; q < kc; q++) keep[q] = 1;
            }
            R_xlen_t kept = 0;
            for (R_xlen_t q = 0; q < kc; q++) {
                if (!keep[q]) continue;
                ru[nout + kept] = tu[q];
                rv[nout + kept] = tv[q];
                kept++;
            }
            double area2 = 0.0;
            for (R_xlen_t q = 0; q < kept; q++) {
                R_xlen_t qn = q + 1 < kept ? q + 1 : 0;
                area2 += (double) ru[nout + q] * rv[nout + qn] -
                         (double) ru[nout + qn] * rv[nout + q];
            }
            if (nring >= maxring) IM_BUG("too many rings");
            rstart[nring] = nout;
            rlab[nring] = lab;
            rhole[nring] = area2 < 0;
            nring++;
            nout += kept;
        }
    }
#undef FG
    rstart[nring] = nout;
    if (nout > INT_MAX) IM_BUG("window too complex");

    /* polygons numbered by first appearance of their component */
    int *pid = (int *) R_alloc(nl > 0 ? nl : 1, sizeof(int));
    for (int l = 0; l < nl; l++) pid[l] = 0;
    int npoly = 0;
    int nprot = 0;
    SEXP ox = PROTECT(Rf_allocVector(REALSXP, nout)); nprot++;
    SEXP oy = PROTECT(Rf_allocVector(REALSXP, nout)); nprot++;
    SEXP ors = PROTECT(Rf_allocVector(INTSXP, nring + 1)); nprot++;
    SEXP opoly = PROTECT(Rf_allocVector(INTSXP, nring)); nprot++;
    SEXP ohole = PROTECT(Rf_allocVector(LGLSXP, nring)); nprot++;
    for (R_xlen_t q = 0; q < nout; q++) {
        REAL(ox)[q] = X0 + (ru[q] + 1) * (0.5 * s);
        REAL(oy)[q] = Y0 + (rv[q] + 1) * (0.5 * s);
    }
    for (R_xlen_t r = 0; r < nring; r++) {
        INTEGER(ors)[r] = (int) rstart[r];
        if (!pid[rlab[r]]) pid[rlab[r]] = ++npoly;
        INTEGER(opoly)[r] = pid[rlab[r]];
        LOGICAL(ohole)[r] = rhole[r];
    }
    INTEGER(ors)[nring] = (int) nout;
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 5)); nprot++;
    SET_VECTOR_ELT(out, 0, ox);
    SET_VECTOR_ELT(out, 1, oy);
    SET_VECTOR_ELT(out, 2, ors);
    SET_VECTOR_ELT(out, 3, opoly);
    SET_VECTOR_ELT(out, 4, ohole);
    UNPROTECT(nprot);
    return out;
}
