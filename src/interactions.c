/* interactions.c -- neighbourhood enrichment by label permutation.
 *
 * One image at a time: the neighbour graph (radius, k nearest, or k
 * nearest with ties) is built once as a CSR list in grid order, O(n +
 * edges) memory, and reused by every permutation.  R's RNG draws one
 * seed per permutation on the main thread; permutations are then shuffled
 * and evaluated in parallel, one permutation per iteration, each writing
 * its own row of results, so the output does not depend on the number of
 * threads and set.seed() reproduces it.
 *
 * Statistics for the ordered type pair (a, b), with c_i(b) the number of
 * neighbours of type b of cell i and N_a the number of cells of type a:
 *   0 classic : sum_{i in a} c_i(b) / N_a
 *   1 histocat: sum_{i in a} c_i(b) / #{i in a: c_i(b) > 0}  (0 if none)
 *   2 patch   : #{i in a: c_i(b) >= patch} / N_a
 *   3 clq     : mean over cells of a with >= 1 neighbour of
 *               c_i(b) / deg_i, divided by (N_b - [a == b]) / (N - 1)
 */
#include "nbhd.h"
#include "util.h"
#include <R_ext/Random.h>
#include <string.h>

typedef struct {
    R_xlen_t n;
    const R_xlen_t *off;   /* [n + 1] */
    const int *nb;         /* [off[n]] neighbour grid positions */
} im_graph;

typedef struct {
    int64_t *cnt, *any, *pat, *nconn;
    double *wsum;
    int *c;                /* [T] per-cell counts, all zero between cells */
} im_acc;

/* Random permutations.  R's RNG (main thread) gives one 64-bit seed per
 * permutation; the permutation itself is a Fisher-Yates shuffle driven by
 * xoshiro256** (Blackman & Vigna) seeded through splitmix64, with
 * Lemire's unbiased bounded integers.  So set.seed() reproduces every
 * permutation, permutations can be drawn in parallel, and a shuffle of a
 * million labels costs a few milliseconds instead of the tens that
 * R_unif_index() would take. */
typedef struct { uint64_t s[4]; } im_xoshiro;

