/* regions.c -- tumour regions and compartments: the smoothed tumour-fraction
 * mask traced into polygons, signed distances of points to region borders,
 * and exact-to-a-leaf areas of distance bands clipped to the tissue window.
 * The polygon geometry (edge grids, point in polygon, distance to edges) and
 * the raster helpers (closing, contour tracing) are those of window.h. */
#include "window.h"
#include "util.h"
#include <math.h>
#include <string.h>
#include <limits.h>
#include <R_ext/Utils.h>

/* Rings of a polygon set from R (x, y, 0-based ring_start). */
static void regions_rings(im_window *w, SEXP x, SEXP y, SEXP ring_start) {
    im_check_double(x, "region x must be double");
    im_check_double(y, "region y must be double");
    if (TYPEOF(ring_start) != INTSXP) IM_BUG("ring_start must be integer");
    int nring = Rf_length(ring_start) - 1;
    if (XLENGTH(x) != XLENGTH(y) || nring < 1 ||
        INTEGER_RO(ring_start)[nring] != XLENGTH(x))
        IM_BUG("inconsistent region rings");
    if (im_window_build(w, REAL_RO(x), REAL_RO(y), INTEGER_RO(ring_start),
                        nring) != IM_OK)
        IM_BUG("invalid region rings (R layer should have caught this)");
}

/* The border that distances are measured to.  A region's outline may run
 * partly along the edge of the image (the tissue window), which is not a
 * tumour border: `border` then holds only the tumour-host interfaces, as
 * degenerate rings (each run of interface edges traced there and back), and
 * is used for the magnitude while `reg` gives the sign.  border == reg when
 * every edge is an interface. */
typedef struct {
    const im_window *reg;
    const im_window *border;
    int partial;           /* some edges of the outline are not border    */
    int none;              /* no edge is                                   */
} region_border;

/* Interface rings from R: NULL (every edge counts), or list(x, y,
 * ring_start) with ring_start of length 1 when there is no interface. */
static void border_rings(region_border *b, im_window *store, SEXP iface) {
    b->border = b->reg;
    b->partial = b->none = 0;
    if (Rf_isNull(iface)) return;
    b->partial = 1;
    if (TYPEOF(iface) != VECSXP || Rf_length(iface) != 3)
        IM_BUG("interface rings must be a list of 3");
    if (Rf_length(VECTOR_ELT(iface, 2)) < 2) {
        b->none = 1;
        return;
    }
    regions_rings(store, VECTOR_ELT(iface, 0), VECTOR_ELT(iface, 1),
                  VECTOR_ELT(iface, 2));
    b->border = store;
}

/* Distance to the nearest border edge (Inf when there is none). */
static inline double border_dist(const region_border *b, double x, double y) {
    return b->none ? R_PosInf : im_window_bdist(b->border, x, y);
}

/* Signed distance to the border: negative inside (on an edge: 0). */
static inline double signed_dist(const region_border *b, double x, double y) {
    double d = border_dist(b, x, y);
    return im_window_inside(b->reg, x, y) ? -d : d;
}

/* R caller: region_signed_distance() */
SEXP ffi_regions_signed_distance(SEXP px, SEXP py, SEXP x, SEXP y,
                                 SEXP ring_start, SEXP iface,
                                 SEXP nthreads_) {
    im_check_double(px, "px must be double");
    im_check_double(py, "py must be double");
    R_xlen_t n = XLENGTH(px);
    if (XLENGTH(py) != n) IM_BUG("px and py differ in length");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    im_window w, wb;
    regions_rings(&w, x, y, ring_start);
    region_border b;
    b.reg = &w;
    border_rings(&b, &wb, iface);
    SEXP out = PROTECT(Rf_allocVector(REALSXP, n));
    double *po = REAL(out);
    const double *qx = REAL_RO(px), *qy = REAL_RO(py);
    R_xlen_t step = (R_xlen_t) IM_CHUNK * 4;
    for (R_xlen_t c0 = 0; c0 < n; c0 += step) {
        R_xlen_t c1 = c0 + step < n ? c0 + step : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1024)
#endif
        for (R_xlen_t i = c0; i < c1; i++)
            po[i] = signed_dist(&b, qx[i], qy[i]);
        R_CheckUserInterrupt();
    }
    UNPROTECT(1);
    return out;
}

