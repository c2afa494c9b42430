/* rng.h — counter-free, splittable random streams.
 *
 * Contract: every random number in a run comes from a stream derived only
 * from (job seed, purpose, index...) with op_rng_derive, so results never
 * depend on the number of ranks or the order runs are scheduled in. A
 * run's own streams use its run key, op_job_stream_key (run.c).
 * Generator: xoshiro256** seeded through splitmix64. */
#ifndef OVERPARAM_RNG_H
#define OVERPARAM_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
    double spare;  /* second normal of the Box-Muller pair */
    int has_spare;
} op_rng;

/* Purposes keep streams for different uses of the same run independent. */
enum {
    OP_STREAM_INIT = 1,    /* network initialization: (seed, run key) */
    OP_STREAM_BATCH = 2,   /* mini-batch order: (seed, run key) */
    OP_STREAM_DATA = 3,    /* data subset, synthetic inputs: (seed) */
    OP_STREAM_NOISE = 4,   /* label noise and corruptions: (seed, axis seed) */
    OP_STREAM_MEASURE = 5, /* random probe points: (seed, run key) */
    OP_STREAM_KERNEL = 6   /* kernel-side randomness (empirical NTK nets) */
};

/* Stream for (seed, purpose, a, b): the same four numbers always give the
 * same stream. */
void op_rng_derive(op_rng *rng, uint64_t seed, uint64_t purpose, uint64_t a,
                   uint64_t b);
uint64_t op_rng_next(op_rng *rng);
double op_rng_uniform(op_rng *rng);            /* [0, 1) */
double op_rng_normal(op_rng *rng);             /* N(0, 1) */
uint64_t op_rng_below(op_rng *rng, uint64_t n); /* uniform in [0, n) */
/* Fisher-Yates permutation of perm[0..n) (filled with 0..n-1 first). */
void op_rng_permutation(op_rng *rng, int *perm, int n);

#endif
