/* net.c — fully-connected network: shape and single-block storage, then the
 * precision dispatch onto the generic body in net_impl.h (instantiated for
 * float and double), and the chunked helpers measurement code uses
 * (predict, input Jacobian, per-sample parameter gradients). Contract and
 * block layout: include/overparam/net.h. */
#include "overparam/net.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REAL float
#define SFX f
#define GEMM cblas_sgemm
#define GEMV cblas_sgemv
#define R_EXP expf
#define R_TANH tanhf
#define R_ERF erff
#define R_SQRT sqrtf
#include "net_impl.h"

#define REAL double
#define SFX d
#define GEMM cblas_dgemm
#define GEMV cblas_dgemv
#define R_EXP exp
#define R_TANH tanh
#define R_ERF erf
#define R_SQRT sqrt
#include "net_impl.h"

/* One call site per operation: the float or double instance. */
#define DISPATCH(net, fn, ...)                                                \
    ((net)->precision == 4 ? fn##_f(__VA_ARGS__) : fn##_d(__VA_ARGS__))

/* Regions start on cache lines so GEMM operands are aligned and no two
 * arrays share a line. */
#define NET_ALIGN 64

static size_t align_up(size_t x) { return (x + NET_ALIGN - 1) & ~(size_t)(NET_ALIGN - 1); }

/* Parameter layout of a model; returns n_total and fills offsets. */
static long layout_params(const op_model_cfg *m, int d_in, int d_out,
                          int *dims, long *w_off, long *b_off, long *train_off)
{
    int L = m->depth;
    dims[0] = d_in;
    for (int l = 1; l <= L; l++)
        dims[l] = m->width;
    dims[L + 1] = d_out;
    long off = 0;
    for (int l = 0; l <= L; l++) {
        double w2, b2;
        int bias;
        op_model_layer(m, l, &w2, &b2, &bias);
        if (w_off)
            w_off[l] = off;
        off += (long)dims[l + 1] * dims[l];
        if (b_off)
            b_off[l] = bias ? off : -1;
        if (bias)
            off += dims[l + 1];
        if (l == 0 && train_off)
            *train_off = m->freeze_first ? off : 0;
    }
    return off;
}

long op_net_param_count(const op_model_cfg *m, int d_in, int d_out)
{
    if (m->depth < 0 || m->depth > OP_NET_LAYERS_MAX - 1)
        return -1;
    int dims[OP_NET_LAYERS_MAX + 1];
    long train_off = 0;
    long total = layout_params(m, d_in, d_out, dims, NULL, NULL, &train_off);
    return total - train_off;
}

/* Validates the shape and fills every field but the block pointers. */
static op_status net_shape(op_net *net, const op_model_cfg *m, int d_in,
                           int d_out, int precision, int batch_max,
                           int opt_slots)
{
    if (m->depth < 0 || m->depth > OP_NET_LAYERS_MAX - 1)
        return op_error(OP_ERR_INPUT, "network depth %d outside [0, %d]",
                        m->depth, OP_NET_LAYERS_MAX - 1);
    if (d_in < 1 || d_out < 1 || batch_max < 1 ||
        (m->depth > 0 && m->width < 1))
        return op_error(OP_ERR_INPUT,
                        "bad network shape d_in=%d width=%d d_out=%d batch=%d",
                        d_in, m->width, d_out, batch_max);
    if (precision != 4 && precision != 8)
        return op_error(OP_ERR_INPUT, "precision %d is not 4 or 8", precision);
    if (opt_slots < 0 || opt_slots > 2)
        return op_error(OP_ERR_INTERNAL, "opt_slots %d", opt_slots);

    net->d_in = d_in;
    net->d_out = d_out;
    net->width = m->width;
    net->depth = m->depth;
    net->n_layers = m->depth + 1;
    net->precision = precision;
    net->act = m->activation;
    net->param = m->param;
    net->freeze_first = m->freeze_first;
    net->batch_max = batch_max;
    net->opt_slots = opt_slots;
    net->n_total = layout_params(m, d_in, d_out, net->dims, net->w_off,
                                 net->b_off, &net->train_off);
    net->n_train = net->n_total - net->train_off;
    net->has_bias = net->b_off[0] >= 0;

    int L = m->depth;
    for (int l = 0; l <= L; l++) {
        double s = m->init_scale;
        if (l == 0)
            s *= m->init_scale_first;
        if (l == L)
            s *= m->init_scale_last;
        double fan_in = net->dims[l];
        /* the readout (l == L) may have its own variances and bias */
        double w2, b2;
        int bias;
        op_model_layer(m, l, &w2, &b2, &bias);
        if (m->param == OP_PARAM_STANDARD) {
            net->init_std_w[l] = s * sqrt(w2 / fan_in);
            net->init_std_b[l] = s * sqrt(b2);
            net->wmul[l] = 1.0;
            net->bmul[l] = 1.0;
        } else {
            net->init_std_w[l] = s;
            net->init_std_b[l] = s;
            net->wmul[l] = sqrt(w2 / fan_in);
            net->bmul[l] = sqrt(b2);
        }
    }

    return OP_OK;
}

/* Points the arrays into the block at `base` (NULL: sizes only); returns
 * the block's size in bytes. */
static size_t net_carve(op_net *net, char *base)
{
    size_t es = (size_t)net->precision, B = (size_t)net->batch_max;
    int L = net->depth;
    size_t off = 0;
#define CARVE(ptr, count)                                                     \
    do {                                                                      \
        ptr = base ? base + off : NULL;                                       \
        off = align_up(off + (size_t)(count) * es);                           \
    } while (0)
    CARVE(net->params, net->n_total);
    CARVE(net->grads, net->n_train);
    CARVE(net->opt1, net->opt_slots >= 1 ? net->n_train : 0);
    CARVE(net->opt2, net->opt_slots >= 2 ? net->n_train : 0);
    CARVE(net->ones, B);
    for (int l = 0; l <= L; l++) {
        CARVE(net->a[l], B * net->dims[l]);
        /* Only erf and the output layer keep h (see net.h). */
        int keep_h = l == L || net->act == OP_ACT_ERF;
        CARVE(net->h[l], keep_h ? B * net->dims[l + 1] : 0);
        if (!keep_h)
            net->h[l] = NULL;
        CARVE(net->d[l], B * net->dims[l + 1]);
    }
    CARVE(net->dx, B * net->d_in);
#undef CARVE
    return off;
}

size_t op_net_block_bytes(const op_model_cfg *m, int d_in, int d_out,
                          int precision, int batch_max, int opt_slots)
{
    op_net tmp;
    memset(&tmp, 0, sizeof tmp);
    if (net_shape(&tmp, m, d_in, d_out, precision, batch_max, opt_slots) !=
        OP_OK)
        return 0;
    return net_carve(&tmp, NULL);
}

op_status op_net_setup(op_net *net, const op_model_cfg *m, int d_in,
                       int d_out, int precision, int batch_max, int opt_slots)
{
    void *block = net->block;
    size_t capacity = net->capacity;
    memset(net, 0, sizeof *net);
    net->block = block;
    net->capacity = capacity;
    op_status st = net_shape(net, m, d_in, d_out, precision, batch_max,
                             opt_slots);
    if (st != OP_OK)
        return st;

    size_t off = net_carve(net, NULL);
    net->block_bytes = off;
    if (off > net->capacity) {
        /* Too small: replace. A fitting block is kept as is, so the next
         * run of the same (or a smaller) shape touches no new pages. */
        free(net->block);
        net->block = NULL;
        net->capacity = 0;
        void *p = NULL;
        if (posix_memalign(&p, NET_ALIGN, off) != 0)
            return op_error(OP_ERR_NOMEM, "network block of %zu bytes refused",
                            off);
        net->block = p;
        net->capacity = off;
    }
    net_carve(net, net->block);
    size_t B = (size_t)batch_max;
    if (precision == 4)
        for (size_t i = 0; i < B; i++)
            ((float *)net->ones)[i] = 1.0f;
    else
        for (size_t i = 0; i < B; i++)
            ((double *)net->ones)[i] = 1.0;
    return OP_OK;
}

void op_net_free(op_net *net)
{
    free(net->block);
    memset(net, 0, sizeof *net);
}

void op_net_init_params(op_net *net, op_rng *rng)
{
    DISPATCH(net, init_params, net, rng);
}

void op_net_forward(op_net *net, const double *x, const int *rows, int n,
                    double *out)
{
    DISPATCH(net, forward, net, x, rows, n, out);
}

void op_net_backward(op_net *net, const double *gout, int n, int accumulate)
{
    DISPATCH(net, set_gout, net, gout, 0, n);
    DISPATCH(net, backward, net, n,
             NI_PARAMS | (accumulate ? NI_ACCUMULATE : 0), 0.0);
}

void op_net_backward_sgd(op_net *net, const double *gout, int n, double lr,
                         double momentum, double wd)
{
    if (momentum == 0 || net->opt_slots < 1) {
        /* no velocity to write into: the plain pair does the same */
        op_net_backward(net, gout, n, 0);
        op_net_sgd_step(net, lr, momentum, wd);
        return;
    }
    DISPATCH(net, set_gout, net, gout, 0, n);
    DISPATCH(net, backward, net, n, NI_PARAMS | NI_VELOCITY, momentum);
    DISPATCH(net, velocity_step, net, lr, wd);
}

void op_net_forward_after0(op_net *net, const void *h0, long ld, int n,
                           double *out)
{
    DISPATCH(net, forward_after0, net, h0, ld, n, out);
}

void op_net_backward_skip0(op_net *net, const double *gout, int n,
                           int accumulate)
{
    DISPATCH(net, set_gout, net, gout, 0, n);
    DISPATCH(net, backward, net, n,
             NI_PARAMS | NI_SKIP_W0 | (accumulate ? NI_ACCUMULATE : 0), 0.0);
}

void op_net_set_wd_scaling(op_net *net, op_wd_scaling s)
{
    net->wd_scaling = s;
}

void op_net_sgd_step(op_net *net, double lr, double momentum, double wd)
{
    DISPATCH(net, sgd_step, net, lr, momentum, wd, NULL, NULL);
}

void op_net_sgd_step_w0(op_net *net, double lr, double momentum, double wd,
                        void *w0, const void *g0)
{
    DISPATCH(net, sgd_step, net, lr, momentum, wd, w0, g0);
}

void op_net_adam_step_w0(op_net *net, double lr, double beta1, double beta2,
                         double eps, double wd, void *w0, const void *g0)
{
    DISPATCH(net, adam_step, net, lr, beta1, beta2, eps, wd, w0, g0);
}

void op_net_adam_step(op_net *net, double lr, double beta1, double beta2,
                      double eps, double wd)
{
    DISPATCH(net, adam_step, net, lr, beta1, beta2, eps, wd, NULL, NULL);
}

void op_net_predict(op_net *net, const double *x, long n, double *out)
{
    for (long s = 0; s < n; s += net->batch_max) {
        int c = (int)(n - s < net->batch_max ? n - s : net->batch_max);
        op_net_forward(net, x + (size_t)s * net->d_in, NULL, c,
                       out + (size_t)s * net->d_out);
    }
}

void op_net_input_jacobian(op_net *net, const double *x, long n, double *J)
{
    long stride = (long)net->d_out * net->d_in;
    for (long s = 0; s < n; s += net->batch_max) {
        int c = (int)(n - s < net->batch_max ? n - s : net->batch_max);
        op_net_forward(net, x + (size_t)s * net->d_in, NULL, c, NULL);
        /* One backward per output: the forward activations are reused. */
        for (int o = 0; o < net->d_out; o++) {
            DISPATCH(net, set_gout, net, NULL, o, c);
            DISPATCH(net, backward, net, c, NI_INPUT, 0.0);
            DISPATCH(net, dx_copy, net, c,
                     J + (size_t)s * stride + (size_t)o * net->d_in, stride);
        }
    }
}

void op_net_param_jacobian(op_net *net, const double *x, long n, int o,
                           double *J)
{
    for (long s = 0; s < n; s += net->batch_max) {
        int c = (int)(n - s < net->batch_max ? n - s : net->batch_max);
        op_net_forward(net, x + (size_t)s * net->d_in, NULL, c, NULL);
        DISPATCH(net, set_gout, net, NULL, o, c);
        DISPATCH(net, backward, net, c, NI_DELTAS, 0.0);
        DISPATCH(net, param_rows, net, c, J + (size_t)s * net->n_train);
    }
}

void op_net_output_deltas(op_net *net, int o, int n)
{
    DISPATCH(net, set_gout, net, NULL, o, n);
    DISPATCH(net, backward, net, n, NI_DELTAS, 0.0);
}

void op_net_params_copy(const op_net *net, double *out)
{
    DISPATCH(net, to_double, net->params, out, net->n_total);
}

void op_net_params_load(op_net *net, const double *in)
{
    DISPATCH(net, from_double, in, net->params, net->n_total);
}

void op_net_grads_copy(const op_net *net, double *out)
{
    DISPATCH(net, to_double, net->grads, out, net->n_train);
}

void op_net_layer_copy(const op_net *net, int l, double *W, double *b)
{
    size_t es = (size_t)net->precision;
    const char *p = net->params;
    if (W)
        DISPATCH(net, to_double, p + (size_t)net->w_off[l] * es, W,
                 (long)net->dims[l + 1] * net->dims[l]);
    if (b && net->b_off[l] >= 0)
        DISPATCH(net, to_double, p + (size_t)net->b_off[l] * es, b,
                 net->dims[l + 1]);
}