/* ---- areas of distance bands ------------------------------------------- */

typedef struct {
    const region_border *reg; /* tumour regions and their border        */
    const im_window *win;     /* tissue window                          */
    const double *brk;        /* increasing band limits                 */
    int nb;                   /* limits; bands: nb + 1                  */
    double leaf;              /* smallest block side                    */
} band_ctx;

/* Band of a signed distance: 0 for d <= brk[0], k for brk[k-1] < d <=
 * brk[k], nb for d > brk[nb-1]. */
static inline int band_of(const band_ctx *c, double d) {
    int lo = 0, hi = c->nb;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (d <= c->brk[mid]) hi = mid; else lo = mid + 1;
    }
    return lo;
}

/* Share of a square where a linear function lies at or below a level:
 * the function rises by a and b (>= 0) across the square's two sides, and
 * s is the level above its least value on the square, so the share is the
 * distribution function at s of the sum of a uniform on [0, a] and one on
 * [0, b] (a trapezoid: quadratic at both ends, linear between). */
static double linear_share(double a, double b, double s) {
    if (a < b) { double t = a; a = b; b = t; }
    if (s <= 0.0) return 0.0;
    if (s >= a + b) return 1.0;
    if (b <= 1e-12 * a) return s / a;
    if (s <= b) return s * s / (2.0 * a * b);
    if (s <= a) return (s - 0.5 * b) / a;
    double r = a + b - s;
    return 1.0 - r * r / (2.0 * a * b);
}

/* A leaf block (side L, centre distance d) across band limits, inside the
 * window: its area shared among the bands by the plane through the
 * distances at its corners (the distance is nearly linear over a leaf),
 * instead of all to the centre's band, which errs by up to half a leaf
 * along each limit that runs with the blocks (straight outlines parallel
 * to the axes). */
static void band_leaf_split(const band_ctx *c, double x, double y, double L,
                            double d, double *acc) {
    double q = 0.5 * L;
    double d00 = signed_dist(c->reg, x - q, y - q);
    double d10 = signed_dist(c->reg, x + q, y - q);
    double d01 = signed_dist(c->reg, x - q, y + q);
    double d11 = signed_dist(c->reg, x + q, y + q);
    double a = fabs(0.5 * (d10 + d11 - d00 - d01));
    double b = fabs(0.5 * (d01 + d11 - d00 - d10));
    double lo = d - 0.5 * (a + b);
    double area = L * L, prev = 0.0;
    int k = 0;
    for (; k < c->nb; k++) {
        double f = linear_share(a, b, c->brk[k] - lo);
        acc[k] += (f - prev) * area;
        prev = f;
        if (f >= 1.0) return;
    }
    acc[c->nb] += (1.0 - prev) * area;
}

/* Area of the square block centred at (x, y) with side L lying in the
 * window, added to acc[band].  Distances are 1-Lipschitz, so a block whose
 * centre is farther than half its diagonal from every band limit lies in
 * one band (and likewise for the window edge and, when the border is only
 * part of the outline, for the region's own edges, across which the sign
 * changes); other blocks are split into four down to the leaf side, where
 * the centre decides. */