static inline uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t xoshiro_next(im_xoshiro *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* Uniform integer in [0, range), range <= 2^32 - 1 (Lemire 2019). */
static inline uint32_t bounded32(im_xoshiro *r, uint32_t range) {
    uint64_t m = (xoshiro_next(r) >> 32) * (uint64_t) range;
    uint32_t l = (uint32_t) m;
    if (l < range) {
        uint32_t thr = (uint32_t) (-range) % range;
        while (l < thr) {
            m = (xoshiro_next(r) >> 32) * (uint64_t) range;
            l = (uint32_t) m;
        }
    }
    return (uint32_t) (m >> 32);
}

/* Kernel: shuffle a[0..n-1] in place from a seed (n < 2^31). */
static void shuffle(int *a, R_xlen_t n, uint64_t seed) {
    im_xoshiro r;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r.s[i] = splitmix64(&x);
    for (R_xlen_t i = n - 1; i > 0; i--) {
        R_xlen_t j = (R_xlen_t) bounded32(&r, (uint32_t) (i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* Entry layer: a 64-bit seed from two draws of R's RNG (main thread,
 * between GetRNGstate() and PutRNGstate()). */
static uint64_t perm_seed(void) {
    uint64_t hi = (uint64_t) floor(unif_rand() * 4294967296.0);
    uint64_t lo = (uint64_t) floor(unif_rand() * 4294967296.0);
    return (hi << 32) ^ lo;
}

/* Kernel: per-pair sums of one labelling (labels in grid order). */
static void graph_sums(const im_graph *G, const int *lab, int T, int method,
                       int patch, im_acc *a) {
    size_t TT = (size_t) T * T;
    memset(a->cnt, 0, TT * sizeof(int64_t));
    if (method == 0) {
        for (R_xlen_t i = 0; i < G->n; i++) {
            int64_t *row = a->cnt + (size_t) lab[i] * T;
            for (R_xlen_t e = G->off[i]; e < G->off[i + 1]; e++)
                row[lab[G->nb[e]]]++;
        }
        return;
    }
    int *c = a->c;
    /* few types: branch-free sweeps over all types per cell; many types:
     * visit only the types present among the neighbours */
    int dense = T <= 16;
    if (method == 3) {
        memset(a->nconn, 0, (size_t) T * sizeof(int64_t));
        for (size_t u = 0; u < TT; u++) a->wsum[u] = 0.0;
        for (R_xlen_t i = 0; i < G->n; i++) {
            R_xlen_t e0 = G->off[i], e1 = G->off[i + 1];
            if (e1 == e0) continue;
            double *row = a->wsum + (size_t) lab[i] * T;
            a->nconn[lab[i]]++;
            for (R_xlen_t e = e0; e < e1; e++) c[lab[G->nb[e]]]++;
            double inv = 1.0 / (double) (e1 - e0);
            if (dense) {
                /* adding 0.0 leaves a sum unchanged: same result */
                for (int b = 0; b < T; b++) {
                    row[b] += (double) c[b] * inv;
                    c[b] = 0;
                }
            } else {
                for (R_xlen_t e = e0; e < e1; e++) {
                    int b = lab[G->nb[e]];
                    if (!c[b]) continue;
                    row[b] += (double) c[b] * inv;
                    c[b] = 0;
                }
            }
        }
        return;
    }
    /* histocat (any) or patch (pat) */
    int64_t *hit = method == 1 ? a->any : a->pat;
    int thr = method == 1 ? 1 : patch;
    memset(hit, 0, TT * sizeof(int64_t));
    for (R_xlen_t i = 0; i < G->n; i++) {
        R_xlen_t e0 = G->off[i], e1 = G->off[i + 1];
        if (e1 == e0) continue;
        int64_t *row = a->cnt + (size_t) lab[i] * T;
        int64_t *hrow = hit + (size_t) lab[i] * T;
        for (R_xlen_t e = e0; e < e1; e++) c[lab[G->nb[e]]]++;
        if (dense) {
            for (int b = 0; b < T; b++) {
                row[b] += c[b];
                hrow[b] += c[b] >= thr;
                c[b] = 0;
            }
        } else {
            for (R_xlen_t e = e0; e < e1; e++) {
                int b = lab[G->nb[e]];
                int v = c[b];
                if (!v) continue;
                row[b] += v;
                if (v >= thr) hrow[b]++;
                c[b] = 0;
            }
        }
    }
}

/* Kernel: the statistic of every ordered pair from the sums. */
static void pair_stats(const im_acc *a, const int64_t *ntype, R_xlen_t n,
                       int T, int method, double *out) {
    for (int u = 0; u < T; u++) {
        for (int v = 0; v < T; v++) {
            size_t w = (size_t) u * T + v;
            double s = NAN;
            switch (method) {
            case 0:
                if (ntype[u] > 0) s = (double) a->cnt[w] / (double) ntype[u];
                break;
            case 1:
                s = a->any[w] > 0 ? (double) a->cnt[w] / (double) a->any[w]
                                  : 0.0;
                break;
            case 2:
                if (ntype[u] > 0) s = (double) a->pat[w] / (double) ntype[u];
                break;
            default: {
                double nb = (double) (ntype[v] - (u == v));
                if (a->nconn[u] > 0 && nb > 0 && n > 1)
                    s = (a->wsum[w] / (double) a->nconn[u]) /
                        (nb / (double) (n - 1));
            }
            }
            out[w] = s;
        }
    }
}

static im_acc acc_alloc(int T) {
    size_t TT = (size_t) T * T;
    im_acc a;
    a.cnt = (int64_t *) R_alloc(TT, sizeof(int64_t));
    a.any = (int64_t *) R_alloc(TT, sizeof(int64_t));
    a.pat = (int64_t *) R_alloc(TT, sizeof(int64_t));
    a.nconn = (int64_t *) R_alloc(T, sizeof(int64_t));
    a.wsum = (double *) R_alloc(TT, sizeof(double));
    a.c = (int *) R_alloc(T, sizeof(int));
    memset(a.c, 0, (size_t) T * sizeof(int));
    return a;
}

/* Entry-layer helper: build the CSR graph over the grid (two passes:
 * degrees, then neighbours), with interrupts between chunks. */
static void graph_build(const im_nbhd *s, const R_xlen_t *pos, R_xlen_t n,
                        int nth, im_graph *G) {
    int kk = s->k > 0 ? s->k : 1;
    double *sd = (double *) R_alloc((size_t) nth * kk, sizeof(double));
    R_xlen_t *si = (R_xlen_t *) R_alloc((size_t) nth * kk, sizeof(R_xlen_t));
    R_xlen_t *off = (R_xlen_t *) R_alloc(n + 1, sizeof(R_xlen_t));
    int fixed = s->k > 0 && !s->ties;
    off[0] = 0;
    if (fixed) {
        R_xlen_t d = n - 1 < s->k ? n - 1 : s->k;
        if (d < 0) d = 0;
        for (R_xlen_t p = 0; p < n; p++) off[p + 1] = off[p] + d;
    } else {
        for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK) {
            R_xlen_t c1 = c0 + IM_CHUNK < n ? c0 + IM_CHUNK : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 256)
#endif
            for (R_xlen_t p = c0; p < c1; p++) {
                int t = 0;
#ifdef _OPENMP
                t = omp_get_thread_num();
#endif
                off[p + 1] = im_nbhd_each(s, p, sd + (size_t) t * kk,
                                          si + (size_t) t * kk, pos, NULL,
                                          NULL, NULL);
            }
            R_CheckUserInterrupt();
        }
        for (R_xlen_t p = 0; p < n; p++) off[p + 1] += off[p];
    }
    int *nb = (int *) R_alloc(off[n] > 0 ? off[n] : 1, sizeof(int));
    int changed = 0;
    for (R_xlen_t c0 = 0; c0 < n; c0 += IM_CHUNK) {
        R_xlen_t c1 = c0 + IM_CHUNK < n ? c0 + IM_CHUNK : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 256)
#endif
        for (R_xlen_t p = c0; p < c1; p++) {
            int t = 0;
#ifdef _OPENMP
            t = omp_get_thread_num();
#endif
            R_xlen_t m = im_nbhd_each(s, p, sd + (size_t) t * kk,
                                      si + (size_t) t * kk, pos,
                                      nb + off[p], NULL, NULL);
            if (m != off[p + 1] - off[p]) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                changed = 1;
            }
        }
        if (changed) IM_BUG("degree changed between passes");
        R_CheckUserInterrupt();
    }
    G->n = n;
    G->off = off;
    G->nb = nb;
}

