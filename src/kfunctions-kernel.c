/* kfunctions-kernel.c -- pair and nearest-neighbour kernels of K, L, pcf
 * and G (see kfunctions-kernel.h).  Plain C: no R API. */
#include "kfunctions-kernel.h"

/* ---- edge corrections ------------------------------------------------ */

void kf_window_convex(kf_window *w, double *e) {
    w->ne = 0;
    int nv0 = w->poly ? w->poly->nv : 0;
    double *nx = e, *ny = e + nv0, *off = e + 2 * nv0, *ang = e + 3 * nv0;
    const im_window *p = w->poly;
    if (w->rect || !p || p->nring != 1 || p->nv < 3) return;
    int nv = p->nv;
    /* orientation from the signed area; convex when no turn goes the
     * other way (collinear vertices allowed) */
    double a2 = 0.0;
    for (int k = 0; k < nv; k++) {
        int j = p->next[k];
        a2 += p->x[k] * p->y[j] - p->x[j] * p->y[k];
    }
    if (!(fabs(a2) > 0)) return;
    double sg = a2 > 0 ? 1.0 : -1.0;
    int ne = 0;
    for (int k = 0; k < nv; k++) {
        int j = p->next[k], l = p->next[j];
        double ux = p->x[j] - p->x[k], uy = p->y[j] - p->y[k];
        double vx = p->x[l] - p->x[j], vy = p->y[l] - p->y[j];
        double cr = ux * vy - uy * vx;
        double scale = sqrt((ux * ux + uy * uy) * (vx * vx + vy * vy));
        if (sg * cr < -1e-12 * scale) return;
        double len = sqrt(ux * ux + uy * uy);
        if (!(len > 0)) continue;
        /* inward normal: left of the edge for a counter-clockwise ring */
        nx[ne] = -sg * uy / len;
        ny[ne] = sg * ux / len;
        off[ne] = nx[ne] * p->x[k] + ny[ne] * p->y[k];
        ang[ne] = atan2(-ny[ne], -nx[ne]);
        ne++;
    }
    w->eang = ang;
    w->enx = nx;
    w->eny = ny;
    w->eoff = off;
    w->ne = ne;
}

/* Smallest signed distance of (x, y) to the edge lines of a convex window
 * (negative outside). */
static inline double convex_margin(const kf_window *w, double x, double y) {
    double m = R_PosInf;
    for (int k = 0; k < w->ne; k++) {
        double e = w->enx[k] * x + w->eny[k] * y - w->eoff[k];
        if (e < m) m = e;
    }
    return m;
}

int kf_near_edges(const kf_window *w, double x, double y, double reach,
                  double *e, double *c) {
    int n = 0;
    for (int k = 0; k < w->ne; k++) {
        double ek = w->enx[k] * x + w->eny[k] * y - w->eoff[k];
        if (!(ek < reach)) continue;
        if (n == KF_NEAR) return -1;
        e[n] = ek;
        c[n++] = w->eang[k];
    }
    return n;
}

double kf_acos_fast(double q) {
    /* acos(q) = sqrt(1 - q) P(q) on [0, 1], P a least-squares polynomial
     * of degree KF_ACOS_DEG on Chebyshev nodes (tools/acos-poly.R);
     * acos(-q) = pi - acos(q) */
    double v = kf_acos_poly(fabs(q));
    return q < 0 ? M_PI - v : v;
}

KF_INLINE double arcs_outside(const double *e, const double *c, int ne,
                              double d, int fast) {
    double lo[2 * KF_NEAR], hi[2 * KF_NEAR];
    int n = 0;
    const double twopi = 2.0 * M_PI;
    for (int k = 0; k < ne; k++) {
        if (!(e[k] < d)) continue;
        double q = e[k] / d;
        double a = q > -1.0 ? (!fast     ? acos(q)
                               : q >= 0.0 ? kf_acos_poly(q)
                                          : kf_acos_fast(q))
                            : M_PI;
        if (a >= M_PI) return twopi;
        double s0 = c[k] - a, s1 = c[k] + a;     /* about the outward normal */
        while (s0 < 0) { s0 += twopi; s1 += twopi; }
        while (s0 >= twopi) { s0 -= twopi; s1 -= twopi; }
        if (s1 > twopi) {
            lo[n] = s0; hi[n++] = twopi;
            lo[n] = 0.0; hi[n++] = s1 - twopi;
        } else {
            lo[n] = s0; hi[n++] = s1;
        }
    }
    if (n == 0) return 0.0;
    if (n == 1) return hi[0] - lo[0];
    /* insertion sort by start (few arcs), then the union's length */
    for (int i = 1; i < n; i++) {
        double l = lo[i], h = hi[i];
        int j = i - 1;
        while (j >= 0 && lo[j] > l) { lo[j + 1] = lo[j]; hi[j + 1] = hi[j]; j--; }
        lo[j + 1] = l;
        hi[j + 1] = h;
    }
    double out = 0.0, cl0 = 0.0, ch = -1.0;
    for (int i = 0; i < n; i++) {
        if (lo[i] > ch) {
            if (ch > cl0) out += ch - cl0;
            cl0 = lo[i];
            ch = hi[i];
        } else if (hi[i] > ch) {
            ch = hi[i];
        }
    }
    if (ch > cl0) out += ch - cl0;
    return out;
}

