/*
 * ast.h - the C interface of libast: dataset distillation by trajectory matching (AST / MTT)
 * on OpenBLAS.
 *
 * This header is the manual. It is hand-written, plain C99 and stable; libast.so implements it
 * in Swift (Sources/ASTCAPI, every export checked against this file by the Swift compiler with
 * `@c @implementation`). Link with `-last`; the shipped libast.so has the Swift runtime linked
 * in statically and needs only libopenblas, libstdc++, libgcc_s, libm and libc.
 *
 * ---------------------------------------------------------------------------------------------
 * Usage example (error handling shortened; see examples/c/demo.c for the full program)
 *
 *     #include <ast.h>
 *
 *     ast_config *cfg = NULL;
 *     ast_network *net = NULL;
 *     if (ast_config_create(&cfg) != AST_OK) { fprintf(stderr, "%s\n", ast_last_error()); return 1; }
 *     ast_config_set_int(cfg, AST_CONFIG_CHANNELS, 1);
 *     ast_config_set_int(cfg, AST_CONFIG_IMAGE_SIZE, 8);
 *     ast_config_set_int(cfg, AST_CONFIG_CLASSES, 3);
 *     ast_config_set_int(cfg, AST_CONFIG_WIDTH, 4);
 *     ast_config_set_int(cfg, AST_CONFIG_DEPTH, 2);
 *     if (ast_network_create(cfg, &net) != AST_OK) { fprintf(stderr, "%s\n", ast_last_error()); return 1; }
 *     ast_config_free(cfg);                          // the network copied what it needs
 *
 *     int64_t p = 0;
 *     ast_network_parameter_count(net, &p);
 *     float *theta = malloc((size_t)p * sizeof(float)), *grad = malloc((size_t)p * sizeof(float));
 *     ast_network_init_parameters(net, 42, theta, p);
 *
 *     float loss = 0;                                // images: 2 x 1 x 8 x 8, labels in [0, 3)
 *     ast_status st = ast_network_loss_gradient(net, theta, p, images, 2 * 64, labels, 2,
 *                                               &loss, grad, p);
 *     if (st != AST_OK)
 *         fprintf(stderr, "%s: %s\n", ast_status_string(st), ast_network_last_error(net));
 *     ast_network_free(net);
 *
 * ---------------------------------------------------------------------------------------------
 * Conventions (they hold for every function unless its comment says otherwise)
 *
 * Errors.   Every function that can fail returns an ast_status: AST_OK (0) or one of the
 *           AST_ERR_* codes below, whose values never change. On failure the library stores a
 *           message that names the function and the offending argument, e.g.
 *           "ast_network_logits: images_len is 10 but count*channels*height*width is 128":
 *             - ast_last_error(): message of the last failed call on the calling thread (any
 *               function; the only place for failures where no handle exists, e.g. a failed
 *               create);
 *             - ast_<handle>_last_error(h): message of the last failed call made with handle h.
 *           Success does not clear either message. Outputs are written only on success (a
 *           failed call may have written part of an output buffer; handle out-pointers are set
 *           to NULL). Bad input never aborts the host process: NULL pointers and handles,
 *           negative or overflowing sizes, wrong buffer lengths, unknown enum values and keys,
 *           out-of-range values, labels outside [0, classes) and NaN/Inf floats are all
 *           reported as a status. (Out-of-memory inside the engine cannot be caught reliably;
 *           the bounds in this header keep single networks small.) Passing a pointer that is
 *           not a live handle of the right type (freed, garbage) is undefined behaviour.
 *
 * Ownership. Functions named *_create / *_clone / ast_network_get_config return a new handle
 *           through `out`; the caller owns it and releases it with the matching *_free.
 *           *_free(NULL) is a no-op. Handles may be freed in any order: a handle that needs
 *           another one keeps its own reference (no current handle does: ast_network_create
 *           copies the configuration). Input buffers are only read during the call and never
 *           retained (datasets copy their pixels and labels). Output buffers are caller-owned
 *           and written in full. Strings returned as `const char *` are owned by the library:
 *           static ones live forever; handle-owned ones as documented per function. Never
 *           free() them.
 *
 * Buffers.  Every buffer comes with its length in elements (int64_t), never bytes. Input
 *           buffers must have exactly the stated length; output buffers at least the stated
 *           length (exactly that many elements are written). Images are float32 NCHW,
 *           contiguous. Labels are int32 class indices in [0, classes).
 *
 * Threads.  All functions may be called from any thread; no initialisation is needed.
 *           Thread safety per handle type is stated at each type. Inside a call libast
 *           splits the work over its own worker threads: AST_NUM_THREADS (1-64) of them when
 *           set, else OpenBLAS's thread count (OPENBLAS_NUM_THREADS, or the CPU count), read
 *           once at the first call. libast then sets OpenBLAS to one thread (each worker runs
 *           its own single-threaded gemms); a host using the same OpenBLAS sees that setting.
 *
 * Versions. AST_VERSION_* describe this header; ast_version_number() the loaded library.
 *           ABI policy: within one AST_ABI_VERSION, functions, constants and struct fields are
 *           only ever added (new functions, new enum values, new config keys, new fields at the
 *           end of ast_progress, announced through its struct_size), never changed or removed;
 *           anything else increments AST_ABI_VERSION and the SONAME.
 */
#ifndef AST_H
#define AST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define AST_API __attribute__((visibility("default")))
#else
#define AST_API
#endif

/* ============================================================================================
 * Versions
 * ========================================================================================== */

#define AST_VERSION_MAJOR 0
#define AST_VERSION_MINOR 2
#define AST_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH */
#define AST_VERSION_NUMBER (AST_VERSION_MAJOR * 10000 + AST_VERSION_MINOR * 100 + AST_VERSION_PATCH)
#define AST_VERSION_STRING "0.2.0"
/* Incremented on any incompatible change of this header (see "Versions" above). */
#define AST_ABI_VERSION 1

/* Version of the loaded library, same encoding as AST_VERSION_NUMBER. Thread-safe. */
AST_API int32_t ast_version_number(void);
/* Version of the loaded library, e.g. "0.2.0"; static storage. Thread-safe. */
AST_API const char *ast_version_string(void);
/* AST_ABI_VERSION the loaded library was built with. A host should check
 * `ast_abi_version() == AST_ABI_VERSION` once at start-up. Thread-safe. */
AST_API int32_t ast_abi_version(void);

/* ============================================================================================
 * Status codes and error messages
 * ========================================================================================== */

/* An int32_t, not the enum, so its size is fixed. Values never change. */
typedef int32_t ast_status;
enum {
    AST_OK = 0,
    AST_ERR_INVALID_ARGUMENT = 1, /* a value is not acceptable (negative size, bad enum, ...)  */
    AST_ERR_SHAPE_MISMATCH = 2,   /* buffer length or tensor shape does not fit the others     */
    AST_ERR_NON_FINITE = 3,       /* NaN or Inf in an input, or produced by the computation    */
    AST_ERR_IO = 4,               /* a file could not be read or written                       */
    AST_ERR_FORMAT = 5,           /* a file or blob is not in the expected format              */
    AST_ERR_CANCELLED = 6,        /* the progress callback returned nonzero                    */
    AST_ERR_DIVERGED = 7,         /* an optimisation diverged                                  */
    AST_ERR_OUT_OF_MEMORY = 8,    /* an allocation would exceed the library's limits           */
    AST_ERR_UNSUPPORTED = 9,      /* valid request that this build does not implement          */
    AST_ERR_NULL_POINTER = 10,    /* a required pointer or handle argument is NULL             */
    AST_ERR_UNKNOWN_KEY = 11,     /* configuration key (number or name) does not exist         */
    AST_ERR_OUT_OF_RANGE = 12,    /* a value lies outside its documented bounds                */
    AST_ERR_WRONG_TYPE = 13,      /* typed setter/getter used with a key of the other type     */
    AST_ERR_INTERNAL = 99         /* a bug in libast; please report it with the message        */
};

/* Short English name of a status, e.g. "null pointer"; static storage; never NULL (unknown
 * codes give "unknown status"). Thread-safe. */
AST_API const char *ast_status_string(ast_status status);

/* Message of the last failed libast call on the calling thread ("" if there was none).
 * Thread-local storage owned by the library: valid until the next failing call on this thread
 * (or the thread's exit); copy it if you need it longer. Never NULL. */
AST_API const char *ast_last_error(void);

/* ============================================================================================
 * Progress reporting
 * ========================================================================================== */

/* What a long-running call is doing (ast_progress.stage). */
enum {
    AST_STAGE_EVALUATE = 1,          /* ast_network_evaluate: step = images done, total = images */
    AST_STAGE_EXPERT_EPOCH = 2,      /* an expert finished an epoch (saved): step = epoch
                                        (1 ... total), total = experts.epochs, index = expert,
                                        count = experts in this call, accuracy = its test
                                        accuracy after the epoch                              */
    AST_STAGE_DISTILL_ITERATION = 3, /* a distillation iteration finished: step = iteration,
                                        total = distill.iterations, loss = matching loss,
                                        step_size = the learnable alpha after it, index = the
                                        expert matched, start_epoch = its start epoch          */
    AST_STAGE_CHECKPOINT = 4,        /* a checkpoint was written: step = iteration, total =
                                        distill.iterations, message = its path                 */
    AST_STAGE_EVALUATION_EPOCH = 5,  /* an evaluation network finished an epoch: step = epoch,
                                        total = eval.epochs, index = model (0-based), count =
                                        eval.models, message = "distilled" or "random real"    */
    AST_STAGE_EVALUATED = 6,         /* one evaluation finished: accuracy = mean final test
                                        accuracy, accuracy_std = its sample std, count =
                                        models, message = "distilled" or "random real"         */
    AST_STAGE_MESSAGE = 7            /* a line of information (e.g. "resuming distillation
                                        after iteration 20"): message                          */
};

