/* window.h -- the tissue-window geometry every family uses.
 *
 * A window is a set of polygon rings in microns: outer rings
 * counter-clockwise, holes clockwise, rings not closed (the first vertex is
 * not repeated), as R's window_rings() gives them (x, y and 0-based
 * ring_start offsets, ring r = vertices ring_start[r] .. ring_start[r+1]-1).
 * Vertex i of a ring and the next vertex of the same ring form edge i, so
 * the window interior is on the left of every edge.  Membership follows the
 * even-odd rule over all rings; a point on an edge or vertex is inside.
 *
 * im_window_build() copies the rings and indexes the edges in two uniform
 * grids (each cell lists the edges that pass through it; the cells of the
 * fine one keep a reference point whose inside status is known), in
 * O(vertices) memory.
 * It allocates with R_alloc: main thread, entry layer only, once per image.
 * Every query below is plain C, read-only on the struct, thread-safe, and
 * may be called from inside OpenMP regions.
 *
 * Typical use in an entry point:
 *
 *     im_window w;
 *     if (im_window_build(&w, REAL_RO(wx), REAL_RO(wy),
 *                         INTEGER_RO(ring_start), nring) != IM_OK)
 *         ... window error (R layer validated it, so this is a bug) ...
 *     #pragma omp parallel for num_threads(nth)
 *     for (i ...) f[i] = im_window_circle_frac(&w, x[i], y[i], r);
 */
#ifndef IMMUNOSCAPE_WINDOW_H
#define IMMUNOSCAPE_WINDOW_H

#include "immunoscape.h"

/* One uniform grid over the edges: cell (row r, column c) covers
 * [gx0 + c h, gx0 + (c+1) h) x [gy0 + r h, gy0 + (r+1) h) and lists every
 * edge passing through it (or within the rounding slack pad). */
typedef struct {
    double gx0, gy0;       /* origin (below-left of the bounding box)       */
    double h, inv_h;       /* cell side and its inverse                     */
    double pad;            /* rounding slack used when registering edges    */
    int ncx, ncy;          /* cells per row, rows                           */
    R_xlen_t *cell_start;  /* [ncx * ncy + 1] first entry of each cell      */
    int *cell_edge;        /* edge ids (= first vertex of the edge)         */
    int *nz_next;          /* [ncx * ncy] first non-empty column >= c in
                              the row of cell c (ncx if none)               */
    int *near_cell;        /* [ncx * ncy] a nearest non-empty cell          */
} im_egrid;

typedef struct {
    /* rings ------------------------------------------------------------- */
    int nv;                /* vertices = edges                              */
    int nring;             /* rings                                         */
    double *x, *y;         /* [nv] vertex coordinates (copies)              */
    int *next, *prev;      /* [nv] next / previous vertex of the same ring  */
    int *ring_start;       /* [nring + 1] 0-based ring offsets (copy)       */
    double xmin, xmax, ymin, ymax;   /* bounding box of the vertices        */
    double area;           /* signed shoelace sum: the window area          */
    int rect;              /* 1: one axis-parallel rectangle (fast paths)   */
    double snap;           /* points this close to an edge are on it when
                              edges of W and a shifted W are compared       */
    /* indexes ----------------------------------------------------------- */
    im_egrid fine;         /* a few edges per non-empty cell: inside,
                              circle fractions, overlaps                    */
    double *ref_x, *ref_y; /* [fine cells] reference point of each cell     */
    unsigned char *ref_in; /* [fine cells] 1 if the reference point inside  */
    im_egrid coarse;       /* about two cells per edge: distances           */
    /* overlaps ---------------------------------------------------------- */
    int *nz_sat;           /* [(ncx + 1) * (ncy + 1)] summed-area table of
                              the non-empty fine cells                      */
    int nchain;            /* runs of up to 8 consecutive edges of a ring   */
    int *chain_start;      /* [nchain + 1] first edge of each run           */
    double *chain_box;     /* [4 * nchain] xmin, xmax, ymin, ymax of a run  */
    double *chain_sum;     /* [3 * nchain] sums over the run, coordinates
                              relative to the centre of the bounding box:
                              x0 y1 - x1 y0, x1 - x0, y1 - y0               */
} im_window;

/* Build the window from rings (x, y, ring_start[0..nring]).  Returns
 * IM_ERR_WINDOW when a ring has fewer than 3 vertices, a coordinate is not
 * finite or there is no ring; IM_OK otherwise.  The R layer validates user
 * polygons (orientation, holes inside outer rings, positive area) before.
 * Main thread only (R_alloc). */
