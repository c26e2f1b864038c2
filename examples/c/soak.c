/* soak.c - every handle type created, used and freed over and over from many threads at once.
 *
 *   soak [cycles] [threads] [seed] [rss-check]     (defaults 200 8 1 1)
 *
 * Each of `threads` pthreads runs `cycles` cycles. A cycle creates an ast_config (plus a
 * clone), two ast_datasets, an ast_network and an ast_run over the datasets (in a fresh
 * directory), in an order drawn from the thread's seeded generator, and uses them in a drawn
 * order:
 *   - config: typed setters/getters, to_json, a rejected value;
 *   - dataset: shape, fingerprint, copies;
 *   - network: logits, loss gradient, Hessian-vector product, evaluate with a progress
 *     callback that cancels at random;
 *   - matching: ast_matching_step with AST options (momentum, augmentation, intermediate
 *     targets), activation budget 0 or 64 MiB drawn at random (same result either way);
 *   - run: ast_run_all (experts, distillation, evaluation, outputs of a tiny run) with a
 *     progress callback that cancels at random, repeated until it completes (every
 *     repetition resumes from what the cancelled one saved);
 * then frees every handle in a drawn order and removes the directory. Every result must equal
 * bit for bit the one computed once by the main thread before the threads start (the run:
 * distilled images, labels and alpha), and every failing call must fail with its status.
 *
 * rss-check 1: the process's resident set at the end (all handles freed, threads joined)
 * must be within 10 % of the one after the first cycle of every thread (measured at a barrier
 * all threads pass after cycle 1). 0 prints the figures only (sanitizers and valgrind change
 * the allocator). Prints cycles, threads, RSS; exit status 0 on success.
 */
#define _XOPEN_SOURCE 700
#include "common.h"

#include <ftw.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define SIDE 8
#define PIXELS (SIDE * SIDE)
#define CLASSES 3
#define TRAIN 30
#define TEST 12
#define BATCH 6
#define STEPS 4

static const char *base_dir;
static float train_images[TRAIN * PIXELS], test_images[TEST * PIXELS];
static int32_t train_labels[TRAIN], test_labels[TEST];

/* Results every thread must reproduce, computed once before the threads start. */
static struct reference {
    int64_t p;
    float *theta, *target, *logits, *gradient, *hvp, *image_gradient, *final_parameters;
    float loss, matching_loss, step_size_gradient;
    double eval_loss, eval_accuracy;
    float *distilled;
    int64_t distilled_len;
    int32_t distilled_labels[CLASSES];
    float alpha;
} ref;

static pthread_barrier_t after_first_cycle;
static long rss_after_first_cycle_kib;

/* ---- a small seeded generator per thread (xorshift64*) ---------------------------------- */
static uint64_t next_random(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}
static int random_below(uint64_t *s, int n) { return (int)(next_random(s) % (uint64_t)n); }
static void shuffle(int *order, int n, uint64_t *s) {
    int i, j, t;
    for (i = 0; i < n; i++) order[i] = i;
    for (i = n - 1; i > 0; i--) {
        j = random_below(s, i + 1);
        t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static long resident_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long peak_kib(void) {
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}
static void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- progress: cancel with probability 1/every (every 0: never) ------------------------- */
struct canceller {
    uint64_t *random;
    int every;
    int events, cancels;
};
static int32_t maybe_cancel(const ast_progress *p, void *user_data) {
    struct canceller *c = (struct canceller *)user_data;
    (void)p;
    c->events++;
    if (c->every > 0 && random_below(c->random, c->every) == 0) {
        c->cancels++;
        return 1;
    }
    return 0;
}

/* ---- the handles ------------------------------------------------------------------------ */
static ast_status make_run_config(ast_config **out) {
    ast_config *cfg = NULL;
    ast_status st = ast_config_create(&cfg);
    if (st != AST_OK) return st;
    if ((st = ast_config_set_int(cfg, AST_CONFIG_CHANNELS, 1)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_IMAGE_SIZE, SIDE)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_CLASSES, CLASSES)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_WIDTH, 4)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_DEPTH, 2)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_SEED, 5)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_EXPERTS_COUNT, 2)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_EXPERTS_EPOCHS, 2)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_EXPERTS_BATCH, 10)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_DISTILL_SYN_STEPS, 3)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_DISTILL_EXPERT_EPOCHS, 1)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_DISTILL_MAX_START_EPOCH, 1)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_DISTILL_ITERATIONS, 4)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_DISTILL_CHECKPOINT_EVERY, 2)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_EVAL_MODELS, 1)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_EVAL_EPOCHS, 2)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_EVAL_BATCH, 10)) == AST_OK) {
        *out = cfg;
        return AST_OK;
    }
    ast_config_free(cfg);
    return st;
}