/* Passed to the progress callback; valid only during the callback (so are the strings it
 * points to). New fields are only ever appended: read a field only if offsetof(field) <
 * struct_size. Fields a stage does not describe are 0 (numbers), NaN (loss, accuracy,
 * accuracy_std, step_size) or NULL (message). */
typedef struct ast_progress {
    int32_t struct_size;    /* sizeof(ast_progress) in the library that filled it          */
    int32_t stage;          /* AST_STAGE_*                                                 */
    int64_t step;           /* units done so far (1 ... total)                             */
    int64_t total;          /* units in this stage                                         */
    double loss;            /* AST_STAGE_EVALUATE: running mean loss of what is done so
                               far; AST_STAGE_DISTILL_ITERATION: the matching loss         */
    double elapsed_seconds; /* wall time since the call started                            */
    /* pipeline events (present when struct_size >= 96; see the stages above) */
    int64_t index;          /* expert, expert matched, or evaluation model                 */
    int64_t count;          /* experts in this call, or evaluation models                  */
    double accuracy;        /* test accuracy (0 ... 1)                                     */
    double accuracy_std;    /* sample standard deviation of the accuracies                 */
    double step_size;       /* the learnable step size alpha                               */
    int64_t start_epoch;    /* start epoch of the expert segment matched                   */
    const char *message;    /* UTF-8 text or path, NUL-terminated                          */
} ast_progress;

/* Called by long-running functions from the calling thread, synchronously. Return 0 to
 * continue; any nonzero value aborts the call, which then returns AST_ERR_CANCELLED. (The
 * pipeline calls of ast_run stop at the next point where they can stop cleanly, after
 * saving their state; see ast_run_generate_experts.) The callback must not free a handle in
 * use by the running call, must not call functions on the ast_run that is running (they
 * fail: the run is busy), and must not longjmp or throw (C++) through the library. */
typedef int32_t (*ast_progress_fn)(const ast_progress *progress, void *user_data);

/* ============================================================================================
 * Configuration: ast_config
 *
 * Every setting of a run (network, experts, distillation, evaluation, data) as typed
 * key/value pairs, each key with a documented type, default and bounds (ast_config_bounds)
 * and a dotted name as in the command-line tool's config files ("distill.ipc").
 * Keys are numbers that never change; later releases add keys.
 * Thread safety: not thread-safe; use one ast_config from one thread at a time (distinct
 * configs are independent). Functions that take `const ast_config *` only read it.
 * ========================================================================================== */

typedef struct ast_config ast_config;

/* Value types of keys. */
enum { AST_TYPE_INT = 1, AST_TYPE_FLOAT = 2, AST_TYPE_STRING = 3 };

/* ast_config_set_int(cfg, AST_CONFIG_NORM, AST_NORM_*) */
enum { AST_NORM_NONE = 0, AST_NORM_INSTANCE = 1, AST_NORM_BATCH = 2 };
/* ast_config_set_int(cfg, AST_CONFIG_POOL, AST_POOL_*) */
enum { AST_POOL_AVERAGE = 0, AST_POOL_MAX = 1 };

