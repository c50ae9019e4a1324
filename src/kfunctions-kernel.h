/* kfunctions-kernel.h -- pair and nearest-neighbour kernels of Ripley's K,
 * L, the pair correlation and G (plain C, no R API, safe in OpenMP).
 *
 * Every pair statistic is a sum over ordered pairs (i, j), i a `from` cell,
 * j a `to` cell within the largest distance, of an edge-correction weight
 * added to a range of the r grid.  The ranges are stored as difference
 * arrays ("add at the first index, subtract after the last"), so a pair
 * costs O(1) whatever the length of the grid, and a cumulative sum at the
 * end gives the curves:
 *
 *   K, L    one moment: the weight w over [k(d), last], where k(d) is the
 *           first grid index with r >= d (a distance equal to r counts);
 *           for the border correction the range stops before b_i.
 *   pcf     three moments (w, w d, w d^2) over the grid points within one
 *           kernel half-width of d: the Epanechnikov kernel is a quadratic
 *           in d, so these sums give the kernel sum at every r exactly.
 *
 * An accumulator holds ncomp = ncorr * nmom difference arrays of nr + 1
 * doubles (the extra slot takes the "subtract after the last" entries).
 */
#ifndef IMMUNOSCAPE_KFUNCTIONS_KERNEL_H
#define IMMUNOSCAPE_KFUNCTIONS_KERNEL_H

#include "grid.h"
#include "window.h"
#include <math.h>

/* Largest edge-correction weight (spatstat's maxedgewt). */
#define KF_MAXWEIGHT 100.0

/* Hot helpers are forced inline where the compiler allows it. */
#ifdef __GNUC__
#define KF_INLINE static inline __attribute__((always_inline))
#else
#define KF_INLINE static inline
#endif

/* Index of the lowest set bit of a non-zero word. */
KF_INLINE int kf_ctz64(uint64_t m) {
#ifdef __GNUC__
    return __builtin_ctzll(m);
#else
    int k = 0;
    while (!(m & 1)) { m >>= 1; k++; }
    return k;
#endif
}

/* Corrections of K, L and the pair correlation. */
enum { KF_NONE = 0, KF_ISO = 1, KF_TRANS = 2, KF_BORDER = 3, KF_NCORR = 4 };

/* The window seen by the kernels: an axis-parallel rectangle (closed
 * forms) or a polygon set (window.h), with an optional table of the set
 * covariance for translation weights. */
typedef struct {
    int rect;
    double xmin, xmax, ymin, ymax;
    double area;
    const im_window *poly;   /* rect == 0 */
    /* translation weights of polygon windows: the set covariance
     * |W intersected with W + v| is a piecewise quadratic function of the
     * shift v, tabulated at the nodes of a (2 oc + 1)^2 grid over
     * [-oreach, oreach]^2 and interpolated by a biquadratic on each of the
     * oc x oc cells, which is exact where no breakpoint crosses the cell;
     * cells where a breakpoint makes it differ from exact values by more
     * than 1e-6 of the area (oflag) use the exact overlap */
    const double *otab;
    const unsigned char *oflag;
    int oc;
    double oreach, ocell, oinv;
    /* convex polygon windows (one ring, e.g. the default convex hull):
     * W is the intersection of the half-planes nx x + ny y >= off of its
     * ne edges (unit inward normals), so boundary distances and isotropic
     * weights of points inside come from the edge lines alone */
    int ne;                  /* 0: not convex (general polygon code)       */
    const double *enx, *eny, *eoff;
    const double *eang;      /* direction of each outward normal (radians) */
} kf_window;

/* Fill the edge lines of a convex one-ring window (ne = 0 otherwise);
 * e: allocated by the caller, 4 * w->poly->nv doubles. */
void kf_window_convex(kf_window *w, double *e);

/* 1 if (x, y) is in the window (boundary included): the edge lines of a
 * convex window, else im_window_inside(). */
int kf_inside(const kf_window *w, double x, double y);

/* Biquadratic interpolation of the overlap table in cell (cx, cy) at
 * relative position (u, v) in [0, 1]^2. */
double kf_overlap_interp(const kf_window *w, int cx, int cy, double u,
                         double v);

/* The r grid and what to accumulate. */
typedef struct {
    int nr;                  /* grid values, r[0] = 0 < r[1] < ...        */
    const double *r;         /* r[-1] = -Inf, r[nr] = r[nr + 1] = +Inf    */
    int even;                /* 1: r[k] = k * step up to rounding          */
    double inv_step;
    double reach;            /* pairs with d <= reach are enumerated       */
    int pcf;                 /* 0: K (one moment), 1: pcf (three moments)  */
    double h;                /* pcf kernel half-width                      */
    int cidx[KF_NCORR];      /* correction -> its position, or -1          */
    int ncorr, nmom, ncomp;  /* ncomp = ncorr * nmom                       */
    int binned_border;       /* 1: spatstat's Kcross reduced sample        */
    R_xlen_t stride;         /* nr + 1                                     */
} kf_spec;

/* ---- r grid lookups ------------------------------------------------ */

/* Smallest k with r[k] >= x (nr if none).  On an even grid (r[k] = k step
 * to 1e-9 relative) it is ceil(x / step) unless x / step is within 1e-8
 * of an integer; there the guess floor(x / step) is within one of the
 * answer and three comparisons settle it. */
