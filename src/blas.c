/* blas.c — which OpenBLAS core overparam computes with: detection of a
 * generic fallback, a correctness self-test, and re-execution with a better
 * core. The contract is in include/overparam/blas.h.
 *
 * Why re-execute: OpenBLAS reads OPENBLAS_CORETYPE once, when the library is
 * loaded, so a process cannot change its core afterwards; the program starts
 * itself again (same pid, same arguments, before MPI_Init, so the launcher
 * and PMIx see nothing) with the variable set. The state of the search
 * travels in OVERPARAM_BLAS_STATE ("orig=CORE;i=K;failed=A,B"). */
#include "overparam/blas.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

char *openblas_get_corename(void);

static op_blas_info g_info = {.selftest_passed = -1};

const op_blas_info *op_blas_info_get(void) { return &g_info; }

/* ---- the CPU's instructions and OpenBLAS's x86-64 cores, best first ---- */

static int has_cooperlake(void)
{
    return __builtin_cpu_supports("avx512bf16") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq");
}
static int has_skylakex(void)
{
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512cd");
}
static int has_haswell(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static int has_sandybridge(void) { return __builtin_cpu_supports("avx"); }
static int has_nehalem(void) { return __builtin_cpu_supports("sse4.2"); }
static int has_core2(void) { return __builtin_cpu_supports("ssse3"); }
static int has_any(void) { return 1; }

static const struct {
    const char *name;     /* an OPENBLAS_CORETYPE value */
    const char *isa;      /* what it needs, for messages */
    int (*supported)(void);
} tiers[] = {
    {"Cooperlake", "AVX-512 BF16", has_cooperlake},
    {"SkylakeX", "AVX-512", has_skylakex},
    {"Haswell", "AVX2+FMA", has_haswell},
    {"Sandybridge", "AVX", has_sandybridge},
    {"Nehalem", "SSE4.2", has_nehalem},
    {"Core2", "SSSE3", has_core2},
    {"Prescott", "SSE3", has_any},
};
enum { N_TIERS = (int)(sizeof tiers / sizeof tiers[0]) };

/* The tier of a core name OpenBLAS reports; cores that share another's
 * kernels map to it. -1: a name this table does not know (left alone). */
static int tier_of(const char *core)
{
    static const struct { const char *name; int tier; } alias[] = {
        {"Zen", 2}, {"Excavator", 2}, {"Steamroller", 3}, {"Piledriver", 3},
        {"Bulldozer", 3}, {"Penryn", 5}, {"Dunnington", 5}, {"Atom", 6},
        {"Barcelona", 6}, {"Opteron", 6}, {"Opteron_SSE3", 6}, {"Bobcat", 6},
        {"Nano", 6}, {"Katmai", 6}, {"Coppermine", 6}, {"Northwood", 6},
        {"Banias", 6},
    };
    for (int t = 0; t < N_TIERS; t++)
        if (!strcasecmp(core, tiers[t].name))
            return t;
    for (size_t a = 0; a < sizeof alias / sizeof alias[0]; a++)
        if (!strcasecmp(core, alias[a].name))
            return alias[a].tier;
    return -1;
}

static int best_tier(void)
{
    __builtin_cpu_init();
    for (int t = 0; t < N_TIERS; t++)
        if (tiers[t].supported())
            return t;
    return N_TIERS - 1;
}

/* The order in which cores are tried: the supported tiers better than
 * OpenBLAS's pick, then the pick itself (OPENBLAS_CORETYPE unset, "" here),
 * then the supported tiers below it. Returns how many. */
static int candidates(int orig_tier, const char **out)
{
    int n = 0, best = best_tier();
    if (orig_tier < 0) {
        /* A core this table does not know (a newer OpenBLAS's name): kept,
         * the tiers only as replacements should it fail the self-test. */
        out[n++] = "";
        for (int t = best; t < N_TIERS; t++)
            out[n++] = tiers[t].name;
        return n;
    }
    for (int t = best; t < orig_tier; t++)
        out[n++] = tiers[t].name;
    out[n++] = "";
    for (int t = (orig_tier + 1 > best ? orig_tier + 1 : best); t < N_TIERS; t++)
        out[n++] = tiers[t].name;
    return n;
}

/* ---- the self-test ---- */

/* Fault injection for tests (tests/t_blas.sh): OVERPARAM_BLAS_FAIL names
 * cores, comma-separated, whose DGEMM result the self-test perturbs, so the
 * search's fallbacks and refusals run on any CPU. */
static int injected_fault(void)
{
    const char *f = getenv("OVERPARAM_BLAS_FAIL");
    const char *core = openblas_get_corename();
    size_t n = strlen(core);
    for (const char *p = f; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncasecmp(p, core, n))
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* Uniform in [-1, 1) from a fixed LCG: the same matrices on every rank. */
static void fill(double *x, size_t n, unsigned long long *s)
{
    for (size_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (double)(*s >> 11) * 0x1.0p-52 - 1.0;
    }
}

/* max |got - want| over n entries (the entries are O(1): see below), got
 * in double or float (`single`); a non-finite entry counts as INFINITY.
 * One loop for both precisions: a float is widened exactly, so the error
 * is the same as computed on the float itself. */
static double max_err(const void *got, int single, const double *want,
                      size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        double g = single ? ((const float *)got)[i] : ((const double *)got)[i];
        e = fmax(e, isfinite(g) ? fabs(g - want[i]) : INFINITY);
    }
    return e;
}

/* One size: C(m x n) = A(m x k) B(k x n) in the layouts the code uses, SYRK
 * of A (m x k), TRSM with a well-conditioned lower triangle, GEMV, DOT.
 * Row-major throughout; entries are O(1), so an error is measured against
 * k (the length of each sum) times the precision's unit roundoff, with a
 * margin of 100: broken kernels are off by O(1), not by a few ulps. */
static int selftest_size(int m, int n, int k, char *msg, size_t len)
{
    size_t big = (size_t)(m > n ? m : n) * (size_t)(k > m ? k : m) + 64;
    double *a = malloc(sizeof(double) * big), *b = malloc(sizeof(double) * big);
    double *c = malloc(sizeof(double) * big), *r = malloc(sizeof(double) * big);
    float *as = malloc(sizeof(float) * big), *bs = malloc(sizeof(float) * big);
    float *cs = malloc(sizeof(float) * big);
    int ok = 0;
    if (!a || !b || !c || !r || !as || !bs || !cs) {
        snprintf(msg, len, "no memory for the BLAS self-test");
        goto out;
    }
    unsigned long long seed = 0x6f7665727061726dULL ^ (unsigned)(m * 131 + k);
    fill(a, (size_t)m * k, &seed);
    fill(b, (size_t)k * n, &seed);
    const double tol64 = 100.0 * k * 0x1.0p-52, tol32 = 100.0 * k * 0x1.0p-23;
    const char *what = NULL;
    double e = 0;

    /* reference C = A B, A row-major m x k, B row-major k x n */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += a[(size_t)i * k + p] * b[(size_t)p * n + j];
            r[(size_t)i * n + j] = s;
        }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k,
                b, n, 0.0, c, n);
    if (injected_fault())
        c[(size_t)m * n / 2] += 0.5;
    if ((e = max_err(c, 0, r, (size_t)m * n)) > tol64) { what = "dgemm NN"; goto bad; }
    /* the same product with A stored transposed (k x m) */
    for (int i = 0; i < m; i++)
        for (int p = 0; p < k; p++)
            c[(size_t)p * m + i] = a[(size_t)i * k + p];
    double *at = c;
    double *c2 = malloc(sizeof(double) * big);
    if (!c2) { snprintf(msg, len, "no memory for the BLAS self-test"); goto out; }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0, at, m,
                b, n, 0.0, c2, n);
    e = max_err(c2, 0, r, (size_t)m * n);
    free(c2);
    if (e > tol64) { what = "dgemm TN"; goto bad; }
    for (size_t i = 0; i < (size_t)m * k; i++) as[i] = (float)a[i];
    for (size_t i = 0; i < (size_t)k * n; i++) bs[i] = (float)b[i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, as,
                k, bs, n, 0.0f, cs, n);
    if ((e = max_err(cs, 1, r, (size_t)m * n)) > tol32) { what = "sgemm NN"; goto bad; }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, k, 1.0f, as, k,
                as, k, 0.0f, cs, m);
    /* reference A Aᵀ (m x m), also for SYRK's lower triangle */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int p = 0; p < k; p++)
                s += a[(size_t)i * k + p] * a[(size_t)j * k + p];
            r[(size_t)i * m + j] = s;
        }
    if ((e = max_err(cs, 1, r, (size_t)m * m)) > tol32) { what = "sgemm NT"; goto bad; }
    for (size_t i = 0; i < (size_t)m * m; i++) c[i] = 0;
    e = 0;
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, m, k, 1.0, a, k, 0.0,
                c, m);
    for (int i = 0; i < m; i++)
        for (int j = 0; j <= i; j++)
            e = fmax(e, fabs(c[(size_t)i * m + j] - r[(size_t)i * m + j]));
    if (!(e <= tol64)) { what = "dsyrk"; goto bad; }
    /* TRSM: L (m x m) lower with a dominant diagonal, solve L X = B(m x n) */
    double *l = r; /* reuse: L from A Aᵀ's lower triangle plus m on the diagonal */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            l[(size_t)i * m + j] = j < i ? l[(size_t)i * m + j] / k
                                 : j == i ? (double)m : 0.0;
    fill(b, (size_t)m * n, &seed);
    for (size_t i = 0; i < (size_t)m * n; i++) c[i] = b[i];
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans,
                CblasNonUnit, m, n, 1.0, l, m, c, n);
    e = 0; /* residual L X - B */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p <= i; p++)
                s += l[(size_t)i * m + p] * c[(size_t)p * n + j];
            e = fmax(e, fabs(s - b[(size_t)i * n + j]));
        }
    if (!(e <= 100.0 * m * 0x1.0p-52 * m)) { what = "dtrsm"; goto bad; }
    /* GEMV y = A x and DOT */
    cblas_dgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0, a, k, b, 1, 0.0, c, 1);
    e = 0;
    for (int i = 0; i < m; i++) {
        double s = 0;
        for (int p = 0; p < k; p++)
            s += a[(size_t)i * k + p] * b[p];
        e = fmax(e, fabs(c[i] - s));
    }
    if (!(e <= tol64)) { what = "dgemv"; goto bad; }
    double d = cblas_ddot(k, a, 1, b, 1), ds = 0;
    for (int p = 0; p < k; p++)
        ds += a[p] * b[p];
    if (!(fabs(d - ds) <= tol64)) { e = fabs(d - ds); what = "ddot"; goto bad; }
    ok = 1;
    goto out;