/* Keys. One row per key: constant, dotted name, type, default, bounds (inclusive; for string
 * keys the allowed values, "DSA" = a DSA strategy: groups from color, crop, cutout, flip,
 * scale, rotate joined by "_", or "none"; "path" = any text), meaning. Booleans are int keys
 * with bounds 0...1. In the default column, DSA stands for "color_crop_cutout_flip_scale_rotate".
 *
 * Network (1-99): the ConvNet of MTT/AST, `depth` blocks of conv3x3(width) -> norm -> ReLU ->
 * pool2x2, then a linear classifier. (Their ast_bounds.name is the short name in brackets.)
 *   AST_CONFIG_CHANNELS                network.channels          int     3              1...64              input channels [channels]
 *   AST_CONFIG_IMAGE_SIZE              network.image_size        int     32             2...1024            input height = width [image_size]
 *   AST_CONFIG_CLASSES                 network.classes           int     10             1...100000          output classes [classes]
 *   AST_CONFIG_WIDTH                   network.width             int     128            1...4096            conv channels (net_width) [width]
 *   AST_CONFIG_DEPTH                   network.depth             int     3              1...10              conv blocks (net_depth) [depth]
 *   AST_CONFIG_NORM                    network.norm              int     1              0...2               AST_NORM_* (default INSTANCE) [norm]
 *   AST_CONFIG_POOL                    network.pool              int     0              0...1               AST_POOL_* (default AVERAGE) [pool]
 *   AST_CONFIG_SEED                    seed                      int     0              0...2^63-1          base seed of every random draw of a run [seed]
 *                                      (the explicit `seed` of ast_network_init_parameters and ast_matching_step does not use it)
 * Experts (100-199): the trajectories the distillation matches (ast_run_generate_experts).
 *   AST_CONFIG_EXPERTS_KIND            experts.kind              string  "ast"          mtt|ast             plain-SGD MTT experts or smooth AST experts
 *   AST_CONFIG_EXPERTS_COUNT           experts.count             int     5              1...100000          experts to train
 *   AST_CONFIG_EXPERTS_EPOCHS          experts.epochs            int     20             1...10000           epochs per expert
 *   AST_CONFIG_EXPERTS_BATCH           experts.batch             int     256            1...100000          expert batch size
 *   AST_CONFIG_EXPERTS_AUGMENTATION    experts.augmentation      string  DSA            DSA                 augmentation of expert training
 *   The expert recipe (added in 0.2): experts.kind picks MTT's (SGD 0.01, nothing else) or AST's
 *   (SGD 0.003, momentum 0.9, weight decay 1e-3, x0.6 from epoch epochs/2+1 with a fresh momentum
 *   buffer, loss ramp 0.5 over 10 epochs, gradient penalty 2); each key below changes one field of
 *   it. Reading a key gives the value in effect (the defaults shown are AST's with 20 epochs);
 *   setting -1 restores the kind's value. Rates and factors must be positive, the rest >= 0.
 *   AST_CONFIG_EXPERTS_LR              experts.lr                float   0.003          -1...10             SGD learning rate
 *   AST_CONFIG_EXPERTS_MOMENTUM        experts.momentum          float   0.9            -1...0.999          SGD momentum
 *   AST_CONFIG_EXPERTS_WEIGHT_DECAY    experts.weight_decay      float   0.001          -1...1              SGD weight decay
 *   AST_CONFIG_EXPERTS_DECAY_EPOCH     experts.decay_epoch       int     11             -1...10000          epoch at whose start the rate decays (0 = never)
 *   AST_CONFIG_EXPERTS_DECAY_FACTOR    experts.decay_factor      float   0.6            -1...10             factor of that decay
 *   AST_CONFIG_EXPERTS_MOMENTUM_RESET  experts.momentum_reset    int     1              -1...1              1 = fresh momentum buffer at the decay
 *   AST_CONFIG_EXPERTS_LOSS_SCALE_START experts.loss_scale_start float 0.5            -1...1              lambda_0 of the loss-scaling ramp (1 = off)
 *   AST_CONFIG_EXPERTS_LOSS_SCALE_EPOCHS experts.loss_scale_epochs int 10             -1...10000          its length L in epochs (0 = off):
 *                                                                                                            lambda_e = l0 + (1 - l0)/L * e for e < L, then 1
 *   AST_CONFIG_EXPERTS_GRADIENT_PENALTY experts.gradient_penalty float 2              -1...1000           weight of AST's gradient penalty (0 = off)
 *   AST_CONFIG_EXPERTS_DIR             experts.dir               string  ""             path                trajectory store used instead of <out>/experts: shared by runs, or imported (Python libast.mtt); its network must be the run's
 * Distillation (200-299): the outer loop of trajectory matching (ast_run_distill).
 *   AST_CONFIG_DISTILL_IPC             distill.ipc               int     1              1...10000           synthetic images per class
 *   AST_CONFIG_DISTILL_SYN_STEPS       distill.syn_steps         int     50             1...10000           N: student steps per iteration
 *   AST_CONFIG_DISTILL_EXPERT_EPOCHS   distill.expert_epochs     int     2              1...10000           M: expert epochs matched
 *   AST_CONFIG_DISTILL_MAX_START_EPOCH distill.max_start_epoch   int     2              1...10000           T+: start epochs are drawn below this
 *   AST_CONFIG_DISTILL_ITERATIONS      distill.iterations        int     5000           0...10000000        outer iterations
 *   AST_CONFIG_DISTILL_LR_IMG          distill.lr_img            float   100            1e-12...1e12        learning rate of the images
 *   AST_CONFIG_DISTILL_LR_LR           distill.lr_lr             float   1e-07          1e-15...1e6         learning rate of the step size alpha
 *   AST_CONFIG_DISTILL_LR_INIT         distill.lr_init           float   0.01           1e-12...1e3         alpha_0, the initial student step size
 *   AST_CONFIG_DISTILL_BATCH_SYN       distill.batch_syn         int     0              0...10000000        synthetic minibatch per student step (0 = all)
 *   AST_CONFIG_DISTILL_INIT            distill.init              string  "representative" real|noise|representative  initial synthetic images
 *   AST_CONFIG_DISTILL_INNER_MOMENTUM  distill.inner_momentum    float   0.9            0...0.999           AST momentum inner loop mu (0 = plain SGD, MTT)
 *   AST_CONFIG_DISTILL_BALANCED_LOSS   distill.balanced_loss     int     1              0...1               AST balanced inner loss w(t)
 *   AST_CONFIG_DISTILL_INTERMEDIATE    distill.intermediate      string  "uniform"      off|uniform|adaptive  AST intermediate matching
 *   AST_CONFIG_DISTILL_WEIGHT_PERTURBATION distill.weight_perturbation float 1       0...100             AST conv-kernel weight perturbation (0 = off)
 *   AST_CONFIG_DISTILL_AUGMENTATION    distill.augmentation      string  DSA            DSA                 augmentation of the inner loop
 *   AST_CONFIG_DISTILL_CHECKPOINT_EVERY distill.checkpoint_every int     50             1...10000000        iterations between checkpoints
 *   AST_CONFIG_DISTILL_MOMENTUM        distill.momentum          float   0.5            0...0.999           momentum of the image and alpha updates
 *   AST_CONFIG_DISTILL_SOFT_LABELS     distill.soft_labels       int     0              0...1               learn soft labels (initialised from an expert's logits)
 *   AST_CONFIG_DISTILL_LR_LABELS       distill.lr_labels         float   5              1e-9...1e6          learning rate of the soft-label logits
 *   AST_CONFIG_DISTILL_ACTIVATION_MIB  distill.activation_mib    int     256            0...1048576         MiB of step graphs kept from the forward unroll
 *                                                                                                            instead of recomputed: faster, same result (0 = none)
 *   AST_CONFIG_DISTILL_SEGMENTS        distill.segments          int     1              1...65536           R: segments matched per iteration, meta-gradients
 *                                                                                                            averaged before one update (see ast_run_segment_gradient)
 * Evaluation (300-399): the protocol of docs/evaluation.md (ast_run_evaluate).
 *   AST_CONFIG_EVAL_MODELS             eval.models               int     5              1...1000            K networks trained per evaluation
 *   AST_CONFIG_EVAL_EPOCHS             eval.epochs               int     1000           1...100000          epochs per network
 *   AST_CONFIG_EVAL_BATCH              eval.batch                int     256            1...100000          batch size
 *   AST_CONFIG_EVAL_AUGMENTATION       eval.augmentation         string  DSA            DSA                 augmentation of evaluation training
 *   AST_CONFIG_EVAL_BASELINE           eval.baseline             int     1              0...1               also evaluate a random real subset of equal size
 *   AST_CONFIG_EVAL_BASELINE_LR        eval.baseline_lr          float   0.01           1e-9...10           learning rate of that baseline
 *   AST_CONFIG_EVAL_WIDTH              eval.width                int     0              0...4096            conv width of the evaluation networks (0 = network.width)
 *   AST_CONFIG_EVAL_DEPTH              eval.depth                int     0              0...10              conv blocks of the evaluation networks (0 = network.depth)
 *   AST_CONFIG_EVAL_NORM               eval.norm                 string  "same"         same|none|instance|batch  normalisation of the evaluation networks
 *   AST_CONFIG_EVAL_POOL               eval.pool                 string  "same"         same|average|max    pooling of the evaluation networks (cross-architecture numbers)
 *   AST_CONFIG_EVAL_EVERY              eval.every                int     0              0...10000000        also evaluate the distilled set at every multiple of this
 *                                                                                                            iteration during ast_run_distill (0 = only at the end; added in 0.2)
 * Data (400-499): what ast_run_create loads (ast_run_create_with_data ignores data.dataset
 * and data.dir/data.path; it applies data.preprocessing and the limits to the caller's images).
 *   AST_CONFIG_DATA_DATASET            data.dataset              string  "fashion-mnist" fashion-mnist|mnist|cifar10|cifar100|npz  dataset (npz: your own file, data.path)
 *   AST_CONFIG_DATA_DIR                data.dir                  string  ""             path                directory of its files ("" = default location)
 *   AST_CONFIG_DATA_PREPROCESSING      data.preprocessing        string  "normalize"    none|normalize|zca  per-channel normalisation or ZCA whitening
 *   AST_CONFIG_DATA_TRAIN_LIMIT        data.train_limit          int     0              0...100000000       class-balanced random training subset (0 = all)
 *   AST_CONFIG_DATA_TEST_LIMIT         data.test_limit           int     0              0...100000000       first test images (0 = all)
 *   AST_CONFIG_DATA_PATH               data.path                 string  ""             path                the .npz file of data.dataset "npz": train_images [N,C,H,W] or [N,H,W], train_labels [N], test_images, test_labels (uint8 pixels are divided by 255)
 *
 * The defaults of the network keys describe a 3x32x32 ConvNet-3 (as in release 0.1) while the
 * default dataset is Fashion-MNIST (1x28x28): for a run, load a preset
 * (ast_config_load_preset) or set channels/image_size/classes; ast_run_create checks them.
 * Fashion-MNIST and MNIST are 1x28x28 with 10 classes, CIFAR-10 3x32x32 with 10, CIFAR-100
 * 3x32x32 with 100.
 *
 * Cross-field rules are checked when a network or run is created, not by the setters: every
 * block must see at least a 2x2 input (each block halves the image: 32 -> 16 -> 8 -> 4;
 * 28x28 one-channel images get MTT's padding of 3 in the first conv, so they behave like
 * 32x32), width * (final side)^2 <= 2^26, at most 2^31-1 parameters; for runs also
 * distill.max_start_epoch - 1 + distill.expert_epochs <= experts.epochs, data.train_limit
 * (when set) >= ipc * classes, and the size limits given at ast_run_create.
 */
enum {
    AST_CONFIG_CHANNELS = 1,
    AST_CONFIG_IMAGE_SIZE = 2,
    AST_CONFIG_CLASSES = 3,
    AST_CONFIG_WIDTH = 4,
    AST_CONFIG_DEPTH = 5,
    AST_CONFIG_NORM = 6,
    AST_CONFIG_POOL = 7,
    AST_CONFIG_SEED = 8,

    AST_CONFIG_EXPERTS_KIND = 100,
    AST_CONFIG_EXPERTS_COUNT = 101,
    AST_CONFIG_EXPERTS_EPOCHS = 102,
    AST_CONFIG_EXPERTS_BATCH = 103,
    AST_CONFIG_EXPERTS_AUGMENTATION = 104,
    AST_CONFIG_EXPERTS_LR = 105,
    AST_CONFIG_EXPERTS_MOMENTUM = 106,
    AST_CONFIG_EXPERTS_WEIGHT_DECAY = 107,
    AST_CONFIG_EXPERTS_DECAY_EPOCH = 108,
    AST_CONFIG_EXPERTS_DECAY_FACTOR = 109,
    AST_CONFIG_EXPERTS_MOMENTUM_RESET = 110,
    AST_CONFIG_EXPERTS_LOSS_SCALE_START = 111,
    AST_CONFIG_EXPERTS_LOSS_SCALE_EPOCHS = 112,
    AST_CONFIG_EXPERTS_GRADIENT_PENALTY = 113,
    AST_CONFIG_EXPERTS_DIR = 120,

    AST_CONFIG_DISTILL_IPC = 200,
    AST_CONFIG_DISTILL_SYN_STEPS = 201,
    AST_CONFIG_DISTILL_EXPERT_EPOCHS = 202,
    AST_CONFIG_DISTILL_MAX_START_EPOCH = 203,
    AST_CONFIG_DISTILL_ITERATIONS = 204,
    AST_CONFIG_DISTILL_LR_IMG = 205,
    AST_CONFIG_DISTILL_LR_LR = 206,
    AST_CONFIG_DISTILL_LR_INIT = 207,
    AST_CONFIG_DISTILL_BATCH_SYN = 208,
    AST_CONFIG_DISTILL_INIT = 209,
    AST_CONFIG_DISTILL_INNER_MOMENTUM = 210,
    AST_CONFIG_DISTILL_BALANCED_LOSS = 211,
    AST_CONFIG_DISTILL_INTERMEDIATE = 212,
    AST_CONFIG_DISTILL_WEIGHT_PERTURBATION = 213,
    AST_CONFIG_DISTILL_AUGMENTATION = 214,
    AST_CONFIG_DISTILL_CHECKPOINT_EVERY = 215,
    AST_CONFIG_DISTILL_MOMENTUM = 216,
    AST_CONFIG_DISTILL_SOFT_LABELS = 217,
    AST_CONFIG_DISTILL_LR_LABELS = 218,
    AST_CONFIG_DISTILL_ACTIVATION_MIB = 219,
    AST_CONFIG_DISTILL_SEGMENTS = 220,

