/* nbhd.h -- neighbourhoods of the points of one spatial index.
 *
 * The neighbours of an indexed point are the other indexed points either
 *   - within a radius (package-wide "distance <= radius" via im_within), or
 *   - among the k nearest (ties broken by index, as im_grid_knn does), or
 *   - at most as far as the k-th nearest ("k with ties": every point tied
 *     with the k-th neighbour is included, as Leslie & Kronenfeld 2011 do
 *     for the colocation quotient).
 * The point itself is never its own neighbour; duplicated points are
 * distinct neighbours.  Pure C on an im_grid: read-only, thread-safe.
 */
#ifndef IMMUNOSCAPE_NBHD_H
#define IMMUNOSCAPE_NBHD_H

#include "grid.h"

typedef struct {
    const im_grid *g;
    int k;          /* > 0: nearest-neighbour mode; 0: radius mode        */
    int ties;       /* k mode: include every point tied with the k-th     */
    double radius;  /* radius mode                                        */
    im_radius rq;   /* radius mode: the "<= radius" test                  */
} im_nbhd;

/* Entry-layer setup (main thread, R_alloc): index the n points (x, y),
 * fill *s for k nearest (k > 0, with or without ties) or radius mode, and
 * return pos[] (original index -> grid position).  Returns IM_OK or a
 * status from im_grid_build(). */
im_status im_nbhd_setup(im_nbhd *s, im_grid *g, const double *x,
                        const double *y, R_xlen_t n, int k, int ties,
                        double radius, int nth, R_xlen_t **pos);

/* About how many neighbours a point visits (for interrupt chunks). */
static inline double im_nbhd_work(const im_nbhd *s) {
    if (s->k > 0) return 4.0 * s->k + 0.25 * s->k * (double) s->k + 16.0;
    return 2.0 * im_grid_pairs(s->g, s->radius) + 16.0;
}

/* Neighbours of the point at grid position p.  For each neighbour q (grid
 * position) writes out[m] = q when out != NULL and adds one to cnt[lab[q]]
 * when cnt != NULL; returns the number of neighbours m.  Scratch bd, bi
 * hold k entries (k mode); pos maps an original index to its grid
 * position (k mode). */
static inline R_xlen_t im_nbhd_each(const im_nbhd *s, R_xlen_t p,
                                    double *bd, R_xlen_t *bi,
                                    const R_xlen_t *pos, int *out,
                                    int *cnt, const int *lab) {
    const im_grid *g = s->g;
    double qx = g->xs[p], qy = g->ys[p], r2 = 0.0;
    R_xlen_t m = 0, lo, hi;
    im_disc it;
    if (s->k > 0) {
        int found = im_grid_knn(g, qx, qy, g->id[p], s->k, bd, bi);
        if (!s->ties || found < s->k) {
            for (int t = 0; t < found; t++) {
                R_xlen_t q = pos[bi[t]];
                if (out) out[m] = (int) q;
                if (cnt) cnt[lab[q]]++;
                m++;
            }
            return m;
        }
        r2 = bd[s->k - 1];
        im_disc_begin(g, qx, qy, sqrt(r2), &it);
        while (im_disc_next(g, &it, &lo, &hi)) {
            for (R_xlen_t q = lo; q < hi; q++) {
                if (q == p) continue;
                double dx = g->xs[q] - qx, dy = g->ys[q] - qy;
                if (dx * dx + dy * dy <= r2) {
                    if (out) out[m] = (int) q;
                    if (cnt) cnt[lab[q]]++;
                    m++;
                }
            }
        }
        return m;
    }
    im_disc_begin(g, qx, qy, s->radius, &it);
    while (im_disc_next(g, &it, &lo, &hi)) {
        for (R_xlen_t q = lo; q < hi; q++) {
            if (q == p) continue;
            double dx = g->xs[q] - qx, dy = g->ys[q] - qy;
            if (im_within(dx * dx + dy * dy, &s->rq)) {
                if (out) out[m] = (int) q;
                if (cnt) cnt[lab[q]]++;
                m++;
            }
        }
    }
    return m;
}

#endif