static void band_block(const band_ctx *c, double x, double y, double L,
                       double *acc) {
    double h = L * M_SQRT1_2;
    double wd = im_window_bdist(c->win, x, y);
    int win_in = im_window_inside(c->win, x, y);
    int win_uniform = wd > h;
    if (win_uniform && !win_in) return;
    double d = signed_dist(c->reg, x, y);
    int k = band_of(c, d);
    int far_limits = (k == 0 || d - c->brk[k - 1] > h) &&
                     (k == c->nb || c->brk[k] - d > h);
    int band_uniform = far_limits;
    if (band_uniform && c->reg->partial)
        band_uniform = im_window_bdist(c->reg->reg, x, y) > h;
    if (win_uniform && band_uniform) {
        if (win_in) acc[k] += L * L;
        return;
    }
    if (L <= c->leaf * 1.000001) {
        if (!win_in) return;
        /* near a band limit: the plane of the corners shares the leaf
         * (next to an image-edge outline, where the sign of the distance
         * jumps, the plane errs by at most the leaf, as the centre rule) */
        if (!far_limits) {
            band_leaf_split(c, x, y, L, d, acc);
        } else {
            acc[k] += L * L;
        }
        return;
    }
    double q = L / 4.0, H = L / 2.0;
    band_block(c, x - q, y - q, H, acc);
    band_block(c, x + q, y - q, H, acc);
    band_block(c, x - q, y + q, H, acc);
    band_block(c, x + q, y + q, H, acc);
}

/* R caller: region_band_areas().  Areas of the bands of signed distance
 * to the regions (rx, ry, rs; border: iface, see border_rings()) inside
 * the window (wx, wy, ws), for the
 * whole window (tile <= 0: a vector of nb + 1) or per square tile of side
 * `tile` laid from the window's lower-left corner (a matrix nb + 1 x
 * tiles, tile k = column + row * columns; attribute "tiles" = columns,
 * rows). */
SEXP ffi_regions_band_area(SEXP rx, SEXP ry, SEXP rs, SEXP iface,
                           SEXP wx, SEXP wy, SEXP ws, SEXP breaks,
                           SEXP leaf_, SEXP tile_, SEXP nthreads_) {
    im_check_double(breaks, "breaks must be double");
    int nb = Rf_length(breaks);
    double leaf = im_as_double(leaf_, "leaf");
    double tile = im_as_double(tile_, "tile");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    if (!(leaf > 0) || !R_FINITE(leaf) || !R_FINITE(tile))
        IM_BUG("bad leaf or tile size");
    im_window reg, wb, win;
    regions_rings(&reg, rx, ry, rs);
    region_border b;
    b.reg = &reg;
    border_rings(&b, &wb, iface);
    regions_rings(&win, wx, wy, ws);
    band_ctx c = {&b, &win, REAL_RO(breaks), nb, leaf};
    /* top-level blocks: about 64 across the window, and whole divisions
     * of the tiles when there are tiles */
    double W = win.xmax - win.xmin, H = win.ymax - win.ymin;
    double ext = W > H ? W : H;
    double B = leaf;
    int ntx = 1, nty = 1;
    if (tile > 0) {
        double ftx = ceil(W / tile), fty = ceil(H / tile);
        if (ftx < 1) ftx = 1;
        if (fty < 1) fty = 1;
        if (ftx * fty > 1e6) IM_BUG("too many tiles");
        ntx = (int) ftx;
        nty = (int) fty;
        B = tile;
        while (B / 2.0 >= leaf && B * 64.0 > ext) B /= 2.0;
    } else {
        while (B * 64.0 < ext && B < 1e300) B *= 2.0;
    }
    double fbx = ceil(W / B), fby = ceil(H / B);
    if (fbx < 1) fbx = 1;
    if (fby < 1) fby = 1;
    if (fbx * fby > 1e7) IM_BUG("too many blocks");
    int nbx = (int) fbx, nby = (int) fby;
    R_xlen_t nblock = (R_xlen_t) nbx * nby;
    int nband = nb + 1;
    double *acc = (double *) R_alloc((size_t) nblock * nband, sizeof(double));
    memset(acc, 0, sizeof(double) * (size_t) nblock * nband);
    R_xlen_t step = 64;
    for (R_xlen_t b0 = 0; b0 < nblock; b0 += step) {
        R_xlen_t b1 = b0 + step < nblock ? b0 + step : nblock;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
#endif
        for (R_xlen_t b = b0; b < b1; b++) {
            int i = (int) (b % nbx), j = (int) (b / nbx);
            double x = win.xmin + (i + 0.5) * B, y = win.ymin + (j + 0.5) * B;
            band_block(&c, x, y, B, acc + (size_t) b * nband);
        }
        R_CheckUserInterrupt();
    }
    R_xlen_t ntile = (R_xlen_t) ntx * nty;
    SEXP out = PROTECT(tile > 0 ? Rf_allocMatrix(REALSXP, nband, (int) ntile)
                                : Rf_allocVector(REALSXP, nband));
    double *po = REAL(out);
    for (R_xlen_t k = 0; k < (R_xlen_t) nband * ntile; k++) po[k] = 0.0;
    /* in block order: the same sums for any thread count */
    for (R_xlen_t b = 0; b < nblock; b++) {
        R_xlen_t t = 0;
        if (tile > 0) {
            int i = (int) (b % nbx), j = (int) (b / nbx);
            int ti = (int) floor((i + 0.5) * B / tile);
            int tj = (int) floor((j + 0.5) * B / tile);
            if (ti >= ntx) ti = ntx - 1;
            if (tj >= nty) tj = nty - 1;
            t = (R_xlen_t) ti + (R_xlen_t) tj * ntx;
        }
        for (int k = 0; k < nband; k++)
            po[t * nband + k] += acc[(size_t) b * nband + k];
    }
    if (tile > 0) {
        SEXP dims = PROTECT(Rf_allocVector(INTSXP, 2));
        INTEGER(dims)[0] = ntx;
        INTEGER(dims)[1] = nty;
        Rf_setAttrib(out, Rf_install("tiles"), dims);
        UNPROTECT(1);
    }
    UNPROTECT(1);
    return out;
}