    AST_CONFIG_EVAL_MODELS = 300,
    AST_CONFIG_EVAL_EPOCHS = 301,
    AST_CONFIG_EVAL_BATCH = 302,
    AST_CONFIG_EVAL_AUGMENTATION = 303,
    AST_CONFIG_EVAL_BASELINE = 304,
    AST_CONFIG_EVAL_BASELINE_LR = 305,
    AST_CONFIG_EVAL_WIDTH = 306,
    AST_CONFIG_EVAL_DEPTH = 307,
    AST_CONFIG_EVAL_NORM = 308,
    AST_CONFIG_EVAL_POOL = 309,
    AST_CONFIG_EVAL_EVERY = 310,

    AST_CONFIG_DATA_DATASET = 400,
    AST_CONFIG_DATA_DIR = 401,
    AST_CONFIG_DATA_PREPROCESSING = 402,
    AST_CONFIG_DATA_TRAIN_LIMIT = 403,
    AST_CONFIG_DATA_TEST_LIMIT = 404,
    AST_CONFIG_DATA_PATH = 405
};

/* Longest string value (bytes, without the NUL) a string key accepts. */
#define AST_MAX_STRING_LENGTH 4095

/* Description of one key (ast_config_bounds). For AST_TYPE_INT keys the int_* fields are
 * meaningful and the float_* fields are 0; for AST_TYPE_FLOAT keys the reverse; for
 * AST_TYPE_STRING keys all are 0 (see ast_config_describe for the allowed values). */
typedef struct ast_bounds {
    int32_t key;          /* the key described                                  */
    int32_t type;         /* AST_TYPE_INT, AST_TYPE_FLOAT or AST_TYPE_STRING    */
    const char *name;     /* e.g. "image_size", "distill.ipc"; static storage   */
    int64_t int_min;      /* inclusive                                          */
    int64_t int_max;      /* inclusive                                          */
    int64_t int_default;
    double float_min;     /* inclusive                                          */
    double float_max;     /* inclusive                                          */
    double float_default;
} ast_bounds;

/* New configuration with every key at its default. `out` receives the handle (NULL on
 * failure); free it with ast_config_free. Errors: AST_ERR_NULL_POINTER (out). */
AST_API ast_status ast_config_create(ast_config **out);

/* New, independent copy of `config` (values only, not its last error). Errors:
 * AST_ERR_NULL_POINTER (config, out). */
AST_API ast_status ast_config_clone(const ast_config *config, ast_config **out);

/* Releases `config`; NULL is a no-op. Networks and runs created from it are unaffected. */
AST_API void ast_config_free(ast_config *config);

/* Message of the last failed call made with `config` ("" if none). Owned by `config`: valid
 * until its next failing call or ast_config_free. A NULL `config` gives a static message. */
AST_API const char *ast_config_last_error(const ast_config *config);

/* Sets an AST_TYPE_INT key. Errors: AST_ERR_NULL_POINTER (config), AST_ERR_UNKNOWN_KEY,
 * AST_ERR_WRONG_TYPE (float or string key), AST_ERR_OUT_OF_RANGE (outside the key's bounds;
 * the configuration is then unchanged). */
AST_API ast_status ast_config_set_int(ast_config *config, int32_t key, int64_t value);

/* Reads an AST_TYPE_INT key into *out. Errors: AST_ERR_NULL_POINTER (config, out),
 * AST_ERR_UNKNOWN_KEY, AST_ERR_WRONG_TYPE. */
AST_API ast_status ast_config_get_int(const ast_config *config, int32_t key, int64_t *out);

/* Sets an AST_TYPE_FLOAT key. Errors: AST_ERR_NULL_POINTER (config), AST_ERR_UNKNOWN_KEY,
 * AST_ERR_WRONG_TYPE (int or string key), AST_ERR_NON_FINITE (NaN/Inf),
 * AST_ERR_OUT_OF_RANGE (the configuration is then unchanged). */
AST_API ast_status ast_config_set_float(ast_config *config, int32_t key, double value);

/* Reads a key as a double into *out. Float keys give their value; int keys are converted
 * (exact below 2^53). Errors: AST_ERR_NULL_POINTER (config, out), AST_ERR_UNKNOWN_KEY,
 * AST_ERR_WRONG_TYPE (string key). */
AST_API ast_status ast_config_get_float(const ast_config *config, int32_t key, double *out);

/* Sets an AST_TYPE_STRING key to `value` (NUL-terminated UTF-8, copied). Errors:
 * AST_ERR_NULL_POINTER (config, value), AST_ERR_UNKNOWN_KEY, AST_ERR_WRONG_TYPE (int or
 * float key), AST_ERR_INVALID_ARGUMENT (not UTF-8, longer than AST_MAX_STRING_LENGTH bytes,
 * or not a DSA strategy for the augmentation keys; the message says why),
 * AST_ERR_OUT_OF_RANGE (not one of the key's allowed values). On failure the configuration
 * is unchanged. */
AST_API ast_status ast_config_set_string(ast_config *config, int32_t key, const char *value);

/* Reads an AST_TYPE_STRING key into the caller's `buffer` of `capacity` bytes: writes
 * min(length, capacity - 1) bytes and a NUL when capacity > 0, and the full length in bytes
 * (without the NUL) to *out_length. The value is complete when *out_length < capacity; a
 * first call with capacity 0 (buffer may then be NULL) sizes the buffer. Errors:
 * AST_ERR_NULL_POINTER (config, out_length; buffer when capacity > 0), AST_ERR_UNKNOWN_KEY,
 * AST_ERR_WRONG_TYPE, AST_ERR_INVALID_ARGUMENT (negative capacity). */
AST_API ast_status ast_config_get_string(const ast_config *config, int32_t key, char *buffer,
                                         int64_t capacity, int64_t *out_length);

/* Type, name, default and bounds of `key` into *out. No handle needed; thread-safe.
 * Errors: AST_ERR_NULL_POINTER (out), AST_ERR_UNKNOWN_KEY. */
AST_API ast_status ast_config_bounds(int32_t key, ast_bounds *out);

/* The dotted name (e.g. "network.width", "distill.ipc"), a one-line help text and the
 * allowed values of a string key joined by "|" (e.g. "mtt|ast"; "" for numbers, free text
 * and DSA strategies) of `key`. Every out pointer may be NULL; the strings have static
 * storage. Thread-safe. Errors: AST_ERR_UNKNOWN_KEY. */
AST_API ast_status ast_config_describe(int32_t key, const char **out_name,
                                       const char **out_help, const char **out_choices);

/* Looks a key up by its dotted name ("distill.ipc", "network.width") or, for the network
 * keys, by its short name as in ast_bounds.name ("width"). Thread-safe.
 * Errors: AST_ERR_NULL_POINTER (name, out_key), AST_ERR_UNKNOWN_KEY (also for text that is
 * not UTF-8). */
AST_API ast_status ast_config_key_by_name(const char *name, int32_t *out_key);

/* Lists all keys in increasing order. Writes min(capacity, number of keys) keys to `keys`
 * (which may be NULL if capacity is 0) and the number of keys to *out_count, so a first call
 * with capacity 0 sizes the buffer. Thread-safe. Errors: AST_ERR_NULL_POINTER (out_count;
 * keys when capacity > 0), AST_ERR_INVALID_ARGUMENT (negative capacity). */
AST_API ast_status ast_config_keys(int32_t *keys, int32_t capacity, int32_t *out_count);

/* Replaces every value of `config` (all keys, the network ones included) by those of the
 * named preset, the same as the command-line tool's `--preset`: "quick" (Fashion-MNIST,
 * minutes on 2 cores), "fashion-ipc1", "fashion-ipc10", "mnist-ipc1", "mnist-ipc10" (CPU-sized)
 * and "cifar10-ipc1/10/50", "cifar100-ipc1/10/50" (the published settings); see
 * ast_config_presets. Errors: AST_ERR_NULL_POINTER (config, name), AST_ERR_INVALID_ARGUMENT
 * (unknown preset; the message lists the known ones). On failure the configuration is
 * unchanged. */
AST_API ast_status ast_config_load_preset(ast_config *config, const char *name);

/* Lists the preset names (static storage), like ast_config_keys: writes min(capacity,
 * number of presets) pointers to `names` and the number to *out_count. Thread-safe.
 * Errors: AST_ERR_NULL_POINTER (out_count; names when capacity > 0),
 * AST_ERR_INVALID_ARGUMENT (negative capacity). */
AST_API ast_status ast_config_presets(const char **names, int32_t capacity, int32_t *out_count);

/* Applies the settings of a JSON file: one flat object of dotted name -> value, as written
 * by ast_config_to_json and read by the command-line tool's `--config`. Keys absent from the
 * file keep their values. Values: numbers for int and float keys (ints must be integral;
 * true/false are 1/0), strings for string keys and also "none|instance|batch" for
 * network.norm and "average|max" for network.pool. Integers above 2^53 are not exact in JSON.
 * Errors: AST_ERR_NULL_POINTER (config, path), AST_ERR_IO (cannot read the file; larger
 * than 16 MiB), AST_ERR_FORMAT (not JSON, not an object), AST_ERR_UNKNOWN_KEY,
 * AST_ERR_WRONG_TYPE, AST_ERR_OUT_OF_RANGE, AST_ERR_INVALID_ARGUMENT (as the typed setters;
 * messages name the file and the key). All or nothing: on failure the configuration is
 * unchanged. */
