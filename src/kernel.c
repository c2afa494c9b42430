/* kernel.c — NNGP/NTK layer recursion of fully-connected networks and the
 * serial reference computations (see kernel.h for the conventions).
 *
 * Contract: everything here is serial, deterministic and allocation-light;
 * the reference routines are O(n^3) and meant for tests, benchmarks and
 * small problems. LAPACK is called through Fortran prototypes declared
 * below (with gfortran's hidden string-length arguments, which the ABI
 * requires even for one-character options). */
#include "overparam/kernel.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* M_PI is not in strict C11. */
#define OP_PI 3.14159265358979323846

/* LAPACK (Fortran). */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda,
                    int *info, size_t uplo_len);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs,
                    const double *a, const int *lda, double *b,
                    const int *ldb, int *info, size_t uplo_len);
extern void dsyevd_(const char *jobz, const char *uplo, const int *n,
                    double *a, const int *lda, double *w, double *work,
                    const int *lwork, int *iwork, const int *liwork,
                    int *info, size_t jobz_len, size_t uplo_len);

op_status op_kernel_spec_init(op_kernel_spec *spec, const op_kernel_cfg *cfg,
                              int depth, int width, int d)
{
    memset(spec, 0, sizeof *spec);
    if (cfg->activation != OP_ACT_RELU && cfg->activation != OP_ACT_ERF)
        return op_error(OP_ERR_INPUT, "kernel: activation has no closed-form "
                                      "kernel (allowed: relu, erf)");
    if (cfg->param != OP_PARAM_NTK && cfg->param != OP_PARAM_STANDARD)
        return op_error(OP_ERR_INPUT, "kernel: unknown parameterization");
    if (depth < 0)
        return op_error(OP_ERR_INPUT, "kernel: depth %d < 0", depth);
    if (!(cfg->sigma_w2 >= 0.0) || !(cfg->sigma_b2 >= 0.0))
        return op_error(OP_ERR_INPUT, "kernel: sigma_w2/sigma_b2 must be >= 0");
    if (cfg->bias == OP_BIAS_OFF &&
        (cfg->sigma_b2 > 0 || (cfg->last_set && cfg->sigma_b2_last > 0)))
        return op_error(OP_ERR_INPUT, "kernel: bias = off with a bias "
                                      "variance > 0");
    if (d < 1)
        return op_error(OP_ERR_INPUT, "kernel: input dimension %d < 1", d);
    if (cfg->param == OP_PARAM_STANDARD && cfg->ntk && depth > 0 && width < 1)
        return op_error(OP_ERR_INPUT,
                        "kernel: the standard-parameterization NTK needs the "
                        "hidden width (got %d)", width);
    spec->act = cfg->activation;
    spec->param = cfg->param;
    spec->depth = depth;
    spec->sigma_w2 = cfg->sigma_w2;
    spec->sigma_b2 = cfg->sigma_b2;
    spec->sigma_w2_last = cfg->sigma_w2_last;
    spec->sigma_b2_last = cfg->sigma_b2_last;
    spec->last_set = cfg->last_set;
    spec->bias = cfg->bias;
    spec->width = width;
    spec->d = d;
    return OP_OK;
}

/* Dense layer j = 0..depth of the spec (j == depth: the readout): its
 * variances and the standard-parameterization bias term B_j (kernel.h). */
static void spec_layer(const op_kernel_spec *spec, int j, double *w2,
                       double *b2, double *bias)
{
    int hb;
    op_dense_layer(spec->sigma_w2, spec->sigma_b2, spec->sigma_w2_last,
                   spec->sigma_b2_last, spec->last_set, spec->bias,
                   j == spec->depth, w2, b2, &hb);
    *bias = hb ? 1.0 : 0.0;
}

/* a*b as hi + lo exactly (Dekker's product: no FMA needed, so every clone
 * of the column loops rounds alike); returns lo for hi = a*b. */
static inline __attribute__((always_inline)) double
two_prod_err(double a, double b, double hi)
{
    const double split = 134217729.0; /* 2^27 + 1 */
    double ta = split * a, ah = ta - (ta - a), al = a - ah;
    double tb = split * b, bh = tb - (tb - b), bl = b - bh;
    return ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
}