/* ---- the tumour mask --------------------------------------------------- */

/* Connected components of the pixels with (mask & 1) == want (8-connected
 * if conn8, else 4-connected): labels in lab[] (-1 for other pixels),
 * sizes in *size (R_alloc), touching-the-frame flags in *frame.  Returns
 * the number of components. */
static int mask_components(const unsigned char *mask, int nx, int ny,
                           int want, int conn8, int *lab, R_xlen_t **size,
                           unsigned char **frame) {
    R_xlen_t npix = (R_xlen_t) nx * ny;
    int nprov = 0;
    for (R_xlen_t p = 0; p < npix; p++) nprov += (mask[p] & 1) == want;
    int *parent = (int *) R_alloc(nprov > 0 ? nprov : 1, sizeof(int));
    int nl = 0;
    for (int j = 0; j < ny; j++) {
        for (int i = 0; i < nx; i++) {
            R_xlen_t p = (R_xlen_t) j * nx + i;
            lab[p] = -1;
            if ((mask[p] & 1) != want) continue;
            int nb[4], k = 0;
            if (i > 0 && lab[p - 1] >= 0) nb[k++] = lab[p - 1];
            if (j > 0) {
                if (lab[p - nx] >= 0) nb[k++] = lab[p - nx];
                if (conn8 && i > 0 && lab[p - nx - 1] >= 0)
                    nb[k++] = lab[p - nx - 1];
                if (conn8 && i < nx - 1 && lab[p - nx + 1] >= 0)
                    nb[k++] = lab[p - nx + 1];
            }
            if (k == 0) {
                parent[nl] = nl;
                lab[p] = nl++;
            } else {
                lab[p] = nb[0];
                for (int q = 1; q < k; q++) im_uf_union(parent, nb[0], nb[q]);
            }
        }
    }
    R_xlen_t *sz = (R_xlen_t *) R_alloc(nl > 0 ? nl : 1, sizeof(R_xlen_t));
    unsigned char *fr = (unsigned char *) R_alloc(nl > 0 ? nl : 1, 1);
    for (int l = 0; l < nl; l++) { sz[l] = 0; fr[l] = 0; }
    for (int j = 0; j < ny; j++) {
        for (int i = 0; i < nx; i++) {
            R_xlen_t p = (R_xlen_t) j * nx + i;
            if (lab[p] < 0) continue;
            int r = im_uf_find(parent, lab[p]);
            lab[p] = r;
            sz[r]++;
            if (i == 0 || j == 0 || i == nx - 1 || j == ny - 1) fr[r] = 1;
        }
    }
    *size = sz;
    *frame = fr;
    return nl;
}