/* One complete run in `dir` (ast_run_all repeated until it completes; `cancel_every` as in
 * struct canceller), its distilled images copied into `images` (ref.distilled_len floats). */
static int complete_run(const ast_config *cfg, const ast_dataset *train, const ast_dataset *test,
                        const char *dir, uint64_t *random, int cancel_every, float *images,
                        int32_t *labels, float *alpha, int *cancels) {
    ast_run *run = NULL;
    struct canceller c;
    ast_status st;
    int attempt;
    c.random = random;
    c.every = cancel_every;
    c.events = c.cancels = 0;
    if (ast_run_create_with_data(cfg, dir, train, test, &run) != AST_OK) return 0;
    for (attempt = 0; attempt < 100; attempt++) {
        st = ast_run_all(run, maybe_cancel, &c);
        if (st == AST_OK) break;
        if (st != AST_ERR_CANCELLED) {
            fprintf(stderr, "soak: ast_run_all: %s: %s\n", ast_status_string(st), ast_last_error());
            ast_run_free(run);
            return 0;
        }
        if (attempt == 50) c.every = 0; /* unlucky draws: let it finish */
    }
    *cancels += c.cancels;
    st = ast_run_copy_distilled_images(run, AST_IMAGES_TRAINING, images, ref.distilled_len);
    if (st == AST_OK) st = ast_run_copy_distilled_labels(run, labels, CLASSES);
    if (st == AST_OK) st = ast_run_step_size(run, alpha, NULL);
    ast_run_free(run);
    return st == AST_OK;
}

/* Everything a thread needs per cycle (scratch buffers are the thread's, reused). */
struct worker {
    int index, cycles;
    uint64_t random;
    int ok;
    int cancels, evaluate_cancels, completed_runs;
    char failure[8192];
    float *logits, *gradient, *hvp, *image_gradient, *final_parameters, *distilled;
};

#define FAIL(...)                                                                          \
    do {                                                                                   \
        snprintf(w->failure, sizeof w->failure, __VA_ARGS__);                              \
        return 0;                                                                          \
    } while (0)
