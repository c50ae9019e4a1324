/* kfunctions.c -- entry points of Ripley's K / L, the pair correlation and
 * G (R callers in R/kfunctions.R).  Unpacks the R objects, builds the
 * spatial index and the window once, and runs the kernels of
 * kfunctions-kernel.c over fixed blocks of points in OpenMP: each block
 * fills its own accumulator and the accumulators are added in block order,
 * so sums are bit-identical for any number of threads. */
#include "kfunctions-kernel.h"
#include <R_ext/Random.h>
#include <Rmath.h>
#include "util.h"
#include <string.h>

/* Blocks of points per wave of a parallel pass (fixed: never depends on
 * the number of threads), and points per block. */
#define KF_SLOTS 32
#define KF_BLOCK 2048
/* Cells per axis of the translation-weight table of polygon windows, and
 * the most vertices for which its doubtful cells use exact overlaps. */
#define KF_OTAB 64
#define KF_OTAB_FLAGV 256
/* Rows of the table computed between two interrupt checks. */
#define KF_OTAB_WAVE 8

/* ---- unpacking ------------------------------------------------------- */

/* win = list(rect, bounds = c(xmin, xmax, ymin, ymax), x, y, ring_start,
 * area), built by kf_window_spec() in R. */
static void window_arg(SEXP win, kf_window *kw, im_window *poly) {
    if (TYPEOF(win) != VECSXP || XLENGTH(win) != 6) IM_BUG("bad window");
    memset(kw, 0, sizeof(*kw));
    kw->rect = Rf_asLogical(VECTOR_ELT(win, 0)) == TRUE;
    SEXP bounds = VECTOR_ELT(win, 1);
    im_check_double(bounds, "window bounds must be double");
    if (XLENGTH(bounds) != 4) IM_BUG("window bounds");
    const double *bd = REAL_RO(bounds);
    kw->xmin = bd[0];
    kw->xmax = bd[1];
    kw->ymin = bd[2];
    kw->ymax = bd[3];
    kw->area = im_as_double(VECTOR_ELT(win, 5), "area");
    if (!(kw->area > 0)) IM_BUG("window area must be positive");
    if (kw->rect) return;
    SEXP wx = VECTOR_ELT(win, 2), wy = VECTOR_ELT(win, 3);
    SEXP rs = VECTOR_ELT(win, 4);
    int nring = im_check_rings(wx, wy, rs, 3);
    im_status st = im_window_build(poly, REAL_RO(wx), REAL_RO(wy),
                                   INTEGER_RO(rs), nring);
    if (st == IM_ERR_RANGE) im_stop_status(st, "the window polygon");
    if (st != IM_OK) IM_BUG("invalid window (validated in R)");
    kw->poly = poly;
    size_t nv = (size_t) poly->nv;
    double *e = (double *) R_alloc(4 * nv, sizeof(double));
    kf_window_convex(kw, e);
}

/* Tabulate the set covariance of a polygon window on shifts in
 * [-reach, reach]^2 for the translation weights (see kf_window).  For
 * windows of up to KF_OTAB_FLAGV vertices, flag the cells where the
 * biquadratic differs from the exact overlap by more than 1e-6 of the
 * window area at either of two check points (a breakpoint of the
 * piecewise quadratic crosses them): those use exact overlaps.  Larger
 * windows (tissue masks) make exact overlaps too costly per pair.  The
 * relative error of a weight stayed below 1e-5 with flags and 1e-4
 * without them in tests (convex hulls, polygons with holes, concave
 * masks of 1,200 vertices). */
static void window_table(kf_window *kw, double reach, double npairs,
                         int nth) {
    if (kw->rect || !(reach > 0)) return;
    /* few pairs (about npairs * pi reach^2 / |W|): exact overlaps are
     * cheaper than the table's 25,000 */
    if (npairs * M_PI * reach * reach / kw->area < 3e4) return;
    int oc = KF_OTAB;
    R_xlen_t nn = 2 * (R_xlen_t) oc + 1;
    double *tab = (double *) R_alloc((size_t) (nn * nn), sizeof(double));
    unsigned char *flag = (unsigned char *) R_alloc((size_t) oc * oc, 1);
    double cell = 2.0 * reach / oc, half = 0.5 * cell;
    int bad = 0;
    /* waves of KF_OTAB_WAVE rows, interrupts checked between them */
    for (R_xlen_t y0 = 0; y0 <= nn / 2 && !bad; y0 += KF_OTAB_WAVE) {
        R_xlen_t y1 = y0 + KF_OTAB_WAVE < nn / 2 + 1 ? y0 + KF_OTAB_WAVE
                                                      : nn / 2 + 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1) \
    reduction(|:bad)
#endif
        for (R_xlen_t iy = y0; iy < y1; iy++) {
            for (R_xlen_t ix = 0; ix < nn; ix++) {
                double v = im_window_overlap(kw->poly, -reach + ix * half,
                                             -reach + iy * half);
                if (ISNAN(v)) bad = 1;
                tab[iy * nn + ix] = v;
            }
        }
        R_CheckUserInterrupt();
    }
    if (bad) im_stop_status(IM_ERR_ALLOC, "the translation weights");
    /* the overlap is symmetric: g(-v) = g(v) */
    for (R_xlen_t iy = nn / 2 + 1; iy < nn; iy++)
        for (R_xlen_t ix = 0; ix < nn; ix++)
            tab[iy * nn + ix] = tab[(nn - 1 - iy) * nn + (nn - 1 - ix)];
    kw->otab = tab;
    kw->oflag = flag;
    kw->oc = oc;
    kw->oreach = reach;
    kw->ocell = cell;
    kw->oinv = 1.0 / cell;
    if (kw->poly->nv > KF_OTAB_FLAGV) {
        memset(flag, 0, (size_t) oc * oc);
        return;
    }
    const double cu[2] = {0.2731, 0.7192}, cv[2] = {0.6143, 0.1877};
    double tol = 1e-6 * kw->area;
    for (int y0 = 0; y0 < oc && !bad; y0 += KF_OTAB_WAVE) {
        int y1 = y0 + KF_OTAB_WAVE < oc ? y0 + KF_OTAB_WAVE : oc;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1) \
    reduction(|:bad)
#endif
        for (int cy = y0; cy < y1; cy++) {
            for (int cx = 0; cx < oc; cx++) {
                int f = 0;
                for (int k = 0; k < 2 && !f; k++) {
                    double ex = im_window_overlap(
                        kw->poly, -reach + (cx + cu[k]) * cell,
                        -reach + (cy + cv[k]) * cell);
                    if (ISNAN(ex)) bad = 1;
                    double ip = kf_overlap_interp(kw, cx, cy, cu[k], cv[k]);
                    f = fabs(ex - ip) > tol;
                }
                flag[(R_xlen_t) cy * oc + cx] = (unsigned char) f;
            }
        }
        R_CheckUserInterrupt();
    }
    (void) nth;
    if (bad) im_stop_status(IM_ERR_ALLOC, "the translation weights");
}

/* opts = c(none, iso, trans, border, pcf, h, binned_border), or NULL for
 * none of them (G) */
