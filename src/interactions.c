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
    R_xlen_t n, ne;
    const R_xlen_t *off;   /* [n + 1] */
    const int *nb;         /* [ne] neighbour grid positions */
    const int *src;        /* [ne] the cell each edge starts from */
    /* 1: a symmetric (radius) graph stored as each undirected edge once,
     * src < nb, in src / nb / ne (off still counts every direction); the
     * classic counts are then H + t(H) */
    int half;
} im_graph;

/* Per-thread accumulators and scratch of one permutation. */
typedef struct {
    int64_t *cnt, *any, *pat, *nconn;   /* T*T (nconn: T)              */
    double *wsum;                       /* T*T                          */
    int64_t *bank;                      /* 4 * T*T edge-count banks     */
    int64_t *hist;                      /* T * 2^T type-mask histogram  */
    uint64_t *word;                     /* [n] packed counts, all zero  */
    uint32_t *mask;                     /* [n] type masks, all zero     */
    int *c;                             /* [T] per-cell counts, zero    */
} im_acc;

/* Random permutations.  R's RNG (main thread) gives one 64-bit seed per
 * permutation; the permutation itself is drawn with xoshiro256**
 * (Blackman & Vigna) seeded through splitmix64, with Lemire's unbiased
 * bounded integers.  So set.seed() reproduces every permutation,
 * permutations can be drawn in parallel, and a random relabelling of a
 * million cells costs a few milliseconds instead of the tens that
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

/* Random 32-bit words, two from each 64-bit output. */
typedef struct { im_xoshiro r; uint64_t buf; int have; } im_rand32;

static inline uint32_t next32(im_rand32 *g) {
    if (g->have) {
        g->have = 0;
        return (uint32_t) g->buf;
    }
    g->buf = xoshiro_next(&g->r);
    g->have = 1;
    return (uint32_t) (g->buf >> 32);
}

/* Uniform integer in [0, range), 0 < range <= 2^32 - 1 (Lemire 2019). */
static inline uint32_t bounded32(im_rand32 *g, uint32_t range) {
    uint64_t m = (uint64_t) next32(g) * (uint64_t) range;
    uint32_t l = (uint32_t) m;
    if (l < range) {
        uint32_t thr = (uint32_t) (-range) % range;
        while (l < thr) {
            m = (uint64_t) next32(g) * (uint64_t) range;
            l = (uint32_t) m;
        }
    }
    return (uint32_t) (m >> 32);
}

/* Kernel: shuffle a[0..n-1] in place from a seed (n < 2^31).  A
 * Fisher-Yates shuffle, two 32-bit draws from each generator output (an
 * urn drawn in memory order was three times slower). */