/* Separable Gaussian smoothing of v[nx * ny] (in place), sd sig pixels,
 * truncated at 3 sd; tmp: nx * ny floats. */
static void smooth_gauss(float *v, float *tmp, int nx, int ny, double sig,
                         int nth) {
    /* a kernel wider than the image reaches every pixel at 3 sd: cap its
     * half-width at the image size (no int overflow for huge sig) */
    double kmax = (double) (nx > ny ? nx : ny);
    double kk = ceil(3.0 * sig);
    int k = kk > kmax ? (int) kmax : (int) kk;
    if (k < 1) k = 1;
    double *wt = (double *) R_alloc(2 * (size_t) k + 1, sizeof(double));
    double tot = 0.0;
    for (int d = -k; d <= k; d++) {
        wt[d + k] = exp(-0.5 * (d / sig) * (d / sig));
        tot += wt[d + k];
    }
    for (int d = 0; d <= 2 * k; d++) wt[d] /= tot;
    /* along rows: v -> tmp */
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
    for (int j = 0; j < ny; j++) {
        const float *r = v + (R_xlen_t) j * nx;
        float *o = tmp + (R_xlen_t) j * nx;
        for (int i = 0; i < nx; i++) {
            int a = i - k < 0 ? 0 : i - k, b = i + k >= nx ? nx - 1 : i + k;
            double s = 0.0;
            for (int q = a; q <= b; q++) s += wt[q - i + k] * r[q];
            o[i] = (float) s;
        }
    }
    R_CheckUserInterrupt();
    /* along columns: tmp -> v, a row at a time (contiguous memory) */
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
    for (int j = 0; j < ny; j++) {
        float *o = v + (R_xlen_t) j * nx;
        for (int i = 0; i < nx; i++) o[i] = 0.0f;
        int a = j - k < 0 ? 0 : j - k, b = j + k >= ny ? ny - 1 : j + k;
        for (int q = a; q <= b; q++) {
            float w = (float) wt[q - j + k];
            const float *r = tmp + (R_xlen_t) q * nx;
            for (int i = 0; i < nx; i++) o[i] += w * r[i];
        }
    }
    R_CheckUserInterrupt();
}

/* R caller: regions_image() (tumor_regions()).  Cells (x, y) with tumour
 * classes tum (1 tumour, 0 other, -1 ignored: tissue but in neither
 * count); the tissue is the closing of all cells (radius, margin as the
 * concave window); a tissue pixel is tumour where the Gaussian-smoothed
 * (sd bw) tumour count is at least thr times the smoothed count of all
 * cells (thr < 0: -thr times the median of that fraction at the tumour
 * cells; thr == 0: every tissue pixel); the tumour is closed with a disc
 * of radius gap (microns; 0: not), pieces smaller than min_area pixels
 * are dropped, the tissue of enclosed gaps smaller than min_hole pixels is
 * filled, and the mask is traced into rings (simplified within `simplify`
 * pixels). */
/* Redraw the border of the smoothed mask at the cell level: within
 * `band` microns of it (on both sides) a pixel is tumour when it lies in
 * the closing (radius R, margin m) of the tumour cells, i.e. the border
 * runs between the outermost tumour cells and the other cells next to
 * them; deeper inside the smoothed tumour stays tumour, farther out stays
 * not tumour.  mask: 0/1 on entry and exit. */
