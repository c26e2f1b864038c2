/* misuse.c - every kind of bad call a C host can make: NULL pointers and handles, negative and
 * overflowing sizes, unknown enum values and keys, out-of-range values, NaN/Inf, labels
 * outside [0, classes), wrong buffer lengths. Each must return the documented status with a
 * message naming the argument; the process must stay alive and the handles usable.
 * Exit status 0 when every case behaves. The run cases write a small store into a fresh
 * directory /tmp/libast-misuse-XXXXXX (printed; the caller removes it).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "common.h"

#include <stddef.h>
#include <stdlib.h>
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
    float images[2 * 64], logits[6], loss = 0, nan_images[2 * 64], huge_images[2 * 64];
    int32_t labels[2] = {0, 2}, bad_labels[2] = {0, 3};
    int64_t labels64[2] = {0, (int64_t)1 << 40};
    int64_t p = 0, value = 0;
    float *theta, *grad;
    ast_bounds bounds;
    int32_t key = 0;

    fill_random(images, 2 * 64, 5);
    memcpy(nan_images, images, sizeof images);
    nan_images[17] = NAN;
    /* Finite but extreme (3e38, near FLT_MAX): the forward pass overflows float32 - an error,
     * never NaN handed back as a result. */
    for (key = 0; key < 2 * 64; key++) huge_images[key] = 3e38f;
    key = 0;
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
    EXPECT(ast_network_logits(net, theta, p, huge_images, 128, 2, logits, 6), AST_ERR_NON_FINITE, "overflowed");
    EXPECT(ast_network_loss_gradient(net, theta, p, huge_images, 128, labels, 2, &loss, grad, p), AST_ERR_NON_FINITE, "overflowed");
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

    /* ---- run configuration: every new config function ---- */
    {
        char buf[64];
        int64_t len = 0;
        const char *names[4];
        int32_t n = 0;
        double dv = 0;
        EXPECT(ast_config_set_string(NULL, AST_CONFIG_DATA_DIR, "x"), AST_ERR_NULL_POINTER, "config is NULL");
        EXPECT(ast_config_set_string(cfg, AST_CONFIG_DATA_DIR, NULL), AST_ERR_NULL_POINTER, "value is NULL");
        EXPECT(ast_config_set_string(cfg, 4242, "x"), AST_ERR_UNKNOWN_KEY, "key 4242");
        EXPECT(ast_config_set_string(cfg, AST_CONFIG_WIDTH, "8"), AST_ERR_WRONG_TYPE, "network.width");
        EXPECT(ast_config_set_string(cfg, AST_CONFIG_EXPERTS_KIND, "adam"), AST_ERR_OUT_OF_RANGE, "mtt, ast");
        EXPECT(ast_config_set_string(cfg, AST_CONFIG_DISTILL_AUGMENTATION, "flip_warp"), AST_ERR_INVALID_ARGUMENT, "warp");
        EXPECT(ast_config_set_string(cfg, AST_CONFIG_DATA_DIR, "\xff\xfe"), AST_ERR_INVALID_ARGUMENT, "UTF-8");
        EXPECT(ast_config_get_string(NULL, AST_CONFIG_DATA_DIR, buf, 64, &len), AST_ERR_NULL_POINTER, "config is NULL");
        EXPECT(ast_config_get_string(cfg, AST_CONFIG_DATA_DIR, NULL, 64, &len), AST_ERR_NULL_POINTER, "buffer is NULL");
        EXPECT(ast_config_get_string(cfg, AST_CONFIG_DATA_DIR, buf, 64, NULL), AST_ERR_NULL_POINTER, "out_length is NULL");
        EXPECT(ast_config_get_string(cfg, AST_CONFIG_DATA_DIR, buf, -1, &len), AST_ERR_INVALID_ARGUMENT, "capacity");
        EXPECT(ast_config_get_string(cfg, AST_CONFIG_SEED, buf, 64, &len), AST_ERR_WRONG_TYPE, "seed");
        EXPECT(ast_config_get_string(cfg, -7, buf, 64, &len), AST_ERR_UNKNOWN_KEY, "key -7");
        EXPECT(ast_config_set_float(cfg, AST_CONFIG_DISTILL_LR_IMG, NAN), AST_ERR_NON_FINITE, "distill.lr_img");
        EXPECT(ast_config_set_float(cfg, AST_CONFIG_DISTILL_LR_IMG, INFINITY), AST_ERR_NON_FINITE, "distill.lr_img");
        EXPECT(ast_config_set_float(cfg, AST_CONFIG_DISTILL_INNER_MOMENTUM, 1.5), AST_ERR_OUT_OF_RANGE, "distill.inner_momentum");
        EXPECT(ast_config_set_int(cfg, AST_CONFIG_DISTILL_IPC, 0), AST_ERR_OUT_OF_RANGE, "distill.ipc");
        EXPECT(ast_config_set_int(cfg, AST_CONFIG_DISTILL_LR_IMG, 1), AST_ERR_WRONG_TYPE, "distill.lr_img");
        EXPECT(ast_config_get_float(cfg, AST_CONFIG_DATA_DIR, &dv), AST_ERR_WRONG_TYPE, "data.dir");
        EXPECT(ast_config_describe(4242, NULL, NULL, NULL), AST_ERR_UNKNOWN_KEY, "key 4242");
        EXPECT(ast_config_key_by_name("distill.ipcc", &key), AST_ERR_UNKNOWN_KEY, "distill.ipcc");
        EXPECT(ast_config_load_preset(NULL, "quick"), AST_ERR_NULL_POINTER, "config is NULL");
        EXPECT(ast_config_load_preset(cfg, NULL), AST_ERR_NULL_POINTER, "name is NULL");
        EXPECT(ast_config_load_preset(cfg, "cifar11-ipc1"), AST_ERR_INVALID_ARGUMENT, "unknown preset");
        EXPECT(ast_config_presets(NULL, 4, &n), AST_ERR_NULL_POINTER, "names is NULL");
        EXPECT(ast_config_presets(names, 4, NULL), AST_ERR_NULL_POINTER, "out_count is NULL");
        EXPECT(ast_config_presets(names, -1, &n), AST_ERR_INVALID_ARGUMENT, "capacity");
        EXPECT(ast_config_load_json(NULL, "x.json"), AST_ERR_NULL_POINTER, "config is NULL");
        EXPECT(ast_config_load_json(cfg, NULL), AST_ERR_NULL_POINTER, "path is NULL");
        EXPECT(ast_config_load_json(cfg, "/nonexistent/settings.json"), AST_ERR_IO, "settings.json");
        EXPECT(ast_config_apply_json(cfg, NULL), AST_ERR_NULL_POINTER, "json is NULL");
        EXPECT(ast_config_apply_json(cfg, "{\"distill.ipc\": "), AST_ERR_FORMAT, "json");
        EXPECT(ast_config_apply_json(cfg, "{\"distill.nope\": 1}"), AST_ERR_UNKNOWN_KEY, "distill.nope");
        EXPECT(ast_config_apply_json(cfg, "{\"distill.ipc\": 1e9}"), AST_ERR_OUT_OF_RANGE, "distill.ipc");
        EXPECT(ast_config_apply_json(cfg, "{\"distill.ipc\": \"ten\"}"), AST_ERR_WRONG_TYPE, "distill.ipc");
        EXPECT(ast_config_to_json(NULL, buf, 64, &len), AST_ERR_NULL_POINTER, "config is NULL");
        EXPECT(ast_config_to_json(cfg, NULL, 64, &len), AST_ERR_NULL_POINTER, "buffer is NULL");
        EXPECT(ast_config_to_json(cfg, buf, 64, NULL), AST_ERR_NULL_POINTER, "out_length is NULL");
        EXPECT(ast_config_to_json(cfg, buf, -5, &len), AST_ERR_INVALID_ARGUMENT, "capacity");
    }

    /* ---- runs: every ast_run function ---- */
    {
        ast_config *rc = NULL, *rc_out = NULL;
        ast_dataset *train = NULL, *test = NULL;
        ast_run *run = NULL, *run_out = NULL;
        float dimages[3 * 64], alpha = 0, hist[4];
        int32_t dlabels[3], train_labels[12], present = 0;
        double mean = 0, acc[4];
        int64_t count = 0, i;
        float train_images[12 * 64];
        for (i = 0; i < 12; i++) train_labels[i] = (int32_t)(i % 3);
        fill_random(train_images, 12 * 64, 9);
        CHECK(ast_dataset_create(train_images, 12 * 64, train_labels, AST_LABELS_INT32, 12, 12, 1, 8, 8, 3, &train));
        CHECK(ast_dataset_create(train_images, 6 * 64, train_labels, AST_LABELS_INT32, 6, 6, 1, 8, 8, 3, &test));
        CHECK(ast_config_clone(cfg, &rc));
        CHECK(ast_config_set_int(rc, AST_CONFIG_IMAGE_SIZE, 8));
        CHECK(ast_config_set_int(rc, AST_CONFIG_DEPTH, 2));
        CHECK(ast_config_set_int(rc, AST_CONFIG_CHANNELS, 1));
        CHECK(ast_config_set_int(rc, AST_CONFIG_CLASSES, 3));
        CHECK(ast_config_set_int(rc, AST_CONFIG_WIDTH, 4));
        CHECK(ast_config_set_int(rc, AST_CONFIG_EXPERTS_EPOCHS, 2));
        CHECK(ast_config_set_int(rc, AST_CONFIG_DISTILL_MAX_START_EPOCH, 1));
        EXPECT(ast_run_create(NULL, "/tmp/x", &run_out), AST_ERR_NULL_POINTER, "config is NULL");
        EXPECT(ast_run_create(rc, NULL, &run_out), AST_ERR_NULL_POINTER, "output_directory is NULL");
        EXPECT(ast_run_create(rc, "/tmp/x", NULL), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_run_create(rc, "", &run_out), AST_ERR_INVALID_ARGUMENT, "output_directory is empty");
        EXPECT(ast_run_create(rc, "/tmp/x", &run_out), AST_ERR_INVALID_ARGUMENT, "data.dataset fashion-mnist");
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", NULL, test, &run_out), AST_ERR_NULL_POINTER, "train is NULL");
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", train, NULL, &run_out), AST_ERR_NULL_POINTER, "test is NULL");
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", train, test, NULL), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", (ast_dataset *)rc, test, &run_out), AST_ERR_INVALID_ARGUMENT, "not an ast_dataset");
        CHECK(ast_config_set_int(rc, AST_CONFIG_DISTILL_IPC, 5));
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", train, test, &run_out), AST_ERR_INVALID_ARGUMENT, "distill.ipc 5 is larger");
        CHECK(ast_config_set_int(rc, AST_CONFIG_DISTILL_IPC, 1));
        CHECK(ast_config_set_int(rc, AST_CONFIG_DISTILL_EXPERT_EPOCHS, 3));
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", train, test, &run_out), AST_ERR_INVALID_ARGUMENT, "stored epochs");
        CHECK(ast_config_set_int(rc, AST_CONFIG_DISTILL_EXPERT_EPOCHS, 2));
        CHECK(ast_config_set_int(rc, AST_CONFIG_WIDTH, 1024));
        CHECK(ast_config_set_int(rc, AST_CONFIG_EXPERTS_BATCH, 100000));
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", train, test, &run_out), AST_ERR_OUT_OF_MEMORY, "experts.batch");
        CHECK(ast_config_set_int(rc, AST_CONFIG_WIDTH, 4));
        CHECK(ast_config_set_int(rc, AST_CONFIG_EXPERTS_BATCH, 16));
        CHECK(ast_config_set_int(rc, AST_CONFIG_CLASSES, 4));
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", train, test, &run_out), AST_ERR_SHAPE_MISMATCH, "classes");
        CHECK(ast_config_set_int(rc, AST_CONFIG_CLASSES, 3));
        if (run_out != NULL) { printf("misuse: FAIL run handle not NULL after failure\n"); failures++; }
        char run_dir[] = "/tmp/libast-misuse-XXXXXX";
        if (!mkdtemp(run_dir)) { printf("misuse: FAIL cannot create a directory in /tmp\n"); return 1; }
        printf("misuse: run directory %s\n", run_dir);
        CHECK(ast_run_create_with_data(rc, run_dir, train, test, &run));
        ast_dataset_free(train); /* the run copied the data */
        train = NULL;
        EXPECT(ast_run_generate_experts(NULL, 0, 1, NULL, NULL), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_generate_experts(run, -1, 1, NULL, NULL), AST_ERR_INVALID_ARGUMENT, "first");
        EXPECT(ast_run_generate_experts(run, 0, -5, NULL, NULL), AST_ERR_INVALID_ARGUMENT, "count");
        EXPECT(ast_run_generate_experts(run, INT32_MAX, 2, NULL, NULL), AST_ERR_INVALID_ARGUMENT, "first + count");
        EXPECT(ast_run_distill(NULL, NULL, NULL), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_evaluate(NULL, NULL, NULL, NULL, NULL, NULL, NULL), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_evaluate(run, NULL, NULL, &mean, NULL, NULL, NULL), AST_ERR_INVALID_ARGUMENT, "no distilled set");
        EXPECT(ast_run_write_outputs(NULL), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_write_outputs(run), AST_ERR_INVALID_ARGUMENT, "no distilled set");
        EXPECT(ast_run_all(NULL, NULL, NULL), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_get_config(NULL, &rc_out), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_get_config(run, NULL), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_run_complete_experts(NULL, &count), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_complete_experts(run, NULL), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_run_distilled_shape(NULL, &count, NULL, NULL, NULL, NULL), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_distilled_shape(run, &count, NULL, NULL, NULL, NULL), AST_ERR_INVALID_ARGUMENT, "no distilled set");
        EXPECT(ast_run_copy_distilled_images(NULL, AST_IMAGES_TRAINING, dimages, 192), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_copy_distilled_images(run, AST_IMAGES_TRAINING, NULL, 192), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_run_copy_distilled_images(run, 7, dimages, 192), AST_ERR_INVALID_ARGUMENT, "space");
        EXPECT(ast_run_copy_distilled_labels(NULL, dlabels, 3), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_copy_distilled_labels(run, NULL, 3), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_run_copy_soft_labels(NULL, dimages, 9, &present), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_copy_soft_labels(run, NULL, 9, &present), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_run_copy_soft_labels(run, dimages, 9, NULL), AST_ERR_NULL_POINTER, "out_present is NULL");
        EXPECT(ast_run_copy_soft_labels(run, dimages, 9, &present), AST_ERR_INVALID_ARGUMENT, "no distilled set");
        EXPECT(ast_run_step_size(NULL, &alpha, NULL), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_step_size(run, &alpha, NULL), AST_ERR_INVALID_ARGUMENT, "no distilled set");
        EXPECT(ast_run_loss_history(NULL, hist, 4, &count), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_loss_history(run, NULL, 4, &count), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_run_loss_history(run, hist, 4, NULL), AST_ERR_NULL_POINTER, "out_count is NULL");
        EXPECT(ast_run_loss_history(run, hist, -4, &count), AST_ERR_INVALID_ARGUMENT, "capacity");
        EXPECT(ast_run_evaluation(NULL, AST_RESULT_DISTILLED, &mean, NULL, acc, 4, &count), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_evaluation(run, 9, &mean, NULL, acc, 4, &count), AST_ERR_INVALID_ARGUMENT, "which");
        EXPECT(ast_run_evaluation(run, AST_RESULT_DISTILLED, &mean, NULL, NULL, 4, &count), AST_ERR_NULL_POINTER, "accuracies is NULL");
        EXPECT(ast_run_evaluation(run, AST_RESULT_DISTILLED, &mean, NULL, acc, 4, NULL), AST_ERR_NULL_POINTER, "out_count is NULL");
        EXPECT(ast_run_evaluation(run, AST_RESULT_DISTILLED, &mean, NULL, acc, 4, &count), AST_ERR_INVALID_ARGUMENT, "not evaluated");
        {   /* the segment-wise API before ast_run_distill_begin, and begin without experts */
            float g[8] = {0}, bad[8] = {0};
            int64_t it = 0, segments = 0, glen = 0;
            bad[3] = NAN;
            EXPECT(ast_run_distill_begin(NULL, &it, &segments, &glen), AST_ERR_NULL_POINTER, "run is NULL");
            EXPECT(ast_run_segment_gradient(NULL, 0, 0, g, 8), AST_ERR_NULL_POINTER, "run is NULL");
            EXPECT(ast_run_segment_gradient(run, 0, 0, NULL, 8), AST_ERR_NULL_POINTER, "out is NULL");
            EXPECT(ast_run_segment_gradient(run, 0, -1, g, 8), AST_ERR_INVALID_ARGUMENT, "segment");
            EXPECT(ast_run_segment_gradient(run, 0, 1, g, 8), AST_ERR_INVALID_ARGUMENT, "segment");
            EXPECT(ast_run_segment_gradient(run, 0, 0, g, 8), AST_ERR_INVALID_ARGUMENT, "ast_run_distill_begin first");
            EXPECT(ast_run_apply_gradient_sum(NULL, g, 8, 0), AST_ERR_NULL_POINTER, "run is NULL");
            EXPECT(ast_run_apply_gradient_sum(run, NULL, 8, 0), AST_ERR_NULL_POINTER, "sum is NULL");
            EXPECT(ast_run_apply_gradient_sum(run, g, 8, 2), AST_ERR_INVALID_ARGUMENT, "write_checkpoint");
            EXPECT(ast_run_apply_gradient_sum(run, g, 8, 0), AST_ERR_INVALID_ARGUMENT, "ast_run_distill_begin first");
            EXPECT(ast_run_apply_gradient_sum(run, bad, 8, 0), AST_ERR_INVALID_ARGUMENT, "ast_run_distill_begin first");
            EXPECT(ast_run_distill_begin(run, &it, &segments, &glen), AST_ERR_IO, "trajectory store");
        }
        EXPECT(ast_run_distill(run, NULL, NULL), AST_ERR_IO, "trajectory store");
        {   /* the segment-wise API once begun: wrong iteration, lengths, a non-finite sum */
            int64_t it = -1, segments = 0, glen = 0, k;
            float *g;
            CHECK(ast_config_get_int(rc, AST_CONFIG_EXPERTS_COUNT, &count));
            CHECK(ast_run_generate_experts(run, 0, (int32_t)count, NULL, NULL));
            CHECK(ast_run_distill_begin(run, &it, &segments, &glen));
            if (it != 0 || segments != 1 || glen != 2 + 3 * 64) {
                printf("misuse: FAIL ast_run_distill_begin reported iteration %lld, R %lld, length %lld\n",
                       (long long)it, (long long)segments, (long long)glen);
                return 1;
            }
            g = calloc((size_t)glen, sizeof *g);
            if (!g) { printf("misuse: FAIL out of memory\n"); return 1; }
            EXPECT(ast_run_segment_gradient(run, 1, 0, g, glen), AST_ERR_INVALID_ARGUMENT, "iteration is 1");
            EXPECT(ast_run_segment_gradient(run, 0, 0, g, glen - 1), AST_ERR_SHAPE_MISMATCH, "out_len");
            CHECK(ast_run_segment_gradient(run, 0, 0, g, glen));
            EXPECT(ast_run_apply_gradient_sum(run, g, glen + 1, 0), AST_ERR_SHAPE_MISMATCH, "sum_len");
            for (k = 0; k < glen; k++) g[k] = 0;
            g[5] = INFINITY;
            EXPECT(ast_run_apply_gradient_sum(run, g, glen, 0), AST_ERR_NON_FINITE, "sum");
            g[5] = 0;
            CHECK(ast_run_apply_gradient_sum(run, g, glen, 0));
            CHECK(ast_run_distill_begin(run, &it, NULL, NULL));
            if (it != 1) { printf("misuse: FAIL iteration %lld after one applied sum\n", (long long)it); return 1; }
            EXPECT(ast_run_segment_gradient(run, 0, 0, g, glen), AST_ERR_INVALID_ARGUMENT, "iteration is 0");
            free(g);
        }
        printf("misuse: run last error: %s\n", ast_run_last_error(run));
        printf("misuse: NULL run last error: %s\n", ast_run_last_error(NULL));
        ast_run_free(run);
        run = NULL; /* a freed handle, set to NULL as a careful caller does */
        EXPECT(ast_run_distill(run, NULL, NULL), AST_ERR_NULL_POINTER, "run is NULL");
        EXPECT(ast_run_create_with_data(rc, "/tmp/x", train, test, &run_out), AST_ERR_NULL_POINTER, "train is NULL");
        ast_run_free(NULL);
        ast_dataset_free(test);
        ast_config_free(rc);
    }

    /* ---- the step-level matching API ---- */
    {
        float start[2048], target[2048], loss_m = 0, dalpha = 0, dimg[2 * 64], final_theta[2048];
        int64_t mb[6] = {0, 1, 1, 0, 0, 1}, bad_mb[6] = {0, 1, 2, 0, 0, 1};
        ast_matching_options o = AST_MATCHING_OPTIONS_INIT;
        int64_t j;
        if (p > 2048) { printf("misuse: FAIL network too large for the buffers\n"); return 1; }
        CHECK(ast_network_init_parameters(net, 2, start, p));
        for (j = 0; j < p; j++) target[j] = start[j] * 1.05f + 0.01f;
        CHECK(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, &o,
                                &loss_m, dimg, 128, &dalpha, final_theta, p));
        {   /* kept step graphs (activation_budget) and the pre-0.2 struct size: the same result */
            float loss_k = 0, dalpha_k = 0, dimg_k[2 * 64];
            o.activation_budget = (int64_t)1 << 30;
            CHECK(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, &o,
                                    &loss_k, dimg_k, 128, &dalpha_k, NULL, 0));
            if (loss_k != loss_m || dalpha_k != dalpha || memcmp(dimg_k, dimg, sizeof dimg) != 0) {
                printf("misuse: FAIL activation_budget changed the result\n");
                return 1;
            }
            o.struct_size = (int32_t)offsetof(ast_matching_options, activation_budget);
            CHECK(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, &o,
                                    &loss_k, dimg_k, 128, &dalpha_k, NULL, 0));
            if (loss_k != loss_m) { printf("misuse: FAIL old struct_size changed the result\n"); return 1; }
            o.struct_size = (int32_t)sizeof o;
            o.activation_budget = -1;
            EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, &o, &loss_k, dimg_k, 128, &dalpha_k, NULL, 0), AST_ERR_INVALID_ARGUMENT, "activation_budget");
            o.activation_budget = 0;
        }
        EXPECT(ast_matching_step(NULL, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NULL_POINTER, "network is NULL");
        EXPECT(ast_matching_step(net, NULL, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NULL_POINTER, "start is NULL");
        EXPECT(ast_matching_step(net, start, NULL, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NULL_POINTER, "target is NULL");
        EXPECT(ast_matching_step(net, start, target, p, NULL, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NULL_POINTER, "images is NULL");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, NULL, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NULL_POINTER, "labels is NULL");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, NULL, dimg, 128, &dalpha, NULL, 0), AST_ERR_NULL_POINTER, "out_loss is NULL");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, NULL, 128, &dalpha, NULL, 0), AST_ERR_NULL_POINTER, "out_image_gradient is NULL");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, NULL, NULL, 0), AST_ERR_NULL_POINTER, "out_step_size_gradient is NULL");
        EXPECT(ast_matching_step(net, start, target, p - 1, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_SHAPE_MISMATCH, "parameters_len");
        EXPECT(ast_matching_step(net, start, target, p, images, 127, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_SHAPE_MISMATCH, "images_len");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 64, &dalpha, NULL, 0), AST_ERR_SHAPE_MISMATCH, "image_gradient_len");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, final_theta, 3), AST_ERR_SHAPE_MISMATCH, "final_parameters_len");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, -2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "count");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, NAN, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NON_FINITE, "step_size");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, -0.5f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "step_size");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.0f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "step_size");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 0, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "steps");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, -1, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "batch_syn");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, bad_labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "labels[1]");
        EXPECT(ast_matching_step(net, start, target, p, nan_images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NON_FINITE, "images[17]");
        EXPECT(ast_matching_step(net, start, start, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 0, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "coincide");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 5, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_SHAPE_MISMATCH, "minibatches_len");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, bad_mb, 6, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "minibatches[2]");
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, NULL, 6, NULL, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_SHAPE_MISMATCH, "minibatches is NULL");
        o.struct_size = 4;
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 6, &o, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "struct_size");
        o.struct_size = (int32_t)sizeof o + 16;
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 6, &o, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_UNSUPPORTED, "struct_size");
        o.struct_size = (int32_t)sizeof o;
        o.inner_momentum = 1.0;
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 6, &o, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "inner_momentum");
        o.inner_momentum = 0.9;
        o.inner_loss_weight = NAN;
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 6, &o, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NON_FINITE, "inner_loss_weight");
        o.inner_loss_weight = 1.0;
        o.intermediate_count = 1;
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 6, &o, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_NULL_POINTER, "intermediate_targets");
        o.intermediate_count = 5;
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 6, &o, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "intermediate_count");
        o.intermediate_count = 0;
        o.augmentation = "warp";
        EXPECT(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 6, &o, &loss_m, dimg, 128, &dalpha, NULL, 0), AST_ERR_INVALID_ARGUMENT, "augmentation");
        o.augmentation = "flip";
        CHECK(ast_matching_step(net, start, target, p, images, 128, labels, 2, 0.01f, 3, 2, 7, mb, 6, &o, &loss_m, dimg, 128, &dalpha, NULL, 0));
        EXPECT(ast_matching_minibatches(2, 1, 3, 0, NULL, 3), AST_ERR_NULL_POINTER, "out is NULL");
        EXPECT(ast_matching_minibatches(2, 1, 3, 0, mb, 2), AST_ERR_SHAPE_MISMATCH, "out_len");
        EXPECT(ast_matching_minibatches(0, 1, 3, 0, mb, 6), AST_ERR_INVALID_ARGUMENT, "count");
        EXPECT(ast_matching_minibatches(2, -1, 3, 0, mb, 6), AST_ERR_INVALID_ARGUMENT, "batch_syn");
        EXPECT(ast_matching_minibatches(2, 1, 20000, 0, mb, 6), AST_ERR_INVALID_ARGUMENT, "steps");
        printf("misuse: matching step still works: loss %.6f, dL/dalpha %.6f\n", loss_m, dalpha);
    }

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