double kf_arcs_outside(const double *e, const double *c, int ne, double d,
                       int fast) {
    return arcs_outside(e, c, ne, d, fast);
}

/* Angle of the circle of radius d about (x, y) that lies outside a convex
 * window (kf_arcs_outside() over the edge lines closer than d); -1 when
 * more than KF_NEAR lines cut the circle. */
static double convex_outside_angle(const kf_window *w, double x, double y,
                                   double d, int fast) {
    double e[KF_NEAR], c[KF_NEAR];
    int n = kf_near_edges(w, x, y, d, e, c);
    return n < 0 ? -1.0 : kf_arcs_outside(e, c, n, d, fast);
}

int kf_inside(const kf_window *w, double x, double y) {
    if (w->ne) return convex_margin(w, x, y) >= 0;
    if (w->rect)
        return x >= w->xmin && x <= w->xmax && y >= w->ymin && y <= w->ymax;
    return im_window_inside(w->poly, x, y);
}

double kf_bdist(const kf_window *w, double x, double y) {
    if (w->ne) {
        double m = convex_margin(w, x, y);
        if (m >= 0) return m;
    }
    if (w->rect) {
        double b = x - w->xmin;
        double t = w->xmax - x;
        if (t < b) b = t;
        t = y - w->ymin;
        if (t < b) b = t;
        t = w->ymax - y;
        if (t < b) b = t;
        return b > 0 ? b : 0.0;
    }
    return im_window_bdist(w->poly, x, y);
}

/* Angle of the circle of radius d centred at (x, y) that lies outside an
 * axis-parallel rectangle.  For each side at distance e < d the circle
 * leaves the rectangle over an arc of half-angle acos(e / d) about the
 * side's normal; on either half the arc is cut at the direction of the
 * side's corner (beyond it the part outside is counted by the adjacent
 * side).  A centre on a corner also loses the quarter behind the corner.
 * Exact while the circle does not reach two opposite sides on one side of
 * a corner, which holds for d up to the shorter side. */
static double rect_outside_angle(const kf_window *w, double x, double y,
                                 double d) {
    /* distances to the sides, in cyclic order left, bottom, right, top */
    double e[4] = {x - w->xmin, y - w->ymin, w->xmax - x, w->ymax - y};
    double out = 0.0;
    int on = 0;
    for (int k = 0; k < 4; k++) {
        if (fabs(e[k]) < 2.220446049250313e-16) on++;
        if (!(e[k] < d)) continue;
        double a = acos(e[k] / d);
        double c1 = atan2(e[(k + 3) & 3], e[k]);   /* towards one corner */
        double c2 = atan2(e[(k + 1) & 3], e[k]);   /* towards the other  */
        out += (a < c1 ? a : c1) + (a < c2 ? a : c2);
    }
    if (on >= 2) out += M_PI / 2.0;
    return out;
}

double kf_iso_weight(const kf_window *w, double x, double y, double b,
                     double d) {
    return kf_iso_weight_sim(w, x, y, b, d, 0);
}

double kf_iso_weight_sim(const kf_window *w, double x, double y, double b,
                         double d, int fast) {
    if (d <= b || d == 0.0) return 1.0;
    double wt, out;
    if (w->rect) {
        double frac = 1.0 - rect_outside_angle(w, x, y, d) / (2.0 * M_PI);
        wt = frac > 0 ? 1.0 / frac : KF_MAXWEIGHT;
    } else if (w->ne && (out = convex_outside_angle(w, x, y, d, fast)) >= 0) {
        return kf_weight_outside(out);
    } else {
        double frac = im_window_circle_frac(w->poly, x, y, d);
        if (ISNAN(frac)) return frac;
        wt = frac > 0 ? 1.0 / frac : KF_MAXWEIGHT;
    }
    if (wt > KF_MAXWEIGHT) wt = KF_MAXWEIGHT;
    if (wt < 1.0) wt = 1.0;
    return wt;
}