/* q1 q2 - c^2 >= 0 (the squared norm times sin^2 of the angle) from the
 * exact products: for nearly parallel points both products agree in most
 * of their digits, and the difference of their rounded values would be
 * pure rounding. Clamped at 0 (c^2 > q1 q2 by roundoff). */
static inline __attribute__((always_inline)) double
gram_det(double q1, double q2, double c)
{
    double p = q1 * q2, r = c * c;
    double d = (p - r) + (two_prod_err(q1, q2, p) - two_prod_err(c, c, r));
    return d > 0.0 ? d : 0.0;
}

/* Where theta_minus_sin changes from its series to the difference (an
 * angle), and the largest argument asin_small's fit covers (above it,
 * acos_cs and asin_poly take the half-angle form): column_relu's chunk
 * skips test the same bounds, so one name each. */
#define TMS_SERIES_BELOW 0.5
#define ASIN_SMALL_MAX 0.5

/* theta - sin(theta), theta in [0, pi], sn = sin(theta): below 1/2 the
 * Taylor series th^3/3! - th^5/5! + ... to th^17 (truncation < 1e-20
 * relative), where the difference of the two would cancel; above, the
 * difference. Branch-free, for the column loops too. `series` 0 (a
 * constant once inlined) promises th >= 1/2: the series, which would not
 * be selected, is not evaluated (same result, a fifth of a layer's
 * arithmetic less). */
static inline __attribute__((always_inline)) double
theta_minus_sin(double th, double sn, int series)
{
    if (!series)
        return th - sn;
    double z = th * th;
    double p = 1.0 - z * (1.0 / 272.0);
    p = 1.0 - z * (1.0 / 210.0) * p;
    p = 1.0 - z * (1.0 / 156.0) * p;
    p = 1.0 - z * (1.0 / 110.0) * p;
    p = 1.0 - z * (1.0 / 72.0) * p;
    p = 1.0 - z * (1.0 / 42.0) * p;
    p = 1.0 - z * (1.0 / 20.0) * p;
    double ser = th * z * (1.0 / 6.0) * p;
    return th < TMS_SERIES_BELOW ? ser : th - sn;
}

/* The next layer's q1' q2' - s'^2 for ReLU, from this layer's angle rather
 * than from the rounded q', s' (whose difference would again be rounding
 * when the points are nearly parallel). With a = sw2/2, b = sb2,
 * q' = a q + b, m = a sqrt(q1 q2) + b (s' at cos = 1) and s' = sw2 t + sb2:
 *   q1'q2' - m^2 = a b (sqrt q1 - sqrt q2)^2,
 *   m - s' = sw2 norm h / (2 pi),  h = (pi - th)(1 - cos) + (th - sin th),
 * every term non-negative; 1 - cos = sin^2/(1 + cos) = hr for cos > 0. */
static inline __attribute__((always_inline)) double
relu_next_det(double u1, double u2, double norm, double cs, double sn,
              double th, double s_next, double sw2, double sb2, double hr,
              int series)
{
    double omc = cs > 0.0 ? hr : 1.0 - cs; /* hr = sin^2/(1 + |cos|) */
    double h = (OP_PI - th) * omc + theta_minus_sin(th, sn, series);
    double gap = sw2 * norm * h * (1.0 / (2.0 * OP_PI));
    double m = 0.5 * sw2 * norm + sb2, du = u1 - u2;
    return 0.5 * sw2 * sb2 * du * du + gap * (m + s_next);
}

/* E[phi(u)phi(v)] and E[phi'(u)phi'(v)] for (u, v) centered Gaussian with
 * variances q1, q2 and covariance c. ReLU also takes *det = q1 q2 - c^2
 * (accurate: gram_det on the first layer, relu_next_det after) and leaves
 * the next layer's in it, given that layer's sw2, sb2. */
