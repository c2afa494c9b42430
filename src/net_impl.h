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
    NI_DELTAS = 8,     /* only the per-layer deltas (Jacobian rows) */
    NI_VELOCITY = 16,  /* gradients into opt1 as v = mu v + g (fused SGD) */
    NI_SKIP_W0 = 32    /* no layer-0 weight gradient (a pack computes it) */
};
#endif

/* The weight decay's segments of the trainable vector, in layout order:
 * elements [off, off + len) get the L2 coefficient wd (net.h, "Weight
 * decay"). Uniform decay (or wd == 0): one segment, every trainable
 * element, wd itself, so the step is the single sweep it always was.
 * Layerwise: W_l and b_l of every trained layer, wd * wmul_l^2 and
 * wd * bmul_l^2: the gradient of (wd/2) |wmul_l W_l|^2, the penalty on
 * the effective weights (standard: wmul = bmul = 1, factors exactly 1). */
#ifndef NI_WD_DEFINED
#define NI_WD_DEFINED
typedef struct {
    long off, len; /* trainable elements (grads/opt layout) */
    double wd;     /* their L2 coefficient */
} ni_wd_seg;

static int ni_wd_segments(const op_net *net, double wd, ni_wd_seg *seg)
{
    if (net->wd_scaling != OP_WD_LAYERWISE || wd == 0) {
        seg[0] = (ni_wd_seg){0, net->n_train, wd};
        return 1;
    }
    int n = 0;
    for (int l = net->freeze_first ? 1 : 0; l < net->n_layers; l++) {
        seg[n++] = (ni_wd_seg){net->w_off[l] - net->train_off,
                               (long)net->dims[l + 1] * net->dims[l],
                               wd * net->wmul[l] * net->wmul[l]};
        if (net->b_off[l] >= 0)
            seg[n++] = (ni_wd_seg){net->b_off[l] - net->train_off,
                                   net->dims[l + 1],
                                   wd * net->bmul[l] * net->bmul[l]};
    }
    return n;
}
#endif