double kf_trans_weight(const kf_window *w, double dx, double dy) {
    double ov;
    if (w->rect) {
        double a = w->xmax - w->xmin - fabs(dx);
        double c = w->ymax - w->ymin - fabs(dy);
        ov = a > 0 && c > 0 ? a * c : 0.0;
    } else if (w->otab) {
        double fx = (dx + w->oreach) * w->oinv;
        double fy = (dy + w->oreach) * w->oinv;
        int cx = (int) floor(fx), cy = (int) floor(fy);
        if (cx < 0) cx = 0;
        if (cx > w->oc - 1) cx = w->oc - 1;
        if (cy < 0) cy = 0;
        if (cy > w->oc - 1) cy = w->oc - 1;
        if (w->oflag[(R_xlen_t) cy * w->oc + cx]) {
            ov = im_window_overlap(w->poly, dx, dy);
            if (ISNAN(ov)) return ov;
        } else {
            ov = kf_overlap_interp(w, cx, cy, fx - cx, fy - cy);
        }
    } else {
        ov = im_window_overlap(w->poly, dx, dy);
        if (ISNAN(ov)) return ov;
    }
    double wt = ov > 0 ? w->area / ov : KF_MAXWEIGHT;
    return wt < KF_MAXWEIGHT ? wt : KF_MAXWEIGHT;
}

double kf_overlap_interp(const kf_window *w, int cx, int cy, double u,
                         double v) {
    /* Lagrange basis on the nodes 0, 1/2, 1 of each axis */
    double lu[3] = {2.0 * (u - 0.5) * (u - 1.0), -4.0 * u * (u - 1.0),
                    2.0 * u * (u - 0.5)};
    double lv[3] = {2.0 * (v - 0.5) * (v - 1.0), -4.0 * v * (v - 1.0),
                    2.0 * v * (v - 0.5)};
    R_xlen_t nn = 2 * (R_xlen_t) w->oc + 1;
    const double *t = w->otab + 2 * (R_xlen_t) cy * nn + 2 * (R_xlen_t) cx;
    double s = 0.0;
    for (int j = 0; j < 3; j++, t += nn)
        s += lv[j] * (lu[0] * t[0] + lu[1] * t[1] + lu[2] * t[2]);
    return s;
}

/* ---- adding one ordered pair ------------------------------------------ */

KF_INLINE double trans_weight(const kf_window *w, double dx, double dy) {
    if (w->rect) {
        double a = w->xmax - w->xmin - fabs(dx);
        double c = w->ymax - w->ymin - fabs(dy);
        double wt = a > 0 && c > 0 ? w->area / (a * c) : KF_MAXWEIGHT;
        return wt < KF_MAXWEIGHT ? wt : KF_MAXWEIGHT;
    }
    return kf_trans_weight(w, dx, dy);
}

/* What every direction of a pair needs. */
typedef struct {
    double d;
    int kd;            /* K: first index with r >= d                      */
    int klo, khi;      /* pcf: indices with |r - d| < h                   */
    double wt;         /* translation weight (symmetric)                  */
} kf_pair;

KF_INLINE void pair_prepare(const kf_spec *s, const kf_window *w,
                            kf_pair *P, double dx, double dy, double d2) {
    P->d = sqrt(d2);
    P->kd = P->klo = 0;
    P->khi = -1;
    if (s->pcf) {
        P->klo = kf_index_gt(s, P->d - s->h);
        P->khi = kf_index_ge(s, P->d + s->h) - 1;
    } else {
        P->kd = kf_index_ge(s, P->d);
    }
    P->wt = s->cidx[KF_TRANS] >= 0 ? trans_weight(w, dx, dy) : 1.0;
}

/* Isotropic weight, without a call for the common centre far enough from
 * the boundary. */
KF_INLINE double iso_weight(const kf_window *w, double x, double y,
                           double b, double d) {
    return d <= b ? 1.0 : kf_iso_weight(w, x, y, b, d);
}

