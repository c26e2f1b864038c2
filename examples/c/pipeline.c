/* pipeline.c - the whole AST pipeline from C on a small Fashion-MNIST subset: settings from a
 * preset plus overrides, experts generated in two ranges (as two processes could), a
 * distillation cancelled by the progress callback and resumed from its checkpoint, the
 * evaluation protocol against a random real subset, the output files, and the distilled
 * images, labels and step size copied out. Well under a minute on 2 cores.
 *
 *   scripts/build-lib.sh
 *   gcc -std=c99 -Wall -Wextra -pedantic -Werror -Iinclude examples/c/pipeline.c \
 *       -Lbuild/lib -last -lm -Wl,-rpath,"$PWD/build/lib" -o build/bin/pipeline
 *   build/bin/pipeline /tmp/ast-pipeline-out      (needs dataset-fashion-mnist)
 *   build/bin/pipeline OUT small.npz               (your own images instead, all of them:
 *                                                   data.dataset npz, 1x28x28 in 10 classes;
 *                                                   scripts/valgrind.sh passes 200 + 100)
 */
#include <ast.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                       \
    do {                                                                                  \
        ast_status check_status_ = (call);                                                \
        if (check_status_ != AST_OK) {                                                    \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,      \
                    ast_status_string(check_status_), ast_last_error());                  \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

struct progress_state {
    int64_t cancel_at;  /* distillation iteration at which to cancel (0: never) */
    int64_t last_iteration;
    int expert_epochs;
    int checkpoints;
};

static int32_t on_progress(const ast_progress *p, void *user_data) {
    struct progress_state *st = (struct progress_state *)user_data;
    switch (p->stage) {
    case AST_STAGE_EXPERT_EPOCH:
        st->expert_epochs++;
        printf("pipeline: expert %lld epoch %lld/%lld: test accuracy %.3f\n", (long long)p->index,
               (long long)p->step, (long long)p->total, p->accuracy);
        break;
    case AST_STAGE_DISTILL_ITERATION:
        st->last_iteration = p->step;
        printf("pipeline: iteration %lld/%lld: loss %.4f, alpha %.5f (expert %lld from epoch %lld)\n",
               (long long)p->step, (long long)p->total, p->loss, p->step_size, (long long)p->index,
               (long long)p->start_epoch);
        if (st->cancel_at > 0 && p->step >= st->cancel_at) return 1; /* cancel: checkpoint first */
        break;
    case AST_STAGE_CHECKPOINT:
        st->checkpoints++;
        break;
    case AST_STAGE_EVALUATED:
        printf("pipeline: evaluated %s: %.2f +- %.2f %% over %lld networks\n", p->message,
               100 * p->accuracy, 100 * p->accuracy_std, (long long)p->count);
        break;
    case AST_STAGE_MESSAGE:
        printf("pipeline: message: %s\n", p->message);
        break;
    default:
        break;
    }
    return 0;
}

static int file_exists(const char *dir, const char *name) {
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "ast-pipeline-out";
    const char *npz = argc > 2 ? argv[2] : NULL;
    ast_config *cfg = NULL;
    ast_run *run = NULL;
    struct progress_state st = {0, 0, 0, 0};
    int64_t experts = 0, n = 0, c = 0, h = 0, w = 0, k = 0, iterations = 0, i, models = 0;
    float alpha = 0, *images, *pixels;
    int32_t *labels;
    double d_mean = 0, d_std = 0, b_mean = 0, b_std = 0, acc[8];
    char json[256];
    int64_t json_len = 0;
    ast_status status;

    /* Settings: the `quick` preset (Fashion-MNIST, ConvNet-3, AST) made tiny. */
    CHECK(ast_config_create(&cfg));
    CHECK(ast_config_load_preset(cfg, "quick"));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_WIDTH, 8));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_DATA_TRAIN_LIMIT, 600));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_DATA_TEST_LIMIT, 500));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_EXPERTS_COUNT, 2));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_EXPERTS_EPOCHS, 3));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_DISTILL_SYN_STEPS, 10));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_DISTILL_MAX_START_EPOCH, 2));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_DISTILL_ITERATIONS, 10));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_DISTILL_CHECKPOINT_EVERY, 5));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_EVAL_MODELS, 2));
    CHECK(ast_config_set_int(cfg, AST_CONFIG_EVAL_EPOCHS, 30));
    CHECK(ast_config_set_string(cfg, AST_CONFIG_EXPERTS_KIND, "ast"));
    if (npz) {
        CHECK(ast_config_set_string(cfg, AST_CONFIG_DATA_DATASET, "npz"));
        CHECK(ast_config_set_string(cfg, AST_CONFIG_DATA_PATH, npz));
        CHECK(ast_config_set_int(cfg, AST_CONFIG_DATA_TRAIN_LIMIT, 0));
        CHECK(ast_config_set_int(cfg, AST_CONFIG_DATA_TEST_LIMIT, 0));
    }
    CHECK(ast_config_get_string(cfg, AST_CONFIG_DATA_DATASET, json, sizeof json, &json_len));
    printf("pipeline: dataset %s, settings as JSON: ", json);
    CHECK(ast_config_to_json(cfg, NULL, 0, &json_len));
    printf("%lld bytes\n", (long long)json_len);

    status = ast_run_create(cfg, out, &run);
    if (status != AST_OK) {
        fprintf(stderr, "pipeline: %s: %s\n", ast_status_string(status), ast_last_error());
        fprintf(stderr, "pipeline: (Fashion-MNIST: apt-get install dataset-fashion-mnist)\n");
        return 1;
    }
    ast_config_free(cfg); /* the run keeps its own copy */

    /* Experts in two ranges: expert 1, then everything else (skips the finished one). */
    CHECK(ast_run_generate_experts(run, 1, 1, on_progress, &st));
    CHECK(ast_run_generate_experts(run, 0, -1, on_progress, &st));
    CHECK(ast_run_complete_experts(run, &experts));
    printf("pipeline: %lld complete experts (%d epochs trained)\n", (long long)experts, st.expert_epochs);

    /* Distillation, cancelled after iteration 4, then resumed from the checkpoint. */
    st.cancel_at = 4;
    status = ast_run_distill(run, on_progress, &st);
    printf("pipeline: cancelled distill -> %s (%d): %s\n", ast_status_string(status), (int)status,
           ast_run_last_error(run));
    if (status != AST_ERR_CANCELLED) return 1;
    CHECK(ast_run_step_size(run, NULL, &iterations));
    printf("pipeline: checkpoint holds %lld iterations\n", (long long)iterations);
    st.cancel_at = 0;
    CHECK(ast_run_distill(run, on_progress, &st));
    CHECK(ast_run_step_size(run, &alpha, &iterations));
    printf("pipeline: resumed and finished: %lld iterations, learned alpha %.5f\n", (long long)iterations, alpha);

    /* The evaluation protocol: distilled set vs a random real subset of the same size. */
    CHECK(ast_run_evaluate(run, on_progress, &st, &d_mean, &d_std, &b_mean, &b_std));
    CHECK(ast_run_evaluation(run, AST_RESULT_DISTILLED, NULL, NULL, acc, 8, &models));
    printf("pipeline: distilled %.2f +- %.2f %%, random real %.2f +- %.2f %% (%lld models:",
           100 * d_mean, 100 * d_std, 100 * b_mean, 100 * b_std, (long long)models);
    for (i = 0; i < models && i < 8; i++) printf(" %.3f", acc[i]);
    printf(")\n");
    CHECK(ast_run_write_outputs(run));
    printf("pipeline: wrote distilled.safetensors %s, distilled.png %s, report.json %s\n",
           file_exists(out, "distilled.safetensors") ? "yes" : "no",
           file_exists(out, "distilled.png") ? "yes" : "no", file_exists(out, "report.json") ? "yes" : "no");

    /* The distilled set into caller buffers. */
    CHECK(ast_run_distilled_shape(run, &n, &c, &h, &w, &k));
    images = malloc((size_t)(n * c * h * w) * sizeof(float));
    pixels = malloc((size_t)(n * c * h * w) * sizeof(float));
    labels = malloc((size_t)n * sizeof(int32_t));
    if (!images || !pixels || !labels) return 1;
    CHECK(ast_run_copy_distilled_images(run, AST_IMAGES_TRAINING, images, n * c * h * w));
    CHECK(ast_run_copy_distilled_images(run, AST_IMAGES_PIXEL, pixels, n * c * h * w));
    CHECK(ast_run_copy_distilled_labels(run, labels, n));
    printf("pipeline: distilled set %lld x %lld x %lld x %lld, %lld classes, labels", (long long)n,
           (long long)c, (long long)h, (long long)w, (long long)k);
    for (i = 0; i < n; i++) printf(" %d", (int)labels[i]);
    printf("; first pixel %.4f (normalised) / %.4f (pixel space)\n", images[0], pixels[0]);

    /* Misuse is reported, not fatal: a too small buffer. */
    status = ast_run_copy_distilled_labels(run, labels, n - 1);
    printf("pipeline: small buffer -> %s: %s\n", ast_status_string(status), ast_run_last_error(run));
    if (status != AST_ERR_SHAPE_MISMATCH) return 1;

    free(images);
    free(pixels);
    free(labels);
    ast_run_free(run);
    printf("pipeline: done\n");
    return 0;
}