static void shuffle(uint16_t *a, R_xlen_t n, uint64_t seed) {
    im_rand32 g;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) g.r.s[i] = splitmix64(&x);
    g.have = 0;
    g.buf = 0;
    for (R_xlen_t i = n - 1; i > 0; i--) {
        R_xlen_t j = (R_xlen_t) bounded32(&g, (uint32_t) (i + 1));
        uint16_t t = a[i];
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

/* Packed counting: with T <= 16 types and every degree below 2^bits, the
 * counts of one cell's neighbours by type fit in one 64-bit word, a field
 * of `bits` bits per type. */
typedef struct {
    int use, bits;
    uint64_t fmask;
    uint64_t inc[16];
} im_pack;

static im_pack pack_make(int T, R_xlen_t maxdeg) {
    im_pack p;
    memset(&p, 0, sizeof(p));
    if (T > 16) return p;
    int bits = 64 / T;
    if (bits > 32) bits = 32;
    if ((int64_t) maxdeg >= ((int64_t) 1 << bits)) return p;
    p.use = 1;
    p.bits = bits;
    p.fmask = ((uint64_t) 1 << bits) - 1;
    for (int t = 0; t < T; t++) p.inc[t] = (uint64_t) 1 << (t * bits);
    return p;
}

#define IM_MASK_TYPES 10   /* histocat by type masks up to 10 types */

/* Kernel: per-pair sums of one labelling (labels in grid order).
 *
 * The fast paths stream over the edges as one flat array (an edge loop
 * per cell would mispredict a branch at the end of almost every cell):
 *   classic : edge counts by (type of source, type of target), in four
 *             banks so that consecutive increments rarely wait on each
 *             other;
 *   histocat: the same counts, plus for each cell the set (bit mask) of
 *             neighbour types, histogrammed by the cell's type;
 *   patch, clq: per-cell counts by type packed in one word per cell,
 *             then one pass over the cells.
 * Otherwise (many types, huge degrees) a loop per cell.  All paths add
 * in a fixed order, so results do not depend on the thread. */
static void graph_sums(const im_graph *G, const uint16_t *lab, int T,
                       int method,
                       int patch, const im_pack *pk, im_acc *a) {
    size_t TT = (size_t) T * T;
    const R_xlen_t n = G->n, ne = G->ne;
    const int *nb = G->nb, *src = G->src;
    int64_t *hit = method == 1 ? a->any : a->pat;
    int thr = method == 1 ? 1 : patch;
    memset(a->cnt, 0, TT * sizeof(int64_t));
    memset(hit, 0, TT * sizeof(int64_t));
    memset(a->nconn, 0, (size_t) T * sizeof(int64_t));
    for (size_t u = 0; u < TT; u++) a->wsum[u] = 0.0;

    if (method == 0 || (method == 1 && T <= IM_MASK_TYPES)) {
        int64_t *b0 = a->bank, *b1 = b0 + TT, *b2 = b1 + TT, *b3 = b2 + TT;
        memset(a->bank, 0, 4 * TT * sizeof(int64_t));
        R_xlen_t e = 0;
        if (method == 0) {
            for (; e + 4 <= ne; e += 4) {
                b0[(size_t) lab[src[e]] * T + lab[nb[e]]]++;
                b1[(size_t) lab[src[e + 1]] * T + lab[nb[e + 1]]]++;
                b2[(size_t) lab[src[e + 2]] * T + lab[nb[e + 2]]]++;
                b3[(size_t) lab[src[e + 3]] * T + lab[nb[e + 3]]]++;
            }
            for (; e < ne; e++) b0[(size_t) lab[src[e]] * T + lab[nb[e]]]++;
            if (G->half) {
                /* each undirected edge {i, j} adds to (l_i, l_j) and
                 * (l_j, l_i) */
                for (int u = 0; u < T; u++) {
                    for (int v = 0; v < T; v++) {
                        size_t w = (size_t) u * T + v, wt = (size_t) v * T + u;
                        a->cnt[w] = (((b0[w] + b1[w]) + b2[w]) + b3[w]) +
                                    (((b0[wt] + b1[wt]) + b2[wt]) + b3[wt]);
                    }
                }
                return;
            }
        } else {
            uint32_t *mk = a->mask;
            for (; e + 4 <= ne; e += 4) {
                int l0 = lab[nb[e]], l1 = lab[nb[e + 1]];
                int l2 = lab[nb[e + 2]], l3 = lab[nb[e + 3]];
                b0[(size_t) lab[src[e]] * T + l0]++;
                b1[(size_t) lab[src[e + 1]] * T + l1]++;
                b2[(size_t) lab[src[e + 2]] * T + l2]++;
                b3[(size_t) lab[src[e + 3]] * T + l3]++;
                mk[src[e]] |= (uint32_t) 1 << l0;
                mk[src[e + 1]] |= (uint32_t) 1 << l1;
                mk[src[e + 2]] |= (uint32_t) 1 << l2;
                mk[src[e + 3]] |= (uint32_t) 1 << l3;
            }
            for (; e < ne; e++) {
                int l = lab[nb[e]];
                b0[(size_t) lab[src[e]] * T + l]++;
                mk[src[e]] |= (uint32_t) 1 << l;
            }
            size_t nm = (size_t) 1 << T;
            int64_t *h = a->hist;
            memset(h, 0, (size_t) T * nm * sizeof(int64_t));
            for (R_xlen_t i = 0; i < n; i++) {
                h[(size_t) lab[i] * nm + mk[i]]++;
                mk[i] = 0;
            }
            for (int u = 0; u < T; u++) {
                for (size_t m = 1; m < nm; m++) {
                    int64_t v = h[(size_t) u * nm + m];
                    if (!v) continue;
                    for (int b = 0; b < T; b++)
                        if (m >> b & 1) hit[(size_t) u * T + b] += v;
                }
            }
        }
        for (size_t u = 0; u < TT; u++)
            a->cnt[u] = ((b0[u] + b1[u]) + b2[u]) + b3[u];
        return;
    }

    int *c = a->c;
    if (pk->use) {
        uint64_t *w = a->word;
        R_xlen_t e = 0;
        for (; e + 2 <= ne; e += 2) {
            w[src[e]] += pk->inc[lab[nb[e]]];
            w[src[e + 1]] += pk->inc[lab[nb[e + 1]]];
        }
        for (; e < ne; e++) w[src[e]] += pk->inc[lab[nb[e]]];
        for (R_xlen_t i = 0; i < n; i++) {
            R_xlen_t deg = G->off[i + 1] - G->off[i];
            if (deg == 0) continue;
            uint64_t v = w[i];
            w[i] = 0;
            for (int b = 0; b < T; b++) {
                c[b] = (int) (v & pk->fmask);
                v >>= pk->bits;
            }
            size_t base = (size_t) lab[i] * T;
            if (method == 3) {
                /* adding 0.0 leaves a sum unchanged */
                double *row = a->wsum + base, inv = 1.0 / (double) deg;
                a->nconn[lab[i]]++;
                for (int b = 0; b < T; b++) row[b] += (double) c[b] * inv;
            } else {
                int64_t *row = a->cnt + base, *hrow = hit + base;
                for (int b = 0; b < T; b++) {
                    row[b] += c[b];
                    hrow[b] += c[b] >= thr;
                }
            }
        }
        for (int b = 0; b < T; b++) c[b] = 0;
        return;
    }

    /* general case: a loop per cell over its neighbours, visiting only
     * the types present */
    for (R_xlen_t i = 0; i < n; i++) {
        R_xlen_t e0 = G->off[i], e1 = G->off[i + 1];
        if (e1 == e0) continue;
        size_t base = (size_t) lab[i] * T;
        double inv = 1.0 / (double) (e1 - e0);
        if (method == 3) a->nconn[lab[i]]++;
        for (R_xlen_t e = e0; e < e1; e++) c[lab[nb[e]]]++;
        for (R_xlen_t e = e0; e < e1; e++) {
            int b = lab[nb[e]];
            int v = c[b];
            if (!v) continue;
            if (method == 3) {
                a->wsum[base + b] += (double) v * inv;
            } else {
                a->cnt[base + b] += v;
                if (method != 0 && v >= thr) hit[base + b]++;
            }
            c[b] = 0;
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

static im_acc acc_alloc(int T, R_xlen_t n, int method, const im_pack *pk) {
    size_t TT = (size_t) T * T;
    R_xlen_t nn = n > 0 ? n : 1;
    im_acc a;
    memset(&a, 0, sizeof(a));
    a.cnt = (int64_t *) R_alloc(TT, sizeof(int64_t));
    a.any = (int64_t *) R_alloc(TT, sizeof(int64_t));
    a.pat = (int64_t *) R_alloc(TT, sizeof(int64_t));
    a.nconn = (int64_t *) R_alloc(T, sizeof(int64_t));
    a.wsum = (double *) R_alloc(TT, sizeof(double));
    a.bank = (int64_t *) R_alloc(4 * TT, sizeof(int64_t));
    a.c = (int *) R_alloc(T, sizeof(int));
    memset(a.c, 0, (size_t) T * sizeof(int));
    if (method == 1 && T <= IM_MASK_TYPES) {
        a.hist = (int64_t *) R_alloc((size_t) T << T, sizeof(int64_t));
        a.mask = (uint32_t *) R_alloc(nn, sizeof(uint32_t));
        memset(a.mask, 0, (size_t) nn * sizeof(uint32_t));
    } else if (method != 0 && pk->use) {
        a.word = (uint64_t *) R_alloc(nn, sizeof(uint64_t));
        memset(a.word, 0, (size_t) nn * sizeof(uint64_t));
    }
    return a;
}

/* Entry-layer helper: build the CSR graph over the grid (two passes:
 * degrees, then neighbours), with interrupts between chunks. */
static void graph_build(const im_nbhd *s, const R_xlen_t *pos, R_xlen_t n,
                        int nth, int half, im_graph *G) {
    int kk = s->k > 0 ? s->k : 1;
    const R_xlen_t wchunk = im_chunk(im_nbhd_work(s)) * nth;
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
        for (R_xlen_t c0 = 0; c0 < n; c0 += wchunk) {
            R_xlen_t c1 = c0 + wchunk < n ? c0 + wchunk : n;
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
    for (R_xlen_t c0 = 0; c0 < n; c0 += wchunk) {
        R_xlen_t c1 = c0 + wchunk < n ? c0 + wchunk : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 16)
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
    G->half = s->k == 0 && half;
    if (G->half) {
        /* a radius graph is symmetric (the distance test is): keep the
         * edges with src < nb, half of them */
        R_xlen_t nh = 0;
        for (R_xlen_t p = 0; p < n; p++)
            for (R_xlen_t e = off[p]; e < off[p + 1]; e++) nh += nb[e] > p;
        if (2 * nh != off[n]) IM_BUG("radius graph is not symmetric");
        int *hs = (int *) R_alloc(nh > 0 ? nh : 1, sizeof(int));
        int *hn = (int *) R_alloc(nh > 0 ? nh : 1, sizeof(int));
        R_xlen_t h = 0;
        for (R_xlen_t p = 0; p < n; p++) {
            for (R_xlen_t e = off[p]; e < off[p + 1]; e++) {
                if (nb[e] > p) {
                    hs[h] = (int) p;
                    hn[h] = nb[e];
                    h++;
                }
            }
        }
        G->ne = nh;
        G->src = hs;
        G->nb = hn;
        return;
    }
    int *src = (int *) R_alloc(off[n] > 0 ? off[n] : 1, sizeof(int));
    for (R_xlen_t p = 0; p < n; p++)
        for (R_xlen_t e = off[p]; e < off[p + 1]; e++) src[e] = (int) p;
    G->ne = off[n];
    G->nb = nb;
    G->src = src;
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
    if (T < 1 || T > 65535 || method < 0 || method > 3 || nperm < 0)
        IM_BUG("bad args");
    const int *pl = INTEGER_RO(lab);
    for (R_xlen_t i = 0; i < n; i++)
        if (pl[i] < 0 || pl[i] >= T) IM_BUG("label out of range");
    size_t TT = (size_t) T * T;

    im_grid g;
    im_nbhd s;
    R_xlen_t *pos;
    if (im_nbhd_setup(&s, &g, REAL_RO(x), REAL_RO(y), n, k, ties, radius,
                      nth, &pos) != IM_OK)
        IM_BUG("grid build failed");
    im_graph G;
    graph_build(&s, pos, n, nth, method == 0, &G);

    /* labels in grid order */
    uint16_t *cur = (uint16_t *) R_alloc(n > 0 ? n : 1, sizeof(uint16_t));
    int64_t *ntype = (int64_t *) R_alloc(T, sizeof(int64_t));
    memset(ntype, 0, (size_t) T * sizeof(int64_t));
    for (R_xlen_t p = 0; p < n; p++) {
        cur[p] = (uint16_t) pl[g.id[p]];
        ntype[cur[p]]++;
    }

    int nprot = 0;
    SEXP obs = PROTECT(Rf_allocVector(REALSXP, TT)); nprot++;
    R_xlen_t maxdeg = 0;
    for (R_xlen_t p = 0; p < n; p++)
        if (G.off[p + 1] - G.off[p] > maxdeg) maxdeg = G.off[p + 1] - G.off[p];
    im_pack pk = pack_make(T, maxdeg);
    im_acc a0 = acc_alloc(T, n, method, &pk);
    graph_sums(&G, cur, T, method, patch, &pk, &a0);
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
        uint16_t *scratch = (uint16_t *) R_alloc((size_t) nth * nn,
                                                 sizeof(uint16_t));
        im_acc *acc = (im_acc *) R_alloc(nth, sizeof(im_acc));
        for (int t = 0; t < nth; t++) acc[t] = acc_alloc(T, n, method, &pk);
        /* permutations between interrupt checks: each visits every
         * cell and edge once */
        R_xlen_t chunk = im_chunk(2.0 * nn + (double) G.off[n]) / 8;
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
                uint16_t *lp = scratch + (size_t) t * nn;
                memcpy(lp, cur, (size_t) n * sizeof(uint16_t));
                shuffle(lp, n, seed[p]);
                graph_sums(&G, lp, T, method, patch, &pk, &acc[t]);
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
 * the order (1-based row numbers) in which ffi_inter_perm() visits the
 * cells of an image, i.e. sums their contributions. */
SEXP ffi_inter_order(SEXP x, SEXP y, SEXP k_, SEXP radius_, SEXP ties_) {
    int k, ties;
    double radius;
    unpack_graph_args(x, y, k_, radius_, ties_, &k, &ties, &radius);
    R_xlen_t n = XLENGTH(x);
    im_grid g;
    im_nbhd s;
    R_xlen_t *pos;
    if (im_nbhd_setup(&s, &g, REAL_RO(x), REAL_RO(y), n, k, ties, radius,
                      1, &pos) != IM_OK)
        IM_BUG("grid build failed");
    SEXP out = PROTECT(Rf_allocVector(INTSXP, n));
    for (R_xlen_t p = 0; p < n; p++) INTEGER(out)[p] = (int) g.id[p] + 1;
    UNPROTECT(1);
    return out;
}