/* Range add of weight v (moments v, v d, v d^2 for pcf) over [k0, k1]. */
KF_INLINE void range_add(const kf_spec *s, double *a, int k0, int k1,
                         double v, double d) {
    if (k1 < k0) return;
    if (!s->pcf) {
        a[k0] += v;
        if (k1 < s->nr - 1) a[k1 + 1] -= v;
        return;
    }
    double vd = v * d, vd2 = vd * d;
    R_xlen_t st = s->stride;
    a[k0] += v;
    a[k1 + 1] -= v;
    a[st + k0] += vd;
    a[st + k1 + 1] -= vd;
    a[2 * st + k0] += vd2;
    a[2 * st + k1 + 1] -= vd2;
}

/* The direction centre -> other of a prepared pair: centre with boundary
 * distance b, isotropic weight wi (computed by the caller if needed). */
KF_INLINE void pair_add(const kf_spec *s, const kf_pair *P, double b,
                        double wi, double *acc) {
    int k0, k1;
    if (s->pcf) {
        k0 = P->klo;
        k1 = P->khi;
    } else {
        k0 = P->kd;
        k1 = s->nr - 1;
    }
    if (k0 > k1) return;
    R_xlen_t blk = (R_xlen_t) s->nmom * s->stride;
    int c;
    if ((c = s->cidx[KF_NONE]) >= 0)
        range_add(s, acc + c * blk, k0, k1, 1.0, P->d);
    if ((c = s->cidx[KF_ISO]) >= 0)
        range_add(s, acc + c * blk, k0, k1, wi, P->d);
    if ((c = s->cidx[KF_TRANS]) >= 0)
        range_add(s, acc + c * blk, k0, k1, P->wt, P->d);
    if ((c = s->cidx[KF_BORDER]) >= 0) {
        if (s->binned_border && P->d > b) return;
        int kb = kf_border_last(s, b);
        range_add(s, acc + c * blk, k0, k1 < kb ? k1 : kb, 1.0, P->d);
    }
}

/* ---- passes ---------------------------------------------------------- */

/* K without the border correction (the fast path of the passes): one
 * point add per correction at the first grid index with r >= d, into
 * these difference arrays. */
typedef struct {
    double *none, *iso, *trans;
} kf_point_acc;

static inline kf_point_acc point_acc(const kf_spec *s, double *acc) {
    kf_point_acc a;
    a.none = s->cidx[KF_NONE] >= 0 ? acc + s->cidx[KF_NONE] * s->stride : 0;
    a.iso = s->cidx[KF_ISO] >= 0 ? acc + s->cidx[KF_ISO] * s->stride : 0;
    a.trans = s->cidx[KF_TRANS] >= 0 ? acc + s->cidx[KF_TRANS] * s->stride
                                     : 0;
    return a;
}

/* Candidates of one span are screened in chunks of KF_BUF: distances are
 * computed and the indices of those within reach compacted without
 * branches, then the pairs within reach are added. */
#define KF_BUF 256

KF_INLINE int screen(const im_grid *g, double px, double py, R_xlen_t lo,
                     R_xlen_t hi, R_xlen_t skip, double hi2, R_xlen_t *bj,
                     double *bd2) {
    int m = 0;
    for (R_xlen_t j = lo; j < hi; j++) {
        double dx = g->xs[j] - px, dy = g->ys[j] - py;
        double d2 = dx * dx + dy * dy;
        bj[m] = j;
        bd2[m] = d2;
        m += (d2 <= hi2) & (g->id[j] != skip);
    }
    return m;
}