static void act_moments(op_activation act, double q1, double q2, double c,
                        double *det, double sw2, double sb2, double *t,
                        double *td)
{
    if (act == OP_ACT_RELU) {
        /* Arc-cosine kernels of degree 1 and 0 (Cho & Saul). */
        double u1 = sqrt(q1), u2 = sqrt(q2), norm = u1 * u2;
        if (!(norm > 0.0)) { /* a zero-variance input: phi(u) = 0 a.s. */
            *t = 0.0;
            *td = 0.25;
            *det = relu_next_det(u1, u2, 0.0, 0.0, 0.0, 0.5 * OP_PI, sb2,
                                 sw2, sb2, 0.0, 1);
            return;
        }
        double cs = c / norm;
        if (cs > 1.0) cs = 1.0; /* roundoff can leave |cos| slightly > 1 */
        if (cs < -1.0) cs = -1.0;
        /* The angle from sin and cos (neural-tangents' atan2 form), with
         * norm^2 sin^2 = q1 q2 - c^2 carried accurately through the layers:
         * acos(c / norm) would amplify the rounding of the cosine by
         * 1/sin, ~1e6 for nearly parallel inputs. */
        double rd = sqrt(*det);
        double th = atan2(rd, c);
        double sn = fmin(rd / norm, 1.0);
        *t = norm * (sn + (OP_PI - th) * cs) / (2.0 * OP_PI);
        *td = (OP_PI - th) / (2.0 * OP_PI);
        *det = relu_next_det(u1, u2, norm, cs, sn, th, sw2 * *t + sb2, sw2,
                             sb2, sn * sn / (1.0 + fabs(cs)), 1);
    } else { /* erf (Williams 1997) */
        double a = 1.0 + 2.0 * q1, b = 1.0 + 2.0 * q2;
        double s = 2.0 * c / sqrt(a * b);
        if (s > 1.0) s = 1.0;
        if (s < -1.0) s = -1.0;
        *t = (2.0 / OP_PI) * asin(s);
        /* erf'(x) = 2/sqrt(pi) exp(-x^2); E[exp(-u^2-v^2)] = det(I+2C)^-1/2.
         * a*b - 4c^2 >= 1 + 2q1 + 2q2 > 0 since c^2 <= q1 q2. */
        *td = (4.0 / OP_PI) / sqrt(a * b - 4.0 * c * c);
    }
}

void op_kernel_diag(const op_kernel_spec *spec, const double *x, int n,
                    int ldx, double *q)
{
    int L = spec->depth;
    for (int i = 0; i < n; i++) {
        const double *xi = x + (size_t)i * ldx;
        double g = 0.0;
        for (int j = 0; j < spec->d; j++)
            g += xi[j] * xi[j];
        double *qi = q + (size_t)i * (L + 1);
        /* Same operation order as op_kernel_elem with k0 = g/d, so a
         * diagonal entry sees cos = 1 exactly: the ReLU derivative kernel
         * has a square-root singularity at cos = 1, where a one-ulp
         * mismatch would cost ~1e-8 relative error. */
        double k0 = g / spec->d;
        double sw2, sb2, bias;
        spec_layer(spec, 0, &sw2, &sb2, &bias);
        qi[0] = sw2 * k0 + sb2;
        double det = 0.0; /* the point with itself: cos = 1 */
        for (int l = 0; l < L; l++) {
            double t, td;
            spec_layer(spec, l + 1, &sw2, &sb2, &bias);
            act_moments(spec->act, qi[l], qi[l], qi[l], &det, sw2, sb2, &t,
                        &td);
            qi[l + 1] = sw2 * t + sb2;
        }
    }
}

void op_kernel_elem(const op_kernel_spec *spec, double k0, const double *q1,
                    const double *q2, double *nngp, double *ntk)
{
    const int standard = spec->param == OP_PARAM_STANDARD;
    double sw2, sb2, bias;
    spec_layer(spec, 0, &sw2, &sb2, &bias);
    double s = sw2 * k0 + sb2;
    double th = standard ? spec->d * k0 + bias : s;
    double det = gram_det(q1[0], q2[0], s);
    for (int l = 0; l < spec->depth; l++) {
        double t, td;
        spec_layer(spec, l + 1, &sw2, &sb2, &bias);
        act_moments(spec->act, q1[l], q2[l], s, &det, sw2, sb2, &t, &td);
        s = sw2 * t + sb2;
        th = standard ? spec->width * t + sw2 * td * th + bias
                      : s + sw2 * td * th;
    }
    if (nngp)
        *nngp = s;
    if (ntk)
        *ntk = th;
}

