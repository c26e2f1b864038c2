/* demo.c - a tiny tour of libast from C: dataset, network, logits, loss, gradient,
 * Hessian-vector product, evaluation with a progress callback, and error handling.
 *
 *   scripts/build-lib.sh
 *   gcc -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude examples/c/demo.c \
 *       -Lbuild/lib -last -lm -Wl,-rpath,"$PWD/build/lib" -o build/bin/demo && build/bin/demo
 */
#include "common.h"

#include <string.h>

#define N 6          /* images */
#define PIXELS 64    /* 1 x 8 x 8 */
#define CLASSES 3

static double norm2(const float *v, int64_t n) {
    double s = 0;
    int64_t i;
    for (i = 0; i < n; i++) s += (double)v[i] * (double)v[i];
    return sqrt(s);
}

struct progress_log {
    int calls;
    int64_t cancel_at; /* 0: never cancel */
};

static int32_t on_progress(const ast_progress *p, void *user_data) {
    struct progress_log *log = (struct progress_log *)user_data;
    log->calls++;
    printf("demo: progress stage %d: %lld/%lld images, running loss %.4f\n", (int)p->stage,
           (long long)p->step, (long long)p->total, p->loss);
    return (log->cancel_at > 0 && p->step >= log->cancel_at) ? 1 : 0;
}

int main(void) {
    float images[N * PIXELS];
    int32_t labels[N] = {0, 1, 2, 2, 1, 0};
    ast_dataset *ds = NULL;
    ast_network *net = NULL;
    int64_t p = 0, tensors = 0, i;
    float *theta, *grad, *hv, *v;
    float logits[2 * CLASSES], loss = 0;
    double eval_loss = 0, accuracy = 0;
    struct progress_log log = {0, 0};
    ast_status st;
    const char *fingerprint = NULL;

    if (ast_abi_version() != AST_ABI_VERSION) {
        fprintf(stderr, "demo: libast ABI %d, header ABI %d\n", ast_abi_version(), AST_ABI_VERSION);
        return 1;
    }
    printf("demo: libast %s (version number %d)\n", ast_version_string(), ast_version_number());

    fill_random(images, N * PIXELS, 1);
    CHECK(ast_dataset_create(images, N * PIXELS, labels, AST_LABELS_INT32, N, N, 1, 8, 8, CLASSES, &ds));
    CHECK(ast_dataset_fingerprint(ds, &fingerprint));
    printf("demo: dataset of %d images, fingerprint %.16s...\n", N, fingerprint);

    CHECK(make_network(4, &net));
    CHECK(ast_network_parameter_count(net, &p));
    CHECK(ast_network_tensor_count(net, &tensors));
    printf("demo: network with %lld parameters in %lld tensors\n", (long long)p, (long long)tensors);
    for (i = 0; i < tensors; i++) {
        const char *name = NULL;
        int64_t offset = 0, count = 0, shape[AST_MAX_TENSOR_RANK] = {0};
        int32_t rank = 0, d;
        CHECK(ast_network_tensor(net, i, &name, &offset, &count, &rank, shape, AST_MAX_TENSOR_RANK));
        printf("demo:   %-18s offset %4lld  shape", name, (long long)offset);
        for (d = 0; d < rank; d++) printf(" %lld", (long long)shape[d]);
        printf("\n");
    }

    theta = malloc((size_t)p * sizeof(float));
    grad = malloc((size_t)p * sizeof(float));
    hv = malloc((size_t)p * sizeof(float));
    v = malloc((size_t)p * sizeof(float));
    if (!theta || !grad || !hv || !v) return 1;
    CHECK(ast_network_init_parameters(net, 42, theta, p));

    CHECK(ast_network_logits(net, theta, p, images, 2 * PIXELS, 2, logits, 2 * CLASSES));
    printf("demo: logits[0] = %.5f %.5f %.5f\n", logits[0], logits[1], logits[2]);

    CHECK(ast_network_loss_gradient(net, theta, p, images, N * PIXELS, labels, N, &loss, grad, p));
    printf("demo: loss %.6f, gradient norm %.6f\n", loss, norm2(grad, p));

    fill_random(v, p, 7);
    CHECK(ast_network_hessian_vector_product(net, theta, p, images, N * PIXELS, labels, N, v, p, hv, p));
    printf("demo: |Hv| %.6f for |v| %.6f\n", norm2(hv, p), norm2(v, p));

    CHECK(ast_network_evaluate(net, theta, p, ds, 4, on_progress, &log, &eval_loss, &accuracy));
    printf("demo: evaluate: loss %.6f, accuracy %.3f, %d progress calls\n", eval_loss, accuracy, log.calls);

    /* Cancellation: the callback returns nonzero after the first batch. */
    log.cancel_at = 1;
    st = ast_network_evaluate(net, theta, p, ds, 4, on_progress, &log, &eval_loss, NULL);
    printf("demo: cancelled evaluate -> %s (%d): %s\n", ast_status_string(st), (int)st, ast_last_error());
    if (st != AST_ERR_CANCELLED) return 1;

    /* Errors: a label outside [0, classes) is reported, not fatal; the handle stays usable. */
    labels[3] = 7;
    st = ast_network_loss_gradient(net, theta, p, images, N * PIXELS, labels, N, &loss, grad, p);
    printf("demo: bad label -> %s (%d): %s\n", ast_status_string(st), (int)st, ast_network_last_error(net));
    if (st != AST_ERR_INVALID_ARGUMENT || strstr(ast_network_last_error(net), "labels[3]") == NULL) return 1;
    labels[3] = 2;
    CHECK(ast_network_loss_gradient(net, theta, p, images, N * PIXELS, labels, N, &loss, grad, p));
    printf("demo: after the error the network still works: loss %.6f\n", loss);

    free(theta);
    free(grad);
    free(hv);
    free(v);
    ast_dataset_free(ds);  /* any order */
    ast_network_free(net);
    ast_network_free(NULL); /* no-op */
    printf("demo: done\n");
    return 0;
}
