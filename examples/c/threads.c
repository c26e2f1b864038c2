/* threads.c - two pthreads, each with its own network and dataset handles, computing at the
 * same time; results must equal the sequential ones bit for bit, and each thread's error
 * message must be its own. Exit status 0 on success.
 */
#include "common.h"

#include <pthread.h>
#include <string.h>

#define N 8
#define PIXELS 64
#define ROUNDS 25

struct job {
    int64_t width;
    uint64_t seed;
    /* results of the sequential run, then of the threaded run */
    float loss;
    float *grad;
    double eval_loss;
    int64_t p;
    int ok;
    char message[256];
};

static float images[N * PIXELS];
static const int32_t labels[N] = {0, 1, 2, 0, 1, 2, 0, 1};

/* One job: own handles, ROUNDS x (gradient + evaluate + a failing call). */
static int run(struct job *job, int compare) {
    ast_network *net = NULL;
    ast_dataset *ds = NULL;
    float *theta, *grad, loss = 0;
    double eval_loss = 0;
    int32_t bad[N];
    int round;
    ast_status st;

    CHECK(make_network(job->width, &net));
    CHECK(ast_dataset_create(images, N * PIXELS, labels, AST_LABELS_INT32, N, N, 1, 8, 8, 3, &ds));
    CHECK(ast_network_parameter_count(net, &job->p));
    theta = malloc((size_t)job->p * sizeof(float));
    grad = malloc((size_t)job->p * sizeof(float));
    if (!theta || !grad) return 0;
    CHECK(ast_network_init_parameters(net, job->seed, theta, job->p));
    memcpy(bad, labels, sizeof bad);
    bad[job->width % N] = 99;

    for (round = 0; round < (compare ? ROUNDS : 1); round++) {
        CHECK(ast_network_loss_gradient(net, theta, job->p, images, N * PIXELS, labels, N, &loss, grad, job->p));
        CHECK(ast_network_evaluate(net, theta, job->p, ds, 3, NULL, NULL, &eval_loss, NULL));
        st = ast_network_loss_gradient(net, theta, job->p, images, N * PIXELS, bad, N, &loss, grad, job->p);
        snprintf(job->message, sizeof job->message, "%s", ast_last_error());
        if (st != AST_ERR_INVALID_ARGUMENT) return 0;
        if (compare) {
            char expect[32];
            snprintf(expect, sizeof expect, "labels[%d]", (int)(job->width % N));
            if (strstr(job->message, expect) == NULL) return 0; /* another thread's message? */
            CHECK(ast_network_loss_gradient(net, theta, job->p, images, N * PIXELS, labels, N, &loss, grad, job->p));
            if (loss != job->loss || eval_loss != job->eval_loss ||
                memcmp(grad, job->grad, (size_t)job->p * sizeof(float)) != 0)
                return 0;
        }
    }
    if (!compare) {
        CHECK(ast_network_loss_gradient(net, theta, job->p, images, N * PIXELS, labels, N, &loss, grad, job->p));
        job->loss = loss;
        job->eval_loss = eval_loss;
        job->grad = grad;
    } else {
        free(grad);
    }
    free(theta);
    ast_network_free(net);
    ast_dataset_free(ds);
    return 1;
}

static void *thread_main(void *arg) {
    struct job *job = (struct job *)arg;
    job->ok = run(job, 1);
    return NULL;
}

int main(void) {
    struct job jobs[2] = {{4, 1, 0, NULL, 0, 0, 0, {0}}, {6, 2, 0, NULL, 0, 0, 0, {0}}};
    pthread_t threads[2];
    int i;

    fill_random(images, N * PIXELS, 3);
    for (i = 0; i < 2; i++) {
        if (!run(&jobs[i], 0)) return 1; /* sequential reference */
        printf("threads: sequential job %d: %lld parameters, loss %.6f\n", i, (long long)jobs[i].p, jobs[i].loss);
    }
    for (i = 0; i < 2; i++)
        if (pthread_create(&threads[i], NULL, thread_main, &jobs[i]) != 0) return 1;
    for (i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    for (i = 0; i < 2; i++) {
        printf("threads: job %d %s (last error seen: %s)\n", i, jobs[i].ok ? "matches" : "DIFFERS", jobs[i].message);
        free(jobs[i].grad);
    }
    if (!jobs[0].ok || !jobs[1].ok) return 1;
    printf("threads: OK: 2 threads x %d rounds, results identical to the sequential run\n", ROUNDS);
    return 0;
}