void op_kernel_factors(const op_kernel_spec *spec, const double *q, int n,
                       double *f, int ldf)
{
    int L = spec->depth, L1 = L + 1;
    for (int l = 0; l < L; l++)
        for (int i = 0; i < n; i++) {
            double v = q[(size_t)i * L1 + l];
            double *u = f + (size_t)(OP_KERNEL_NFACT * l) * ldf + i;
            double *w = f + (size_t)(OP_KERNEL_NFACT * l + 1) * ldf + i;
            f[(size_t)(OP_KERNEL_NFACT * l + 2) * ldf + i] = v;
            if (spec->act == OP_ACT_RELU) {
                /* v = 0 for a zero-variance point makes cos = 0 and the
                 * norm 0, which gives act_moments' limit (T = 0, Td =
                 * 1/4) without a branch in the column loop. */
                *u = sqrt(v);
                *w = v > 0.0 ? 1.0 / sqrt(v) : 0.0;
            } else {
                *u = 1.0 + 2.0 * v;
                *w = 1.0 / sqrt(1.0 + 2.0 * v);
            }
        }
}

/* asin(s) for s in [0, 1/2] as s + s z P(z), z = s^2: P is a degree-11
 * least-squares fit (relative weight, 50-digit arithmetic, Chebyshev
 * nodes) of (asin(sqrt z) - sqrt z)/z^1.5 on [0, 1/4]; measured error of
 * this evaluation in double: 1.7e-16 relative. Polynomial rather than
 * libm so the column loops vectorize. */
static inline __attribute__((always_inline)) double
asin_small(double s, double z)
{
    double p = 0.02817305169670452;
    p = p * z - 0.010754253819189541;
    p = p * z + 0.016038559905076553;
    p = p * z + 0.007801943829663346;
    p = p * z + 0.011875700165918232;
    p = p * z + 0.013929625916473681;
    p = p * z + 0.017355262221945347;
    p = p * z + 0.02237204751352192;
    p = p * z + 0.03038194737068087;
    p = p * z + 0.04464285710336827;
    p = p * z + 0.07500000000020797;
    p = p * z + 0.1666666666666665;
    return s + s * z * p;
}

#define PIO2_HI 1.57079632679489655800e+00
#define PIO2_LO 6.12323399573676603587e-17

/* acos(x) from x = cos and hr = sin^2/(1 + |x|) (both accurate), x in
 * [-1, 1]:
 * branch-free: |x| > 1/2 by the half-angle identity acos(a) =
 * 2 asin(sqrt((1 - a)/2)), with (1 - |x|)/2 = sin^2/(2 (1 + |x|)), which
 * keeps its digits as |x| -> 1 where 1 - |x| would be the difference of
 * two nearly equal numbers. */
static inline __attribute__((always_inline)) double
acos_cs(double x, double hr, int may_big)
{
    double a = x < 0.0 ? -x : x;
    int big = may_big && a > ASIN_SMALL_MAX; /* may_big 0: |x| <= 1/2 */
    double z = big ? 0.5 * hr : a * a; /* hr = sin^2 / (1 + |x|) */
    double sz = sqrt(z);
    double s = big ? sz : a;
    double r = asin_small(s, z);
    double ac = big ? 2.0 * r : (PIO2_HI - r) + PIO2_LO;
    return x < 0.0 ? (2.0 * PIO2_HI - ac) + 2.0 * PIO2_LO : ac;
}

/* asin(x), x in [-1, 1]. */
static inline __attribute__((always_inline)) double
asin_poly(double x)
{
    double a = x < 0.0 ? -x : x;
    int big = a > ASIN_SMALL_MAX;
    double z = big ? 0.5 * (1.0 - a) : a * a;
    double sz = sqrt(z);
    double s = big ? sz : a;
    double r = asin_small(s, z);
    double as = big ? (PIO2_HI - 2.0 * r) + PIO2_LO : r;
    return x < 0.0 ? -as : as;
}

/* Rows a column is processed in (every layer per chunk, so the chunk's
 * values and the temporaries below stay in L1). */
enum { OP_COL_CHUNK = 256 };

