/* misuse.c - every kind of bad call a C host can make: NULL pointers and handles, negative and
 * overflowing sizes, unknown enum values and keys, out-of-range values, NaN/Inf, labels
 * outside [0, classes), wrong buffer lengths. Each must return the documented status with a
 * message naming the argument; the process must stay alive and the handles usable.
 * Exit status 0 when every case behaves.
 */
#include "common.h"

#include <string.h>

static int cases = 0, failures = 0;

static void expect(const char *what, ast_status got, ast_status want, const char *fragment) {
    const char *msg = ast_last_error();
    cases++;
    if (got != want || strstr(msg, fragment) == NULL) {
        failures++;
        printf("misuse: FAIL %-40s -> %d (%s), wanted %d with \"%s\"\n", what, (int)got, msg, (int)want, fragment);
    } else {
        printf("misuse: ok   %-40s -> %-16s %s\n", what, ast_status_string(got), msg);
    }
}

#define EXPECT(call, want, fragment) expect(#call, (call), (want), (fragment))

int main(void) {
    ast_network *net = NULL, *net_out = NULL;
    ast_config *cfg = NULL;
    ast_dataset *ds = NULL;
    float images[2 * 64], logits[6], loss = 0, nan_images[2 * 64];
    int32_t labels[2] = {0, 2}, bad_labels[2] = {0, 3};
    int64_t labels64[2] = {0, (int64_t)1 << 40};
    int64_t p = 0, value = 0;
    float *theta, *grad;
    ast_bounds bounds;
    int32_t key = 0;

    fill_random(images, 2 * 64, 5);
    memcpy(nan_images, images, sizeof images);
    nan_images[17] = NAN;
    CHECK(make_network(4, &net));
    CHECK(ast_network_parameter_count(net, &p));
    theta = malloc((size_t)p * sizeof(float));
    grad = malloc((size_t)p * sizeof(float));
    if (!theta || !grad) return 1;
    CHECK(ast_network_init_parameters(net, 1, theta, p));
    CHECK(ast_config_create(&cfg));

    /* NULL handles and pointers */
    EXPECT(ast_network_logits(NULL, theta, p, images, 128, 2, logits, 6), AST_ERR_NULL_POINTER, "network is NULL");
    EXPECT(ast_network_logits(net, NULL, p, images, 128, 2, logits, 6), AST_ERR_NULL_POINTER, "parameters is NULL");
    EXPECT(ast_network_logits(net, theta, p, NULL, 128, 2, logits, 6), AST_ERR_NULL_POINTER, "images is NULL");
    EXPECT(ast_network_logits(net, theta, p, images, 128, 2, NULL, 6), AST_ERR_NULL_POINTER, "out_logits is NULL");
    EXPECT(ast_network_loss_gradient(net, theta, p, images, 128, NULL, 2, &loss, grad, p), AST_ERR_NULL_POINTER, "labels is NULL");
    EXPECT(ast_network_loss_gradient(net, theta, p, images, 128, labels, 2, NULL, grad, p), AST_ERR_NULL_POINTER, "out_loss is NULL");
    EXPECT(ast_network_parameter_count(net, NULL), AST_ERR_NULL_POINTER, "out is NULL");
    EXPECT(ast_network_create(NULL, &net_out), AST_ERR_NULL_POINTER, "config is NULL");
    EXPECT(ast_network_create(cfg, NULL), AST_ERR_NULL_POINTER, "out is NULL");
    EXPECT(ast_config_create(NULL), AST_ERR_NULL_POINTER, "out is NULL");
    EXPECT(ast_config_get_int(NULL, AST_CONFIG_WIDTH, &value), AST_ERR_NULL_POINTER, "config is NULL");
    EXPECT(ast_config_bounds(AST_CONFIG_WIDTH, NULL), AST_ERR_NULL_POINTER, "out is NULL");
    EXPECT(ast_config_key_by_name(NULL, &key), AST_ERR_NULL_POINTER, "name is NULL");
    EXPECT(ast_dataset_create(images, 128, NULL, AST_LABELS_INT32, 2, 2, 1, 8, 8, 3, &ds), AST_ERR_NULL_POINTER, "labels is NULL");
    EXPECT(ast_dataset_fingerprint(NULL, NULL), AST_ERR_NULL_POINTER, "dataset is NULL");
    EXPECT(ast_network_evaluate(net, theta, p, NULL, 4, NULL, NULL, NULL, NULL), AST_ERR_NULL_POINTER, "dataset is NULL");

    /* negative and overflowing sizes, wrong lengths */
    EXPECT(ast_network_logits(net, theta, p, images, 128, -2, logits, 6), AST_ERR_INVALID_ARGUMENT, "count");
    EXPECT(ast_network_logits(net, theta, p, images, INT64_MAX, INT64_MAX / 64, logits, 6), AST_ERR_INVALID_ARGUMENT, "count");
    EXPECT(ast_network_logits(net, theta, -1, images, 128, 2, logits, 6), AST_ERR_SHAPE_MISMATCH, "parameters_len");
    EXPECT(ast_network_logits(net, theta, p, images, 127, 2, logits, 6), AST_ERR_SHAPE_MISMATCH, "images_len");
    EXPECT(ast_network_logits(net, theta, p, images, 128, 2, logits, 5), AST_ERR_SHAPE_MISMATCH, "out_len");
    EXPECT(ast_network_loss_gradient(net, theta, p, images, 128, labels, 2, &loss, grad, p - 1), AST_ERR_SHAPE_MISMATCH, "gradient_len");
    EXPECT(ast_network_hessian_vector_product(net, theta, p, images, 128, labels, 2, theta, p + 1, grad, p), AST_ERR_SHAPE_MISMATCH, "vector_len");
    EXPECT(ast_network_init_parameters(net, 1, theta, -5), AST_ERR_SHAPE_MISMATCH, "out_len");
    EXPECT(ast_dataset_create(images, 128, labels, AST_LABELS_INT32, 2, 2, -1, 8, 8, 3, &ds), AST_ERR_INVALID_ARGUMENT, "channels");
    EXPECT(ast_dataset_create(images, 128, labels, AST_LABELS_INT32, 2, INT32_MAX, 65536, 65536, 65536, 3, &ds), AST_ERR_OUT_OF_MEMORY, "count*channels*height*width");
    EXPECT(ast_dataset_create(images, 128, labels, AST_LABELS_INT32, 3, 2, 1, 8, 8, 3, &ds), AST_ERR_SHAPE_MISMATCH, "labels_len");
    EXPECT(ast_network_tensor(net, -1, NULL, NULL, NULL, NULL, NULL, 0), AST_ERR_OUT_OF_RANGE, "index -1");
    EXPECT(ast_network_tensor(net, 0, NULL, NULL, NULL, NULL, NULL, -3), AST_ERR_INVALID_ARGUMENT, "shape_capacity");
    EXPECT(ast_config_keys(NULL, 4, &key), AST_ERR_NULL_POINTER, "keys is NULL");

    /* bad enums, keys and values */
    EXPECT(ast_config_set_int(cfg, 4242, 1), AST_ERR_UNKNOWN_KEY, "key 4242");
    EXPECT(ast_config_bounds(-1, &bounds), AST_ERR_UNKNOWN_KEY, "key -1");
    EXPECT(ast_config_key_by_name("widht", &key), AST_ERR_UNKNOWN_KEY, "widht");
    EXPECT(ast_config_set_int(cfg, AST_CONFIG_NORM, 3), AST_ERR_OUT_OF_RANGE, "norm");
    EXPECT(ast_config_set_int(cfg, AST_CONFIG_WIDTH, 0), AST_ERR_OUT_OF_RANGE, "width");
    EXPECT(ast_config_set_int(cfg, AST_CONFIG_SEED, -1), AST_ERR_OUT_OF_RANGE, "seed");
    EXPECT(ast_config_set_float(cfg, AST_CONFIG_WIDTH, 2.0), AST_ERR_WRONG_TYPE, "width");
    EXPECT(ast_dataset_create(images, 128, labels, 3, 2, 2, 1, 8, 8, 3, &ds), AST_ERR_INVALID_ARGUMENT, "label_type");

    /* NaN / Inf and labels out of range */
    EXPECT(ast_network_logits(net, theta, p, nan_images, 128, 2, logits, 6), AST_ERR_NON_FINITE, "images[17]");
    EXPECT(ast_dataset_create(nan_images, 128, labels, AST_LABELS_INT32, 2, 2, 1, 8, 8, 3, &ds), AST_ERR_NON_FINITE, "images[17]");
    EXPECT(ast_network_loss_gradient(net, theta, p, images, 128, bad_labels, 2, &loss, grad, p), AST_ERR_INVALID_ARGUMENT, "labels[1]");
    EXPECT(ast_dataset_create(images, 128, labels64, AST_LABELS_INT64, 2, 2, 1, 8, 8, 3, &ds), AST_ERR_INVALID_ARGUMENT, "labels[1]");
    theta[3] = INFINITY;
    EXPECT(ast_network_loss_gradient(net, theta, p, images, 128, labels, 2, &loss, grad, p), AST_ERR_NON_FINITE, "parameters[3]");
    CHECK(ast_network_init_parameters(net, 1, theta, p));

    /* the impossible network */
    CHECK(ast_config_set_int(cfg, AST_CONFIG_IMAGE_SIZE, 4));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_DEPTH, 8));
    EXPECT(ast_network_create(cfg, &net_out), AST_ERR_INVALID_ARGUMENT, "depth");
    if (net_out != NULL) { printf("misuse: FAIL out handle not NULL after failure\n"); failures++; }

    /* the handles still work, and the per-handle message is the handle's last failure */
    printf("misuse: network last error: %s\n", ast_network_last_error(net));
    printf("misuse: config last error: %s\n", ast_config_last_error(cfg));
    CHECK(ast_config_get_int(cfg, AST_CONFIG_WIDTH, &value));
    CHECK(ast_network_logits(net, theta, p, images, 128, 2, logits, 6));
    CHECK(ast_network_loss_gradient(net, theta, p, images, 128, labels, 2, &loss, grad, p));
    printf("misuse: handle still usable: loss %.6f, width %lld\n", loss, (long long)value);

    ast_config_free(cfg);
    ast_network_free(net);
    ast_dataset_free(NULL);
    free(theta);
    free(grad);
    printf("misuse: %d/%d bad calls reported correctly, process alive\n", cases - failures, cases);
    return failures == 0 ? 0 : 1;
}