static int refine_border(unsigned char *mask, const unsigned char *tissue,
                         int *img, int nx, int ny, const double *px,
                         const double *py, const int *pt, R_xlen_t n,
                         double X0, double Y0, double s, double R,
                         double m, double band, double max_shift,
                         double *shift_out, int nth) {
    R_xlen_t npix = (R_xlen_t) nx * ny;
    int nmax = nx > ny ? nx : ny;
    double *work = (double *) R_alloc((size_t) nth * (4 * (size_t) nmax + 2),
                                      sizeof(double));
    unsigned char *cm = (unsigned char *) R_alloc(npix, 1);
    memset(cm, 0, (size_t) npix);
    for (R_xlen_t i = 0; i < n; i++) {
        if (pt[i] != 1) continue;
        R_xlen_t p = (R_xlen_t) floor((py[i] - Y0) / s) * nx +
                     (R_xlen_t) floor((px[i] - X0) / s);
        cm[p] = 1;
    }
    im_mask_close(cm, img, nx, ny, R, m, s, nth);
    /* a band wider than the image covers all of it */
    double bmax = (double) (nx + ny) * s;
    if (band > bmax) band = bmax;
    double t = (band / s) * (band / s);
    int cap = (int) floor(t) + 1;
    /* bit 2: within band of the smoothed tumour */
    im_mask_rows(mask, img, nx, ny, 1, 1, cap, nth);
    R_CheckUserInterrupt();
    im_mask_cols(mask, img, nx, ny, t, 0, 0, 2, nth, work);
    /* bit 4: tumour farther than band from everything else */
    im_mask_rows(mask, img, nx, ny, 1, 0, cap, nth);
    R_CheckUserInterrupt();
    im_mask_cols(mask, img, nx, ny, t, 1, 1, 4, nth, work);
    /* A mixed interface (tumour cells among the host cells over more
     * than the kernel, as in the replacement pattern) has no cell-level
     * border: the closing would run along the outermost tumour cells, far
     * beyond where tumour and host cells are equally frequent.  Detected
     * by the mean outward shift of the border (area gained minus area
     * lost, over the length of the border): then the smoothed border
     * stays. */
    double gain = 0.0, loss = 0.0, edge = 0.0;
    for (int j = 1; j < ny - 1; j++) {
        for (int i = 1; i < nx - 1; i++) {
            R_xlen_t p = (R_xlen_t) j * nx + i;
            unsigned char v = mask[p];
            int c = cm[p] && tissue[p];
            if ((v & 1) && !(v & 4) && !c) loss += 1.0;
            if (!(v & 1) && (v & 2) && c) gain += 1.0;
            if ((v & 1) && (!(mask[p - 1] & 1) || !(mask[p + 1] & 1) ||
                            !(mask[p - nx] & 1) || !(mask[p + nx] & 1)))
                edge += 1.0;
        }
    }
    /* boundary pixels of a 4-connected raster overcount the length of a
     * smooth curve by about 4 / pi on average over directions */
    double shift = edge > 0 ? (gain - loss) * s / (edge * s * M_PI / 4.0) : 0;
    int use = shift <= max_shift;
    for (R_xlen_t p = 0; p < npix; p++) {
        unsigned char v = mask[p];
        if (use)
            mask[p] = (unsigned char) ((v & 4) ? 1 :
                                       ((v & 2) ? (cm[p] && tissue[p]) : 0));
        else
            mask[p] = v & 1;
    }
    *shift_out = shift;
    return use;
}