/* The outputs of one ReLU layer over a chunk from its angles (the third
 * loop of column_relu): S, T and, when `next`, G. `series` 0 promises
 * every angle >= 1/2 (theta_minus_sin). Both are constants once inlined. */
static inline __attribute__((always_inline)) void
relu_out(int m, const double *restrict u, double uc, double sw2, double sb2,
         double at, double ct, const double *restrict CS,
         const double *restrict SN, const double *restrict HR,
         const double *restrict TH, double *restrict S, double *restrict T,
         double *restrict G, int next, int series)
{
    const double i2pi = 1.0 / (2.0 * OP_PI);
    for (int i = 0; i < m; i++) {
        double cs = CS[i], sn = SN[i], th = TH[i];
        double norm = u[i] * uc;
        double pth = OP_PI - th;
        double t = norm * (sn + pth * cs) * i2pi;
        double td = pth * i2pi;
        double s = sw2 * t + sb2;
        T[i] = (at * t + ct) + sw2 * td * T[i];
        S[i] = s;
        if (next)
            G[i] = relu_next_det(u[i], uc, norm, cs, sn, th, s, sw2, sb2,
                                  HR[i], series);
    }
}

/* One layer over a column, ReLU (see act_moments for the forms). q, qc:
 * the points' variances; G: q q' - c^2 on entry, the next layer's on
 * return when `next` (a constant once inlined; on the last layer nothing
 * reads it); m <= OP_COL_CHUNK.
 *
 * Three loops over the chunk instead of one: each entry's arithmetic is
 * one long dependent chain (sqrt, a division, sqrt, the 11-step asin
 * Horner, the 8-step theta - sin series), ~150 vector instructions, so a
 * single loop keeps only about two iterations in the out-of-order window
 * and waits on latency. Split at the angle, each loop's iterations are
 * short and independent and overlap: 6.0 -> 4.0 ns per entry and layer
 * (AVX-512 clone, AMD EPYC of bench/RESULTS.md). Every entry sees the same
 * operations in the same order as before, so results are bit-identical.
 * A chunk whose angles are all >= 1/2 (no nearly parallel pair) skips the
 * theta - sin series, which only such angles select: same bits again. */
static inline __attribute__((always_inline)) void
column_relu(int m, const double *restrict u, const double *restrict v,
                        double uc, double vc, double sw2, double sb2,
                        double at, double ct, double *restrict S,
                        double *restrict T, double *restrict G, int next)
{
    /* cos, sin and sin^2/(1 + |cos|) of each entry's angle, the angle */
    double CS[OP_COL_CHUNK], SN[OP_COL_CHUNK], HR[OP_COL_CHUNK],
        TH[OP_COL_CHUNK];
    int big = 0; /* any |cos| > 1/2 (acos_cs's half-angle branch) */
    for (int i = 0; i < m; i++) {
        double c = S[i];
        double w = v[i] * vc; /* 1 / norm, or 0 for a zero-variance point */
        double cs = c * w;
        cs = cs > 1.0 ? 1.0 : cs;
        cs = cs < -1.0 ? -1.0 : cs;
        double sn = sqrt(G[i]) * w;
        sn = sn < 1.0 ? sn : 1.0;
        double acs = cs < 0.0 ? -cs : cs;
        CS[i] = cs;
        SN[i] = sn;
        HR[i] = (sn * sn) / (1.0 + acs);
        big |= acs > ASIN_SMALL_MAX;
    }
    if (big)
        for (int i = 0; i < m; i++)
            TH[i] = acos_cs(CS[i], HR[i], 1);
    else /* no half-angle square root: the same bits */
        for (int i = 0; i < m; i++)
            TH[i] = acos_cs(CS[i], HR[i], 0);
    if (!next) {
        relu_out(m, u, uc, sw2, sb2, at, ct, CS, SN, HR, TH, S, T, G, 0, 0);
        return;
    }
    int small = 0; /* any angle below 1/2 (NaN: either path gives NaN) */
    for (int i = 0; i < m; i++)
        small |= TH[i] < TMS_SERIES_BELOW;
    if (small)
        relu_out(m, u, uc, sw2, sb2, at, ct, CS, SN, HR, TH, S, T, G, 1, 1);
    else
        relu_out(m, u, uc, sw2, sb2, at, ct, CS, SN, HR, TH, S, T, G, 1, 0);
}