im_status kf_pass_cross(const kf_spec *s, const kf_window *w,
                        const im_grid *g, const im_queries *Q,
                        const double *bq, R_xlen_t q0, R_xlen_t q1,
                        const kf_sets *sets, double *acc0) {
    const im_radius rq = im_radius_make(s->reach);
    const int need_iso = s->cidx[KF_ISO] >= 0;
    const int fast = !s->pcf && s->cidx[KF_BORDER] < 0;
    kf_point_acc pa = point_acc(s, acc0);
    double *acc = acc0;
    R_xlen_t bj[KF_BUF];
    double bd2[KF_BUF];
    /* convex windows: the edge lines near each query, found once for all
     * its pairs (near < 0: general code) */
    const int conv = need_iso && w->ne > 0 && !w->rect;
    const int fast_acos = sets != NULL;
    double ne_e[KF_NEAR], ne_c[KF_NEAR];
    for (R_xlen_t k = q0; k < q1; k++) {
        double qx = Q->x[k], qy = Q->y[k];
        R_xlen_t self = Q->id[k];
        double b = bq ? bq[k] : 0.0;
        /* the query's position in the window (its pattern's shift off) */
        double wx = qx;
        if (sets) {
            int j = sets->set[k];
            acc = acc0 + (R_xlen_t) j * sets->size;
            pa = point_acc(s, acc);
            wx = qx - j * sets->shift;
        }
        int near = -1;
        if (conv && b < s->reach)
            near = kf_near_edges(w, wx, qy, s->reach, ne_e, ne_c);
        im_disc it;
        R_xlen_t lo, hi;
        im_disc_begin(g, qx, qy, s->reach, &it);
        while (im_disc_next(g, &it, &lo, &hi)) {
            for (R_xlen_t c = lo; c < hi; c += KF_BUF) {
                R_xlen_t ce = c + KF_BUF < hi ? c + KF_BUF : hi;
                int m = screen(g, qx, qy, c, ce, self, rq.hi2, bj, bd2);
                for (int t = 0; t < m; t++) {
                    R_xlen_t j = bj[t];
                    double d2 = bd2[t];
                    double dx = g->xs[j] - qx, dy = g->ys[j] - qy;
                    if (fast) {
                        /* kd == nr (the spare slot): d > r[nr-1], within
                         * the rounding slack of the screen only */
                        double d = sqrt(d2);
                        int kd = kf_index_ge(s, d);
                        int out = kd >= s->nr;
                        if (pa.none) pa.none[kd] += 1.0;
                        if (pa.iso) {
                            double wi =
                                (d <= b) | out ? 1.0
                                : near >= 0
                                    ? kf_weight_outside(kf_arcs_outside(
                                          ne_e, ne_c, near, d, fast_acos))
                                    : kf_iso_weight(w, wx, qy, b, d);
                            if (ISNAN(wi)) return IM_ERR_ALLOC;
                            pa.iso[kd] += wi;
                        }
                        if (pa.trans) {
                            double wt = trans_weight(w, dx, dy);
                            if (ISNAN(wt)) return IM_ERR_ALLOC;
                            pa.trans[kd] += wt;
                        }
                        continue;
                    }
                    if (!im_within(d2, &rq)) continue;
                    kf_pair P;
                    pair_prepare(s, w, &P, dx, dy, d2);
                    double wi =
                        !need_iso || P.d <= b ? 1.0
                        : near >= 0 ? kf_weight_outside(kf_arcs_outside(
                                          ne_e, ne_c, near, P.d, fast_acos))
                                    : kf_iso_weight(w, wx, qy, b, P.d);
                    if (ISNAN(wi) || ISNAN(P.wt)) return IM_ERR_ALLOC;
                    pair_add(s, &P, b, wi, acc);
                }
            }
        }
    }
    return IM_OK;
}

/* Isotropic weight of a simulated pair from its centre's near lines
 * (kf_arcs_outside() with kf_acos_fast(); one line cut: its arc). */
KF_INLINE double near_weight(const double *e, const double *c, int n,
                             double d) {
    int cut = 0;
    double a = 0.0;
    for (int k = 0; k < n; k++) {
        if (e[k] < d) {
            cut++;
            a = e[k];
        }
    }
    if (cut == 0) return 1.0;
    if (cut == 1 && a >= 0)
        return kf_weight_outside(2.0 * kf_acos_poly(a / d));
    return kf_weight_outside(arcs_outside(e, c, n, d, 1));
}