static void unpack_graph_args(SEXP x, SEXP y, SEXP k_, SEXP radius_,
                              SEXP ties_, int *k, int *ties, double *radius) {
    im_check_double(x, "x must be double");
    im_check_double(y, "y must be double");
    if (XLENGTH(y) != XLENGTH(x)) IM_BUG("lengths differ");
    if (XLENGTH(x) >= INT_MAX) IM_BUG("too many cells in one image");
    *k = im_as_int(k_, "k");
    *ties = im_as_int(ties_, "ties");
    *radius = im_as_double(radius_, "radius");
    if (*k < 0) IM_BUG("k < 0");
    if (*k == 0 && (!(*radius >= 0) || !R_FINITE(*radius)))
        IM_BUG("bad radius");
}

/* R caller: interaction_perm_image() in R/interactions.R (used by
 * interaction_test() and colocalization_quotient()).  Returns a list:
 * observed, perm_mean, perm_sd (T x T, row = from type, column = to
 * type), n_greater, n_less (permutations at least as extreme, compared
 * with a relative tolerance of tol), n_valid (permutations where the
 * statistic is defined), n_edges, and the T*T x nperm matrix of permuted
 * statistics when keep is TRUE. */
SEXP ffi_inter_perm(SEXP x, SEXP y, SEXP lab, SEXP nlab_, SEXP k_,
                    SEXP radius_, SEXP ties_, SEXP method_, SEXP patch_,
                    SEXP nperm_, SEXP keep_, SEXP nthreads_) {
    int k, ties;
    double radius;
    unpack_graph_args(x, y, k_, radius_, ties_, &k, &ties, &radius);
    if (TYPEOF(lab) != INTSXP) IM_BUG("labels must be integer");
    R_xlen_t n = XLENGTH(x);
    if (XLENGTH(lab) != n) IM_BUG("lengths differ");
    int T = im_as_int(nlab_, "nlab");
    int method = im_as_int(method_, "method");
    int patch = im_as_int(patch_, "patch");
    int nperm = im_as_int(nperm_, "nperm");
    int keep = im_as_int(keep_, "keep");
    int nth = im_threads(im_as_int(nthreads_, "nthreads"));
    if (T < 1 || method < 0 || method > 3 || nperm < 0) IM_BUG("bad args");
    const int *pl = INTEGER_RO(lab);
    for (R_xlen_t i = 0; i < n; i++)
        if (pl[i] < 0 || pl[i] >= T) IM_BUG("label out of range");
    size_t TT = (size_t) T * T;

    im_grid g;
    im_nbhd s;
    R_xlen_t *pos;
    if (im_nbhd_setup(&s, &g, REAL_RO(x), REAL_RO(y), n, k, ties, radius,
                      &pos) != IM_OK)
        IM_BUG("grid build failed");
    im_graph G;
    graph_build(&s, pos, n, nth, &G);

    /* labels in grid order; the permutations shuffle this vector */
    int *cur = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
    int64_t *ntype = (int64_t *) R_alloc(T, sizeof(int64_t));
    memset(ntype, 0, (size_t) T * sizeof(int64_t));
    for (R_xlen_t p = 0; p < n; p++) {
        cur[p] = pl[g.id[p]];
        ntype[cur[p]]++;
    }

    int nprot = 0;
    SEXP obs = PROTECT(Rf_allocVector(REALSXP, TT)); nprot++;
    im_acc a0 = acc_alloc(T);
    graph_sums(&G, cur, T, method, patch, &a0);
    pair_stats(&a0, ntype, n, T, method, REAL(obs));

    double *perm = (double *) R_alloc(nperm > 0 ? (size_t) nperm * TT : 1,
                                      sizeof(double));
    if (nperm > 0) {
        /* one 64-bit seed per permutation from R's RNG, in order, on the
         * main thread; the shuffles themselves run in the parallel loop */
        uint64_t *seed = (uint64_t *) R_alloc(nperm, sizeof(uint64_t));
        GetRNGstate();
        for (int p = 0; p < nperm; p++) seed[p] = perm_seed();
        PutRNGstate();
        R_xlen_t nn = n > 0 ? n : 1;
        int *scratch = (int *) R_alloc((size_t) nth * nn, sizeof(int));
        im_acc *acc = (im_acc *) R_alloc(nth, sizeof(im_acc));
        for (int t = 0; t < nth; t++) acc[t] = acc_alloc(T);
        R_xlen_t chunk = (R_xlen_t) 4194304 / nn;
        if (chunk < nth) chunk = nth;
        for (int p0 = 0; p0 < nperm; p0 += (int) chunk) {
            int p1 = nperm - p0 < chunk ? nperm : p0 + (int) chunk;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
#endif
            for (int p = p0; p < p1; p++) {
                int t = 0;
#ifdef _OPENMP
                t = omp_get_thread_num();
#endif
                int *lp = scratch + (size_t) t * nn;
                memcpy(lp, cur, (size_t) n * sizeof(int));
                shuffle(lp, n, seed[p]);
                graph_sums(&G, lp, T, method, patch, &acc[t]);
                pair_stats(&acc[t], ntype, n, T, method,
                           perm + (size_t) p * TT);
            }
            R_CheckUserInterrupt();
        }
    }

    SEXP pmean = PROTECT(Rf_allocVector(REALSXP, TT)); nprot++;
    SEXP psd = PROTECT(Rf_allocVector(REALSXP, TT)); nprot++;
    SEXP nge = PROTECT(Rf_allocVector(INTSXP, TT)); nprot++;
    SEXP nle = PROTECT(Rf_allocVector(INTSXP, TT)); nprot++;
    SEXP nval = PROTECT(Rf_allocVector(INTSXP, TT)); nprot++;
    const double *po = REAL_RO(obs);
    for (size_t w = 0; w < TT; w++) {
        double o = po[w], sum = 0.0, ss = 0.0;
        double tol = 1e-9 * (fabs(o) > 1.0 ? fabs(o) : 1.0);
        int cv = 0, cg = 0, cl = 0;
        for (int p = 0; p < nperm; p++) {
            double v = perm[(size_t) p * TT + w];
            if (ISNAN(v)) continue;
            cv++;
            sum += v;
            if (!ISNAN(o)) {
                if (v >= o - tol) cg++;
                if (v <= o + tol) cl++;
            }
        }
        double mean = cv > 0 ? sum / cv : NA_REAL;
        for (int p = 0; p < nperm && cv > 1; p++) {
            double v = perm[(size_t) p * TT + w];
            if (!ISNAN(v)) ss += (v - mean) * (v - mean);
        }
        REAL(pmean)[w] = mean;
        REAL(psd)[w] = cv > 1 ? sqrt(ss / (cv - 1)) : NA_REAL;
        INTEGER(nge)[w] = cg;
        INTEGER(nle)[w] = cl;
        INTEGER(nval)[w] = cv;
    }
    SEXP kept = R_NilValue;
    if (keep && nperm > 0) {
        kept = PROTECT(Rf_allocMatrix(REALSXP, (int) TT, nperm)); nprot++;
        memcpy(REAL(kept), perm, (size_t) nperm * TT * sizeof(double));
    }
    SEXP out = PROTECT(Rf_allocVector(VECSXP, 8)); nprot++;
    SET_VECTOR_ELT(out, 0, obs);
    SET_VECTOR_ELT(out, 1, pmean);
    SET_VECTOR_ELT(out, 2, psd);
    SET_VECTOR_ELT(out, 3, nge);
    SET_VECTOR_ELT(out, 4, nle);
    SET_VECTOR_ELT(out, 5, nval);
    SET_VECTOR_ELT(out, 6, Rf_ScalarReal((double) G.off[n]));
    SET_VECTOR_ELT(out, 7, kept);
    UNPROTECT(nprot);
    return out;
}

/* R caller: interaction_grid_order() in R/interactions.R (tests only):
 * the order (1-based row numbers) in which ffi_inter_perm() holds and
 * shuffles the labels of an image. */
SEXP ffi_inter_order(SEXP x, SEXP y, SEXP k_, SEXP radius_, SEXP ties_) {
    int k, ties;
    double radius;
    unpack_graph_args(x, y, k_, radius_, ties_, &k, &ties, &radius);
    R_xlen_t n = XLENGTH(x);
    im_grid g;
    im_nbhd s;
    R_xlen_t *pos;
    if (im_nbhd_setup(&s, &g, REAL_RO(x), REAL_RO(y), n, k, ties, radius,
                      &pos) != IM_OK)
        IM_BUG("grid build failed");
    SEXP out = PROTECT(Rf_allocVector(INTSXP, n));
    for (R_xlen_t p = 0; p < n; p++) INTEGER(out)[p] = (int) g.id[p] + 1;
    UNPROTECT(1);
    return out;
}