static void FN(init_params)(op_net *net, op_rng *rng)
{
    REAL *p = net->params;
    for (int l = 0; l < net->n_layers; l++) {
        long nw = (long)net->dims[l + 1] * net->dims[l];
        REAL *W = p + net->w_off[l];
        for (long i = 0; i < nw; i++)
            W[i] = (REAL)(net->init_std_w[l] * op_rng_normal(rng));
        if (net->b_off[l] >= 0) {
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

/* Elementwise loops run in blocks of NI_VEC with a fixed-count inner loop
 * over restrict pointers: that is the form GCC's -O2 ("very cheap")
 * vectorizer accepts, and it turns the ReLU selects into compare+mask
 * instead of a branch that mispredicts on half of the units (the scalar
 * branchy loops cost as much as the GEMMs at width 128). */
#ifndef NI_VEC
#define NI_VEC 16
/* ReLU written as 0 > x ? 0 : x so NaN passes through: a NaN weight must
 * reach the loss and mark the run diverged, not be silenced into a dead
 * unit. REAL is expanded at each use, so one definition serves both. */
#define NI_RELU(x) ((REAL)0 > (x) ? (REAL)0 : (x))
#endif

/* x = phi(x), in place, for ReLU and tanh: their derivatives need only
 * the activation, so no pre-activation buffer is kept. */
static void FN(activate_inplace)(op_activation act, REAL *restrict x,
                                 long count)
{
    if (act == OP_ACT_RELU) {
        long i = 0;
        for (; i + NI_VEC <= count; i += NI_VEC)
            for (int k = 0; k < NI_VEC; k++)
                x[i + k] = NI_RELU(x[i + k]);
        for (; i < count; i++)
            x[i] = NI_RELU(x[i]);
    } else {
        for (long i = 0; i < count; i++)
            x[i] = R_TANH(x[i]);
    }
}

/* dst = erf(src): erf's derivative needs the pre-activation, kept in src. */
static void FN(activate_erf)(const REAL *restrict src, REAL *restrict dst,
                             long count)
{
    for (long i = 0; i < count; i++)
        dst[i] = R_ERF(src[i]);
}

/* delta *= phi'(h), given a = phi(h) (ReLU: h > 0 exactly when a > 0,
 * NaN included, so only a is needed; tanh' = 1 - a^2 costs no
 * transcendental call) and h itself only for erf. */
static void FN(activate_grad)(op_activation act, const REAL *restrict h,
                              const REAL *restrict a, REAL *restrict delta,
                              long count)
{
    switch (act) {
    case OP_ACT_RELU: {
        long i = 0;
        for (; i + NI_VEC <= count; i += NI_VEC)
            for (int k = 0; k < NI_VEC; k++)
                delta[i + k] = a[i + k] > 0 ? delta[i + k] : (REAL)0;
        for (; i < count; i++)
            delta[i] = a[i] > 0 ? delta[i] : (REAL)0;
        break;
    }
    case OP_ACT_ERF: {
        const REAL c = (REAL)1.1283791670955126; /* 2/sqrt(pi) */
        for (long i = 0; i < count; i++)
            delta[i] *= c * R_EXP(-h[i] * h[i]);
        break;
    }
    case OP_ACT_TANH: {
        long i = 0;
        for (; i + NI_VEC <= count; i += NI_VEC)
            for (int k = 0; k < NI_VEC; k++)
                delta[i + k] *= (REAL)1 - a[i + k] * a[i + k];
        for (; i < count; i++)
            delta[i] *= (REAL)1 - a[i] * a[i];
        break;
    }
    }
}

/* dst[0..count) = (REAL)src, vectorized (a conversion for float). */
static void FN(round_copy)(const double *restrict src, REAL *restrict dst,
                           long count)
{
    long i = 0;
    for (; i + NI_VEC <= count; i += NI_VEC)
        for (int k = 0; k < NI_VEC; k++)
            dst[i + k] = (REAL)src[i + k];
    for (; i < count; i++)
        dst[i] = (REAL)src[i];
}

/* The layer input a_l of the last forward: for l = 0 that is either the
 * block's a_0 or, when the batch already was contiguous REAL data, the
 * caller's x itself. */
static const REAL *FN(layer_in)(const op_net *net, int l)
{
    return l == 0 ? (const REAL *)net->in : (const REAL *)net->a[l];
}

static void FN(forward_layers)(op_net *net, int l0, int n, double *out);

static void FN(forward)(op_net *net, const double *x, const int *rows, int n,
                        double *out)
{
    int d_in = net->d_in;
    REAL *a0 = net->a[0];
    if (!rows && sizeof(REAL) == sizeof(double)) {
        /* Already REAL and contiguous: the GEMMs read x in place (the
         * caller keeps x unchanged until the following backward). */
        net->in = x;
    } else {
        /* Gather and round the batch into a_0: O(n d_in), small next to
         * the GEMMs. */
        if (!rows)
            FN(round_copy)(x, a0, (long)n * d_in);
        else
            for (int i = 0; i < n; i++)
                FN(round_copy)(x + (size_t)rows[i] * d_in,
                               a0 + (size_t)i * d_in, d_in);
        net->in = a0;
    }
    FN(forward_layers)(net, 0, n, out);
}

/* Layers l0..L of the forward pass over n rows, the input of layer l0 in
 * place (l0 = 0: net->in; l0 > 0: a_l0), then f as double into out. */
static void FN(forward_layers)(op_net *net, int l0, int n, double *out)
{
    const REAL *p = net->params;
    for (int l = l0; l < net->n_layers; l++) {
        int fi = net->dims[l], fo = net->dims[l + 1];
        int last = l + 1 == net->n_layers;
        /* The GEMM writes straight into a_{l+1} and the activation runs in
         * place there, unless h_l must be kept (output layer, erf). */
        int keep_h = last || net->act == OP_ACT_ERF;
        REAL *h = keep_h ? net->h[l] : net->a[l + 1];
        REAL beta = 0;
        if (net->b_off[l] >= 0) {
            /* Broadcast bmul*b into every row, then GEMM adds onto it
             * (beta = 1 also spares OpenBLAS its zeroing pass over C). */
            const REAL *b = p + net->b_off[l];
            REAL bm = (REAL)net->bmul[l];
            for (int j = 0; j < fo; j++)
                h[j] = bm * b[j];
            for (int i = 1; i < n; i++)
                memcpy(h + (size_t)i * fo, h, (size_t)fo * sizeof(REAL));
            beta = 1;
        }
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, n, fo, fi,
             (REAL)net->wmul[l], FN(layer_in)(net, l), fi, p + net->w_off[l],
             fi, beta, h, fo);
        if (last)
            break;
        if (keep_h) /* not last: erf */
            FN(activate_erf)(h, net->a[l + 1], (long)n * fo);
        else
            FN(activate_inplace)(net->act, h, (long)n * fo);
    }
    if (out) {
        const REAL *f = net->h[net->n_layers - 1];
        long count = (long)n * net->d_out;
        for (long i = 0; i < count; i++)
            out[i] = (double)f[i];
    }
}

/* Forward from a layer-0 pre-activation computed elsewhere (a pack's shared
 * first-layer GEMM): h0[n][ld] holds wmul_0 x W_0^T + bmul_0 b_0 (the
 * first dims[1] columns of each row); it is copied where forward's own GEMM
 * would have written it and the same activation and later layers follow. */
static void FN(forward_after0)(op_net *net, const REAL *h0, long ld, int n,
                               double *out)
{
    int fo = net->dims[1];
    int last = net->n_layers == 1;
    int keep_h = last || net->act == OP_ACT_ERF;
    REAL *h = keep_h ? net->h[0] : net->a[1];
    for (int i = 0; i < n; i++)
        memcpy(h + (size_t)i * fo, h0 + (size_t)i * ld,
               (size_t)fo * sizeof(REAL));
    net->in = net->a[0]; /* not read: layer 0's weight gradient is the pack's */
    if (!last) {
        if (keep_h)
            FN(activate_erf)(h, net->a[1], (long)n * fo);
        else
            FN(activate_inplace)(net->act, h, (long)n * fo);
    }
    FN(forward_layers)(net, 1, n, out);
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
 *     d_{l-1} = (wmul_l d_l W_l) * phi'(h_{l-1}),  dx = wmul_0 d_0 W_0.
 * The parameter gradient goes to grads (beta 0, or 1 with NI_ACCUMULATE),
 * or with NI_VELOCITY straight into the momentum buffer with beta = mu,
 * i.e. v = mu v + g without a separate gradient array or update sweep. */
static void FN(backward)(op_net *net, int n, int flags, double mu)
{
    const REAL *p = net->params;
    REAL *g = net->grads;
    REAL beta = (flags & NI_ACCUMULATE) ? 1 : 0;
    if (flags & NI_VELOCITY) {
        g = net->opt1;
        beta = (REAL)mu;
    }
    /* d_0 is only needed for a trained first layer or for dx. */
    int need_d0 = !net->freeze_first || (flags & NI_INPUT);
    for (int l = net->n_layers - 1; l >= 0; l--) {
        int fi = net->dims[l], fo = net->dims[l + 1];
        const REAL *delta = net->d[l];
        int trained = l > 0 || !net->freeze_first;
        if ((flags & NI_PARAMS) && trained) {
            if (l > 0 || !(flags & NI_SKIP_W0))
                GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, fo, fi, n,
                     (REAL)net->wmul[l], delta, fo, FN(layer_in)(net, l), fi,
                     beta, g + (net->w_off[l] - net->train_off), fi);
            if (net->b_off[l] >= 0)
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
            const REAL *al = FN(layer_in)(net, l) + (size_t)i * fi;
            double *Jw = Ji + (net->w_off[l] - net->train_off);
            for (int r = 0; r < fo; r++)
                for (int c = 0; c < fi; c++)
                    Jw[(size_t)r * fi + c] =
                        net->wmul[l] * (double)dl[r] * (double)al[c];
            if (net->b_off[l] >= 0) {
                double *Jb = Ji + (net->b_off[l] - net->train_off);
                for (int r = 0; r < fo; r++)
                    Jb[r] = net->bmul[l] * (double)dl[r];
            }
        }
    }
}

/* The update loops take their arrays as restrict parameters: GCC drops
 * restrict on local pointers once inlined and then keeps these loops
 * scalar. Blocked like the activations so the -O2 vectorizer takes them.
 *     v = mu v + g + wd p; p -= lr v   (g == NULL: v already holds mu v + g)
 *     p -= lr (g + wd p)               (v == NULL: no momentum) */
static void FN(sgd_sweep)(REAL *restrict p, REAL *restrict v,
                          const REAL *restrict g, REAL lr, REAL mu, REAL wd,
                          long n)
{
    long i = 0;
    if (!v) {
        for (; i + NI_VEC <= n; i += NI_VEC)
            for (int k = 0; k < NI_VEC; k++)
                p[i + k] -= lr * (g[i + k] + wd * p[i + k]);
        for (; i < n; i++)
            p[i] -= lr * (g[i] + wd * p[i]);
    } else if (g) {
        for (; i + NI_VEC <= n; i += NI_VEC)
            for (int k = 0; k < NI_VEC; k++) {
                REAL vi = mu * v[i + k] + g[i + k] + wd * p[i + k];
                v[i + k] = vi;
                p[i + k] -= lr * vi;
            }
        for (; i < n; i++) {
            v[i] = mu * v[i] + g[i] + wd * p[i];
            p[i] -= lr * v[i];
        }
    } else if (wd != 0) {
        for (; i + NI_VEC <= n; i += NI_VEC)
            for (int k = 0; k < NI_VEC; k++) {
                REAL vi = v[i + k] + wd * p[i + k];
                v[i + k] = vi;
                p[i + k] -= lr * vi;
            }
        for (; i < n; i++) {
            v[i] += wd * p[i];
            p[i] -= lr * v[i];
        }
    } else {
        /* v is final already: p is the only array written */
        for (; i + NI_VEC <= n; i += NI_VEC)
            for (int k = 0; k < NI_VEC; k++)
                p[i + k] -= lr * v[i + k];
        for (; i < n; i++)
            p[i] -= lr * v[i];
    }
}

/* Trainable elements whose weights live at w0/g0 instead (a pack's
 * concatenated first layer): layer 0's W, the first trainable ones. */
static long FN(n_w0)(const op_net *net, const void *w0)
{
    return w0 && !net->freeze_first ? (long)net->dims[1] * net->dims[0] : 0;
}

/* sgd_sweep over trainable elements [off, off + len) with decay wd, the
 * part below n0 at w0/g0 (the same elements, stored elsewhere). */
static void FN(sgd_range)(REAL *p, REAL *v, const REAL *g, REAL *w0,
                          const REAL *g0, long n0, long off, long len,
                          REAL lr, REAL mu, REAL wd)
{
    if (off < n0) {
        long k = len < n0 - off ? len : n0 - off;
        FN(sgd_sweep)(w0 + off, v ? v + off : NULL, g0 ? g0 + off : NULL, lr,
                      mu, wd, k);
        off += k;
        len -= k;
    }
    if (len > 0)
        FN(sgd_sweep)(p + off, v ? v + off : NULL, g ? g + off : NULL, lr, mu,
                      wd, len);
}

/* The step, with layer 0's W (n0 elements) at w0/g0 when n0 > 0, over the
 * decay's segments (one for uniform decay, one per W_l and b_l for
 * layerwise: ni_wd_segments): element by element the same operations, so
 * splitting the sweep changes nothing. */
static void FN(sgd_step)(op_net *net, double lr, double momentum, double wd,
                         REAL *w0, const REAL *g0)
{
    int mom = momentum != 0 && net->opt_slots >= 1;
    REAL *p = (REAL *)net->params + net->train_off;
    REAL *v = mom ? (REAL *)net->opt1 : NULL;
    const REAL *g = net->grads;
    long n0 = FN(n_w0)(net, w0);
    ni_wd_seg seg[2 * OP_NET_LAYERS_MAX];
    int ns = ni_wd_segments(net, wd, seg);
    for (int s = 0; s < ns; s++)
        FN(sgd_range)(p, v, g, w0, g0, n0, seg[s].off, seg[s].len, (REAL)lr,
                      (REAL)momentum, (REAL)seg[s].wd);
    net->step++;
}

/* The rest of a fused SGD-momentum step once backward(NI_VELOCITY) left
 * v = mu v + g in opt1: v += wd p; p -= lr v. The same operations in the
 * same order as sgd_step, one sweep over v and p and none over grads. */
static void FN(velocity_step)(op_net *net, double lr, double wd)
{
    ni_wd_seg seg[2 * OP_NET_LAYERS_MAX];
    int ns = ni_wd_segments(net, wd, seg);
    for (int s = 0; s < ns; s++)
        FN(sgd_range)((REAL *)net->params + net->train_off, net->opt1, NULL,
                      NULL, NULL, 0, seg[s].off, seg[s].len, (REAL)lr, 0,
                      (REAL)seg[s].wd);
    net->step++;
}

static void FN(adam_sweep)(REAL *p, const REAL *g, REAL *m, REAL *v, long n,
                           REAL step, REAL reps, REAL rb1, REAL rb2, REAL rwd)
{
    for (long i = 0; i < n; i++) {
        REAL gi = g[i] + rwd * p[i];
        m[i] = rb1 * m[i] + ((REAL)1 - rb1) * gi;
        v[i] = rb2 * v[i] + ((REAL)1 - rb2) * gi * gi;
        p[i] -= step * m[i] / (R_SQRT(v[i]) + reps);
    }
}

static void FN(adam_step)(op_net *net, double lr, double b1, double b2,
                          double eps, double wd, REAL *w0, const REAL *g0)
{
    REAL *p = (REAL *)net->params + net->train_off;
    REAL *g = net->grads, *m = net->opt1, *v = net->opt2;
    long t = ++net->step;
    /* Bias corrections folded into the step size and epsilon. */
    double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
    REAL step = (REAL)(lr * sqrt(c2) / c1), reps = (REAL)(eps * sqrt(c2));
    REAL rb1 = (REAL)b1, rb2 = (REAL)b2;
    long n0 = FN(n_w0)(net, w0);
    ni_wd_seg seg[2 * OP_NET_LAYERS_MAX];
    int ns = ni_wd_segments(net, wd, seg);
    for (int s = 0; s < ns; s++) {
        long off = seg[s].off, len = seg[s].len;
        REAL rwd = (REAL)seg[s].wd;
        if (off < n0) {
            long k = len < n0 - off ? len : n0 - off;
            FN(adam_sweep)(w0 + off, g0 + off, m + off, v + off, k, step,
                           reps, rb1, rb2, rwd);
            off += k;
            len -= k;
        }
        if (len > 0)
            FN(adam_sweep)(p + off, g + off, m + off, v + off, len, step,
                           reps, rb1, rb2, rwd);
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