static void spec_arg(SEXP r, SEXP opts, kf_spec *s) {
    static const double no_opts[7] = {0, 0, 0, 0, 0, 0, 0};
    im_check_double(r, "r must be double");
    if (!Rf_isNull(opts)) {
        im_check_double(opts, "opts must be double");
        if (XLENGTH(opts) != 7) IM_BUG("opts");
    }
    memset(s, 0, sizeof(*s));
    s->nr = (int) XLENGTH(r);
    const double *pr = REAL_RO(r);
    if (s->nr < 2 || pr[0] != 0.0) IM_BUG("r must start at 0");
    for (int k = 1; k < s->nr; k++)
        if (!(pr[k] > pr[k - 1]) || !R_FINITE(pr[k]))
            IM_BUG("r must increase");
    /* padded copy: r[-1] = -Inf, r[nr] = r[nr + 1] = +Inf */
    double *rp = (double *) R_alloc((size_t) s->nr + 3, sizeof(double));
    rp[0] = R_NegInf;
    memcpy(rp + 1, pr, (size_t) s->nr * sizeof(double));
    rp[s->nr + 1] = rp[s->nr + 2] = R_PosInf;
    s->r = rp + 1;
    const double *o = Rf_isNull(opts) ? no_opts : REAL_RO(opts);
    s->ncorr = 0;
    for (int c = 0; c < KF_NCORR; c++)
        s->cidx[c] = o[c] != 0 ? s->ncorr++ : -1;
    s->pcf = o[4] != 0;
    s->h = o[5];
    s->binned_border = o[6] != 0 && !s->pcf;
    s->nmom = s->pcf ? 3 : 1;
    s->ncomp = s->ncorr * s->nmom;
    s->stride = (R_xlen_t) s->nr + 1;
    s->reach = s->r[s->nr - 1] + (s->pcf ? s->h : 0.0);
    if (s->pcf && !(s->h > 0)) IM_BUG("pcf bandwidth");
    /* even grid (see kf_index_ge): r[k] / step within 1e-9 of k */
    double step = s->r[s->nr - 1] / (s->nr - 1);
    s->inv_step = 1.0 / step;
    s->even = 1;
    for (int k = 0; k < s->nr; k++)
        if (fabs(s->r[k] * s->inv_step - k) > 1e-9) {
            s->even = 0;
            break;
        }
}

/* ---- block runner ----------------------------------------------------- */

typedef im_status (*kf_block_fn)(const void *ctx, R_xlen_t a, R_xlen_t b,
                                 double *acc);

#define KF_ISO_COST 200.0
/* Pairs visited per query point, about: the targets within `reach` of a
 * point if they were spread evenly over the window (at least 1). */
static double kf_pairs_per_point(const kf_spec *s, const kf_window *w,
                                 R_xlen_t ntarget) {
    double a = w->area > 0 ? w->area : 1.0;
    double p = (double) ntarget * M_PI * s->reach * s->reach / a;
    if (!(p < (double) ntarget)) p = (double) ntarget;
    if (s->cidx[KF_ISO] >= 0) {
        /* a pair whose circle crosses the window's edge costs an edge
         * correction worth about KF_ISO_COST pair visits; the share of
         * such centres is about perimeter x r / area */
        double per = 2.0 * ((w->xmax - w->xmin) + (w->ymax - w->ymin));
        double edge = per * s->reach / a;
        if (!(edge < 1.0)) edge = 1.0;
        p *= 1.0 + KF_ISO_COST * edge;
    }
    return 1.0 + p;
}

/* Block size and blocks per wave from the work per item (pairs visited):
 * a block does at most about KF_BLOCK_WORK pairs and a wave (between two
 * interrupt checks) about KF_WAVE_WORK, so that an interrupt is seen
 * within a fraction of a second whatever r and the density.  The block
 * size depends on the data only, never on the number of threads, so the
 * sums in block order stay identical for any thread count. */
#define KF_BLOCK_WORK 1048576.0
#define KF_WAVE_WORK 4194304.0
static void kf_blocking(double work, R_xlen_t size, int nth, R_xlen_t *blk,
                        int *nslot) {
    int mem = KF_SLOTS;
    /* large accumulators (many labellings): fewer, larger blocks */
    while (mem > 2 && (double) mem * size > 8e6) mem /= 2;
    int ns = mem;
    double b = size > 65536 ? 8.0 * KF_BLOCK : (double) KF_BLOCK;
    if (b * work > KF_BLOCK_WORK) b = floor(KF_BLOCK_WORK / work);
    if (b < 1) b = 1;
    double wave = floor(KF_WAVE_WORK / (b * work));
    if (wave < ns) ns = wave < 1 ? 1 : (int) wave;
    if (ns < nth) ns = nth < mem ? nth : mem;
    *blk = (R_xlen_t) b;
    *nslot = ns;
}

/* Run f over blocks [k * blk, (k + 1) * blk) of n items; each block fills
 * its own zeroed accumulator of `size` doubles, added to `total` in block
 * order.  Interrupts are checked between waves of blocks, sized by the
 * work per item (kf_blocking()). */
static im_status run_blocks(R_xlen_t n, R_xlen_t size, int nth, double work,
                            kf_block_fn f, const void *ctx, double *total) {
    int nslot;
    R_xlen_t blk;
    kf_blocking(work, size, nth, &blk, &nslot);
    R_xlen_t nblk = (n + blk - 1) / blk;
    /* no more slots than blocks (small images: one, a few kB) */
    if (nblk < nslot) nslot = nblk > 0 ? (int) nblk : 1;
    double *slot = (double *) R_alloc((size_t) nslot * size, sizeof(double));
    im_status st = IM_OK;
    for (R_xlen_t w0 = 0; w0 < nblk; w0 += nslot) {
        int nb = (int) (nblk - w0 < nslot ? nblk - w0 : nslot);
        memset(slot, 0, (size_t) nb * size * sizeof(double));
        int err = IM_OK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1) \
    reduction(max:err) if (nb > 1)
#endif
        for (int b = 0; b < nb; b++) {
            R_xlen_t a = (w0 + b) * blk;
            R_xlen_t e = a + blk < n ? a + blk : n;
            int sb = (int) f(ctx, a, e, slot + (size_t) b * size);
            if (sb > err) err = sb;
        }
        (void) nth;
        if (err != IM_OK) { st = (im_status) err; break; }
        for (int b = 0; b < nb; b++) {
            const double *sb = slot + (size_t) b * size;
            for (R_xlen_t k = 0; k < size; k++) total[k] += sb[k];
        }
        R_CheckUserInterrupt();
    }
    return st;
}

typedef struct {
    const kf_spec *s;
    const kf_window *w;
    const im_grid *g;
    const im_queries *Q;
    const double *b;
    const uint64_t *fbits, *tbits;
    int nw;
    const kf_sets *sets;
    const kf_near_lists *near;
} kf_ctx;

static im_status block_cross(const void *c, R_xlen_t a, R_xlen_t b,
                             double *acc) {
    const kf_ctx *x = (const kf_ctx *) c;
    return kf_pass_cross(x->s, x->w, x->g, x->Q, x->b, a, b, x->sets, acc);
}

static im_status block_cross_to(const void *c, R_xlen_t a, R_xlen_t b,
                                double *acc) {
    const kf_ctx *x = (const kf_ctx *) c;
    return kf_pass_cross_to(x->s, x->w, x->g, x->b, x->near, x->Q, a, b,
                            x->sets, acc);
}

static im_status block_self(const void *c, R_xlen_t a, R_xlen_t b,
                            double *acc) {
    const kf_ctx *x = (const kf_ctx *) c;
    return kf_pass_self(x->s, x->w, x->g, x->b, a, b, acc);
}

static im_status block_labels(const void *c, R_xlen_t a, R_xlen_t b,
                              double *acc) {
    const kf_ctx *x = (const kf_ctx *) c;
    return kf_pass_labels(x->s, x->w, x->g, x->b, x->fbits, x->tbits, x->nw,
                          a, b, acc);
}