im_status kf_pass_cross_to(const kf_spec *s, const kf_window *w,
                           const im_grid *g, const double *bg,
                           const kf_near_lists *L, const im_queries *Q,
                           R_xlen_t q0, R_xlen_t q1, const kf_sets *sets,
                           double *acc0) {
    if (s->pcf || s->cidx[KF_BORDER] >= 0) return IM_ERR_INPUT;
    const im_radius rq = im_radius_make(s->reach);
    kf_point_acc pa = point_acc(s, acc0);
    R_xlen_t bj[KF_BUF];
    double bd2[KF_BUF];
    for (R_xlen_t k = q0; k < q1; k++) {
        double qx = Q->x[k], qy = Q->y[k];
        R_xlen_t self = Q->id[k];
        /* window positions of the query's pattern: x - off */
        double off = 0.0;
        if (sets) {
            int j = sets->set[k];
            pa = point_acc(s, acc0 + (R_xlen_t) j * sets->size);
            off = j * sets->shift;
        }
        im_disc it;
        R_xlen_t lo, hi;
        im_disc_begin(g, qx, qy, s->reach, &it);
        while (im_disc_next(g, &it, &lo, &hi)) {
            for (R_xlen_t c = lo; c < hi; c += KF_BUF) {
                R_xlen_t ce = c + KF_BUF < hi ? c + KF_BUF : hi;
                int m = screen(g, qx, qy, c, ce, self, rq.hi2, bj, bd2);
                for (int t = 0; t < m; t++) {
                    R_xlen_t p = bj[t];
                    /* kd == nr: the spare slot (beyond the last r) */
                    double d = sqrt(bd2[t]);
                    int kd = kf_index_ge(s, d);
                    int out = kd >= s->nr;
                    if (pa.none) pa.none[kd] += 1.0;
                    if (pa.iso) {
                        double b = bg[p];
                        double wi =
                            (d <= b) | out ? 1.0
                            : L && sets && L->ok[p]
                                ? near_weight(L->e + L->off[p],
                                              L->c + L->off[p],
                                              (int) (L->off[p + 1] -
                                                     L->off[p]), d)
                                : kf_iso_weight_sim(w, g->xs[p] - off,
                                                    g->ys[p], b, d,
                                                    sets != NULL);
                        if (ISNAN(wi)) return IM_ERR_ALLOC;
                        pa.iso[kd] += wi;
                    }
                    if (pa.trans) {
                        double wt = trans_weight(w, qx - g->xs[p],
                                                 qy - g->ys[p]);
                        if (ISNAN(wt)) return IM_ERR_ALLOC;
                        pa.trans[kd] += wt;
                    }
                }
            }
        }
    }
    return IM_OK;
}

im_status kf_pass_self(const kf_spec *s, const kf_window *w,
                       const im_grid *g, const double *bg, R_xlen_t p0,
                       R_xlen_t p1, double *acc) {
    const im_radius rq = im_radius_make(s->reach);
    const int need_iso = s->cidx[KF_ISO] >= 0;
    const int fast = !s->pcf && s->cidx[KF_BORDER] < 0;
    const kf_point_acc pa = point_acc(s, acc);
    R_xlen_t bj[KF_BUF];
    double bd2[KF_BUF];
    for (R_xlen_t p = p0; p < p1; p++) {
        double px = g->xs[p], py = g->ys[p];
        double bp = bg ? bg[p] : 0.0;
        im_disc it;
        R_xlen_t lo, hi;
        im_disc_begin(g, px, py, s->reach, &it);
        while (im_disc_next(g, &it, &lo, &hi)) {
            if (hi <= p + 1) continue;          /* only later points */
            if (lo <= p) lo = p + 1;
            for (R_xlen_t c = lo; c < hi; c += KF_BUF) {
                R_xlen_t ce = c + KF_BUF < hi ? c + KF_BUF : hi;
                int m = screen(g, px, py, c, ce, -1, rq.hi2, bj, bd2);
                for (int t = 0; t < m; t++) {
                    R_xlen_t q = bj[t];
                    double d2 = bd2[t];
                    double dx = g->xs[q] - px, dy = g->ys[q] - py;
                    double bq = bg ? bg[q] : 0.0;
                    if (fast) {
                        double d = sqrt(d2);
                        int kd = kf_index_ge(s, d);
                        int out = kd >= s->nr;
                        if (pa.none) pa.none[kd] += 2.0;
                        if (pa.iso) {
                            double wi =
                                ((d <= bp) | out ? 1.0
                                 : kf_iso_weight(w, px, py, bp, d)) +
                                ((d <= bq) | out ? 1.0
                                 : kf_iso_weight(w, g->xs[q], g->ys[q], bq,
                                                 d));
                            if (ISNAN(wi)) return IM_ERR_ALLOC;
                            pa.iso[kd] += wi;
                        }
                        if (pa.trans) {
                            double wt = trans_weight(w, dx, dy);
                            if (ISNAN(wt)) return IM_ERR_ALLOC;
                            pa.trans[kd] += 2.0 * wt;
                        }
                        continue;
                    }
                    if (!im_within(d2, &rq)) continue;
                    kf_pair P;
                    pair_prepare(s, w, &P, dx, dy, d2);
                    double wp = 1.0, wq = 1.0;
                    if (need_iso) {
                        wp = iso_weight(w, px, py, bp, P.d);
                        wq = iso_weight(w, g->xs[q], g->ys[q], bq, P.d);
                    }
                    if (ISNAN(wp) || ISNAN(wq) || ISNAN(P.wt))
                        return IM_ERR_ALLOC;
                    pair_add(s, &P, bp, wp, acc);
                    pair_add(s, &P, bq, wq, acc);
                }
            }
        }
    }
    return IM_OK;
}