/* One layer over a column, erf. */
static inline __attribute__((always_inline)) void
column_erf(int m, const double *restrict u, const double *restrict v,
                       double uc, double vc, double sw2, double sb2,
                       double at, double ct, double *restrict S,
                       double *restrict T)
{
    for (int i = 0; i < m; i++) {
        double c = S[i];
        double sa = 2.0 * c * (v[i] * vc);
        sa = sa > 1.0 ? 1.0 : sa;
        sa = sa < -1.0 ? -1.0 : sa;
        double t = (2.0 / OP_PI) * asin_poly(sa);
        double td = (4.0 / OP_PI) / sqrt(u[i] * uc - 4.0 * c * c);
        double s = sw2 * t + sb2;
        T[i] = (at * t + ct) + sw2 * td * T[i];
        S[i] = s;
    }
}

/* Cloned for AVX-512 and AVX2 (8 and 4 doubles a vector; ReLU measured on
 * this project's AMD EPYC VM, 2026-11-29: 4.0 and 5.4 ns per entry and
 * hidden layer against 13.3 for the SSE2 baseline) and chosen by CPU
 * feature at load time. The clones differ in vector width only, not
 * in rounding: C11 mode does not contract a*b+c into FMA. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define OP_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define OP_CLONES
#endif

OP_CLONES
void op_kernel_column(const op_kernel_spec *spec, int m, const double *fr,
                      int ldf, const double *fc, double *S, double *T)
{
    const int standard = spec->param == OP_PARAM_STANDARD;
    const double dd = spec->d;
    /* Per Dense layer j: Th' = (at*T + ct) + sw2*Td*Th, the ntk
     * parameterization's S' + ... in op_kernel_elem's operation order, or
     * the standard one's width*T + B_j + .... */
    double sw2, sb2, bias;
    spec_layer(spec, 0, &sw2, &sb2, &bias);
    const double sw2_0 = sw2, sb2_0 = sb2, bias_0 = bias;
    /* Rows in chunks, every layer per chunk: ReLU carries q q' - c^2 of
     * each entry from layer to layer in G (see act_moments). */
    enum { CHUNK = OP_COL_CHUNK };
    double G[CHUNK];
    for (int i0 = 0; i0 < m; i0 += CHUNK) {
        int mc = m - i0 < CHUNK ? m - i0 : CHUNK;
        double *Sc = S + i0, *Tc = T + i0;
        const double *q0 = fr + (size_t)2 * ldf + i0;
        for (int i = 0; i < mc; i++) {
            double k0 = Sc[i];
            double s = sw2_0 * k0 + sb2_0;
            Tc[i] = standard ? dd * k0 + bias_0 : s;
            Sc[i] = s;
            G[i] = gram_det(q0[i], fc[2], s);
        }
        for (int l = 0; l < spec->depth; l++) {
            const double *u = fr + (size_t)(OP_KERNEL_NFACT * l) * ldf + i0;
            const double *v = u + ldf;
            const double *f = fc + OP_KERNEL_NFACT * l;
            spec_layer(spec, l + 1, &sw2, &sb2, &bias);
            const double at = standard ? spec->width : sw2;
            const double ct = standard ? bias : sb2;
            /* The last layer's q q' - s^2 is never read: not computed
             * (a fifth of the layer's arithmetic). */
            if (spec->act == OP_ACT_RELU && l + 1 < spec->depth)
                column_relu(mc, u, v, f[0], f[1], sw2, sb2, at, ct, Sc, Tc,
                            G, 1);
            else if (spec->act == OP_ACT_RELU)
                column_relu(mc, u, v, f[0], f[1], sw2, sb2, at, ct, Sc, Tc,
                            G, 0);
            else
                column_erf(mc, u, v, f[0], f[1], sw2, sb2, at, ct, Sc, Tc);
        }
    }
}