SEXP ffi_regions_mask(SEXP x, SEXP y, SEXP tum, SEXP bw_, SEXP pixel_,
                      SEXP radius_, SEXP margin_, SEXP thr_, SEXP gap_,
                      SEXP min_area_, SEXP min_hole_, SEXP simplify_,
                      SEXP refine_, SEXP nthreads_) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    R_xlen_t n = XLENGTH(x);
    if (XLENGTH(y) != n || XLENGTH(tum) != n || TYPEOF(tum) != INTSXP ||
        n < 1)
        IM_BUG("bad cells");
    double bw = im_as_double(bw_, "bw"), s = im_as_double(pixel_, "pixel");
    double R = im_as_double(radius_, "radius");
    double m = im_as_double(margin_, "margin");
    double thr = im_as_double(thr_, "thr");
    double gap = im_as_double(gap_, "gap");
    double min_area = im_as_double(min_area_, "min_area");
    double min_hole = im_as_double(min_hole_, "min_hole");
    double simp = im_as_double(simplify_, "simplify") * 2.0;
    /* refine: c(band, margin of the cell-level closing), band 0: none */
    if (TYPEOF(refine_) != REALSXP || XLENGTH(refine_) != 2)
        IM_BUG("refine must be c(band, margin)");
    double refine = REAL(refine_)[0], refine_m = REAL(refine_)[1];
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    if (!(refine >= 0) || !R_FINITE(refine) || !(refine_m >= 0))
        IM_BUG("bad refine");
    if (!(bw > 0) || !(s > 0) || !(R > 0) || !(m >= 0) || !R_FINITE(R) ||
        !R_FINITE(s) || !R_FINITE(bw))
        IM_BUG("bad mask parameters");
    const double *px = REAL_RO(x), *py = REAL_RO(y);
    const int *pt = INTEGER_RO(tum);   /* 1 tumour, 0 other, -1 ignored */
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (R_xlen_t i = 0; i < n; i++) {
        if (px[i] < x0) x0 = px[i];
        if (px[i] > x1) x1 = px[i];
        if (py[i] < y0) y0 = py[i];
        if (py[i] > y1) y1 = py[i];
    }
    double P = (R > gap ? R : gap) + 3.0 * s;
    double X0 = x0 - P, Y0 = y0 - P;
    double fnx = ceil((x1 - x0 + 2.0 * P) / s) + 1.0;
    double fny = ceil((y1 - y0 + 2.0 * P) / s) + 1.0;
    if (fnx * fny > 2.0e8 || fnx > 1e6 || fny > 1e6)
        IM_BUG("mask too large (R layer chooses the pixel size)");
    int nx = (int) fnx, ny = (int) fny;
    R_xlen_t npix = (R_xlen_t) nx * ny;
    unsigned char *mask = (unsigned char *) R_alloc(npix, 1);
    int *img = (int *) R_alloc(npix, sizeof(int));
    float *ct = (float *) R_alloc(npix, sizeof(float));
    float *ca = (float *) R_alloc(npix, sizeof(float));
    float *tmp = (float *) R_alloc(npix, sizeof(float));
    memset(mask, 0, (size_t) npix);
    memset(ct, 0, sizeof(float) * (size_t) npix);
    memset(ca, 0, sizeof(float) * (size_t) npix);
    int refined = 0;
    double shift = NA_REAL;
    for (R_xlen_t i = 0; i < n; i++) {
        int ci = (int) floor((px[i] - X0) / s);
        int cj = (int) floor((py[i] - Y0) / s);
        if (ci < 1 || ci > nx - 2 || cj < 1 || cj > ny - 2)
            IM_BUG("cell outside the mask");
        R_xlen_t p = (R_xlen_t) cj * nx + ci;
        mask[p] = 1;
        if (pt[i] >= 0) ca[p] += 1.0f;
        if (pt[i] == 1) ct[p] += 1.0f;
    }
    /* the tissue: 1 on the closing of all cells (kept in `tissue`) */
    im_mask_close(mask, img, nx, ny, R, m, s, nth);
    unsigned char *tissue = (unsigned char *) R_alloc(npix, 1);
    memcpy(tissue, mask, (size_t) npix);
    if (thr != 0) {   /* thr == 0: the closing itself */
        smooth_gauss(ct, tmp, nx, ny, bw / s, nth);
        smooth_gauss(ca, tmp, nx, ny, bw / s, nth);
        if (thr < 0) {
            /* relative: -thr times the median smoothed tumour fraction
             * at the tumour cells (the half maximum for thr = -0.5) */
            R_xlen_t nt = 0;
            for (R_xlen_t i = 0; i < n; i++) nt += pt[i] == 1;
            double *fr = (double *) R_alloc(nt > 0 ? nt : 1, sizeof(double));
            R_xlen_t k = 0;
            for (R_xlen_t i = 0; i < n; i++) {
                if (pt[i] != 1) continue;
                R_xlen_t p = (R_xlen_t) floor((py[i] - Y0) / s) * nx +
                             (R_xlen_t) floor((px[i] - X0) / s);
                fr[k++] = ca[p] > 1e-6f ? (double) ct[p] / ca[p] : 0.0;
            }
            double med = 1.0;
            if (nt > 0) {
                if (nt > INT_MAX) IM_BUG("too many tumour cells");
                rPsort(fr, (int) nt, (int) (nt / 2));
                med = fr[nt / 2];
            }
            thr = -thr * med;
            if (!(thr > 0)) thr = 1e-6;
        }
        for (R_xlen_t p = 0; p < npix; p++) {
            int t = mask[p] && ca[p] > 1e-6f && ct[p] >= thr * ca[p];
            mask[p] = (unsigned char) t;
        }
        if (refine > 0)
            refined = refine_border(mask, tissue, img, nx, ny, px, py, pt,
                                    n, X0, Y0, s, R, refine_m, refine,
                                    bw / 10.0,
                                    &shift, nth);
    }
    /* close channels and notches narrower than 2 gap */
    if (gap > 0) im_mask_close(mask, img, nx, ny, gap, 0.0, s, nth);
    /* drop small tumour pieces, then fill the tissue of small gaps
     * (background pieces not touching the frame are enclosed by tumour;
     * empty parts of them, such as necrosis or lumens wider than the
     * closing of the tissue, stay holes) */
    R_xlen_t *size;
    unsigned char *frame;
    int nl = mask_components(mask, nx, ny, 1, 1, img, &size, &frame);
    if (nl > 0 && min_area > 0) {
        for (R_xlen_t p = 0; p < npix; p++)
            if (img[p] >= 0 && (double) size[img[p]] < min_area) mask[p] = 0;
    }
    R_CheckUserInterrupt();
    nl = mask_components(mask, nx, ny, 0, 0, img, &size, &frame);
    if (nl > 0 && min_hole > 0) {
        for (R_xlen_t p = 0; p < npix; p++)
            if (img[p] >= 0 && !frame[img[p]] && tissue[p] &&
                (double) size[img[p]] < min_hole)
                mask[p] = 1;
    }
    /* empty specks left inside (smaller than min_area) are filled too */
    nl = mask_components(mask, nx, ny, 0, 0, img, &size, &frame);
    if (nl > 0 && min_area > 0) {
        for (R_xlen_t p = 0; p < npix; p++)
            if (img[p] >= 0 && !frame[img[p]] &&
                (double) size[img[p]] < min_area)
                mask[p] = 1;
    }
    for (int i = 0; i < nx; i++) mask[i] = mask[npix - nx + i] = 0;
    for (int j = 0; j < ny; j++) mask[(R_xlen_t) j * nx] =
        mask[(R_xlen_t) j * nx + nx - 1] = 0;
    R_CheckUserInterrupt();
    SEXP out = PROTECT(im_mask_contour(mask, img, nx, ny, X0, Y0, s, simp));
    Rf_setAttrib(out, Rf_install("threshold"), Rf_ScalarReal(thr));
    Rf_setAttrib(out, Rf_install("refined"), Rf_ScalarLogical(refined));
    Rf_setAttrib(out, Rf_install("shift"), Rf_ScalarReal(shift));
    UNPROTECT(1);
    return out;
}