im_status kf_pass_labels(const kf_spec *s, const kf_window *w,
                         const im_grid *g, const double *bg,
                         const uint64_t *fbits, const uint64_t *tbits,
                         int nw, R_xlen_t p0, R_xlen_t p1, double *acc) {
    const im_radius rq = im_radius_make(s->reach);
    const int need_iso = s->cidx[KF_ISO] >= 0;
    const R_xlen_t one = (R_xlen_t) s->ncomp * s->stride;
    for (R_xlen_t p = p0; p < p1; p++) {
        double px = g->xs[p], py = g->ys[p];
        double bp = bg ? bg[p] : 0.0;
        const uint64_t *fp = fbits + (R_xlen_t) p * nw;
        const uint64_t *tp = tbits + (R_xlen_t) p * nw;
        im_disc it;
        R_xlen_t lo, hi;
        im_disc_begin(g, px, py, s->reach, &it);
        while (im_disc_next(g, &it, &lo, &hi)) {
            if (hi <= p + 1) continue;
            if (lo <= p) lo = p + 1;
            for (R_xlen_t q = lo; q < hi; q++) {
                double dx = g->xs[q] - px, dy = g->ys[q] - py;
                double d2 = dx * dx + dy * dy;
                if (!im_within(d2, &rq)) continue;
                const uint64_t *fq = fbits + (R_xlen_t) q * nw;
                const uint64_t *tq = tbits + (R_xlen_t) q * nw;
                uint64_t any = 0;
                for (int t = 0; t < nw; t++)
                    any |= (fp[t] & tq[t]) | (fq[t] & tp[t]);
                if (!any) continue;
                kf_pair P;
                pair_prepare(s, w, &P, dx, dy, d2);
                double bq = bg ? bg[q] : 0.0;
                double wp = 1.0, wq = 1.0;
                if (need_iso) {
                    wp = iso_weight(w, px, py, bp, P.d);
                    wq = iso_weight(w, g->xs[q], g->ys[q], bq, P.d);
                }
                if (ISNAN(wp) || ISNAN(wq) || ISNAN(P.wt))
                    return IM_ERR_ALLOC;
                for (int t = 0; t < nw; t++) {
                    uint64_t m = fp[t] & tq[t];
                    while (m) {
                        int b = kf_ctz64(m);
                        m &= m - 1;
                        pair_add(s, &P, bp, wp, acc + (64 * t + b) * one);
                    }
                    m = fq[t] & tp[t];
                    while (m) {
                        int b = kf_ctz64(m);
                        m &= m - 1;
                        pair_add(s, &P, bq, wq, acc + (64 * t + b) * one);
                    }
                }
            }
        }
    }
    return IM_OK;
}

im_status kf_pass_moments(const kf_spec *s, const kf_window *w,
                          const im_grid *g, const double *bg,
                          const int *codes, int ntype, R_xlen_t p0,
                          R_xlen_t p1, double *acc) {
    const im_radius rq = im_radius_make(s->reach);
    const int need_iso = s->cidx[KF_ISO] >= 0;
    const R_xlen_t st = s->stride;
    const int nr = s->nr;
    double *S0 = acc + KF_MOM_S0 * st, *Q1 = acc + KF_MOM_Q1 * st;
    double *Q1T = acc + KF_MOM_Q1T * st, *RR = acc + KF_MOM_RR * st;
    double *CC = acc + KF_MOM_CC * st, *RC = acc + KF_MOM_RC * st;
    double *SR = acc + KF_MOM_SR * st, *SC = acc + KF_MOM_SC * st;
    double *T = acc + KF_MOM_ROWS * st;
    R_xlen_t bj[KF_BUF];
    double bd2[KF_BUF];
    for (R_xlen_t p = p0; p < p1; p++) {
        double px = g->xs[p], py = g->ys[p];
        double bp = bg ? bg[p] : 0.0;
        double *Tp = T + (R_xlen_t) codes[p] * ntype * st;
        int any = 0;
        im_disc it;
        R_xlen_t lo, hi;
        im_disc_begin(g, px, py, s->reach, &it);
        while (im_disc_next(g, &it, &lo, &hi)) {
            for (R_xlen_t c = lo; c < hi; c += KF_BUF) {
                R_xlen_t ce = c + KF_BUF < hi ? c + KF_BUF : hi;
                int m = screen(g, px, py, c, ce, g->id[p], rq.hi2, bj, bd2);
                for (int t = 0; t < m; t++) {
                    R_xlen_t q = bj[t];
                    double d = sqrt(bd2[t]);
                    int kd = kf_index_ge(s, d);
                    if (kd >= nr) continue;
                    double wpq = 1.0, wqp = 1.0;
                    if (need_iso) {
                        double bq = bg[q];
                        wpq = iso_weight(w, px, py, bp, d);
                        wqp = iso_weight(w, g->xs[q], g->ys[q], bq, d);
                        if (ISNAN(wpq) || ISNAN(wqp)) return IM_ERR_ALLOC;
                    }
                    S0[kd] += wpq;
                    Q1[kd] += wpq * wpq;
                    Q1T[kd] += wpq * wqp;
                    SR[kd] += wpq;
                    SC[kd] += wqp;
                    Tp[(R_xlen_t) codes[q] * st + kd] += wpq;
                    any = 1;
                }
            }
        }
        if (!any) continue;
        double rs = 0.0, cs = 0.0;
        for (int k = 0; k < nr; k++) {
            rs += SR[k];
            cs += SC[k];
            SR[k] = SC[k] = 0.0;
            RR[k] += rs * rs;
            CC[k] += cs * cs;
            RC[k] += rs * cs;
        }
    }
    return IM_OK;
}