im_status im_window_build(im_window *w, const double *x, const double *y,
                          const int *ring_start, int nring);

/* 1 if (x, y) lies in the window (on an edge or vertex counts as inside;
 * holes are outside), else 0.  O(1) expected: one grid cell is tested. */
int im_window_inside(const im_window *w, double x, double y);

/* Euclidean distance from (x, y) to the nearest edge of any ring (outer
 * boundary or hole), for points inside or outside; 0 on the boundary.
 * The same number as spatstat.geom::bdist.points() for points in W. */
double im_window_bdist(const im_window *w, double x, double y);

/* Fraction (0..1) of the circumference of the circle of radius r centred
 * at (x, y) that lies inside the window, computed exactly from the
 * intersections of the circle with the edges (only edges near the circle
 * are visited).  Ripley's isotropic edge-correction weight of a pair at
 * distance r is 1 / im_window_circle_frac(w, x_i, y_i, r): spatstat's
 * edge.Ripley() returns that inverse, capped at its `maxweight` (100 by
 * default).  For r == 0 the result is im_window_inside().  Callers with
 * many pairs may skip the call when r <= im_window_bdist() (result 1 for
 * a point inside).  Returns NaN only if scratch memory cannot be had. */
double im_window_circle_frac(const im_window *w, double x, double y,
                             double r);

/* Area of W intersected with W shifted by (dx, dy), exact for polygons
 * with holes (boundary integral over the parts of each boundary lying in
 * the other set; collinear and touching edges are resolved by a symbolic
 * perturbation of the shift, so integer coordinates are safe).  The
 * translation edge-correction weight of a pair with difference
 * (dx, dy) = (x_j - x_i, y_j - y_i) is w->area / im_window_overlap(w, dx,
 * dy) (spatstat's edge.Trans()).  Cost O(vertices) per shift (closed form
 * for rectangles); tabulate on a grid of shifts if there are many pairs.
 * Returns NaN only if scratch memory cannot be had. */
double im_window_overlap(const im_window *w, double dx, double dy);

/* ---- raster masks (the concave window, tumour regions) ----------------- */

/* Row pass of an exact squared Euclidean distance transform on the mask
 * mask[nx * ny] (row-major): img[p] = squared distance (pixels) along the
 * row to the nearest pixel with ((mask & bit) != 0) == want, capped at
 * cap.  OpenMP over rows. */
void im_mask_rows(const unsigned char *mask, int *img, int nx, int ny,
                  unsigned char bit, int want, int cap, int nth);

/* Column pass: pixels whose squared distance to those features is <= thr
 * (above = 0) or > thr (above = 1) and that have all bits of `need` get
 * bit `set`.  work: nth * (4 * max(nx, ny) + 2) doubles. */
void im_mask_cols(unsigned char *mask, const int *img, int nx, int ny,
                  double thr, int above, unsigned char need,
                  unsigned char set, int nth, double *work);

/* Union-find with path halving; the smaller label becomes the root. */
int im_uf_find(int *parent, int a);
void im_uf_union(int *parent, int a, int b);

/* Closing of the seed pixels (bit 1) of mask[nx * ny] (pixel side s) with
 * a disc of radius R, eroded by R - m only (m gives back the depth an empty
 * disc reaches between the outermost cells): afterwards mask is 1 on the
 * closed set, 0 elsewhere and on the frame.  Returns the number of seed
 * pixels the closing lost (0 unless m or the frame are too small).  img:
 * nx * ny ints of scratch.  Uses R_alloc and checks for interrupts. */
R_xlen_t im_mask_close(unsigned char *mask, int *img, int nx, int ny,
                       double R, double m, double s, int nth);

/* Trace the foreground (bit 1) of mask[nx * ny] into rings by marching
 * squares (foreground pixel centres inside, 8-connected), rings simplified
 * within simp (in doubled-pixel units; 0 = exact).  The frame of the mask
 * must be background; bit 8 is used as scratch, img[nx * ny] is scratch.
 * Pixel (i, j) has its centre at (X0 + (i + 0.5) s, Y0 + (j + 0.5) s).
 * Returns list(x, y, ring_start, polygon, hole) as ffi_window_concave().
 * Entry layer only (allocates R vectors). */
SEXP im_mask_contour(unsigned char *mask, int *img, int nx, int ny,
                     double X0, double Y0, double s, double simp);

#endif