/* Cumulative sums of the difference arrays: ncomp columns of nr values. */
static SEXP finish_numerators(const kf_spec *s, const double *acc, int nset) {
    R_xlen_t nr = s->nr;
    SEXP out = PROTECT(Rf_allocVector(REALSXP, nr * s->ncomp * nset));
    double *po = REAL(out);
    for (R_xlen_t c = 0; c < (R_xlen_t) s->ncomp * nset; c++) {
        const double *a = acc + c * s->stride;
        double run = 0.0;
        for (R_xlen_t k = 0; k < nr; k++) {
            run += a[k];
            po[c * nr + k] = run;
        }
    }
    UNPROTECT(1);
    return out;
}

/* Boundary distances of n points (x[], y[]) in parallel. */
static double *boundary_distances(const kf_window *w, const double *x,
                                  const double *y, R_xlen_t n, int nth) {
    double *b = (double *) R_alloc(n > 0 ? n : 1, sizeof(double));
    for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < n ? c0 + IM_CHUNK : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static, 4096) \
    if (c1 - c0 > 16384)
#endif
        for (R_xlen_t i = c0; i < c1; i++) b[i] = kf_bdist(w, x[i], y[i]);
        R_CheckUserInterrupt();
    }
    (void) nth;
    return b;
}

static double grid_cell_side(const double *x, const double *y,
                             const R_xlen_t *sub, R_xlen_t n, double reach) {
    double h = im_grid_radius_cell(x, y, sub, n, reach);
    return h > 0 ? h : 0.0;
}

/* 0-based indices of the cells whose code (1-based factor codes) is
 * `code`; code 0: every cell.  In KF_TYPE_BLOCKS fixed blocks: each block
 * is counted, then filled at its offset, so the list is in cell order for
 * any number of threads. */
#define KF_TYPE_BLOCKS 64
static R_xlen_t *type_cells_ptr(const int *pc, R_xlen_t n, int code,
                                R_xlen_t *len, int nth);

static R_xlen_t *type_cells(SEXP codes, int code, R_xlen_t *len, int nth) {
    if (TYPEOF(codes) != INTSXP) IM_BUG("codes must be integer");
    return type_cells_ptr(INTEGER_RO(codes), XLENGTH(codes), code, len, nth);
}

static R_xlen_t *type_cells_ptr(const int *pc, R_xlen_t n, int code,
                                R_xlen_t *len, int nth) {
    int par = n > 65536;
    (void) nth;
    (void) par;
    if (code == 0) {
        R_xlen_t *out = (R_xlen_t *) R_alloc(n > 0 ? n : 1, sizeof(R_xlen_t));
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (par) schedule(static)
#endif
        for (R_xlen_t i = 0; i < n; i++) out[i] = i;
        *len = n;
        return out;
    }
    R_xlen_t bs = (n + KF_TYPE_BLOCKS - 1) / KF_TYPE_BLOCKS;
    if (bs < 1) bs = 1;
    R_xlen_t off[KF_TYPE_BLOCKS + 1];
    off[0] = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (par) schedule(static)
#endif
    for (int b = 0; b < KF_TYPE_BLOCKS; b++) {
        R_xlen_t a = (R_xlen_t) b * bs, e = a + bs < n ? a + bs : n, m = 0;
        for (R_xlen_t i = a; i < e; i++) m += pc[i] == code;
        off[b + 1] = m;
    }
    for (int b = 0; b < KF_TYPE_BLOCKS; b++) off[b + 1] += off[b];
    R_xlen_t m = off[KF_TYPE_BLOCKS];
    /* the fill writes before it tests (no branch on the random types);
     * once a block's slots are full the writes go to its spare slot, not
     * into the next block's */
    R_xlen_t *out = (R_xlen_t *) R_alloc(m > 0 ? m : 1, sizeof(R_xlen_t));
    R_xlen_t *spare = (R_xlen_t *) R_alloc(KF_TYPE_BLOCKS, sizeof(R_xlen_t));
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) if (par) schedule(static)
#endif
    for (int b = 0; b < KF_TYPE_BLOCKS; b++) {
        R_xlen_t a = (R_xlen_t) b * bs, e = a + bs < n ? a + bs : n;
        R_xlen_t k = off[b], end = off[b + 1];
        for (R_xlen_t i = a; i < e; i++) {
            R_xlen_t *dst = k < end ? out + k : spare + b;
            *dst = i;
            k += pc[i] == code;
        }
    }
    *len = m;
    return out;
}

/* ---- K, L, pcf -------------------------------------------------------- */

/* Pair sums of one pattern: numerators (difference arrays, ncomp * stride,
 * added to `total`) and, for the border correction, the centres counted at
 * each r (a difference array of stride doubles added to `den`). */
static void pattern_sums(const double *px, const double *py, const int *pc,
                         R_xlen_t n, int fcode, int tcode, const kf_spec *s,
                         const kf_window *kw, int nth, double *total,
                         double *den) {
    R_xlen_t nf, nt = 0;
    int self = fcode == tcode;
    R_xlen_t *fi = type_cells_ptr(pc, n, fcode, &nf, nth);
    R_xlen_t *ti = self ? NULL : type_cells_ptr(pc, n, tcode, &nt, nth);
    int need_b = s->cidx[KF_ISO] >= 0 || s->cidx[KF_BORDER] >= 0;
    R_xlen_t size = (R_xlen_t) s->ncomp * s->stride;
    kf_ctx ctx = {s, kw, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL};
    im_grid g;
    im_queries Q;
    im_status st;
    if (self) {
        double h = grid_cell_side(px, py, fi, nf, s->reach);
        if (im_grid_build(&g, px, py, NULL, fi, nf, h, nth) != IM_OK)
            IM_BUG("grid build failed");
        ctx.g = &g;
        if (need_b) ctx.b = boundary_distances(kw, g.xs, g.ys, nf, nth);
        st = run_blocks(nf, size, nth, kf_pairs_per_point(s, kw, nf),
                        block_self, &ctx, total);
    } else {
        double h = grid_cell_side(px, py, ti, nt, s->reach);
        if (im_grid_build(&g, px, py, NULL, ti, nt, h, nth) != IM_OK)
            IM_BUG("grid build failed");
        im_grid_queries(&g, px, py, fi, nf, nth, &Q);
        ctx.g = &g;
        ctx.Q = &Q;
        if (need_b) ctx.b = boundary_distances(kw, Q.x, Q.y, nf, nth);
        st = run_blocks(nf, size, nth, kf_pairs_per_point(s, kw, nt),
                        block_cross, &ctx, total);
    }
    if (st != IM_OK) im_stop_status(st, "the pair sums");
    if (s->cidx[KF_BORDER] >= 0) {
        for (R_xlen_t i = 0; i < nf; i++) {
            int kb = kf_border_last(s, ctx.b[i]);
            if (kb < 0) continue;
            den[0] += 1.0;
            den[kb + 1] -= 1.0;
        }
    }
}

/* Cumulative sums of nset border difference arrays -> nr x nset. */
static SEXP finish_border(const kf_spec *s, const double *den, int nset) {
    SEXP d = PROTECT(Rf_allocMatrix(REALSXP, s->nr, nset));
    double *pd = REAL(d);
    for (int j = 0; j < nset; j++) {
        double run = 0.0;
        for (int k = 0; k < s->nr; k++)
            pd[(R_xlen_t) j * s->nr + k] = (run += den[j * s->stride + k]);
    }
    UNPROTECT(1);
    return d;
}

/* R caller: kf_estimate() for ripley_k(), ripley_l(), pair_correlation():
 * pairs from cells of code `from` to cells of code `to` (0: all cells;
 * from == to: the univariate function). */
