/* rng.c — xoshiro256** streams derived by hashing (seed, purpose, a, b)
 * through splitmix64, so any stream can be rebuilt from its coordinates. */
#include "overparam/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void op_rng_derive(op_rng *rng, uint64_t seed, uint64_t purpose, uint64_t a,
                   uint64_t b)
{
    /* Mix every coordinate through splitmix so nearby (a, b) pairs give
     * unrelated streams. */
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ (purpose * 0xd1342543de82ef95ULL);
    h = splitmix64(&x);
    x = h ^ (a * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL);
    h = splitmix64(&x);
    x = h ^ (b * 0xbf58476d1ce4e5b9ULL + 0x8cb92ba72f3d8dd7ULL);
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
    rng->has_spare = 0;
    rng->spare = 0.0;
}

uint64_t op_rng_next(op_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double op_rng_uniform(op_rng *rng)
{
    return (double)(op_rng_next(rng) >> 11) * 0x1.0p-53;
}

double op_rng_normal(op_rng *rng)
{
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    double u, v, r2;
    do { /* Marsaglia polar method: no trigonometry, exact rejection */
        u = 2.0 * op_rng_uniform(rng) - 1.0;
        v = 2.0 * op_rng_uniform(rng) - 1.0;
        r2 = u * u + v * v;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = sqrt(-2.0 * log(r2) / r2);
    rng->spare = v * f;
    rng->has_spare = 1;
    return u * f;
}

uint64_t op_rng_below(op_rng *rng, uint64_t n)
{
    /* Lemire's rejection keeps the draw unbiased for any n. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = op_rng_next(rng);
        if (r >= threshold)
            return r % n;
    }
}

void op_rng_permutation(op_rng *rng, int *perm, int n)
{
    for (int i = 0; i < n; i++)
        perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)op_rng_below(rng, (uint64_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
