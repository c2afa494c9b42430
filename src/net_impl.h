/* net_impl.h — the precision-generic body of the network (forward, backward,
 * optimizer steps, copies). Included twice by net.c, once per REAL:
 *     REAL   float | double           SFX    f | d (function suffix)
 *     GEMM   cblas_sgemm | dgemm      GEMV   cblas_sgemv | dgemv
 *     R_EXP, R_TANH, R_ERF, R_SQRT    the libm function of that precision
 * so the numerical code exists once. Every function here is static and gets
 * the suffix; net.c dispatches on net->precision. Layout: see net.h. */

#define NI_CAT2(a, b) a##_##b
#define NI_CAT(a, b) NI_CAT2(a, b)
#define FN(name) NI_CAT(name, SFX)

/* Backward flags: which results the pass must produce. */
#ifndef NI_FLAGS_DEFINED
#define NI_FLAGS_DEFINED
enum {
    NI_PARAMS = 1,     /* parameter gradients into grads */
    NI_INPUT = 2,      /* dLoss/dx into dx */
    NI_ACCUMULATE = 4, /* add into grads instead of overwriting */
    NI_DELTAS = 8      /* only the per-layer deltas (Jacobian rows) */
};
#endif

static void FN(init_params)(op_net *net, op_rng *rng)
{
    REAL *p = net->params;
    for (int l = 0; l < net->n_layers; l++) {
        long nw = (long)net->dims[l + 1] * net->dims[l];
        REAL *W = p + net->w_off[l];
        for (long i = 0; i < nw; i++)
            W[i] = (REAL)(net->init_std_w[l] * op_rng_normal(rng));
        if (net->has_bias) {
            REAL *b = p + net->b_off[l];
            for (int i = 0; i < net->dims[l + 1]; i++)
                b[i] = (REAL)(net->init_std_b[l] * op_rng_normal(rng));
        }
    }
    /* Optimizer state must start at zero for every run; gradients are
     * overwritten by the first backward but zeroing keeps them defined. */
    size_t bytes = (size_t)net->n_train * sizeof(REAL);
    memset(net->grads, 0, bytes);
    if (net->opt_slots >= 1)
        memset(net->opt1, 0, bytes);
    if (net->opt_slots >= 2)
        memset(net->opt2, 0, bytes);
    net->step = 0;
}

/* Applies phi elementwise: dst = phi(src), count values. */
static void FN(activate)(op_activation act, const REAL *src, REAL *dst,
                         long count)
{
    switch (act) {
    case OP_ACT_RELU:
        /* written so NaN passes through: a NaN weight must reach the loss
         * and mark the run diverged, not be silenced into a dead unit */
        for (long i = 0; i < count; i++)
            dst[i] = src[i] < 0 ? (REAL)0 : src[i];
        break;
    case OP_ACT_ERF:
        for (long i = 0; i < count; i++)
            dst[i] = R_ERF(src[i]);
        break;
    case OP_ACT_TANH:
        for (long i = 0; i < count; i++)
            dst[i] = R_TANH(src[i]);
        break;
    }
}

/* delta *= phi'(h), with a = phi(h) available so tanh' = 1 - a^2 costs no
 * transcendental call. */
static void FN(activate_grad)(op_activation act, const REAL *h, const REAL *a,
                              REAL *delta, long count)
{
    switch (act) {
    case OP_ACT_RELU:
        for (long i = 0; i < count; i++)
            delta[i] = h[i] > 0 ? delta[i] : (REAL)0;
        break;
    case OP_ACT_ERF: {
        const REAL c = (REAL)1.1283791670955126; /* 2/sqrt(pi) */
        for (long i = 0; i < count; i++)
            delta[i] *= c * R_EXP(-h[i] * h[i]);
        break;
    }
    case OP_ACT_TANH:
        for (long i = 0; i < count; i++)
            delta[i] *= (REAL)1 - a[i] * a[i];
        break;
    }
}