void op_kernel_ref(const op_kernel_spec *spec, const double *x1, int n1,
                   const double *x2, int n2, double *nngp, double *ntk)
{
    int L1 = spec->depth + 1, d = spec->d;
    double *q1 = OP_XMALLOC(sizeof(double) * (size_t)n1 * L1);
    double *q2 = OP_XMALLOC(sizeof(double) * (size_t)n2 * L1);
    op_kernel_diag(spec, x1, n1, d, q1);
    op_kernel_diag(spec, x2, n2, d, q2);
    for (int i = 0; i < n1; i++)
        for (int j = 0; j < n2; j++) {
            double g = 0.0;
            for (int c = 0; c < d; c++)
                g += x1[(size_t)i * d + c] * x2[(size_t)j * d + c];
            op_kernel_elem(spec, g / d, q1 + (size_t)i * L1,
                           q2 + (size_t)j * L1,
                           nngp ? nngp + (size_t)i * n2 + j : NULL,
                           ntk ? ntk + (size_t)i * n2 + j : NULL);
        }
    free(q1);
    free(q2);
}

int op_kernel_ref_regress(const double *K, int n, const double *Kt, int nt,
                          const double *Y, int k, double eps, double *pred)
{
    double *A = OP_XMALLOC(sizeof(double) * (size_t)n * n);
    double *B = OP_XMALLOC(sizeof(double) * (size_t)n * k);
    memcpy(A, K, sizeof(double) * (size_t)n * n); /* symmetric: layout-free */
    for (int i = 0; i < n; i++)
        A[(size_t)i * n + i] += eps;
    for (int i = 0; i < n; i++) /* column-major n x k for LAPACK */
        for (int c = 0; c < k; c++)
            B[i + (size_t)c * n] = Y[(size_t)i * k + c];
    int info = 0;
    dpotrf_("L", &n, A, &n, &info, 1);
    if (info < 0)
        OP_INFO_CHECK("dpotrf", info, "bad argument");
    if (info > 0) {
        for (size_t i = 0; i < (size_t)nt * k; i++)
            pred[i] = NAN;
        free(A);
        free(B);
        return info;
    }
    dpotrs_("L", &n, &k, A, &n, B, &n, &info, 1);
    OP_INFO_CHECK("dpotrs", info, "bad argument");
    /* B column-major n x k is row-major k x n: pred = Kt * B^T. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nt, k, n, 1.0, Kt, n,
                B, n, 0.0, pred, k);
    free(A);
    free(B);
    return 0;
}

double op_kernel_gd_gain(double lambda, double t, int n)
{
    if (t == 0.0)
        return 0.0;
    if (!(lambda > 0.0))
        return isinf(t) ? 0.0 : t / n;
    if (isinf(t))
        return 1.0 / lambda;
    /* -expm1 keeps precision when lambda*t/n is tiny. */
    return -expm1(-lambda * t / n) / lambda;
}

double op_kernel_flow_time(int conv, double t, int k)
{
    return conv == OP_TIME_NEURAL_TANGENTS ? t / k : t;
}

/* dsyevd on a copy of K; jobz 'V' leaves the eigenvectors in A (row j of
 * the row-major view = eigenvector j), ascending eigenvalues in w. */
static void ref_syevd(char jobz, double *A, int n, double *w)
{
    int lwork = -1, liwork = -1, iwq = 0, info = 0;
    double wq = 0.0;
    char uplo = 'L';
    dsyevd_(&jobz, &uplo, &n, A, &n, w, &wq, &lwork, &iwq, &liwork, &info, 1,
            1);
    OP_INFO_CHECK("dsyevd (query)", info, "bad argument");
    lwork = (int)wq + 1;
    liwork = iwq;
    double *work = OP_XMALLOC(sizeof(double) * (size_t)lwork);
    int *iwork = OP_XMALLOC(sizeof(int) * (size_t)liwork);
    dsyevd_(&jobz, &uplo, &n, A, &n, w, work, &lwork, iwork, &liwork, &info,
            1, 1);
    OP_INFO_CHECK("dsyevd", info, "eigensolver did not converge");
    free(work);
    free(iwork);
}