SEXP ffi_kfun_pairs(SEXP x, SEXP y, SEXP codes, SEXP from, SEXP to, SEXP win,
                    SEXP r, SEXP opts, SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    if (TYPEOF(codes) != INTSXP) IM_BUG("codes must be integer");
    R_xlen_t n = XLENGTH(x);
    if (XLENGTH(y) != n || XLENGTH(codes) != n) IM_BUG("lengths differ");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    const int *pc = INTEGER_RO(codes);
    int fcode = im_as_int(from, "from"), tcode = im_as_int(to, "to");
    kf_spec s;
    spec_arg(r, opts, &s);
    kf_window kw;
    im_window poly;
    window_arg(win, &kw, &poly);
    if (s.cidx[KF_TRANS] >= 0) {
        R_xlen_t nf, nt;
        type_cells_ptr(pc, n, fcode, &nf, nth);
        type_cells_ptr(pc, n, tcode, &nt, nth);
        window_table(&kw, s.reach, (double) nf * nt, nth);
    }
    R_xlen_t size = (R_xlen_t) s.ncomp * s.stride;
    double *total = (double *) R_alloc(size + s.stride, sizeof(double));
    memset(total, 0, (size + s.stride) * sizeof(double));
    double *den = total + size;
    pattern_sums(REAL_RO(x), REAL_RO(y), pc, n, fcode, tcode, &s, &kw, nth,
                 total, den);
    int nprot = 0;
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 2)); nprot++;
    SET_VECTOR_ELT(out, 0, finish_numerators(&s, total, 1));
    if (s.cidx[KF_BORDER] >= 0) {
        SET_VECTOR_ELT(out, 1, finish_border(&s, den, 1));
    }
    UNPROTECT(nprot);
    return out;
}

/* n points uniform in the window on R's random numbers, drawn exactly as
 * runif() in R would (all x, then all y; for a polygon, rounds of m
 * candidates kept when inside, m = ceiling(missing / fraction * 1.1) + 16),
 * so that set.seed() gives the same patterns as before. */
static void runif_window(const kf_window *kw, R_xlen_t n, double *x,
                         double *y) {
    if (kw->rect) {
        for (R_xlen_t i = 0; i < n; i++) x[i] = runif(kw->xmin, kw->xmax);
        for (R_xlen_t i = 0; i < n; i++) y[i] = runif(kw->ymin, kw->ymax);
        return;
    }
    double frac = kw->area / ((kw->xmax - kw->xmin) * (kw->ymax - kw->ymin));
    R_xlen_t have = 0;
    while (have < n) {
        R_xlen_t m = (R_xlen_t) ceil((double) (n - have) / frac * 1.1) + 16;
        double *cx = (double *) R_alloc((size_t) m, sizeof(double));
        double *cy = (double *) R_alloc((size_t) m, sizeof(double));
        for (R_xlen_t i = 0; i < m; i++) cx[i] = runif(kw->xmin, kw->xmax);
        for (R_xlen_t i = 0; i < m; i++) cy[i] = runif(kw->ymin, kw->ymax);
        for (R_xlen_t i = 0; i < m && have < n; i++) {
            if (kf_inside(kw, cx[i], cy[i])) {
                x[have] = cx[i];
                y[have] = cy[i];
                have++;
            }
        }
    }
}

/* Fill L (R_alloc'ed, main thread) with the edge lines of a convex window
 * (w->ne > 0) closer than reach to each index point of g, and bg with the
 * boundary distances; pattern j of the index is shifted by j * shift in
 * x, its point ids are j * n .. (j + 1) * n - 1. */
static void near_lists(const kf_window *w, const im_grid *g, R_xlen_t n,
                       double shift, double reach, double *bg,
                       kf_near_lists *L) {
    R_xlen_t np = g->n;
    R_xlen_t *off = (R_xlen_t *) R_alloc((size_t) np + 1, sizeof(R_xlen_t));
    int *ok = (int *) R_alloc(np > 0 ? (size_t) np : 1, sizeof(int));
    /* one pass; the lists grow by doubling (R_alloc'ed, freed with the
     * wave) */
    R_xlen_t cap = 4 * np + KF_NEAR;
    double *e = (double *) R_alloc((size_t) cap, sizeof(double));
    double *c = (double *) R_alloc((size_t) cap, sizeof(double));
    off[0] = 0;
    for (R_xlen_t p = 0; p < np; p++) {
        double x = g->xs[p] - (double) (g->id[p] / n) * shift, y = g->ys[p];
        if (off[p] + KF_NEAR > cap) {
            R_xlen_t nc = 2 * cap;
            double *e2 = (double *) R_alloc((size_t) nc, sizeof(double));
            double *c2 = (double *) R_alloc((size_t) nc, sizeof(double));
            memcpy(e2, e, (size_t) off[p] * sizeof(double));
            memcpy(c2, c, (size_t) off[p] * sizeof(double));
            e = e2;
            c = c2;
            cap = nc;
        }
        double m = R_PosInf;
        R_xlen_t o = off[p];
        int cnt = 0;
        for (int k = 0; k < w->ne; k++) {
            double ek = w->enx[k] * x + w->eny[k] * y - w->eoff[k];
            if (ek < m) m = ek;
            if (ek < reach) {
                if (cnt < KF_NEAR) {
                    e[o + cnt] = ek;
                    c[o + cnt] = w->eang[k];
                }
                cnt++;
            }
        }
        bg[p] = m >= 0 ? m : kf_bdist(w, x, y);
        ok[p] = cnt <= KF_NEAR && m >= 0;
        off[p + 1] = o + (ok[p] ? cnt : 0);
    }
    L->off = off;
    L->ok = ok;
    L->e = e;
    L->c = c;
}

/* Points of one simulated pattern at most (all waves together): the
 * patterns of a wave share one index. */
#define KF_CSR_WAVE_POINTS 2000000

/* The CSR simulations of a cross-type function in waves: the patterns of
 * a wave are laid side by side (pattern j shifted by j * shift in x, more
 * than the largest distance apart) and go through one index and one
 * parallel pass over fixed blocks of their `from` points, each pattern
 * into its own accumulator (kf_sets), so the sums do not depend on the
 * number of threads.  Random numbers are drawn pattern by pattern as in
 * runif_window(). */