AST_API ast_status ast_config_load_json(ast_config *config, const char *path);

/* As ast_config_load_json, with the JSON text itself (NUL-terminated UTF-8, at most 16 MiB). */
AST_API ast_status ast_config_apply_json(ast_config *config, const char *json);

/* Every setting as pretty-printed JSON (the format above, keys in key order), into the
 * caller's `buffer` as ast_config_get_string does: complete when *out_length < capacity.
 * Errors: AST_ERR_NULL_POINTER (config, out_length; buffer when capacity > 0),
 * AST_ERR_INVALID_ARGUMENT (negative capacity). */
AST_API ast_status ast_config_to_json(const ast_config *config, char *buffer, int64_t capacity,
                                      int64_t *out_length);

/* ============================================================================================
 * Datasets: ast_dataset
 *
 * A labelled image set held by the library: count x channels x height x width float32 pixels
 * (NCHW) and `count` class labels in [0, classes). Immutable after creation.
 * Thread safety: any number of threads may use one ast_dataset at the same time (only the
 * text of ast_dataset_last_error is then that of whichever call failed last; use
 * ast_last_error, which is per thread).
 * ========================================================================================== */

typedef struct ast_dataset ast_dataset;

/* Element type of a label buffer. */
enum { AST_LABELS_INT32 = 1, AST_LABELS_INT64 = 2 };

/* Creates a dataset from caller memory, copying it (the caller may free its buffers right
 * after the call).
 *   images      count*channels*height*width float32 values, NCHW, all finite
 *   images_len  number of floats in `images`; must equal count*channels*height*width
 *   labels      `count` labels of type `label_type` (AST_LABELS_INT32: int32_t,
 *               AST_LABELS_INT64: int64_t), each in [0, classes)
 *   labels_len  number of labels; must equal count
 *   count       >= 1; channels, height, width >= 1 and <= 65536; classes 2 ... 100000
 * Errors: AST_ERR_NULL_POINTER (images, labels, out), AST_ERR_INVALID_ARGUMENT (sizes, label
 * type, labels outside [0, classes)), AST_ERR_SHAPE_MISMATCH (images_len, labels_len),
 * AST_ERR_OUT_OF_MEMORY (more than 2^31-1 pixels), AST_ERR_NON_FINITE (NaN/Inf pixel; the
 * message gives its index). `out` receives the handle (NULL on failure). */
AST_API ast_status ast_dataset_create(const float *images, int64_t images_len,
                                      const void *labels, int32_t label_type, int64_t labels_len,
                                      int64_t count, int64_t channels, int64_t height,
                                      int64_t width, int64_t classes, ast_dataset **out);

/* Releases `dataset`; NULL is a no-op. */
AST_API void ast_dataset_free(ast_dataset *dataset);

/* Message of the last failed call made with `dataset` ("" if none). Owned by `dataset`: valid
 * until its next failing call or ast_dataset_free. A NULL `dataset` gives a static message. */
AST_API const char *ast_dataset_last_error(const ast_dataset *dataset);

/* Writes the shape. Any of the out pointers may be NULL (that value is skipped).
 * Errors: AST_ERR_NULL_POINTER (dataset). */
AST_API ast_status ast_dataset_shape(const ast_dataset *dataset, int64_t *out_count,
                                     int64_t *out_channels, int64_t *out_height,
                                     int64_t *out_width, int64_t *out_classes);

/* Content fingerprint (hex string: the same pixels, labels and shape give the same string).
 * Owned by `dataset`, valid until ast_dataset_free. Errors: AST_ERR_NULL_POINTER (dataset,
 * out). */
AST_API ast_status ast_dataset_fingerprint(const ast_dataset *dataset, const char **out);

/* Copies the pixels (count*channels*height*width floats) into `out`, which holds out_len
 * floats. Errors: AST_ERR_NULL_POINTER (dataset, out), AST_ERR_SHAPE_MISMATCH (out_len too
 * small). */
AST_API ast_status ast_dataset_copy_images(const ast_dataset *dataset, float *out,
                                           int64_t out_len);

/* Copies the `count` labels into `out`, which holds out_len int32 values.
 * Errors: AST_ERR_NULL_POINTER (dataset, out), AST_ERR_SHAPE_MISMATCH (out_len too small). */
AST_API ast_status ast_dataset_copy_labels(const ast_dataset *dataset, int32_t *out,
                                           int64_t out_len);

/* ============================================================================================
 * Networks: ast_network
 *
 * The ConvNet described by a configuration, as a pure function of a flat float32 parameter
 * vector theta (length ast_network_parameter_count). The network holds no parameters: every
 * call takes theta from the caller. Tensor layout inside theta follows MTT's ReparamModule
 * order: conv0.weight, conv0.bias, norm0.weight, norm0.bias, ..., classifier.weight,
 * classifier.bias (norm tensors only when norm is not AST_NORM_NONE); see
 * ast_network_tensor. Losses are the mean softmax cross-entropy over the batch.
 *
 * Common arguments of the engine calls:
 *   parameters, parameters_len   theta, exactly ast_network_parameter_count floats, finite
 *   images, images_len           count images, NCHW with the network's channels and image
 *                                size; images_len = count*channels*image_size^2; finite
 *   labels                       count int32 labels in [0, classes)
 *   count                        batch size, 1 ... 2^31-1; AST_ERR_OUT_OF_MEMORY if one layer
 *                                would hold more than 2^31-1 activations (use smaller batches)
 * Thread safety: immutable after creation; any number of threads may call functions on one
 * ast_network at the same time (ast_network_last_error then shows whichever call failed
 * last; use ast_last_error, which is per thread).
 * ========================================================================================== */

typedef struct ast_network ast_network;

/* Largest rank of a parameter tensor (conv weights: out x in x 3 x 3). */
#define AST_MAX_TENSOR_RANK 4

/* Creates the network described by `config` (read during the call only; the network keeps a
 * copy). Errors: AST_ERR_NULL_POINTER (config, out), AST_ERR_INVALID_ARGUMENT (cross-field
 * rules, see the config keys), AST_ERR_OUT_OF_MEMORY (more than 2^31-1 parameters).
 * `out` receives the handle (NULL on failure). */
AST_API ast_status ast_network_create(const ast_config *config, ast_network **out);

/* Releases `network`; NULL is a no-op. */
AST_API void ast_network_free(ast_network *network);

/* Message of the last failed call made with `network` ("" if none). Owned by `network`: valid
 * until its next failing call or ast_network_free. A NULL `network` gives a static message. */
AST_API const char *ast_network_last_error(const ast_network *network);

/* A new ast_config holding the network's configuration (caller frees it).
 * Errors: AST_ERR_NULL_POINTER (network, out). */
AST_API ast_status ast_network_get_config(const ast_network *network, ast_config **out);

/* Number of floats in theta. Errors: AST_ERR_NULL_POINTER (network, out). */
AST_API ast_status ast_network_parameter_count(const ast_network *network, int64_t *out);

/* Number of parameter tensors in theta. Errors: AST_ERR_NULL_POINTER (network, out). */
AST_API ast_status ast_network_tensor_count(const ast_network *network, int64_t *out);

/* Describes tensor `index` (0 ... tensor_count-1) of theta. Every out pointer may be NULL.
 *   out_name    e.g. "conv0.weight"; owned by `network`, valid until ast_network_free
 *   out_offset  first element in theta;   out_count  number of elements
 *   out_rank    number of dimensions (1 ... AST_MAX_TENSOR_RANK)
 *   out_shape   receives min(rank, shape_capacity) dimensions (NULL if shape_capacity is 0)
 * Errors: AST_ERR_NULL_POINTER (network; out_shape when shape_capacity > 0),
 * AST_ERR_OUT_OF_RANGE (index), AST_ERR_INVALID_ARGUMENT (negative shape_capacity). */
AST_API ast_status ast_network_tensor(const ast_network *network, int64_t index,
                                      const char **out_name, int64_t *out_offset,
                                      int64_t *out_count, int32_t *out_rank, int64_t *out_shape,
                                      int32_t shape_capacity);

/* Fresh parameters with PyTorch's default initialisation drawn from `seed` (same seed, same
 * values, on every machine). Writes parameter_count floats to `out` (out_len >= that).
 * Errors: AST_ERR_NULL_POINTER (network, out), AST_ERR_SHAPE_MISMATCH (out_len). */
AST_API ast_status ast_network_init_parameters(const ast_network *network, uint64_t seed,
                                               float *out, int64_t out_len);

/* Forward pass: logits (count x classes, row-major) into out_logits (out_len >= that).
 * Errors: AST_ERR_NULL_POINTER (network, parameters, images, out_logits),
 * AST_ERR_INVALID_ARGUMENT (count), AST_ERR_SHAPE_MISMATCH (parameters_len, images_len,
 * out_len), AST_ERR_NON_FINITE (parameters, images; outputs that overflowed float32). */