void op_kernel_ref_gd(const double *K, int n, const double *Kt, int nt,
                      const double *Y, int k, const double *times, int n_time,
                      double *pred)
{
    double *V = OP_XMALLOC(sizeof(double) * (size_t)n * n);
    double *w = OP_XMALLOC(sizeof(double) * (size_t)n);
    double *Z = OP_XMALLOC(sizeof(double) * (size_t)n * k);
    double *Zt = OP_XMALLOC(sizeof(double) * (size_t)n * k);
    double *W1 = OP_XMALLOC(sizeof(double) * (size_t)n * k);
    memcpy(V, K, sizeof(double) * (size_t)n * n);
    ref_syevd('V', V, n, w);
    /* Z = V^T Y, where row j of V (row-major) is eigenvector j. */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, n, 1.0, V, n,
                Y, k, 0.0, Z, k);
    for (int it = 0; it < n_time; it++) {
        for (int j = 0; j < n; j++) {
            double g = op_kernel_gd_gain(w[j], times[it], n);
            for (int c = 0; c < k; c++)
                Zt[(size_t)j * k + c] = g * Z[(size_t)j * k + c];
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, n, 1.0, V,
                    n, Zt, k, 0.0, W1, k);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, k, n, 1.0,
                    Kt, n, W1, k, 0.0, pred + (size_t)it * nt * k, k);
    }
    free(V);
    free(w);
    free(Z);
    free(Zt);
    free(W1);
}

void op_kernel_ref_eig(const double *K, int n, double *w)
{
    double *A = OP_XMALLOC(sizeof(double) * (size_t)n * n);
    memcpy(A, K, sizeof(double) * (size_t)n * n);
    ref_syevd('N', A, n, w);
    for (int i = 0, j = n - 1; i < j; i++, j--) { /* ascending -> descending */
        double t = w[i];
        w[i] = w[j];
        w[j] = t;
    }
    free(A);
}

void op_kernel_metrics(const double *pred, const double *y, const int *label,
                       int n, int k, double *mse, double *acc)
{
    double se = 0.0;
    long labeled = 0, correct = 0;
    for (int i = 0; i < n; i++) {
        const double *p = pred + (size_t)i * k, *t = y + (size_t)i * k;
        for (int c = 0; c < k; c++)
            se += (p[c] - t[c]) * (p[c] - t[c]);
        if (!label || label[i] < 0)
            continue;
        labeled++;
        if (k == 1) {
            correct += (p[0] > 0.0) == (t[0] > 0.0);
        } else {
            int best = 0;
            for (int c = 1; c < k; c++)
                if (p[c] > p[best])
                    best = c;
            correct += best == label[i];
        }
    }
    *mse = n > 0 ? 0.5 * se / n : NAN;
    *acc = labeled > 0 ? (double)correct / labeled : NAN;
}

/* OLS of log(w_i) on log(i) over the documented index range; `get` reads
 * element i-1 so the double and float versions share the code. */
static void powerlaw_fit(const void *w, int is_float, int n, double *expo,
                         double *pref, int *lo_out, int *hi_out)
{
    int lo = n / 100 > 1 ? n / 100 : 1;
    int hi = n / 2 > 2 ? n / 2 : 2;
    if (hi > n)
        hi = n;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int m = 0;
    for (int i = lo; i <= hi; i++) {
        double v = is_float ? (double)((const float *)w)[i - 1]
                            : ((const double *)w)[i - 1];
        if (!(v > 0.0) || !isfinite(v))
            continue;
        double lx = log((double)i), ly = log(v);
        sx += lx;
        sy += ly;
        sxx += lx * lx;
        sxy += lx * ly;
        m++;
    }
    double den = m * sxx - sx * sx;
    if (m < 2 || !(den > 0.0)) {
        *expo = NAN;
        *pref = NAN;
    } else {
        double slope = (m * sxy - sx * sy) / den;
        double icept = (sy - slope * sx) / m;
        *expo = -slope;
        *pref = exp(icept);
    }
    if (lo_out)
        *lo_out = lo;
    if (hi_out)
        *hi_out = hi;
}

void op_kernel_powerlaw_fit(const double *w, int n, double *expo,
                            double *pref, int *lo, int *hi)
{
    powerlaw_fit(w, 0, n, expo, pref, lo, hi);
}

void op_kernel_powerlaw_fit_f(const float *w, int n, double *expo,
                              double *pref, int *lo, int *hi)
{
    powerlaw_fit(w, 1, n, expo, pref, lo, hi);
}
