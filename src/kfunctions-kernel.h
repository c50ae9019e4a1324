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

/* Edge lines of a convex window kept per centre: at most KF_NEAR (more
 * go to the general polygon code). */
#define KF_NEAR 32

/* The edge lines of a convex window (w->ne > 0) closer than reach to
 * (x, y): signed distances e[] and outward normal directions c[] (arrays
 * of KF_NEAR); returns their number, or -1 if more than KF_NEAR.  Computed
 * once per centre, it serves every pair of the centre up to reach. */
int kf_near_edges(const kf_window *w, double x, double y, double reach,
                  double *e, double *c);

/* Angle of the circle of radius d about a centre that lies outside a
 * convex window, from the centre's near edge lines (kf_near_edges() with
 * reach >= d): the union of the arcs beyond each line closer than d
 * (half-angle acos(e / d) about the outward normal).  fast = 1 uses
 * kf_acos_fast() (simulations only), 0 the C library's acos(). */
double kf_arcs_outside(const double *e, const double *c, int ne, double d,
                       int fast);

/* acos(q) for q in [-1, 1] by a polynomial: absolute error below 2e-12
 * (1.84e-12 on a grid of 2e6 + 1 points; tests check 1e-11), so the
 * isotropic weight of a simulated pair, 1 / (1 - outside / 2 pi) with
 * at most 2 KF_NEAR arc ends and weights capped at KF_MAXWEIGHT, is off
 * by less than 2 KF_NEAR 2e-12 KF_MAXWEIGHT / (2 pi) = 4.1e-9 relative.
 * Coefficients: tools/acos-poly.R 12. */
#define KF_ACOS_DEG 12
#define KF_ACOS_COEF                                                      \
    1.5707963267930607, -0.21460183596178586, 0.089048585389880419,       \
    -0.050791961713588261, 0.033671016274448184, -0.024299703230070038,   \
    0.018317353310608867, -0.013721503254338921, 0.0094804510144021574,   \
    -0.0054831194543818983, 0.0023684587020597293,                        \
    -0.00065622044501554156, 8.5714949170556808e-05
double kf_acos_fast(double q);

/* The polynomial of kf_acos_fast() for q in [0, 1], inline. */
static inline double kf_acos_poly(double q) {
    static const double p[KF_ACOS_DEG + 1] = {KF_ACOS_COEF};
    /* Estrin's scheme (short dependency chains), degree 12 */
    double q2 = q * q, q4 = q2 * q2, q8 = q4 * q4;
    double u0 = (p[0] + p[1] * q) + (p[2] + p[3] * q) * q2;
    double u1 = (p[4] + p[5] * q) + (p[6] + p[7] * q) * q2;
    double u2 = (p[8] + p[9] * q) + (p[10] + p[11] * q) * q2;
    double v = (u0 + u1 * q4) + (u2 + p[12] * q4) * q8;
    return v * sqrt(1.0 - q);
}

/* Ripley's isotropic weight from the angle of the circle outside W:
 * 1 / (fraction inside), within [1, KF_MAXWEIGHT]. */
static inline double kf_weight_outside(double out) {
    double frac = 1.0 - out / (2.0 * M_PI);
    double wt = frac > 0 ? 1.0 / frac : KF_MAXWEIGHT;
    if (wt > KF_MAXWEIGHT) wt = KF_MAXWEIGHT;
    if (wt < 1.0) wt = 1.0;
    return wt;
}

/* Distance from (x, y) to the window boundary. */
double kf_bdist(const kf_window *w, double x, double y);

/* Ripley's isotropic weight of a pair at distance d centred at (x, y)
 * with boundary distance b: 1 / (fraction of the circle inside W),
 * between 1 and KF_MAXWEIGHT; NaN only if window.h ran out of memory. */
double kf_iso_weight(const kf_window *w, double x, double y, double b,
                     double d);

/* The same; fast = 1 (simulated pairs only) takes the arc angles of
 * convex windows from kf_acos_fast(). */
double kf_iso_weight_sim(const kf_window *w, double x, double y, double b,
                         double d, int fast);

/* Translation weight |W| / |W intersected with W + (dx, dy)|, capped. */
double kf_trans_weight(const kf_window *w, double dx, double dy);

/* ---- passes over pairs ------------------------------------------------ */

/* Several patterns side by side in one index (the simulations of a CSR
 * envelope): the points of pattern j are shifted by j * shift in x, far
 * enough apart that no pair crosses two patterns; query k belongs to
 * pattern set[k], its window position is x - set[k] * shift, and its
 * pairs go to the accumulator acc + set[k] * size.  Their isotropic
 * weights in convex windows use kf_acos_fast() (Monte Carlo patterns:
 * relative error below 4.1e-9, see there). */
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

/* The simulated pairs of kf_pass_cross() the other way round, for K and
 * L without the border correction: the index g holds the `from` points
 * (bg[p]: boundary distance of index point p) and the queries are the
 * `to` points, so a cohort of few `to` cells (CD8 T among many tumour
 * cells) visits the index from the few.  Each pair is added with the
 * weights of its `from` centre, as kf_pass_cross() adds it; L (or NULL):
 * the near edge lines of each index point in a convex window. */
typedef struct {
    const R_xlen_t *off;     /* [g->n + 1] lines of index point p:
                                off[p] .. off[p + 1] - 1                  */
    const int *ok;           /* [g->n] 0: more than KF_NEAR lines (general
                                code)                                      */
    const double *e, *c;     /* signed distances, outward normal angles   */
} kf_near_lists;

im_status kf_pass_cross_to(const kf_spec *s, const kf_window *w,
                           const im_grid *g, const double *bg,
                           const kf_near_lists *L, const im_queries *Q,
                           R_xlen_t q0, R_xlen_t q1, const kf_sets *sets,
                           double *acc);

/* Pairs within one set: points [p0, p1) of the index g with every later
 * point, counted in both directions.  bg[p]: boundary distance of index
 * point p (NULL if not needed). */
im_status kf_pass_self(const kf_spec *s, const kf_window *w,
                       const im_grid *g, const double *bg, R_xlen_t p0,
                       R_xlen_t p1, double *acc);

/* Moments of the random-labelling null (whole slides): every ordered
 * pair (p, q), p among points [p0, p1) of the index g and q any other
 * point of it within reach, with the weight w_pq (isotropic weight about
 * p, or 1 without the isotropic correction) at the first grid index
 * k(d) with r >= d.  acc holds KF_MOM_ROWS + ntype^2 rows of s->stride
 * doubles: S0 (sum of w_pq), Q1 (w_pq^2), Q1T (w_pq w_qp) and the
 * type-pair sums T[a * ntype + b] (w_pq, p of type a, q of type b) as
 * point adds (cumulated by the caller); RR, CC, RC as sums over p of
 * R_p(r)^2, C_p(r)^2, R_p(r) C_p(r) at each r, where R_p(r) = sum over
 * q of w_pq and C_p(r) = sum over q of w_qp (d <= r); two scratch rows
 * that are left at zero.  codes: 0-based type of each index point (grid
 * order). */
enum { KF_MOM_S0 = 0, KF_MOM_Q1, KF_MOM_Q1T, KF_MOM_RR, KF_MOM_CC,
       KF_MOM_RC, KF_MOM_SR, KF_MOM_SC, KF_MOM_ROWS };
im_status kf_pass_moments(const kf_spec *s, const kf_window *w,
                          const im_grid *g, const double *bg,
                          const int *codes, int ntype, R_xlen_t p0,
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
