/* permute.c -- label permutations from R's RNG (see permute.h). */
#include "permute.h"
#include <R_ext/Random.h>

void im_shuffle_int(int *a, R_xlen_t n) {
    for (R_xlen_t i = n - 1; i > 0; i--) {
        R_xlen_t j = (R_xlen_t) R_unif_index((double) (i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void im_shuffle_within(int *lab, const R_xlen_t *idx, const R_xlen_t *start,
                       R_xlen_t ngroup) {
    for (R_xlen_t g = 0; g < ngroup; g++) {
        R_xlen_t s = start[g], m = start[g + 1] - s;
        for (R_xlen_t i = m - 1; i > 0; i--) {
            R_xlen_t j = (R_xlen_t) R_unif_index((double) (i + 1));
            R_xlen_t a = idx[s + i], b = idx[s + j];
            int t = lab[a];
            lab[a] = lab[b];
            lab[b] = t;
        }
    }
}