bad:
    snprintf(msg, len, "%s (m=%d n=%d k=%d) is off by %.3g", what, m, n, k, e);
out:
    free(a); free(b); free(c); free(r); free(as); free(bs); free(cs);
    return ok;
}

int op_blas_selftest(char *msg, size_t len)
{
    /* Small sizes take OpenBLAS's small-matrix paths, larger ones its
     * blocked kernels; odd sizes exercise every edge case. */
    static const int sizes[][3] = {{7, 5, 3}, {37, 29, 41}, {161, 131, 149}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (!selftest_size(sizes[i][0], sizes[i][1], sizes[i][2], msg, len))
            return 0;
    if (len)
        msg[0] = '\0';
    return 1;
}

/* ---- selection ---- */

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

static void append_failed(const char *core)
{
    size_t used = strlen(g_info.failed);
    snprintf(g_info.failed + used, sizeof g_info.failed - used, "%s%s",
             used ? "," : "", core);
}

/* Starts this program again with the candidate core (NULL/"" leaves the
 * choice to OpenBLAS) and the search's state. Returns only when execv
 * failed. */
static void reexec(char **argv, const char *core, const char *orig, int next)
{
    char state[256];
    snprintf(state, sizeof state, "orig=%s;i=%d;failed=%s", orig, next,
             g_info.failed);
    setenv("OVERPARAM_BLAS_STATE", state, 1);
    if (core && *core)
        setenv("OPENBLAS_CORETYPE", core, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    fflush(NULL);
    execv("/proc/self/exe", argv);
}

op_status op_blas_select(char **argv)
{
    const char *mode = getenv("OVERPARAM_BLAS");
    const char *state = getenv("OVERPARAM_BLAS_STATE");
    const char *env_core = getenv("OPENBLAS_CORETYPE");
    copy(g_info.in_use, sizeof g_info.in_use, openblas_get_corename());
    copy(g_info.best, sizeof g_info.best, tiers[best_tier()].name);
    char msg[160];

    if (mode && !strcmp(mode, "keep")) {
        copy(g_info.openblas_pick, sizeof g_info.openblas_pick,
             g_info.in_use);
        g_info.selection = OP_BLAS_KEPT;
        return OP_OK;
    }
    if (!state && env_core && *env_core) {
        /* The environment's choice is the user's: check it, never change it. */
        copy(g_info.openblas_pick, sizeof g_info.openblas_pick,
             g_info.in_use);
        g_info.selection = OP_BLAS_ENVIRONMENT;
        g_info.selftest_passed = op_blas_selftest(msg, sizeof msg);
        if (!g_info.selftest_passed)
            return op_error(OP_ERR_INTERNAL, "OPENBLAS_CORETYPE=%s (set by "
                            "the environment) fails the BLAS self-test: %s; "
                            "unset it or name another core", env_core, msg);
        return OP_OK;
    }

    /* OpenBLAS's own pick, as first seen (OVERPARAM_BLAS_ASSUME stands in
     * for it in tests, to exercise the fallback on any CPU). */
    char orig[32];
    int next = 0;
    if (state) {
        const char *o = strstr(state, "orig="), *i = strstr(state, ";i=");
        const char *f = strstr(state, ";failed=");
        if (!o || !i || !f)
            return op_error(OP_ERR_INTERNAL, "OVERPARAM_BLAS_STATE '%s' is "
                            "not overparam's", state);
        snprintf(orig, sizeof orig, "%.*s", (int)(i - o - 5), o + 5);
        next = atoi(i + 3);
        copy(g_info.failed, sizeof g_info.failed, f + 8);
    } else {
        const char *assume = getenv("OVERPARAM_BLAS_ASSUME");
        copy(orig, sizeof orig, assume && *assume ? assume : g_info.in_use);
    }
    copy(g_info.openblas_pick, sizeof g_info.openblas_pick, orig);
    const char *cand[N_TIERS + 1];
    int n_cand = candidates(tier_of(orig), cand);

    if (!state) {
        /* First start: a pick below the CPU's best is a fallback, tried
         * after the better cores; a pick at the best is self-tested here. */
        if (cand[0][0] != '\0') {
            reexec(argv, cand[0], orig, 1);
            /* execv failed: go on with OpenBLAS's pick. */
        }
        next = 1;
    }
    g_info.selftest_passed = op_blas_selftest(msg, sizeof msg);
    if (g_info.selftest_passed) {
        /* Which candidate passed: OpenBLAS's own pick (the variable unset),
         * a better core (a fallback upgraded) or a lower one (the pick and
         * every better core failed). */
        int te = state && env_core && *env_core ? tier_of(env_core) : -2;
        int to = tier_of(orig);
        g_info.selection = te == -2                         ? OP_BLAS_OPENBLAS
                           : (to >= 0 && te >= 0 && te < to) ? OP_BLAS_UPGRADED
                                                             : OP_BLAS_REPLACED;
        unsetenv("OVERPARAM_BLAS_STATE");
        return OP_OK;
    }
    append_failed(g_info.in_use);
    if (next < n_cand)
        reexec(argv, cand[next], orig, next + 1);
    return op_error(OP_ERR_INTERNAL, "no OpenBLAS core passes the BLAS "
                    "self-test on this CPU (failed: %s; last: %s); set "
                    "OVERPARAM_BLAS=keep to run anyway", g_info.failed, msg);
}

void op_blas_selection_string(const op_blas_info *info, char *buf, size_t len)
{
    switch (info->selection) {
    case OP_BLAS_KEPT: snprintf(buf, len, "kept (OVERPARAM_BLAS=keep)"); break;
    case OP_BLAS_OPENBLAS: snprintf(buf, len, "openblas"); break;
    case OP_BLAS_ENVIRONMENT: snprintf(buf, len, "environment"); break;
    case OP_BLAS_UPGRADED:
        snprintf(buf, len, "upgraded from %s", info->openblas_pick);
        break;
    case OP_BLAS_REPLACED:
        snprintf(buf, len, "replaced %s (failed the self-test: %s)",
                 info->openblas_pick, info->failed);
        break;
    }
}

void op_blas_describe(const op_blas_info *info, char *buf, size_t len)
{
    int best = tier_of(info->best);
    const char *isa = best >= 0 ? tiers[best].isa : "?";
    const char *test = info->selftest_passed == 1   ? "self-test passed"
                       : info->selftest_passed == 0 ? "self-test FAILED"
                                                    : "not self-tested";
    switch (info->selection) {
    case OP_BLAS_UPGRADED:
        snprintf(buf, len, "OpenBLAS fell back to its %s kernels on a CPU "
                 "with %s; using %s (%s%s%s)", info->openblas_pick, isa,
                 info->in_use, test, info->failed[0] ? "; failed: " : "",
                 info->failed);
        break;
    case OP_BLAS_REPLACED:
        snprintf(buf, len, "OpenBLAS's %s kernels failed the BLAS self-test "
                 "(%s); using %s (%s)", info->openblas_pick, info->failed,
                 info->in_use, test);
        break;
    default: {
        char sel[64];
        op_blas_selection_string(info, sel, sizeof sel);
        snprintf(buf, len, "OpenBLAS core %s (%s; CPU best %s; %s%s%s)",
                 info->in_use, sel, info->best, test,
                 info->failed[0] ? "; failed: " : "", info->failed);
    }
    }
}