#define EXPECT_OK(call)                                                                    \
    do {                                                                                   \
        ast_status expect_status_ = (call);                                                \
        if (expect_status_ != AST_OK)                                                      \
            FAIL("%s: %s: %s", #call, ast_status_string(expect_status_), ast_last_error()); \
    } while (0)
#define SAME(a, b, n, what)                                                                \
    do {                                                                                   \
        if (memcmp((a), (b), (size_t)(n) * sizeof *(a)) != 0) FAIL("%s differs from the reference", what); \
    } while (0)

enum { H_CONFIG, H_CLONE, H_TRAIN, H_TEST, H_NETWORK, H_COUNT };
enum { U_CONFIG, U_DATASET, U_NETWORK, U_EVALUATE, U_MATCHING, U_RUN, U_COUNT };

static int create_handle(struct worker *w, int which, ast_config **cfg, ast_config **clone,
                         ast_dataset **train, ast_dataset **test, ast_network **net) {
    switch (which) {
    case H_CONFIG: EXPECT_OK(make_run_config(cfg)); break;
    case H_CLONE: /* a second config, cloned from in U_CONFIG */
        EXPECT_OK(make_run_config(clone));
        break;
    case H_TRAIN:
        EXPECT_OK(ast_dataset_create(train_images, TRAIN * PIXELS, train_labels, AST_LABELS_INT32, TRAIN,
                                     TRAIN, 1, SIDE, SIDE, CLASSES, train));
        break;
    case H_TEST:
        EXPECT_OK(ast_dataset_create(test_images, TEST * PIXELS, test_labels, AST_LABELS_INT32, TEST, TEST,
                                     1, SIDE, SIDE, CLASSES, test));
        break;
    case H_NETWORK: EXPECT_OK(make_network(4, net)); break;
    }
    return 1;
}

static int use(struct worker *w, int what, ast_config *cfg, ast_config *clone, ast_dataset *train,
               ast_dataset *test, ast_network *net, int cycle) {
    const int64_t p = ref.p;
    switch (what) {
    case U_CONFIG: {
        ast_config *copy = NULL;
        int64_t value = 0, length = 0;
        char json[8192];
        EXPECT_OK(ast_config_clone(clone, &copy));
        EXPECT_OK(ast_config_set_int(copy, AST_CONFIG_DISTILL_IPC, 1 + cycle % 3));
        EXPECT_OK(ast_config_get_int(copy, AST_CONFIG_DISTILL_IPC, &value));
        if (value != 1 + cycle % 3) FAIL("config: read back %lld", (long long)value);
        if (ast_config_set_int(copy, AST_CONFIG_WIDTH, -5) != AST_ERR_OUT_OF_RANGE) FAIL("config: width -5 accepted");
        if (ast_config_set_string(copy, AST_CONFIG_EXPERTS_KIND, "adam") != AST_ERR_OUT_OF_RANGE)
            FAIL("config: kind adam accepted");
        EXPECT_OK(ast_config_to_json(cfg, json, sizeof json, &length));
        if (length <= 0 || length >= (int64_t)sizeof json) FAIL("config: JSON length %lld", (long long)length);
        EXPECT_OK(ast_config_apply_json(copy, json));
        ast_config_free(copy);
        break;
    }
    case U_DATASET: {
        int64_t count = 0, classes = 0;
        const char *fingerprint = NULL;
        int32_t labels[TEST];
        EXPECT_OK(ast_dataset_shape(test, &count, NULL, NULL, NULL, &classes));
        EXPECT_OK(ast_dataset_fingerprint(train, &fingerprint));
        EXPECT_OK(ast_dataset_copy_labels(test, labels, TEST));
        if (count != TEST || classes != CLASSES || strlen(fingerprint) == 0 ||
            memcmp(labels, test_labels, sizeof labels) != 0)
            FAIL("dataset: shape, fingerprint or labels wrong");
        if (ast_dataset_copy_labels(test, labels, TEST - 1) != AST_ERR_SHAPE_MISMATCH) FAIL("dataset: short buffer accepted");
        break;
    }
    case U_NETWORK: {
        float loss = 0;
        int32_t bad[BATCH];
        EXPECT_OK(ast_network_logits(net, ref.theta, p, train_images, BATCH * PIXELS, BATCH, w->logits, BATCH * CLASSES));
        EXPECT_OK(ast_network_loss_gradient(net, ref.theta, p, train_images, BATCH * PIXELS, train_labels, BATCH,
                                            &loss, w->gradient, p));
        EXPECT_OK(ast_network_hessian_vector_product(net, ref.theta, p, train_images, BATCH * PIXELS, train_labels,
                                                     BATCH, ref.target, p, w->hvp, p));
        SAME(w->logits, ref.logits, BATCH * CLASSES, "logits");
        SAME(w->gradient, ref.gradient, p, "gradient");
        SAME(w->hvp, ref.hvp, p, "Hessian-vector product");
        if (loss != ref.loss) FAIL("loss differs from the reference");
        memcpy(bad, train_labels, sizeof bad);
        bad[BATCH - 1] = CLASSES;
        if (ast_network_loss_gradient(net, ref.theta, p, train_images, BATCH * PIXELS, bad, BATCH, &loss,
                                      w->gradient, p) != AST_ERR_INVALID_ARGUMENT)
            FAIL("network: bad label accepted");
        break;
    }
    case U_EVALUATE: {
        struct canceller c;
        double loss = 0, accuracy = 0;
        ast_status st;
        c.random = &w->random;
        c.every = 3;
        c.events = c.cancels = 0;
        st = ast_network_evaluate(net, ref.theta, p, train, 4, maybe_cancel, &c, &loss, &accuracy);
        if (st == AST_ERR_CANCELLED) {
            w->evaluate_cancels++;
            EXPECT_OK(ast_network_evaluate(net, ref.theta, p, train, 4, NULL, NULL, &loss, &accuracy));
        } else if (st != AST_OK) {
            FAIL("evaluate: %s: %s", ast_status_string(st), ast_last_error());
        }
        if (loss != ref.eval_loss || accuracy != ref.eval_accuracy) FAIL("evaluate differs from the reference");
        break;
    }
    case U_MATCHING: {
        ast_matching_options options = AST_MATCHING_OPTIONS_INIT;
        const int64_t step = 2;
        float loss = 0, alpha_gradient = 0;
        options.inner_momentum = 0.5;
        options.augmentation = "color_crop_flip";
        options.intermediate_count = 1;
        options.intermediate_targets = ref.target;
        options.intermediate_steps = &step;
        options.activation_budget = random_below(&w->random, 2) ? 64 << 20 : 0;
        EXPECT_OK(ast_matching_step(net, ref.theta, ref.target, p, train_images, BATCH * PIXELS, train_labels, BATCH,
                                    0.01f, STEPS, 3, 9, NULL, 0, &options, &loss, w->image_gradient, BATCH * PIXELS,
                                    &alpha_gradient, w->final_parameters, p));
        if (loss != ref.matching_loss || alpha_gradient != ref.step_size_gradient) FAIL("matching loss differs");
        SAME(w->image_gradient, ref.image_gradient, BATCH * PIXELS, "matching image gradient");
        SAME(w->final_parameters, ref.final_parameters, p, "matching final parameters");
        break;
    }
    case U_RUN: {
        char dir[4096];
        int32_t labels[CLASSES];
        float alpha = 0;
        snprintf(dir, sizeof dir, "%s/t%d-c%d", base_dir, w->index, cycle);
        if (!complete_run(cfg, train, test, dir, &w->random, 8, w->distilled, labels, &alpha, &w->cancels))
            FAIL("run in %s failed: %s", dir, ast_last_error());
        remove_tree(dir);
        SAME(w->distilled, ref.distilled, ref.distilled_len, "distilled images");
        if (memcmp(labels, ref.distilled_labels, sizeof labels) != 0 || alpha != ref.alpha)
            FAIL("distilled labels or alpha differ");
        w->completed_runs++;
        break;
    }
    }
    return 1;
}

static int cycle_once(struct worker *w, int cycle) {
    ast_config *cfg = NULL, *clone = NULL;
    ast_dataset *train = NULL, *test = NULL;
    ast_network *net = NULL;
    int order[U_COUNT], i, ok = 1;

    shuffle(order, H_COUNT, &w->random);
    for (i = 0; i < H_COUNT && ok; i++) ok = create_handle(w, order[i], &cfg, &clone, &train, &test, &net);
    shuffle(order, U_COUNT, &w->random);
    for (i = 0; i < U_COUNT && ok; i++) ok = use(w, order[i], cfg, clone, train, test, net, cycle);
    shuffle(order, H_COUNT, &w->random);
    for (i = 0; i < H_COUNT; i++) {
        switch (order[i]) {
        case H_CONFIG: ast_config_free(cfg); break;
        case H_CLONE: ast_config_free(clone); break;
        case H_TRAIN: ast_dataset_free(train); break;
        case H_TEST: ast_dataset_free(test); break;
        case H_NETWORK: ast_network_free(net); break;
        }
    }
    return ok;
}

static void *worker_main(void *arg) {
    struct worker *w = (struct worker *)arg;
    int cycle, first_ok;
    first_ok = cycle_once(w, 0);
    /* Every thread passes the barrier, failed or not, so the others do not wait forever. */
    if (pthread_barrier_wait(&after_first_cycle) == PTHREAD_BARRIER_SERIAL_THREAD)
        rss_after_first_cycle_kib = resident_kib();
    w->ok = first_ok;
    for (cycle = 1; cycle < w->cycles && w->ok; cycle++) w->ok = cycle_once(w, cycle);
    return NULL;
}

static float *floats(int64_t n) {
    float *p = calloc((size_t)n, sizeof(float));
    if (!p) {
        fprintf(stderr, "soak: out of memory\n");
        exit(1);
    }
    return p;
}

int main(int argc, char **argv) {
    int cycles = argc > 1 ? atoi(argv[1]) : 200;
    int threads = argc > 2 ? atoi(argv[2]) : 8;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
    int rss_check = argc > 4 ? atoi(argv[4]) : 1;
    char dir_template[] = "/tmp/libast-soak.XXXXXX";
    ast_network *net = NULL;
    ast_config *cfg = NULL;
    ast_dataset *train = NULL, *test = NULL;
    struct worker *workers;
    pthread_t *ids;
    uint64_t random = seed;
    int i, failed = 0, cancels = 0, evaluate_cancels = 0, runs = 0;
    long rss_end, rss_start;
    double growth;
    ast_matching_options options = AST_MATCHING_OPTIONS_INIT;
    const int64_t step = 2;
    char dir[4096];

    if (cycles < 1 || threads < 1 || threads > 256) {
        fprintf(stderr, "usage: soak [cycles >= 1] [threads 1...256] [seed] [rss-check 0|1]\n");
        return 2;
    }
    base_dir = mkdtemp(dir_template);
    if (!base_dir) {
        perror("soak: mkdtemp");
        return 1;
    }
    rss_start = resident_kib();

    /* Data and the reference results, on the main thread. */
    fill_random(train_images, TRAIN * PIXELS, seed + 100);
    fill_random(test_images, TEST * PIXELS, seed + 200);
    for (i = 0; i < TRAIN; i++) train_labels[i] = i % CLASSES;
    for (i = 0; i < TEST; i++) test_labels[i] = i % CLASSES;
    CHECK(make_network(4, &net));
    CHECK(ast_network_parameter_count(net, &ref.p));
    ref.theta = floats(ref.p);
    ref.target = floats(ref.p);
    ref.gradient = floats(ref.p);
    ref.hvp = floats(ref.p);
    ref.final_parameters = floats(ref.p);
    ref.logits = floats(BATCH * CLASSES);
    ref.image_gradient = floats(BATCH * PIXELS);
    CHECK(ast_network_init_parameters(net, seed, ref.theta, ref.p));
    CHECK(ast_network_init_parameters(net, seed + 1, ref.target, ref.p));
    CHECK(ast_network_logits(net, ref.theta, ref.p, train_images, BATCH * PIXELS, BATCH, ref.logits, BATCH * CLASSES));
    CHECK(ast_network_loss_gradient(net, ref.theta, ref.p, train_images, BATCH * PIXELS, train_labels, BATCH,
                                    &ref.loss, ref.gradient, ref.p));
    CHECK(ast_network_hessian_vector_product(net, ref.theta, ref.p, train_images, BATCH * PIXELS, train_labels,
                                             BATCH, ref.target, ref.p, ref.hvp, ref.p));
    CHECK(ast_dataset_create(train_images, TRAIN * PIXELS, train_labels, AST_LABELS_INT32, TRAIN, TRAIN, 1, SIDE,
                             SIDE, CLASSES, &train));
    CHECK(ast_dataset_create(test_images, TEST * PIXELS, test_labels, AST_LABELS_INT32, TEST, TEST, 1, SIDE, SIDE,
                             CLASSES, &test));
    CHECK(ast_network_evaluate(net, ref.theta, ref.p, train, 4, NULL, NULL, &ref.eval_loss, &ref.eval_accuracy));
    options.inner_momentum = 0.5;
    options.augmentation = "color_crop_flip";
    options.intermediate_count = 1;
    options.intermediate_targets = ref.target;
    options.intermediate_steps = &step;
    CHECK(ast_matching_step(net, ref.theta, ref.target, ref.p, train_images, BATCH * PIXELS, train_labels, BATCH, 0.01f,
                            STEPS, 3, 9, NULL, 0, &options, &ref.matching_loss, ref.image_gradient, BATCH * PIXELS,
                            &ref.step_size_gradient, ref.final_parameters, ref.p));
    ref.distilled_len = CLASSES * PIXELS; /* ipc 1 */
    ref.distilled = floats(ref.distilled_len);
    CHECK(make_run_config(&cfg));
    snprintf(dir, sizeof dir, "%s/reference", base_dir);
    if (!complete_run(cfg, train, test, dir, &random, 0, ref.distilled, ref.distilled_labels, &ref.alpha, &cancels)) {
        fprintf(stderr, "soak: reference run failed: %s\n", ast_last_error());
        return 1;
    }
    remove_tree(dir);
    ast_config_free(cfg);
    ast_dataset_free(train);
    ast_dataset_free(test);
    ast_network_free(net);
    printf("soak: reference: %lld parameters, loss %.6f, matching loss %.6f, distilled alpha %.6f\n",
           (long long)ref.p, ref.loss, ref.matching_loss, ref.alpha);

    workers = calloc((size_t)threads, sizeof *workers);
    ids = calloc((size_t)threads, sizeof *ids);
    if (!workers || !ids || pthread_barrier_init(&after_first_cycle, NULL, (unsigned)threads) != 0) return 1;
    for (i = 0; i < threads; i++) {
        struct worker *w = &workers[i];
        w->index = i;
        w->cycles = cycles;
        w->random = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i + 1;
        w->logits = floats(BATCH * CLASSES);
        w->gradient = floats(ref.p);
        w->hvp = floats(ref.p);
        w->image_gradient = floats(BATCH * PIXELS);
        w->final_parameters = floats(ref.p);
        w->distilled = floats(ref.distilled_len);
    }
    for (i = 0; i < threads; i++)
        if (pthread_create(&ids[i], NULL, worker_main, &workers[i]) != 0) return 1;
    for (i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    pthread_barrier_destroy(&after_first_cycle);
    for (i = 0; i < threads; i++) {
        struct worker *w = &workers[i];
        if (!w->ok) {
            fprintf(stderr, "soak: FAIL: thread %d: %s\n", i, w->failure);
            failed = 1;
        }
        cancels += w->cancels;
        evaluate_cancels += w->evaluate_cancels;
        runs += w->completed_runs;
        free(w->logits);
        free(w->gradient);
        free(w->hvp);
        free(w->image_gradient);
        free(w->final_parameters);
        free(w->distilled);
    }
    free(workers);
    free(ids);
    free(ref.theta);
    free(ref.target);
    free(ref.gradient);
    free(ref.hvp);
    free(ref.final_parameters);
    free(ref.logits);
    free(ref.image_gradient);
    free(ref.distilled);
    remove_tree(base_dir);

    rss_end = resident_kib();
    growth = rss_after_first_cycle_kib > 0 ? 100.0 * (double)(rss_end - rss_after_first_cycle_kib) / (double)rss_after_first_cycle_kib : 0;
    printf("soak: %d cycles x %d threads: %d runs completed through %d random cancellations, %d evaluations "
           "cancelled, every result identical to the reference\n",
           cycles, threads, runs, cancels, evaluate_cancels);
    printf("soak: RSS %ld KiB at start, %ld KiB after the first cycle, %ld KiB at the end (%+.1f %%), peak %ld KiB\n",
           rss_start, rss_after_first_cycle_kib, rss_end, growth, peak_kib());
    if (failed) return 1;
    if (rss_check && growth > 10.0) {
        fprintf(stderr, "soak: FAIL: RSS grew %.1f %% (> 10 %%) from the first cycle to the end\n", growth);
        return 1;
    }
    printf("soak: OK\n");
    return 0;
}