static void csr_cross_sets(const int *pc, R_xlen_t n, int fcode, int tcode,
                           int nsim, const kf_spec *s, const kf_window *kw,
                           int nth, double *total, double *den) {
    R_xlen_t size = (R_xlen_t) s->ncomp * s->stride;
    double shift = (kw->xmax - kw->xmin) + 2.0 * s->reach + 1.0;
    int wave = (int) (KF_CSR_WAVE_POINTS / (n > 0 ? n : 1));
    if (wave < 1) wave = 1;
    if (wave > nsim) wave = nsim;
    int need_b = s->cidx[KF_ISO] >= 0 || s->cidx[KF_BORDER] >= 0;
    /* threads only for patterns of several blocks, as for one pattern:
     * the many short parallel passes of a cohort of small images cost
     * more in waiting threads than they save (and never change a sum) */
    R_xlen_t nf1, nt1;
    type_cells_ptr(pc, n, fcode, &nf1, 1);
    type_cells_ptr(pc, n, tcode, &nt1, 1);
    /* K and L without the border correction: fewer `to` than `from`
     * cells are the queries (kf_pass_cross_to()) */
    int rev = !s->pcf && s->cidx[KF_BORDER] < 0 && nt1 < nf1;
    if ((rev ? nt1 : nf1) < 2 * KF_BLOCK) nth = 1;
    for (int j0 = 0; j0 < nsim; j0 += wave) {
        const void *vmax = vmaxget();
        int nw = nsim - j0 < wave ? nsim - j0 : wave;
        R_xlen_t m = (R_xlen_t) nw * n;
        double *px = (double *) R_alloc(m > 0 ? m : 1, sizeof(double));
        double *py = (double *) R_alloc(m > 0 ? m : 1, sizeof(double));
        int *pcs = (int *) R_alloc(m > 0 ? m : 1, sizeof(int));
        GetRNGstate();
        for (int j = 0; j < nw; j++) {
            double *x = px + (R_xlen_t) j * n, *y = py + (R_xlen_t) j * n;
            runif_window(kw, n, x, y);
            for (R_xlen_t i = 0; i < n; i++) x[i] += j * shift;
            memcpy(pcs + (R_xlen_t) j * n, pc, (size_t) n * sizeof(int));
        }
        PutRNGstate();
        R_xlen_t nf, nt;
        R_xlen_t *fi = type_cells_ptr(pcs, m, fcode, &nf, nth);
        R_xlen_t *ti = type_cells_ptr(pcs, m, tcode, &nt, nth);
        im_grid g;
        im_queries Q;
        if (rev) {
            double h = grid_cell_side(px, py, fi, nf, s->reach);
            if (im_grid_build(&g, px, py, NULL, fi, nf, h, nth) != IM_OK)
                IM_BUG("grid build failed");
            im_grid_queries(&g, px, py, ti, nt, nth, &Q);
            int *set = (int *) R_alloc(nt > 0 ? nt : 1, sizeof(int));
            for (R_xlen_t k = 0; k < nt; k++) set[k] = (int) (Q.id[k] / n);
            double *bg = (double *) R_alloc(g.n > 0 ? g.n : 1,
                                            sizeof(double));
            kf_near_lists L, *lp = NULL;
            if (kw->ne > 0 && s->cidx[KF_ISO] >= 0) {
                near_lists(kw, &g, n, shift, s->reach, bg, &L);
                lp = &L;
            } else {
                for (R_xlen_t p = 0; p < g.n; p++) {
                    int j = (int) (g.id[p] / n);
                    bg[p] = need_b ? kf_bdist(kw, g.xs[p] - j * shift,
                                              g.ys[p])
                                   : 0.0;
                }
            }
            kf_sets S = {set, shift, size};
            kf_ctx ctx = {s, kw, &g, &Q, bg, NULL, NULL, 0, &S, lp};
            double *tw = total + (size_t) j0 * size;
            im_status st = run_blocks(nt, size * nw, nth,
                                      kf_pairs_per_point(s, kw, nf / (nw > 0 ? nw : 1)),
                                      block_cross_to, &ctx, tw);
            if (st != IM_OK) im_stop_status(st, "the simulated pair sums");
            vmaxset(vmax);
            R_CheckUserInterrupt();
            continue;
        }
        double h = grid_cell_side(px, py, ti, nt, s->reach);
        if (im_grid_build(&g, px, py, NULL, ti, nt, h, nth) != IM_OK)
            IM_BUG("grid build failed");
        im_grid_queries(&g, px, py, fi, nf, nth, &Q);
        int *set = (int *) R_alloc(nf > 0 ? nf : 1, sizeof(int));
        double *b = need_b ? (double *) R_alloc(nf > 0 ? nf : 1,
                                                sizeof(double)) : NULL;
        for (R_xlen_t k = 0; k < nf; k++) {
            set[k] = (int) (Q.id[k] / n);
            if (need_b) b[k] = kf_bdist(kw, Q.x[k] - set[k] * shift, Q.y[k]);
        }
        kf_sets S = {set, shift, size};
        kf_ctx ctx = {s, kw, &g, &Q, b, NULL, NULL, 0, &S, NULL};
        double *tw = total + (size_t) j0 * size;
        /* the patterns lie side by side: a point meets the targets of
         * its own pattern only */
        im_status st = run_blocks(nf, size * nw, nth,
                                  kf_pairs_per_point(s, kw, nt / (nw > 0 ? nw : 1)),
                                  block_cross, &ctx, tw);
        if (st != IM_OK) im_stop_status(st, "the simulated pair sums");
        if (s->cidx[KF_BORDER] >= 0) {
            for (R_xlen_t k = 0; k < nf; k++) {
                int kb = kf_border_last(s, b[k]);
                if (kb < 0) continue;
                double *d = den + (size_t) (j0 + set[k]) * s->stride;
                d[0] += 1.0;
                d[kb + 1] -= 1.0;
            }
        }
        vmaxset(vmax);
        R_CheckUserInterrupt();
    }
}

/* R caller: kf_simulate() for CSR envelopes of K, L and pcf: nsim
 * patterns of the cells of codes `codes` (the from and to cells) placed
 * uniformly in the window, their pair sums side by side as from
 * ffi_kfun_labels() (the window and its tables are built once). */
SEXP ffi_kfun_csr(SEXP codes, SEXP from, SEXP to, SEXP nsim_, SEXP win,
                  SEXP r, SEXP opts, SEXP nthreads_) {
    if (TYPEOF(codes) != INTSXP) IM_BUG("codes must be integer");
    R_xlen_t n = XLENGTH(codes);
    const int *pc = INTEGER_RO(codes);
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    int fcode = im_as_int(from, "from"), tcode = im_as_int(to, "to");
    int nsim = im_as_int(nsim_, "nsim");
    if (nsim < 1) IM_BUG("nsim");
    kf_spec s;
    spec_arg(r, opts, &s);
    kf_window kw;
    im_window poly;
    window_arg(win, &kw, &poly);
    if (s.cidx[KF_TRANS] >= 0) {
        R_xlen_t nf, nt;
        type_cells_ptr(pc, n, fcode, &nf, nth);
        type_cells_ptr(pc, n, tcode, &nt, nth);
        window_table(&kw, s.reach, (double) nf * nt, nth);
    }
    R_xlen_t size = (R_xlen_t) s.ncomp * s.stride;
    double *total = (double *) R_alloc((size_t) size * nsim, sizeof(double));
    double *den = (double *) R_alloc((size_t) s.stride * nsim, sizeof(double));
    memset(total, 0, (size_t) size * nsim * sizeof(double));
    memset(den, 0, (size_t) s.stride * nsim * sizeof(double));
    if (fcode != tcode) {
        csr_cross_sets(pc, n, fcode, tcode, nsim, &s, &kw, nth, total, den);
        nsim = 0;   /* done */
    }
    double *px = (double *) R_alloc(n > 0 ? n : 1, sizeof(double));
    double *py = (double *) R_alloc(n > 0 ? n : 1, sizeof(double));
    for (int j = 0; j < nsim; j++) {
        const void *vmax = vmaxget();
        GetRNGstate();
        runif_window(&kw, n, px, py);
        PutRNGstate();
        pattern_sums(px, py, pc, n, fcode, tcode, &s, &kw, nth,
                     total + (size_t) j * size, den + (size_t) j * s.stride);
        vmaxset(vmax);
        R_CheckUserInterrupt();
    }
    int nprot = 0;
    int nset = im_as_int(nsim_, "nsim");
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 2)); nprot++;
    SET_VECTOR_ELT(out, 0, finish_numerators(&s, total, nset));
    if (s.cidx[KF_BORDER] >= 0) {
        SET_VECTOR_ELT(out, 1, finish_border(&s, den, nset));
    }
    UNPROTECT(nprot);
    return out;
}

/* Bits of the labellings: bit s of point p (grid order) is set in fbits if
 * p carries a `from` label in labelling s (s = 0: the observed labels),
 * likewise tbits for `to`.  A random relabelling of all cells makes the
 * `from` cells a uniform random subset of their number, and the `to`
 * cells one of the remaining cells (the same subset when from == to; all
 * cells for a pooled `from` or `to`), so each labelling draws only those
 * subsets: a partial Fisher-Yates shuffle on R's RNG (main thread). */
