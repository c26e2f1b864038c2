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
 *           Thread safety per handle type is stated at each type. OpenBLAS may use its own
 *           threads inside a call (OPENBLAS_NUM_THREADS limits them).
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
#define AST_VERSION_MINOR 1
#define AST_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH */
#define AST_VERSION_NUMBER (AST_VERSION_MAJOR * 10000 + AST_VERSION_MINOR * 100 + AST_VERSION_PATCH)
#define AST_VERSION_STRING "0.1.0"
/* Incremented on any incompatible change of this header (see "Versions" above). */
#define AST_ABI_VERSION 1

/* Version of the loaded library, same encoding as AST_VERSION_NUMBER. Thread-safe. */
AST_API int32_t ast_version_number(void);
/* Version of the loaded library, e.g. "0.1.0"; static storage. Thread-safe. */
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

/* What a long-running call is doing. */
enum {
    AST_STAGE_EVALUATE = 1 /* ast_network_evaluate: step = images done, total = images */
};

/* Passed to the progress callback; valid only during the callback. New fields are only ever
 * appended: read a field only if offsetof(field) < struct_size. */
typedef struct ast_progress {
    int32_t struct_size;    /* sizeof(ast_progress) in the library that filled it          */
    int32_t stage;          /* AST_STAGE_*                                                 */
    int64_t step;           /* units done so far (1 ... total)                             */
    int64_t total;          /* units in this stage                                         */
    double loss;            /* running mean loss of what is done so far (NaN if none)      */
    double elapsed_seconds; /* wall time since the call started                            */
} ast_progress;

/* Called by long-running functions from the calling thread, synchronously. Return 0 to
 * continue; any nonzero value aborts the call, which then returns AST_ERR_CANCELLED. The
 * callback must not call free on a handle in use by the running call, and must not longjmp
 * or throw (C++) through the library. */
typedef int32_t (*ast_progress_fn)(const ast_progress *progress, void *user_data);

/* ============================================================================================
 * Configuration: ast_config
 *
 * A set of typed key/value settings, each key with a documented type, default and bounds
 * (ast_config_bounds). Keys are numbers that never change; later releases add keys.
 * Thread safety: not thread-safe; use one ast_config from one thread at a time (distinct
 * configs are independent). Functions that take `const ast_config *` only read it.
 * ========================================================================================== */

typedef struct ast_config ast_config;

/* Value types of keys. */
enum { AST_TYPE_INT = 1, AST_TYPE_FLOAT = 2 };

/* ast_config_set_int(cfg, AST_CONFIG_NORM, AST_NORM_*) */
enum { AST_NORM_NONE = 0, AST_NORM_INSTANCE = 1, AST_NORM_BATCH = 2 };
/* ast_config_set_int(cfg, AST_CONFIG_POOL, AST_POOL_*) */
enum { AST_POOL_AVERAGE = 0, AST_POOL_MAX = 1 };

/* Keys. Range 1-99: the network (the ConvNet of MTT/AST: `depth` blocks of
 * conv3x3(width) -> norm -> ReLU -> pool2x2, then a linear classifier). Later ranges
 * (100+: training, 200+: distillation) are added by later releases.
 *
 *   key                       type  default            bounds
 *   AST_CONFIG_CHANNELS       int   3                  1 ... 64      input channels
 *   AST_CONFIG_IMAGE_SIZE     int   32                 2 ... 512     input height = width
 *   AST_CONFIG_CLASSES        int   10                 2 ... 100000  output classes
 *   AST_CONFIG_WIDTH          int   128                1 ... 1024    conv channels (net_width)
 *   AST_CONFIG_DEPTH          int   3                  1 ... 8       conv blocks (net_depth)
 *   AST_CONFIG_NORM           int   AST_NORM_INSTANCE  0 ... 2       AST_NORM_*
 *   AST_CONFIG_POOL           int   AST_POOL_AVERAGE   0 ... 1       AST_POOL_*
 *   AST_CONFIG_SEED           int   0                  0 ... 2^63-1  base seed of runs that
 *                             draw random numbers (the trainers of later releases); the
 *                             explicit `seed` of ast_network_init_parameters does not use it
 *
 * Cross-field rules are checked when a network is created, not by the setters: every block
 * must see at least a 2x2 input (each block halves the image: 32 -> 16 -> 8 -> 4; 28x28
 * one-channel images get MTT's padding of 3 in the first conv, so they behave like 32x32),
 * width * (final side)^2 <= 2^26, and at most 2^31-1 parameters.
 */
