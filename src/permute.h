/* permute.h -- label permutations from R's RNG (main thread only), shared
 * by every permutation test so that set.seed() reproduces them. */
#ifndef IMMUNOSCAPE_PERMUTE_H
#define IMMUNOSCAPE_PERMUTE_H
#include "immunoscape.h"

/* Shuffle a[0..n-1] in place (Fisher-Yates with R_unif_index). Call
 * GetRNGstate() before and PutRNGstate() after a series of calls. */
void im_shuffle_int(int *a, R_xlen_t n);

/* Shuffle the labels lab[] within each group: groups are given as
 * contiguous runs [start[g], start[g+1]) of the index array idx (the
 * positions of the members of the group). */
void im_shuffle_within(int *lab, const R_xlen_t *idx, const R_xlen_t *start,
                       R_xlen_t ngroup);

#endif