static void label_bits(SEXP lab, SEXP from_codes, SEXP to_codes, int nsim,
                       const im_grid *g, int nw, uint64_t **fb,
                       uint64_t **tb) {
    R_xlen_t n = XLENGTH(lab);
    if (TYPEOF(lab) != INTSXP || TYPEOF(from_codes) != INTSXP ||
        TYPEOF(to_codes) != INTSXP)
        IM_BUG("labels must be integer");
    int nlab = 0;
    const int *pl = INTEGER_RO(lab);
    for (R_xlen_t i = 0; i < n; i++) {
        if (pl[i] < 0) IM_BUG("negative label");
        if (pl[i] + 1 > nlab) nlab = pl[i] + 1;
    }
    /* label -> is from / is to (an empty set of codes: every label) */
    unsigned char *isf = (unsigned char *) R_alloc(nlab + 1, 1);
    unsigned char *ist = (unsigned char *) R_alloc(nlab + 1, 1);
    int nfc = Rf_length(from_codes), ntc = Rf_length(to_codes);
    for (int l = 0; l <= nlab; l++) {
        isf[l] = nfc == 0;
        ist[l] = ntc == 0;
    }
    for (int k = 0; k < nfc; k++) {
        int c = INTEGER_RO(from_codes)[k];
        if (c >= 0 && c < nlab) isf[c] = 1;
    }
    for (int k = 0; k < ntc; k++) {
        int c = INTEGER_RO(to_codes)[k];
        if (c >= 0 && c < nlab) ist[c] = 1;
    }
    int same = nfc > 0 && ntc > 0;
    for (int l = 0; l < nlab && same; l++) same = isf[l] == ist[l];
    size_t nb = (size_t) (n > 0 ? n : 1) * nw;
    uint64_t *f = (uint64_t *) R_alloc(nb, sizeof(uint64_t));
    uint64_t *t = (uint64_t *) R_alloc(nb, sizeof(uint64_t));
    memset(f, 0, nb * sizeof(uint64_t));
    memset(t, 0, nb * sizeof(uint64_t));
    /* grid position of each original point */
    R_xlen_t *pos = (R_xlen_t *) R_alloc(n > 0 ? n : 1, sizeof(R_xlen_t));
    for (R_xlen_t p = 0; p < n; p++) pos[g->id[p]] = p;
    /* labelling 0: the observed labels */
    R_xlen_t nf = 0, nt = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        size_t o = (size_t) pos[i] * nw;
        if (isf[pl[i]]) { f[o] |= 1; nf++; }
        if (ist[pl[i]]) { t[o] |= 1; nt++; }
    }
    /* how many cells each labelling draws: from cells first, then the
     * to cells (none drawn for a pooled set or the same set) */
    R_xlen_t df = nfc ? nf : 0, dt = ntc && !same ? nt : 0;
    R_xlen_t *idx = (R_xlen_t *) R_alloc(n > 0 ? n : 1, sizeof(R_xlen_t));
    for (R_xlen_t i = 0; i < n; i++) idx[i] = i;
    /* the RNG state is saved before every interrupt check, so that an
     * interrupt leaves .Random.seed at the draws made so far; the draws
     * do not depend on where the checks fall */
    R_xlen_t work = 0;
    GetRNGstate();
    for (int s = 1; s <= nsim; s++) {
        uint64_t bit = (uint64_t) 1 << (s & 63);
        int word = s >> 6;
        for (R_xlen_t i = 0; i < df + dt; i++) {
            R_xlen_t j = i + (R_xlen_t) R_unif_index((double) (n - i));
            R_xlen_t tmp = idx[i];
            idx[i] = idx[j];
            idx[j] = tmp;
        }
        if (!nfc)
            for (R_xlen_t p = 0; p < n; p++) f[(size_t) p * nw + word] |= bit;
        if (!ntc)
            for (R_xlen_t p = 0; p < n; p++) t[(size_t) p * nw + word] |= bit;
        for (R_xlen_t i = 0; i < df; i++) {
            size_t o = (size_t) pos[idx[i]] * nw + word;
            f[o] |= bit;
            if (same) t[o] |= bit;
        }
        for (R_xlen_t i = df; i < df + dt; i++)
            t[(size_t) pos[idx[i]] * nw + word] |= bit;
        work += n + 64;
        if (work >= IM_CHUNK) {
            work = 0;
            PutRNGstate();
            R_CheckUserInterrupt();
            GetRNGstate();
        }
    }
    PutRNGstate();
    *fb = f;
    *tb = t;
}

/* What both random-labelling entries set up: the r grid, the window, all
 * cells on one index, the bits of the observed and nsim random labellings
 * and the boundary distances of the cells (in index order).  L lives on
 * the caller's stack (kw.poly points into it). */
typedef struct {
    R_xlen_t n;
    int nth, nsim, nset, nw;
    kf_spec s;
    kf_window kw;
    im_window poly;
    im_grid g;
    uint64_t *fb, *tb;
    double *b;
} kf_labelling;

static void labelling_setup(kf_labelling *L, SEXP x, SEXP y, SEXP lab,
                            SEXP from_codes, SEXP to_codes, SEXP nsim_,
                            SEXP win, SEXP r, SEXP opts, SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    R_xlen_t n = XLENGTH(x);
    if (XLENGTH(y) != n || XLENGTH(lab) != n) IM_BUG("lengths differ");
    L->n = n;
    L->nth = im_threads(im_as_int(nthreads_, "nthreads"));
    L->nsim = im_as_int(nsim_, "nsim");
    if (L->nsim < 1) IM_BUG("nsim");
    L->nset = L->nsim + 1;
    L->nw = (L->nset + 63) / 64;
    const double *px = REAL_RO(x), *py = REAL_RO(y);
    spec_arg(r, opts, &L->s);
    window_arg(win, &L->kw, &L->poly);
    double h = grid_cell_side(px, py, NULL, n, L->s.reach);
    if (im_grid_build(&L->g, px, py, NULL, NULL, n, h, L->nth) != IM_OK)
        IM_BUG("grid build failed");
    label_bits(lab, from_codes, to_codes, L->nsim, &L->g, L->nw, &L->fb,
               &L->tb);
    L->b = boundary_distances(&L->kw, L->g.xs, L->g.ys, n, L->nth);
}

/* R caller: kf_simulate() for envelope = "labels" of ripley_k(),
 * ripley_l(), pair_correlation(); lab: 1-based codes of all cells */
SEXP ffi_kfun_labels(SEXP x, SEXP y, SEXP lab, SEXP from_codes,
                     SEXP to_codes, SEXP nsim_, SEXP win, SEXP r, SEXP opts,
                     SEXP nthreads_) {
    kf_labelling L;
    labelling_setup(&L, x, y, lab, from_codes, to_codes, nsim_, win, r, opts,
                    nthreads_);
    const kf_spec s = L.s;
    R_xlen_t n = L.n;
    int nth = L.nth, nset = L.nset, nw = L.nw;
    const uint64_t *fb = L.fb;
    const double *b = L.b;
    if (s.cidx[KF_TRANS] >= 0)
        window_table(&L.kw, s.reach, (double) n * n, nth);

    /* accumulators of all labellings side by side; 64 * nw of them so
     * that any bit can be addressed */
    R_xlen_t one = (R_xlen_t) s.ncomp * s.stride;
    R_xlen_t size = one * 64 * nw;
    double *total = (double *) R_alloc(size, sizeof(double));
    memset(total, 0, size * sizeof(double));
    kf_ctx ctx = {&s, &L.kw, &L.g, NULL, b, fb, L.tb, nw, NULL, NULL};
    im_status st = run_blocks(n, size, nth,
                              kf_pairs_per_point(&s, &L.kw, n) * nw,
                              block_labels, &ctx, total);
    if (st != IM_OK) im_stop_status(st, "the relabelled pair sums");

    int nprot = 0;
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 2)); nprot++;
    SET_VECTOR_ELT(out, 0, finish_numerators(&s, total, nset));
    if (s.cidx[KF_BORDER] >= 0) {
        double *den = (double *) R_alloc((size_t) s.stride * 64 * nw,
                                         sizeof(double));
        memset(den, 0, (size_t) s.stride * 64 * nw * sizeof(double));
        for (R_xlen_t p = 0; p < n; p++) {
            if ((p & (IM_CHUNK - 1)) == IM_CHUNK - 1) R_CheckUserInterrupt();
            int kb = kf_border_last(&s, b[p]);
            if (kb < 0) continue;
            for (int t = 0; t < nw; t++) {
                uint64_t m = fb[(size_t) p * nw + t];
                while (m) {
                    int k = kf_ctz64(m);
                    m &= m - 1;
                    double *dk = den + (R_xlen_t) (64 * t + k) * s.stride;
                    dk[0] += 1.0;
                    dk[kb + 1] -= 1.0;
                }
            }
        }
        SET_VECTOR_ELT(out, 1, finish_border(&s, den, nset));
    }
    UNPROTECT(nprot);
    return out;
}