enum {
    AST_CONFIG_CHANNELS = 1,
    AST_CONFIG_IMAGE_SIZE = 2,
    AST_CONFIG_CLASSES = 3,
    AST_CONFIG_WIDTH = 4,
    AST_CONFIG_DEPTH = 5,
    AST_CONFIG_NORM = 6,
    AST_CONFIG_POOL = 7,
    AST_CONFIG_SEED = 8
};

/* Description of one key (ast_config_bounds). For AST_TYPE_INT keys the int_* fields are
 * meaningful and the float_* fields are 0; for AST_TYPE_FLOAT keys the reverse. */
typedef struct ast_bounds {
    int32_t key;          /* the key described                                  */
    int32_t type;         /* AST_TYPE_INT or AST_TYPE_FLOAT                     */
    const char *name;     /* e.g. "image_size"; static storage                  */
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

/* Releases `config`; NULL is a no-op. Networks created from it are unaffected. */
AST_API void ast_config_free(ast_config *config);

/* Message of the last failed call made with `config` ("" if none). Owned by `config`: valid
 * until its next failing call or ast_config_free. A NULL `config` gives a static message. */
AST_API const char *ast_config_last_error(const ast_config *config);

/* Sets an AST_TYPE_INT key. Errors: AST_ERR_NULL_POINTER (config), AST_ERR_UNKNOWN_KEY,
 * AST_ERR_WRONG_TYPE (float key), AST_ERR_OUT_OF_RANGE (outside the key's bounds; the
 * configuration is then unchanged). */
AST_API ast_status ast_config_set_int(ast_config *config, int32_t key, int64_t value);

/* Reads an AST_TYPE_INT key into *out. Errors: AST_ERR_NULL_POINTER (config, out),
 * AST_ERR_UNKNOWN_KEY, AST_ERR_WRONG_TYPE. */
AST_API ast_status ast_config_get_int(const ast_config *config, int32_t key, int64_t *out);

/* Sets an AST_TYPE_FLOAT key. Errors: AST_ERR_NULL_POINTER (config), AST_ERR_UNKNOWN_KEY,
 * AST_ERR_WRONG_TYPE (int key), AST_ERR_NON_FINITE (NaN/Inf), AST_ERR_OUT_OF_RANGE.
 * (This release has no float keys yet; the function exists so later keys need no new
 * entry points.) */
AST_API ast_status ast_config_set_float(ast_config *config, int32_t key, double value);

/* Reads a key as a double into *out. Float keys give their value; int keys are converted
 * (exact below 2^53). Errors: AST_ERR_NULL_POINTER (config, out), AST_ERR_UNKNOWN_KEY. */
AST_API ast_status ast_config_get_float(const ast_config *config, int32_t key, double *out);

/* Type, name, default and bounds of `key` into *out. No handle needed; thread-safe.
 * Errors: AST_ERR_NULL_POINTER (out), AST_ERR_UNKNOWN_KEY. */
AST_API ast_status ast_config_bounds(int32_t key, ast_bounds *out);

/* Looks a key up by its name (as in ast_bounds.name, e.g. "width"). Thread-safe.
 * Errors: AST_ERR_NULL_POINTER (name, out_key), AST_ERR_UNKNOWN_KEY. */
AST_API ast_status ast_config_key_by_name(const char *name, int32_t *out_key);

/* Lists all keys in increasing order. Writes min(capacity, number of keys) keys to `keys`
 * (which may be NULL if capacity is 0) and the number of keys to *out_count, so a first call
 * with capacity 0 sizes the buffer. Thread-safe. Errors: AST_ERR_NULL_POINTER (out_count;
 * keys when capacity > 0), AST_ERR_INVALID_ARGUMENT (negative capacity). */
AST_API ast_status ast_config_keys(int32_t *keys, int32_t capacity, int32_t *out_count);

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
 * out_len), AST_ERR_NON_FINITE (parameters, images). */
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
 * out), AST_ERR_SHAPE_MISMATCH (vector_len, out_len), AST_ERR_NON_FINITE (vector). */
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

#ifdef __cplusplus
}
#endif

#endif /* AST_H */