/* ---- G ----------------------------------------------------------------- */

/* Histograms of G on the grid intervals: a nearest-neighbour distance x
 * counts at the first k with r[k] >= x (intervals (r[k-1], r[k]], the
 * package-wide "d <= r"; the first one [-step, 0]), a censoring
 * (boundary) distance b at the first k with r[k] > b (intervals
 * [r[k-1], r[k]), as spatstat tabulates them); nr: above the grid. */
void kf_g_add(const kf_spec *s, double nnd, double b, double *hist) {
    R_xlen_t st = s->stride;
    int unc = nnd <= b;                       /* observed, not censored */
    int kn = kf_index_ge(s, nnd);
    int kb = kf_index_gt(s, b);
    int ko = unc ? kn : kb;
    hist[KG_NONE * st + kn] += 1.0;
    if (unc) hist[KG_HAN * st + kn] += 1.0;
    hist[KG_OBS * st + ko] += 1.0;
    if (unc) hist[KG_NCO * st + ko] += 1.0;
    hist[KG_CEN * st + kb] += 1.0;
    if (unc) hist[KG_NCC * st + kb] += 1.0;
}

void kf_g_labels(const kf_spec *s, const im_grid *g, const double *bg,
                 const uint64_t *fbits, const uint64_t *tbits, int nw,
                 R_xlen_t p0, R_xlen_t p1, double *best, double *hist) {
    const im_radius rq = im_radius_make(s->reach);
    const R_xlen_t one = (R_xlen_t) KG_NH * s->stride;
    for (R_xlen_t p = p0; p < p1; p++) {
        const uint64_t *fp = fbits + (R_xlen_t) p * nw;
        uint64_t any = 0;
        for (int t = 0; t < nw; t++) any |= fp[t];
        if (!any) continue;
        for (int t = 0; t < nw; t++) {
            uint64_t m = fp[t];
            while (m) {
                int b = kf_ctz64(m);
                m &= m - 1;
                best[64 * t + b] = R_PosInf;
            }
        }
        double px = g->xs[p], py = g->ys[p];
        im_disc it;
        R_xlen_t lo, hi;
        im_disc_begin(g, px, py, s->reach, &it);
        while (im_disc_next(g, &it, &lo, &hi)) {
            for (R_xlen_t q = lo; q < hi; q++) {
                if (q == p) continue;
                double dx = g->xs[q] - px, dy = g->ys[q] - py;
                double d2 = dx * dx + dy * dy;
                if (!im_within(d2, &rq)) continue;
                const uint64_t *tq = tbits + (R_xlen_t) q * nw;
                double d = -1.0;
                for (int t = 0; t < nw; t++) {
                    uint64_t m = fp[t] & tq[t];
                    while (m) {
                        int b = kf_ctz64(m);
                        m &= m - 1;
                        if (d < 0) d = sqrt(d2);
                        if (d < best[64 * t + b]) best[64 * t + b] = d;
                    }
                }
            }
        }
        double b = bg[p];
        for (int t = 0; t < nw; t++) {
            uint64_t m = fp[t];
            while (m) {
                int k = kf_ctz64(m);
                m &= m - 1;
                kf_g_add(s, best[64 * t + k], b, hist + (64 * t + k) * one);
            }
        }
    }
}