/* ---- moments of the random-labelling null --------------------------- */

typedef struct {
    const kf_spec *s;
    const kf_window *w;
    const im_grid *g;
    const double *b;
    const int *codes;
    int ntype;
} kf_mom_ctx;

static im_status block_moments(const void *c, R_xlen_t a, R_xlen_t b,
                               double *acc) {
    const kf_mom_ctx *x = (const kf_mom_ctx *) c;
    return kf_pass_moments(x->s, x->w, x->g, x->b, x->codes, x->ntype, a, b,
                           acc);
}

/* R caller: kf_label_moments() (whole-slide K/L summaries and
 * interaction z of spatial_profile()): the label-free pair sums of all
 * cells from which the mean and variance of every cross-type pair sum
 * under random labelling follow, and the observed type-pair sums, in one
 * pass (kf_pass_moments()).  codes: 0-based types; opts: the isotropic or
 * no correction.  Returns list(S0, Q1, Q1T, RR, CC, RC, T), each
 * cumulated over the r grid (T: nr x ntype^2, column a * ntype + b). */
SEXP ffi_kfun_moments(SEXP x, SEXP y, SEXP codes, SEXP ntype_, SEXP win,
                      SEXP r, SEXP opts, SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    if (TYPEOF(codes) != INTSXP) IM_BUG("codes must be integer");
    R_xlen_t n = XLENGTH(x);
    if (XLENGTH(y) != n || XLENGTH(codes) != n) IM_BUG("lengths differ");
    int ntype = im_as_int(ntype_, "ntype");
    if (ntype < 1 || ntype > 1024) IM_BUG("ntype");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    const double *px = REAL_RO(x), *py = REAL_RO(y);
    const int *pc = INTEGER_RO(codes);
    kf_spec s;
    spec_arg(r, opts, &s);
    if (s.pcf || s.cidx[KF_TRANS] >= 0 || s.cidx[KF_BORDER] >= 0)
        IM_BUG("moments: isotropic or no correction only");
    kf_window kw;
    im_window poly;
    window_arg(win, &kw, &poly);
    im_grid g;
    double h = grid_cell_side(px, py, NULL, n, s.reach);
    if (im_grid_build(&g, px, py, NULL, NULL, n, h, nth) != IM_OK)
        IM_BUG("grid build failed");
    int *cg = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
    for (R_xlen_t p = 0; p < n; p++) {
        int c = pc[g.id[p]];
        if (c < 0 || c >= ntype) IM_BUG("code out of range");
        cg[p] = c;
    }
    const double *b = s.cidx[KF_ISO] >= 0 ?
        boundary_distances(&kw, g.xs, g.ys, n, nth) : NULL;
    R_xlen_t st = s.stride;
    R_xlen_t nrow = KF_MOM_ROWS + (R_xlen_t) ntype * ntype;
    R_xlen_t size = nrow * st;
    double *total = (double *) R_alloc((size_t) size, sizeof(double));
    memset(total, 0, (size_t) size * sizeof(double));
    kf_mom_ctx ctx = {&s, &kw, &g, b, cg, ntype};
    im_status stt = run_blocks(n, size, nth, kf_pairs_per_point(&s, &kw, n),
                               block_moments, &ctx, total);
    if (stt != IM_OK) im_stop_status(stt, "the pair moments");

    int nprot = 0, nr = s.nr;
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 7)); nprot++;
    static const int rows[6] = {KF_MOM_S0, KF_MOM_Q1, KF_MOM_Q1T, KF_MOM_RR,
                                KF_MOM_CC, KF_MOM_RC};
    for (int j = 0; j < 6; j++) {
        SEXP v = Rf_allocVector(REALSXP, nr);
        SET_VECTOR_ELT(out, j, v);
        double *pv = REAL(v);
        const double *a = total + (R_xlen_t) rows[j] * st;
        int cum = rows[j] < KF_MOM_RR;   /* point adds: cumulate */
        double run = 0.0;
        for (int k = 0; k < nr; k++) {
            run = cum ? run + a[k] : a[k];
            pv[k] = run;
        }
    }
    SEXP tm = Rf_allocMatrix(REALSXP, nr, ntype * ntype);
    SET_VECTOR_ELT(out, 6, tm);
    double *pt = REAL(tm);
    for (R_xlen_t c = 0; c < (R_xlen_t) ntype * ntype; c++) {
        const double *a = total + (KF_MOM_ROWS + c) * st;
        double run = 0.0;
        for (int k = 0; k < nr; k++) {
            run += a[k];
            pt[c * nr + k] = run;
        }
    }
    UNPROTECT(nprot);
    return out;
}

/* ---- G ------------------------------------------------------------------ */

static SEXP g_result(const kf_spec *s, const double *hist, int nset) {
    R_xlen_t len = s->stride * KG_NH * nset;
    SEXP out = PROTECT(Rf_allocVector(REALSXP, len));
    memcpy(REAL(out), hist, len * sizeof(double));
    UNPROTECT(1);
    return out;
}

/* R caller: kf_estimate() for g_function(): nearest cells of code `to`
 * from cells of code `from` (0: all cells), never the cell itself. */
SEXP ffi_kfun_nearest(SEXP x, SEXP y, SEXP codes, SEXP from, SEXP to,
                      SEXP win, SEXP r, SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    R_xlen_t n = XLENGTH(x), nf, nt;
    if (XLENGTH(y) != n || XLENGTH(codes) != n) IM_BUG("lengths differ");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    const double *px = REAL_RO(x), *py = REAL_RO(y);
    int fcode = im_as_int(from, "from"), tcode = im_as_int(to, "to");
    R_xlen_t *fi = type_cells(codes, fcode, &nf, nth);
    R_xlen_t *ti = fcode == tcode ? fi : type_cells(codes, tcode, &nt, nth);
    if (fcode == tcode) nt = nf;
    kf_spec s;
    spec_arg(r, R_NilValue, &s);
    kf_window kw;
    im_window poly;
    window_arg(win, &kw, &poly);

    im_grid g;
    if (im_grid_build(&g, px, py, NULL, ti, nt, 0.0, nth) != IM_OK)
        IM_BUG("grid build failed");
    im_queries Q;
    im_grid_queries(&g, px, py, fi, nf, nth, &Q);
    double *nnd = (double *) R_alloc(nf > 0 ? nf : 1, sizeof(double));
    double *b = (double *) R_alloc(nf > 0 ? nf : 1, sizeof(double));
    for (R_xlen_t c0 = 0; c0 < nf; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < nf ? c0 + IM_CHUNK : nf;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 256) \
    if (c1 - c0 > 4096)
#endif
        for (R_xlen_t k = c0; k < c1; k++) {
            double d2;
            R_xlen_t id;
            int found = im_grid_knn(&g, Q.x[k], Q.y[k], Q.id[k], 1, &d2, &id);
            nnd[k] = found ? sqrt(d2) : R_PosInf;
            b[k] = kf_bdist(&kw, Q.x[k], Q.y[k]);
        }
        R_CheckUserInterrupt();
    }
    R_xlen_t len = s.stride * KG_NH;
    double *hist = (double *) R_alloc(len, sizeof(double));
    memset(hist, 0, len * sizeof(double));
    for (R_xlen_t k = 0; k < nf; k++) kf_g_add(&s, nnd[k], b[k], hist);
    return g_result(&s, hist, 1);
}