AST_API ast_status ast_network_logits(const ast_network *network,
                                      const float *parameters, int64_t parameters_len,
                                      const float *images, int64_t images_len, int64_t count,
                                      float *out_logits, int64_t out_len);

/* Mean cross-entropy loss into *out_loss and its gradient with respect to theta into
 * out_gradient (parameter_count floats, gradient_len >= that).
 * Errors: as ast_network_logits, plus AST_ERR_NULL_POINTER (labels, out_loss, out_gradient),
 * AST_ERR_INVALID_ARGUMENT (a label outside [0, classes); the message gives its index),
 * AST_ERR_SHAPE_MISMATCH (gradient_len). */
AST_API ast_status ast_network_loss_gradient(const ast_network *network,
                                             const float *parameters, int64_t parameters_len,
                                             const float *images, int64_t images_len,
                                             const int32_t *labels, int64_t count,
                                             float *out_loss, float *out_gradient,
                                             int64_t gradient_len);

/* Hessian-vector product of the mean cross-entropy: out = (d^2 L / d theta^2) * vector.
 * vector: parameter_count finite floats (vector_len = parameter_count); out: out_len >=
 * parameter_count. Errors: as ast_network_loss_gradient, plus AST_ERR_NULL_POINTER (vector,
 * out), AST_ERR_SHAPE_MISMATCH (vector_len, out_len), AST_ERR_NON_FINITE (vector; outputs
 * that overflowed float32). */
AST_API ast_status ast_network_hessian_vector_product(const ast_network *network,
                                                      const float *parameters,
                                                      int64_t parameters_len,
                                                      const float *images, int64_t images_len,
                                                      const int32_t *labels, int64_t count,
                                                      const float *vector, int64_t vector_len,
                                                      float *out, int64_t out_len);

/* Mixed second derivative: out = d/d images (grad_theta L . vector), an images-shaped
 * result (out_len >= images_len). This is the term that carries a parameter-space
 * direction back to the pixels (used by distillation). Errors: as
 * ast_network_hessian_vector_product. */
AST_API ast_status ast_network_mixed_input_product(const ast_network *network,
                                                   const float *parameters,
                                                   int64_t parameters_len,
                                                   const float *images, int64_t images_len,
                                                   const int32_t *labels, int64_t count,
                                                   const float *vector, int64_t vector_len,
                                                   float *out, int64_t out_len);

/* Evaluates theta on a whole dataset in batches of `batch_size` images: mean cross-entropy
 * into *out_loss and top-1 accuracy (0 ... 1) into *out_accuracy (either may be NULL).
 * The dataset's shape must match the network (channels, image size; its classes <= the
 * network's). `progress` (may be NULL) is called after every batch with AST_STAGE_EVALUATE;
 * a nonzero return stops the evaluation with AST_ERR_CANCELLED (outputs untouched).
 * Errors: AST_ERR_NULL_POINTER (network, parameters, dataset), AST_ERR_INVALID_ARGUMENT
 * (batch_size < 1), AST_ERR_SHAPE_MISMATCH (parameters_len, dataset shape),
 * AST_ERR_NON_FINITE (parameters, or non-finite logits), AST_ERR_CANCELLED. */
AST_API ast_status ast_network_evaluate(const ast_network *network,
                                        const float *parameters, int64_t parameters_len,
                                        const ast_dataset *dataset, int64_t batch_size,
                                        ast_progress_fn progress, void *user_data,
                                        double *out_loss, double *out_accuracy);

/* ============================================================================================
 * Runs: ast_run
 *
 * The whole AST/MTT job over one output directory, in resumable steps that are the same as
 * the command-line tool's (the same files, the same results for the same settings):
 *
 *     <out>/experts/               trajectory store: expert_NNNNN.safetensors per expert
 *     <out>/checkpoint.safetensors distillation state, every distill.checkpoint_every iterations
 *     <out>/distilled.safetensors  images, labels, alpha, the settings and provenance
 *     <out>/distilled.png          one row per class, in pixel space
 *     <out>/report.json            settings, expert accuracies, losses, evaluation results
 *
 *     ast_config *cfg = NULL; ast_run *run = NULL;
 *     ast_config_create(&cfg);
 *     ast_config_load_preset(cfg, "quick");                     // Fashion-MNIST, small
 *     ast_config_set_int(cfg, AST_CONFIG_DATA_TRAIN_LIMIT, 600);
 *     if (ast_run_create(cfg, "out", &run) != AST_OK) { fprintf(stderr, "%s\n", ast_last_error()); ... }
 *     ast_config_free(cfg);                                     // the run keeps a copy
 *     ast_status st = ast_run_all(run, on_progress, NULL);      // experts, distill, evaluate, outputs
 *     float alpha; int64_t n, iterations;
 *     ast_run_distilled_shape(run, &n, NULL, NULL, NULL, NULL);
 *     ast_run_step_size(run, &alpha, &iterations);
 *     ast_run_free(run);
 *
 * Every step resumes: ast_run_generate_experts skips finished experts and continues an
 * interrupted one from its last saved epoch; ast_run_distill continues from the checkpoint
 * (and returns at once when the checkpoint is complete). A run made with other settings,
 * another network or other data than the files in the directory is an error, not a silent
 * mix. Rerunning in a new process (or after AST_ERR_CANCELLED) continues where it stopped.
 *
 * Progress: the step functions take an optional ast_progress_fn (NULL: none) that receives
 * the AST_STAGE_EXPERT_EPOCH ... AST_STAGE_MESSAGE events. A nonzero return stops the call
 * after saving: at once after an expert epoch (the epoch is saved), a distillation iteration
 * (a checkpoint is written first) or an evaluation epoch; after any other event at the next
 * of those points. The call then returns AST_ERR_CANCELLED - also when the work happened to
 * finish first (its results are then kept as usual).
 *
 * Size limits checked at creation (AST_ERR_OUT_OF_MEMORY, before any work): the synthetic
 * set (ipc * classes images) and the real datasets hold at most 2^31-1 floats; one layer of
 * a batch (experts.batch, eval.batch, distill.batch_syn or the whole synthetic set) at most
 * 2^31-1 activations; the matching's per-step parameter vectors (2 * syn_steps + 1) *
 * parameters at most 2^31-1 floats.
 *
 * Thread safety: use one ast_run from one thread at a time; a call made while another call
 * on the same run is running (another thread, or its own progress callback) fails with
 * AST_ERR_INVALID_ARGUMENT ("run is busy"). Distinct runs are independent; runs in several
 * threads or processes may fill one trajectory store with disjoint expert ranges, but only
 * one may distil into one output directory at a time.
 * ========================================================================================== */

typedef struct ast_run ast_run;

/* ast_run_copy_distilled_images: which space the images are in. */
enum {
    AST_IMAGES_TRAINING = 0, /* as distilled: preprocessed (normalised / ZCA-whitened) space */
    AST_IMAGES_PIXEL = 1     /* mapped back to pixel space (as in distilled.png)             */
};

/* ast_run_evaluation: which evaluation. */
enum {
    AST_RESULT_DISTILLED = 0,  /* networks trained on the distilled set (lr = alpha)       */
    AST_RESULT_RANDOM_REAL = 1 /* the baseline: a random real subset of equal size         */
};

/* Creates a run of `config` (copied) writing to `output_directory` (NUL-terminated UTF-8,
 * created when first written; at most AST_MAX_STRING_LENGTH bytes). The data is the
 * configured dataset (data.dataset, data.dir), read at the first step that needs it. All
 * settings are checked now: cross-field rules, the network against the dataset's known
 * shape, the size limits above. Errors: AST_ERR_NULL_POINTER (config, output_directory,
 * out), AST_ERR_INVALID_ARGUMENT (an empty or non-UTF-8 directory, inconsistent settings;
 * the message names the setting), AST_ERR_OUT_OF_MEMORY (size limits). `out` receives the
 * handle (NULL on failure); free it with ast_run_free. */
AST_API ast_status ast_run_create(const ast_config *config, const char *output_directory,
                                  ast_run **out);

/* As ast_run_create, with the caller's data instead of data.dataset/data.dir: `train` and
 * `test` (copied: they may be freed right after) must have the network's channels and image
 * size and exactly network.classes classes. data.preprocessing, data.train_limit and
 * data.test_limit apply to them; the store and checkpoint are tied to their fingerprints.
 * Errors: as ast_run_create, plus AST_ERR_NULL_POINTER (train, test), AST_ERR_SHAPE_MISMATCH
 * (their shapes or classes), AST_ERR_INVALID_ARGUMENT (a class with fewer than distill.ipc
 * images, unless distill.init is "noise" and eval.baseline is 0). */
AST_API ast_status ast_run_create_with_data(const ast_config *config,
                                            const char *output_directory,
                                            const ast_dataset *train, const ast_dataset *test,
                                            ast_run **out);

/* Releases `run` (the files stay); NULL is a no-op. Must not be called during a call on it. */
AST_API void ast_run_free(ast_run *run);

/* Message of the last failed call made with `run` ("" if none). Owned by `run`: valid until
 * its next failing call or ast_run_free. A NULL `run` gives a static message. */
AST_API const char *ast_run_last_error(const ast_run *run);