static inline int kf_index_ge(const kf_spec *s, double x) {
    const double *r = s->r;
    int nr = s->nr;
    if (s->even) {
        double g = x * s->inv_step;
        if (g > 0 && g < (double) nr) {
            int k0 = (int) g;
            double f = g - k0;
            if (f > 1e-8 && f < 1.0 - 1e-8) return k0 + 1;
        }
        int k = g < (double) nr ? (g > 0 ? (int) g : 0) : nr;
        k += r[k] < x;
        k += r[k] < x;
        k -= r[k - 1] >= x;
        return k;
    }
    if (!(x > r[0])) return 0;
    if (x > r[nr - 1]) return nr;
    int lo = 0, hi = nr - 1;               /* r[hi] >= x > r[lo] */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (r[mid] >= x) hi = mid; else lo = mid;
    }
    return hi;
}

/* Smallest k with r[k] > x (nr if none). */
static inline int kf_index_gt(const kf_spec *s, double x) {
    int k = kf_index_ge(s, x);
    while (k < s->nr && s->r[k] <= x) k++;
    return k;
}

/* Last grid index that the border correction lets a centre with boundary
 * distance b contribute to: r[k] < b (exact reduced sample, as spatstat's
 * Kest), or r[k-1] <= b (spatstat's Kcross, which tabulates b on the grid
 * intervals [r[k-1], r[k]) with r[-1] = -step).  -1: none. */
static inline int kf_border_last(const kf_spec *s, double b) {
    int k = s->binned_border ? kf_index_gt(s, b) : kf_index_ge(s, b) - 1;
    return k < s->nr - 1 ? k : s->nr - 1;
}

/* ---- edge corrections ---------------------------------------------- */

/* Distance from (x, y) to the window boundary. */
double kf_bdist(const kf_window *w, double x, double y);

/* Ripley's isotropic weight of a pair at distance d centred at (x, y)
 * with boundary distance b: 1 / (fraction of the circle inside W),
 * between 1 and KF_MAXWEIGHT; NaN only if window.h ran out of memory. */
double kf_iso_weight(const kf_window *w, double x, double y, double b,
                     double d);

/* Translation weight |W| / |W intersected with W + (dx, dy)|, capped. */
double kf_trans_weight(const kf_window *w, double dx, double dy);

/* ---- passes over pairs ------------------------------------------------ */

/* Several patterns side by side in one index (the simulations of a CSR
 * envelope): the points of pattern j are shifted by j * shift in x, far
 * enough apart that no pair crosses two patterns; query k belongs to
 * pattern set[k], its window position is x - set[k] * shift, and its
 * pairs go to the accumulator acc + set[k] * size. */
typedef struct {
    const int *set;          /* [queries, in Q order] pattern of each     */
    double shift;
    R_xlen_t size;           /* doubles per pattern's accumulator         */
} kf_sets;

/* Ordered pairs (i, j), i among queries [q0, q1) of Q, j among the points
 * of the index g (i and j the same original point are skipped), added to
 * acc.  bq[k]: boundary distance of query k (NULL if not needed).  sets:
 * NULL for one pattern, else see kf_sets. */
im_status kf_pass_cross(const kf_spec *s, const kf_window *w,
                        const im_grid *g, const im_queries *Q,
                        const double *bq, R_xlen_t q0, R_xlen_t q1,
                        const kf_sets *sets, double *acc);

/* Pairs within one set: points [p0, p1) of the index g with every later
 * point, counted in both directions.  bg[p]: boundary distance of index
 * point p (NULL if not needed). */
im_status kf_pass_self(const kf_spec *s, const kf_window *w,
                       const im_grid *g, const double *bg, R_xlen_t p0,
                       R_xlen_t p1, double *acc);

/* Random relabelling: pairs within the pool g as in kf_pass_self; the
 * direction p -> q is added to the accumulator of every labelling s whose
 * bit is set in fbits[p] (p a `from` cell) and tbits[q] (q a `to` cell).
 * nw words of bits per point; acc holds nsim1 accumulators of
 * ncomp * stride doubles. */
im_status kf_pass_labels(const kf_spec *s, const kf_window *w,
                         const im_grid *g, const double *bg,
                         const uint64_t *fbits, const uint64_t *tbits,
                         int nw, R_xlen_t p0, R_xlen_t p1, double *acc);

/* ---- nearest neighbours (G) ------------------------------------------ */

/* Histogram slots of G, each nr + 1 counts (the last: above the grid). */
enum { KG_NONE = 0, KG_HAN = 1, KG_OBS = 2, KG_NCO = 3, KG_CEN = 4,
       KG_NCC = 5, KG_NH = 6 };

/* Add the cell with nearest-neighbour distance nnd (Inf: none) and
 * boundary distance b to the G histograms hist[KG_NH][nr + 1]. */
void kf_g_add(const kf_spec *s, double nnd, double b, double *hist);

/* Random relabelling for G: for pool points [p0, p1) of g that are `from`
 * cells in some labelling, the nearest `to` cell within s->reach in each
 * labelling, added to hist[nsim1][KG_NH][nr + 1].  best: scratch of
 * 64 * nw doubles. */
void kf_g_labels(const kf_spec *s, const im_grid *g, const double *bg,
                 const uint64_t *fbits, const uint64_t *tbits, int nw,
                 R_xlen_t p0, R_xlen_t p1, double *best, double *hist);

#endif