/* R caller: kf_simulate() for g_function(envelope = "labels") */
SEXP ffi_kfun_nearest_labels(SEXP x, SEXP y, SEXP lab, SEXP from_codes,
                             SEXP to_codes, SEXP nsim_, SEXP win, SEXP r,
                             SEXP nthreads_) {
    kf_labelling L;
    labelling_setup(&L, x, y, lab, from_codes, to_codes, nsim_, win, r,
                    R_NilValue, nthreads_);
    const kf_spec s = L.s;
    R_xlen_t n = L.n;
    int nth = L.nth, nset = L.nset, nw = L.nw;

    /* histograms are counts (exact in doubles): per-thread sums in any
     * order give the same numbers */
    R_xlen_t one = s.stride * KG_NH, size = one * 64 * nw;
    double *hist = (double *) R_alloc((size_t) nth * size, sizeof(double));
    memset(hist, 0, (size_t) nth * size * sizeof(double));
    double *best = (double *) R_alloc((size_t) nth * 64 * nw, sizeof(double));
    R_xlen_t blk;
    int wave;
    kf_blocking(kf_pairs_per_point(&s, &L.kw, n) * nw, size, nth, &blk,
                &wave);
    R_xlen_t nblk = (n + blk - 1) / blk;
    for (R_xlen_t c0 = 0; c0 < nblk; c0 += wave) {
        R_xlen_t c1 = c0 + wave < nblk ? c0 + wave : nblk;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1) \
    if (c1 - c0 > 1)
#endif
        for (R_xlen_t c = c0; c < c1; c++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            R_xlen_t a = c * blk, e = a + blk < n ? a + blk : n;
            kf_g_labels(&s, &L.g, L.b, L.fb, L.tb, nw, a, e,
                        best + (size_t) t * 64 * nw,
                        hist + (size_t) t * size);
        }
        R_CheckUserInterrupt();
    }
    for (int t = 1; t < nth; t++)
        for (R_xlen_t k = 0; k < size; k++) hist[k] += hist[t * size + k];
    return g_result(&s, hist, nset);
}

/* ---- windows ----------------------------------------------------------- */

/* R caller: kf_pair() for the Hanisch estimator of g_function():
 * area of {u in W : bdist(u) >= r} for each r, exact for rectangles,
 * else from the boundary distances of npix x npix pixel centres. */
SEXP ffi_kfun_eroded(SEXP win, SEXP r, SEXP npix_) {
    im_check_double(r, "r must be double");
    kf_window kw;
    im_window poly;
    window_arg(win, &kw, &poly);
    int nr = Rf_length(r), npix = im_as_int(npix_, "npix");
    const double *pr = REAL_RO(r);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, nr));
    double *po = REAL(out);
    double W = kw.xmax - kw.xmin, H = kw.ymax - kw.ymin;
    if (kw.rect) {
        for (int k = 0; k < nr; k++) {
            double a = W - 2 * pr[k], c = H - 2 * pr[k];
            po[k] = (a > 0 ? a : 0) * (c > 0 ? c : 0);
        }
        UNPROTECT(1);
        return out;
    }
    /* pixel boundary distances, sorted: areas by counting */
    double hx = W / npix, hy = H / npix;
    R_xlen_t np = (R_xlen_t) npix * npix;
    double *bd = (double *) R_alloc(np, sizeof(double));
    R_xlen_t m = 0;
    for (int iy = 0; iy < npix; iy++) {
        double yy = kw.ymin + (iy + 0.5) * hy;
        for (int ix = 0; ix < npix; ix++) {
            double xx = kw.xmin + (ix + 0.5) * hx;
            if (im_window_inside(kw.poly, xx, yy))
                bd[m++] = im_window_bdist(kw.poly, xx, yy);
        }
        if ((iy & 63) == 63) R_CheckUserInterrupt();
    }
    /* count pixels with b >= r[k], r increasing */
    R_xlen_t *cnt = (R_xlen_t *) R_alloc(nr + 1, sizeof(R_xlen_t));
    memset(cnt, 0, (nr + 1) * sizeof(R_xlen_t));
    for (R_xlen_t i = 0; i < m; i++) {
        /* number of k with r[k] <= b: those pixels count at every such k */
        int lo = 0, hi = nr;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (pr[mid] <= bd[i]) lo = mid + 1; else hi = mid;
        }
        cnt[lo]++;
    }
    /* area at r[k] = pixel area * #{b >= r[k]} = sum of cnt[j], j > k */
    double pa = hx * hy, run = 0.0;
    for (int k = nr - 1; k >= 0; k--) {
        run += (double) cnt[k + 1];
        po[k] = run * pa;
    }
    UNPROTECT(1);
    return out;
}

/* R caller: kf_edge_weights() (tests, diagnostics): for pairs
 * (xi, yi) -> (xj, yj), the boundary distance of i, Ripley's isotropic
 * weight and the translation weight (exact overlap if table_reach <= 0,
 * else the interpolated table used by the estimators). */
SEXP ffi_kfun_weights(SEXP xi, SEXP yi, SEXP xj, SEXP yj, SEXP win,
                      SEXP table_reach) {
    im_check_double(xi, "xi must be double");
    im_check_double(yi, "yi must be double");
    im_check_double(xj, "xj must be double");
    im_check_double(yj, "yj must be double");
    R_xlen_t n = XLENGTH(xi);
    kf_window kw;
    im_window poly;
    window_arg(win, &kw, &poly);
    double reach = im_as_double(table_reach, "table_reach");
    if (reach > 0) window_table(&kw, reach, R_PosInf, 1);
    SEXP out = PROTECT(Rf_allocMatrix(REALSXP, (int) n, 3));
    double *po = REAL(out);
    const double *ax = REAL_RO(xi), *ay = REAL_RO(yi);
    const double *bx = REAL_RO(xj), *by = REAL_RO(yj);
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (IM_CHUNK - 1)) == IM_CHUNK - 1) R_CheckUserInterrupt();
        double dx = bx[i] - ax[i], dy = by[i] - ay[i];
        double b = kf_bdist(&kw, ax[i], ay[i]);
        po[i] = b;
        double d = sqrt(dx * dx + dy * dy);
        po[n + i] = kf_iso_weight(&kw, ax[i], ay[i], b, d);
        po[2 * n + i] = kf_trans_weight(&kw, dx, dy);
    }
    UNPROTECT(1);
    return out;
}

/* R caller: tests of kf_acos_fast() (test-kfunctions-envelopes.R). */
SEXP ffi_kfun_acos_fast(SEXP q) {
    im_check_double(q, "q must be double");
    R_xlen_t n = XLENGTH(q);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, n));
    const double *pq = REAL_RO(q);
    double *po = REAL(out);
    for (R_xlen_t i = 0; i < n; i++) po[i] = kf_acos_fast(pq[i]);
    UNPROTECT(1);
    return out;
}

/* R caller: tests of stop_status() (test-kfunctions.R): raise the classed
 * error of a kernel status the way the entry points do. */
SEXP ffi_kfun_status(SEXP status) {
    im_stop_status((im_status) im_as_int(status, "status"), "a test");
    return R_NilValue;
}