/* A new ast_config holding the run's configuration (caller frees it).
 * Errors: AST_ERR_NULL_POINTER (run, out), AST_ERR_INVALID_ARGUMENT (run busy). */
AST_API ast_status ast_run_get_config(const ast_run *run, ast_config **out);

/* Trains experts first ... first+count-1 into <out>/experts, skipping finished ones and
 * resuming a partial one from its last saved epoch; count = -1 means "up to experts.count - 1"
 * (so (0, -1) trains all configured experts; an empty range does nothing). Several processes
 * may fill one store with disjoint ranges. Expert i is reproducible from seed and i alone.
 * Progress: AST_STAGE_EXPERT_EPOCH after every saved epoch, AST_STAGE_MESSAGE on resuming.
 * Errors: AST_ERR_NULL_POINTER (run), AST_ERR_INVALID_ARGUMENT (first < 0, count < -1,
 * first + count > 2^31-1; a store made with other settings or data; run busy), AST_ERR_IO /
 * AST_ERR_FORMAT (dataset or store files), AST_ERR_CANCELLED, AST_ERR_NON_FINITE /
 * AST_ERR_DIVERGED (training diverged). */
AST_API ast_status ast_run_generate_experts(ast_run *run, int64_t first, int64_t count,
                                            ast_progress_fn progress, void *user_data);

/* Distils (or resumes from the checkpoint) until distill.iterations, matching the complete
 * experts of the store; the result stays in the run (ast_run_copy_distilled_images ...).
 * Progress: AST_STAGE_DISTILL_ITERATION, AST_STAGE_CHECKPOINT, AST_STAGE_MESSAGE. A
 * non-finite loss or a collapsing alpha stops with AST_ERR_DIVERGED after checkpointing the
 * last good state. Errors: AST_ERR_NULL_POINTER (run), AST_ERR_IO (no complete experts:
 * generate them first), AST_ERR_INVALID_ARGUMENT (store or checkpoint of other settings or
 * data; ipc larger than a class; run busy), AST_ERR_CANCELLED, AST_ERR_DIVERGED. */
AST_API ast_status ast_run_distill(ast_run *run, ast_progress_fn progress, void *user_data);

/* Evaluates the distilled set (from this run's ast_run_distill, else the output directory's
 * checkpoint, as of its last iteration) with the protocol of docs/evaluation.md, and, if
 * eval.baseline is 1, a random real subset of equal size. Writes the mean and sample
 * standard deviation of the final test accuracies (0 ... 1) to the out pointers, each may be
 * NULL (the baseline ones get NaN when eval.baseline is 0); per-model accuracies through
 * ast_run_evaluation. Progress: AST_STAGE_EVALUATION_EPOCH, AST_STAGE_EVALUATED.
 * Errors: AST_ERR_NULL_POINTER (run), AST_ERR_INVALID_ARGUMENT (no distilled set yet; run
 * busy), AST_ERR_CANCELLED (nothing is kept), AST_ERR_IO. */
AST_API ast_status ast_run_evaluate(ast_run *run, ast_progress_fn progress, void *user_data,
                                    double *out_distilled_mean, double *out_distilled_std,
                                    double *out_baseline_mean, double *out_baseline_std);

/* Writes distilled.safetensors, distilled.png and report.json (with the evaluation if one
 * was made by this run). Errors: AST_ERR_NULL_POINTER (run), AST_ERR_INVALID_ARGUMENT (no
 * distilled set yet; run busy), AST_ERR_IO. */
AST_API ast_status ast_run_write_outputs(ast_run *run);

/* The whole pipeline: all experts (0, -1), distillation, evaluation, outputs; each step
 * resumes as above. Errors: those of the steps. */
AST_API ast_status ast_run_all(ast_run *run, ast_progress_fn progress, void *user_data);

/* Number of complete experts in the run's trajectory store (0 when it does not exist yet).
 * Errors: AST_ERR_NULL_POINTER (run, out), AST_ERR_INVALID_ARGUMENT (run busy), AST_ERR_IO /
 * AST_ERR_FORMAT (unreadable store). */
AST_API ast_status ast_run_complete_experts(const ast_run *run, int64_t *out);

/* Shape of the distilled set (count = ipc * classes, class-major: labels 0,0,..,1,1,..).
 * Every out pointer may be NULL. Errors: AST_ERR_NULL_POINTER (run),
 * AST_ERR_INVALID_ARGUMENT (no distilled set yet: call ast_run_distill, which returns at
 * once when the checkpoint is complete; run busy). */
AST_API ast_status ast_run_distilled_shape(const ast_run *run, int64_t *out_count,
                                           int64_t *out_channels, int64_t *out_height,
                                           int64_t *out_width, int64_t *out_classes);

/* Copies the distilled images (count*channels*height*width floats, NCHW) in `space`
 * (AST_IMAGES_*) into `out` (out_len >= that). Errors: as ast_run_distilled_shape, plus
 * AST_ERR_NULL_POINTER (out), AST_ERR_INVALID_ARGUMENT (space), AST_ERR_SHAPE_MISMATCH
 * (out_len). */
AST_API ast_status ast_run_copy_distilled_images(const ast_run *run, int32_t space, float *out,
                                                 int64_t out_len);

/* Copies the `count` distilled labels into `out` (out_len >= count). Errors: as
 * ast_run_distilled_shape, plus AST_ERR_NULL_POINTER (out), AST_ERR_SHAPE_MISMATCH (out_len). */
AST_API ast_status ast_run_copy_distilled_labels(const ast_run *run, int32_t *out,
                                                 int64_t out_len);

/* Copies the learned soft labels (count*classes probabilities, row-major; rows sum to 1) into
 * `out` (out_len >= count*classes) and sets *out_present to 1; with hard labels (setting
 * distill.soft_labels off) nothing is copied and *out_present is 0. Errors: as
 * ast_run_distilled_shape, plus AST_ERR_NULL_POINTER (out, out_present),
 * AST_ERR_SHAPE_MISMATCH (out_len). */
AST_API ast_status ast_run_copy_soft_labels(const ast_run *run, float *out, int64_t out_len,
                                            int32_t *out_present);

/* The learned step size alpha (the evaluation's learning rate) and the iterations done.
 * Either out pointer may be NULL. Errors: as ast_run_distilled_shape. */
AST_API ast_status ast_run_step_size(const ast_run *run, float *out_step_size,
                                     int64_t *out_iterations);

/* The matching loss of every iteration done, oldest first: writes min(capacity, iterations)
 * floats and the number of iterations to *out_count (capacity 0 sizes the buffer).
 * Errors: as ast_run_distilled_shape, plus AST_ERR_NULL_POINTER (out_count; out when
 * capacity > 0), AST_ERR_INVALID_ARGUMENT (negative capacity). */
AST_API ast_status ast_run_loss_history(const ast_run *run, float *out, int64_t capacity,
                                        int64_t *out_count);

/* Results of this run's last ast_run_evaluate (or ast_run_all) for `which`
 * (AST_RESULT_*): mean and sample std of the final test accuracies (either may be NULL), and
 * the per-model accuracies as ast_run_loss_history returns values (min(capacity, models)
 * written, the number of models to *out_count). Errors: AST_ERR_NULL_POINTER (run,
 * out_count; accuracies when capacity > 0), AST_ERR_INVALID_ARGUMENT (which; negative
 * capacity; not evaluated yet, or no baseline because eval.baseline was 0; run busy). */
AST_API ast_status ast_run_evaluation(const ast_run *run, int32_t which, double *out_mean,
                                      double *out_std, double *accuracies, int64_t capacity,
                                      int64_t *out_count);

/* ---- Distributed distillation, one segment at a time -------------------------------------
 * With distill.segments = R, every iteration matches R independent trajectory segments and
 * averages their exact meta-gradients before one update (ast_run_distill does this in one
 * process, one segment after another). Every draw of segment r (expert, start epoch,
 * minibatches, augmentation, weight perturbation) comes from (seed, iteration, r) and the
 * run's state, so an embedder with its own engine (MPI, Horovod, torch.distributed, Ray) can
 * compute the segments in different processes and apply the same sum everywhere:
 *
 *     ast_run_create(cfg, "out", &run);                 // every process: same settings, same data,
 *     int64_t it, R, len;                               //   the experts readable by all
 *     ast_run_distill_begin(run, &it, &R, &len);        // the checkpoint's state, or the initial set
 *     float *g = malloc(len * sizeof *g), *sum = ...;   // (len floats each)
 *     for (; it < iterations; it++) {
 *         for (r = my_first; r < R; r += processes) {   // any split of 0..R-1 over the processes
 *             ast_run_segment_gradient(run, it, r, g, len);
 *             ...keep g for segment r...
 *         }
 *         ...sum the R vectors over all processes (allgather + add, allreduce)...
 *         ast_run_apply_gradient_sum(run, sum, len, rank == 0);   // every process; one writes
 *     }
 *     if (rank == 0) ast_run_write_outputs(run);
 *
 * A gradient vector is [loss, dL/dalpha, dL/dimages (count*channels*height*width, NCHW),
 * dL/dsoft_labels (count*classes; only with distill.soft_labels)]: the sum is element-wise,
 * and ast_run_apply_gradient_sum divides it by R. Floating-point addition is not associative:
 * summing the R vectors in segment order 0, 1, ..., R-1 (in float32, left to right) gives
 * bytes identical to ast_run_distill in one process, whatever the number of processes
 * (examples/python/mpi_distill.py and ast-distill-mpi do that); an allreduce in another order
 * gives results equal up to rounding. Checkpoints written by the writer are those of
 * ast_run_distill: a restarted job calls ast_run_distill_begin again and continues. (The
 * eval.every evaluations of ast_run_distill are not made here: evaluate with
 * ast_run_evaluate when done.)
 * ------------------------------------------------------------------------------------------ */

