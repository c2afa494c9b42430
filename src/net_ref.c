/* net_ref.c — naive reference of the network (hpcg style): triple loops in
 * double, one sample at a time, written straight from the equations in
 * net.h and sharing no numerical code with the GEMM version, so tests can
 * hold the fast path against it; and the weight decay's gradient per
 * parameter (net.h, "Weight decay"). Not for production use. */
#include "overparam/net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double ref_phi(op_activation act, double h)
{
    switch (act) {
    case OP_ACT_RELU: return h > 0 ? h : 0;
    case OP_ACT_ERF: return erf(h);
    case OP_ACT_TANH: return tanh(h);
    }
    return NAN;
}

static double ref_dphi(op_activation act, double h)
{
    switch (act) {
    case OP_ACT_RELU: return h > 0 ? 1 : 0;
    case OP_ACT_ERF: return 1.1283791670955126 * exp(-h * h) /* 2/sqrt(pi) */;
    case OP_ACT_TANH: {
        double t = tanh(h);
        return 1 - t * t;
    }
    }
    return NAN;
}

void op_net_reference(const op_net *net, const double *params,
                      const double *x, int n, double *out,
                      const double *gout, double *grad)
{
    int L = net->n_layers - 1;
    /* Per-sample pre-activations h[l][.] and activations a[l][.]. */
    int wmax = net->d_in;
    for (int l = 0; l <= L + 1; l++)
        if (net->dims[l] > wmax)
            wmax = net->dims[l];
    double *a = calloc((size_t)(L + 2) * wmax, sizeof(double));
    double *h = calloc((size_t)(L + 1) * wmax, sizeof(double));
    double *dl = calloc((size_t)wmax, sizeof(double));
    double *dp = calloc((size_t)wmax, sizeof(double));
    if (grad)
        memset(grad, 0, (size_t)net->n_train * sizeof(double));
    for (int s = 0; s < n; s++) {
        for (int j = 0; j < net->d_in; j++)
            a[j] = x[(size_t)s * net->d_in + j];
        for (int l = 0; l <= L; l++) {
            int fi = net->dims[l], fo = net->dims[l + 1];
            const double *W = params + net->w_off[l];
            for (int r = 0; r < fo; r++) {
                double acc = 0;
                for (int c = 0; c < fi; c++)
                    acc += W[(size_t)r * fi + c] * a[(size_t)l * wmax + c];
                acc *= net->wmul[l];
                if (net->b_off[l] >= 0)
                    acc += net->bmul[l] * params[net->b_off[l] + r];
                h[(size_t)l * wmax + r] = acc;
                a[(size_t)(l + 1) * wmax + r] =
                    l < L ? ref_phi(net->act, acc) : acc;
            }
        }
        for (int o = 0; o < net->d_out; o++)
            out[(size_t)s * net->d_out + o] = h[(size_t)L * wmax + o];
        if (!gout)
            continue;
        for (int o = 0; o < net->d_out; o++)
            dl[o] = gout[(size_t)s * net->d_out + o];
        for (int l = L; l >= 0; l--) {
            int fi = net->dims[l], fo = net->dims[l + 1];
            const double *W = params + net->w_off[l];
            if (l > 0 || !net->freeze_first) {
                double *gW = grad + (net->w_off[l] - net->train_off);
                for (int r = 0; r < fo; r++)
                    for (int c = 0; c < fi; c++)
                        gW[(size_t)r * fi + c] += net->wmul[l] * dl[r] *
                                                  a[(size_t)l * wmax + c];
                if (net->b_off[l] >= 0)
                    for (int r = 0; r < fo; r++)
                        grad[net->b_off[l] - net->train_off + r] +=
                            net->bmul[l] * dl[r];
            }
            if (l == 0)
                break;
            for (int c = 0; c < fi; c++) {
                double acc = 0;
                for (int r = 0; r < fo; r++)
                    acc += dl[r] * W[(size_t)r * fi + c];
                dp[c] = net->wmul[l] * acc *
                        ref_dphi(net->act, h[(size_t)(l - 1) * wmax + c]);
            }
            memcpy(dl, dp, (size_t)fi * sizeof(double));
        }
    }
    free(a);
    free(h);
    free(dl);
    free(dp);
}

double op_net_reference_decay(const op_net *net, const double *params,
                              double wd, double *grad)
{
    int lw = net->wd_scaling == OP_WD_LAYERWISE;
    double pen = 0;
    for (int l = net->freeze_first ? 1 : 0; l < net->n_layers; l++) {
        /* the effective weight is wmul * W: its squared norm */
        double cw = lw ? wd * net->wmul[l] * net->wmul[l] : wd;
        double cb = lw ? wd * net->bmul[l] * net->bmul[l] : wd;
        long nw = (long)net->dims[l + 1] * net->dims[l];
        for (long i = 0; i < nw; i++) {
            double p = params[net->w_off[l] + i];
            grad[net->w_off[l] - net->train_off + i] += cw * p;
            pen += 0.5 * cw * p * p;
        }
        if (net->b_off[l] < 0)
            continue;
        for (int r = 0; r < net->dims[l + 1]; r++) {
            double p = params[net->b_off[l] + r];
            grad[net->b_off[l] - net->train_off + r] += cb * p;
            pen += 0.5 * cb * p * p;
        }
    }
    return pen;
}