static void FN(forward)(op_net *net, const double *x, const int *rows, int n,
                        double *out)
{
    const REAL *p = net->params;
    int d_in = net->d_in;
    REAL *a0 = net->a[0];
    /* Gather and round the batch into a_0; the only per-sample loop, and it
     * is a copy (O(n d_in), small next to the GEMMs). */
    for (int i = 0; i < n; i++) {
        const double *xi = x + (size_t)(rows ? rows[i] : i) * d_in;
        REAL *ai = a0 + (size_t)i * d_in;
        for (int j = 0; j < d_in; j++)
            ai[j] = (REAL)xi[j];
    }
    for (int l = 0; l < net->n_layers; l++) {
        int fi = net->dims[l], fo = net->dims[l + 1];
        REAL *h = net->h[l];
        REAL beta = 0;
        if (net->has_bias) {
            /* Broadcast bmul*b into every row, then GEMM adds onto it. */
            const REAL *b = p + net->b_off[l];
            REAL bm = (REAL)net->bmul[l];
            for (int j = 0; j < fo; j++)
                h[j] = bm * b[j];
            for (int i = 1; i < n; i++)
                memcpy(h + (size_t)i * fo, h, (size_t)fo * sizeof(REAL));
            beta = 1;
        }
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, n, fo, fi,
             (REAL)net->wmul[l], net->a[l], fi, p + net->w_off[l], fi, beta,
             h, fo);
        if (l + 1 < net->n_layers)
            FN(activate)(net->act, h, net->a[l + 1], (long)n * fo);
    }
    if (out) {
        const REAL *f = net->h[net->n_layers - 1];
        long count = (long)n * net->d_out;
        for (long i = 0; i < count; i++)
            out[i] = (double)f[i];
    }
}

/* Sets the output delta d_L from gout[n][d_out] (double), or to the unit
 * vector e_o in every row when gout == NULL. */
static void FN(set_gout)(op_net *net, const double *gout, int o, int n)
{
    REAL *dL = net->d[net->n_layers - 1];
    long count = (long)n * net->d_out;
    if (gout) {
        for (long i = 0; i < count; i++)
            dL[i] = (REAL)gout[i];
    } else {
        memset(dL, 0, (size_t)count * sizeof(REAL));
        for (int i = 0; i < n; i++)
            dL[(size_t)i * net->d_out + o] = 1;
    }
}

/* Backward from d_L (set by set_gout) over n samples, as GEMMs:
 *     dW_l = wmul_l d_l^T a_l,  db_l = bmul_l d_l^T 1,
 *     d_{l-1} = (wmul_l d_l W_l) * phi'(h_{l-1}),  dx = wmul_0 d_0 W_0. */
static void FN(backward)(op_net *net, int n, int flags)
{
    const REAL *p = net->params;
    REAL *g = net->grads;
    REAL beta = (flags & NI_ACCUMULATE) ? 1 : 0;
    /* d_0 is only needed for a trained first layer or for dx. */
    int need_d0 = !net->freeze_first || (flags & NI_INPUT);
    for (int l = net->n_layers - 1; l >= 0; l--) {
        int fi = net->dims[l], fo = net->dims[l + 1];
        const REAL *delta = net->d[l];
        int trained = l > 0 || !net->freeze_first;
        if ((flags & NI_PARAMS) && trained) {
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, fo, fi, n,
                 (REAL)net->wmul[l], delta, fo, net->a[l], fi, beta,
                 g + (net->w_off[l] - net->train_off), fi);
            if (net->has_bias)
                GEMV(CblasRowMajor, CblasTrans, n, fo, (REAL)net->bmul[l],
                     delta, fo, net->ones, 1, beta,
                     g + (net->b_off[l] - net->train_off), 1);
        }
        if (l > 0 && (l > 1 || need_d0)) {
            REAL *dprev = net->d[l - 1];
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, fi, fo,
                 (REAL)net->wmul[l], delta, fo, p + net->w_off[l], fi, 0,
                 dprev, fi);
            FN(activate_grad)(net->act, net->h[l - 1], net->a[l], dprev,
                              (long)n * fi);
        } else if (l == 0 && (flags & NI_INPUT)) {
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, fi, fo,
                 (REAL)net->wmul[0], delta, fo, p + net->w_off[0], fi, 0,
                 net->dx, fi);
        }
    }
}