/* Prepares segment-wise distillation (once per run; later calls only report): loads the
 * data and the experts, and the checkpoint's state (else the initial synthetic set, as
 * ast_run_distill would); writes no file. Reports the iteration to compute next, R
 * (distill.segments) and the length of a gradient vector; each out pointer may be NULL.
 * Errors: those of ast_run_distill before its first iteration. */
AST_API ast_status ast_run_distill_begin(ast_run *run, int64_t *out_iteration,
                                         int64_t *out_segments, int64_t *out_gradient_len);

/* Computes segment `segment` (0 ... R-1) of iteration `iteration` (the run's current one)
 * into `out` (out_len >= the gradient length); the run's state is not changed, so segments
 * may be computed in any order and repeated. Errors: AST_ERR_NULL_POINTER (run, out),
 * AST_ERR_INVALID_ARGUMENT (not begun; segment out of range; iteration not the current one;
 * distillation complete; run busy), AST_ERR_SHAPE_MISMATCH (out_len), AST_ERR_IO (expert
 * files), AST_ERR_DIVERGED (non-finite loss or dL/dalpha; nothing changed),
 * AST_ERR_NON_FINITE (an image or soft-label gradient overflowed float32; nothing written). */
AST_API ast_status ast_run_segment_gradient(ast_run *run, int64_t iteration, int64_t segment,
                                            float *out, int64_t out_len);

/* Applies the sum of all R segment gradients of the current iteration (sum_len = the
 * gradient length, all finite): divides by R, updates the images, alpha and soft labels,
 * advances every segment's minibatch queue and the iteration. With write_checkpoint = 1
 * (exactly one process of a job) the checkpoint is written when due (every
 * distill.checkpoint_every iterations and after the last). On any error the state is
 * unchanged. Errors: AST_ERR_NULL_POINTER (run, sum), AST_ERR_INVALID_ARGUMENT (not begun;
 * write_checkpoint not 0/1; complete; run busy), AST_ERR_SHAPE_MISMATCH (sum_len),
 * AST_ERR_NON_FINITE (sum), AST_ERR_DIVERGED (images or alpha would become non-finite or
 * alpha <= 0), AST_ERR_IO (the checkpoint; the state has advanced). */
AST_API ast_status ast_run_apply_gradient_sum(ast_run *run, const float *sum, int64_t sum_len,
                                              int32_t write_checkpoint);


/* ============================================================================================
 * Trajectory matching, one step at a time (for researchers' own loops)
 *
 * ast_matching_step computes what one distillation iteration needs: from the expert
 * parameters `start` (theta*_t), unroll N = `steps` student steps on minibatches of the
 * synthetic images with step size alpha,
 *     plain SGD (MTT):      theta_{i+1} = theta_i - alpha * g_i
 *     momentum (AST, mu):   b_i = mu * b_{i-1} + g_i,  theta_{i+1} = theta_i - alpha * b_i
 * where g_i is the gradient of w * (mean cross-entropy of the (augmented) minibatch i), then
 *     L = ||theta_N - target||^2 / ||theta_0 - target||^2
 *         + sum_k beta_k ||theta_{s_k} - target_k||^2 / ||theta_0 - target_k||^2
 * and its exact gradients dL/dimages and dL/dalpha, with memory independent of N (only the
 * per-step parameter vectors are kept; the backward pass recomputes each step and applies
 * Hessian-vector products). The same code the distiller runs (ASTCore TrajectoryMatching).
 *
 * Minibatches: each of the N steps uses up to b = min(batch_syn, count) images (batch_syn 0:
 * all count), given as an N x b row-major array of indices in [0, count) where -1 marks an
 * unused slot (every row needs at least one index). Passed explicitly (`minibatches`), or,
 * when `minibatches` is NULL, drawn from `seed` as the distiller does: chunks of b of a
 * random permutation of 0..count-1, taken from the last chunk backwards, with a new
 * permutation when all are used; when b does not divide count the last chunk of each
 * permutation is shorter (its row is padded with -1). ast_matching_minibatches returns them.
 * Thread safety: as the ast_network (any number of threads).
 * ========================================================================================== */

/* AST options of ast_matching_step. Initialise with AST_MATCHING_OPTIONS_INIT (plain MTT)
 * and change fields; struct_size lets later releases append fields. */
typedef struct ast_matching_options {
    int32_t struct_size;         /* sizeof(ast_matching_options)                               */
    int32_t intermediate_count;  /* K intermediate targets (0: none)                           */
    double inner_momentum;       /* mu in [0, 1): 0 = plain SGD inner loop (MTT)               */
    double inner_loss_weight;    /* w > 0 multiplying the inner loss (AST balanced loss w(t))  */
    const float *intermediate_targets; /* K * parameters_len floats: target_k, finite         */
    const int64_t *intermediate_steps; /* K student steps s_k in [1, steps)                   */
    const float *intermediate_weights; /* K weights beta_k > 0, or NULL for all 1             */
    const char *augmentation;    /* DSA strategy applied to every minibatch (drawn from
                                    `seed` after the minibatches), or NULL/"none": off         */
    /* Added in 0.2 (a struct_size without it is accepted and means 0): */
    int64_t activation_budget;   /* bytes of step graphs kept from the forward unroll instead
                                    of recomputed in the backward pass, >= 0: faster, same
                                    result; 0 keeps none (memory independent of N)             */
} ast_matching_options;

#define AST_MATCHING_OPTIONS_INIT { (int32_t)sizeof(ast_matching_options), 0, 0.0, 1.0, NULL, NULL, NULL, NULL, 0 }

/* One trajectory-matching meta-gradient.
 *   network                    the student architecture
 *   start, target              theta*_t and theta*_{t+M}: parameters_len floats each, finite,
 *                              not equal (the loss divides by their distance)
 *   images, images_len         count synthetic images, NCHW (as ast_network_logits)
 *   labels, count              count labels in [0, classes)
 *   step_size                  alpha, finite and > 0
 *   steps                      N, 1 ... 10000
 *   batch_syn                  minibatch size b (0: all; values above count mean count)
 *   seed                       draws the minibatches (when `minibatches` is NULL) and the
 *                              augmentation
 *   minibatches, minibatches_len   NULL (drawn; minibatches_len 0) or N*b indices and -1
 *                              paddings (minibatches_len = N*b)
 *   options                    NULL (plain MTT) or AST options, see ast_matching_options
 *   out_loss                   L
 *   out_image_gradient         dL/dimages, image_gradient_len >= images_len
 *   out_step_size_gradient     dL/dalpha
 *   out_final_parameters       NULL, or theta_N (final_parameters_len >= parameters_len)
 * Errors: AST_ERR_NULL_POINTER (network, start, target, images, labels, out_loss,
 * out_image_gradient, out_step_size_gradient; options fields that K > 0 needs),
 * AST_ERR_INVALID_ARGUMENT (count, steps, batch_syn, step_size <= 0, minibatch indices, a
 * label, options values, start == target), AST_ERR_SHAPE_MISMATCH (every length),
 * AST_ERR_NON_FINITE (start, target, images, targets, alpha; gradients or final parameters
 * that overflowed float32), AST_ERR_OUT_OF_MEMORY (size
 * limits as for runs), AST_ERR_UNSUPPORTED (options->struct_size larger than this library
 * knows), AST_ERR_DIVERGED (a non-finite inner loss or matching loss). */
AST_API ast_status ast_matching_step(const ast_network *network,
                                     const float *start, const float *target,
                                     int64_t parameters_len,
                                     const float *images, int64_t images_len,
                                     const int32_t *labels, int64_t count,
                                     float step_size, int64_t steps, int64_t batch_syn,
                                     uint64_t seed,
                                     const int64_t *minibatches, int64_t minibatches_len,
                                     const ast_matching_options *options,
                                     float *out_loss, float *out_image_gradient,
                                     int64_t image_gradient_len, float *out_step_size_gradient,
                                     float *out_final_parameters, int64_t final_parameters_len);

/* The minibatches ast_matching_step draws from `seed` when none are passed: N = steps rows
 * of b = min(batch_syn, count) (batch_syn 0: count) indices padded with -1, row-major, into
 * `out` (out_len >= steps*b). No handle; thread-safe. Errors: AST_ERR_NULL_POINTER (out),
 * AST_ERR_INVALID_ARGUMENT (count 1 ... 2^31-1, steps 1 ... 10000, batch_syn >= 0),
 * AST_ERR_SHAPE_MISMATCH (out_len). */
AST_API ast_status ast_matching_minibatches(int64_t count, int64_t batch_syn, int64_t steps,
                                            uint64_t seed, int64_t *out, int64_t out_len);

#ifdef __cplusplus
}
#endif

#endif /* AST_H */