/* Rows i of dx into J[i*stride .. +d_in) (input Jacobian). */
static void FN(dx_copy)(const op_net *net, int n, double *J, long stride)
{
    const REAL *dx = net->dx;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < net->d_in; j++)
            J[(size_t)i * stride + j] = (double)dx[(size_t)i * net->d_in + j];
}

/* Per-sample parameter gradients from the deltas of a NI_DELTAS backward:
 * row i of J[n][n_train] = (wmul_l d_l[i] (x) a_l[i], bmul_l d_l[i]) per
 * trained layer. A per-sample loop, but this is measurement code. */
static void FN(param_rows)(const op_net *net, int n, double *J)
{
    for (int i = 0; i < n; i++) {
        double *Ji = J + (size_t)i * net->n_train;
        for (int l = net->freeze_first ? 1 : 0; l < net->n_layers; l++) {
            int fi = net->dims[l], fo = net->dims[l + 1];
            const REAL *dl = (const REAL *)net->d[l] + (size_t)i * fo;
            const REAL *al = (const REAL *)net->a[l] + (size_t)i * fi;
            double *Jw = Ji + (net->w_off[l] - net->train_off);
            for (int r = 0; r < fo; r++)
                for (int c = 0; c < fi; c++)
                    Jw[(size_t)r * fi + c] =
                        net->wmul[l] * (double)dl[r] * (double)al[c];
            if (net->has_bias) {
                double *Jb = Ji + (net->b_off[l] - net->train_off);
                for (int r = 0; r < fo; r++)
                    Jb[r] = net->bmul[l] * (double)dl[r];
            }
        }
    }
}

static void FN(sgd_step)(op_net *net, double lr, double momentum, double wd)
{
    REAL *p = (REAL *)net->params + net->train_off;
    REAL *g = net->grads, *v = net->opt1;
    REAL rlr = (REAL)lr, rmu = (REAL)momentum, rwd = (REAL)wd;
    long n = net->n_train;
    if (momentum != 0 && net->opt_slots >= 1) {
        for (long i = 0; i < n; i++) {
            v[i] = rmu * v[i] + g[i] + rwd * p[i];
            p[i] -= rlr * v[i];
        }
    } else {
        for (long i = 0; i < n; i++)
            p[i] -= rlr * (g[i] + rwd * p[i]);
    }
    net->step++;
}

static void FN(adam_step)(op_net *net, double lr, double b1, double b2,
                          double eps, double wd)
{
    REAL *p = (REAL *)net->params + net->train_off;
    REAL *g = net->grads, *m = net->opt1, *v = net->opt2;
    long t = ++net->step;
    /* Bias corrections folded into the step size and epsilon. */
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    REAL step = (REAL)(lr * sqrt(c2) / c1), reps = (REAL)(eps * sqrt(c2));
    REAL rb1 = (REAL)b1, rb2 = (REAL)b2, rwd = (REAL)wd;
    long n = net->n_train;
    for (long i = 0; i < n; i++) {
        REAL gi = g[i] + rwd * p[i];
        m[i] = rb1 * m[i] + ((REAL)1 - rb1) * gi;
        v[i] = rb2 * v[i] + ((REAL)1 - rb2) * gi * gi;
        p[i] -= step * m[i] / (R_SQRT(v[i]) + reps);
    }
}

static void FN(to_double)(const void *src, double *dst, long n)
{
    const REAL *s = src;
    for (long i = 0; i < n; i++)
        dst[i] = (double)s[i];
}

static void FN(from_double)(const double *src, void *dst, long n)
{
    REAL *d = dst;
    for (long i = 0; i < n; i++)
        d[i] = (REAL)src[i];
}

#undef FN
#undef NI_CAT
#undef NI_CAT2

/* Each inclusion defines its own precision: leave nothing behind. */
#undef REAL
#undef SFX
#undef GEMM
#undef GEMV
#undef R_EXP
#undef R_TANH
#undef R_ERF
#undef R_SQRT
