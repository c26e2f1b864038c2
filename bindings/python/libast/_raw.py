"""Raw ctypes declarations of include/ast.h (one to one; the C prototype above each).

Nothing here checks arguments beyond what ctypes does: use the classes in libast.api.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_float,
                    c_int32, c_int64, c_uint64, c_void_p)
from pathlib import Path

# --- status codes (never renumbered) --------------------------------------------------------
AST_OK = 0
AST_ERR_INVALID_ARGUMENT = 1
AST_ERR_SHAPE_MISMATCH = 2
AST_ERR_NON_FINITE = 3
AST_ERR_IO = 4
AST_ERR_FORMAT = 5
AST_ERR_CANCELLED = 6
AST_ERR_DIVERGED = 7
AST_ERR_OUT_OF_MEMORY = 8
AST_ERR_UNSUPPORTED = 9
AST_ERR_NULL_POINTER = 10
AST_ERR_UNKNOWN_KEY = 11
AST_ERR_OUT_OF_RANGE = 12
AST_ERR_WRONG_TYPE = 13
AST_ERR_INTERNAL = 99

AST_STAGE_EVALUATE = 1
AST_STAGE_EXPERT_EPOCH = 2
AST_STAGE_DISTILL_ITERATION = 3
AST_STAGE_CHECKPOINT = 4
AST_STAGE_EVALUATION_EPOCH = 5
AST_STAGE_EVALUATED = 6
AST_STAGE_MESSAGE = 7

AST_TYPE_INT = 1
AST_TYPE_FLOAT = 2
AST_TYPE_STRING = 3
AST_MAX_STRING_LENGTH = 4095

AST_NORM_NONE, AST_NORM_INSTANCE, AST_NORM_BATCH = 0, 1, 2
AST_POOL_AVERAGE, AST_POOL_MAX = 0, 1

AST_CONFIG_CHANNELS = 1
AST_CONFIG_IMAGE_SIZE = 2
AST_CONFIG_CLASSES = 3
AST_CONFIG_WIDTH = 4
AST_CONFIG_DEPTH = 5
AST_CONFIG_NORM = 6
AST_CONFIG_POOL = 7
AST_CONFIG_SEED = 8
AST_CONFIG_EXPERTS_KIND = 100
AST_CONFIG_EXPERTS_COUNT = 101
AST_CONFIG_EXPERTS_EPOCHS = 102
AST_CONFIG_EXPERTS_BATCH = 103
AST_CONFIG_EXPERTS_AUGMENTATION = 104
AST_CONFIG_EXPERTS_LR = 105
AST_CONFIG_EXPERTS_MOMENTUM = 106
AST_CONFIG_EXPERTS_WEIGHT_DECAY = 107
AST_CONFIG_EXPERTS_DECAY_EPOCH = 108
AST_CONFIG_EXPERTS_DECAY_FACTOR = 109
AST_CONFIG_EXPERTS_MOMENTUM_RESET = 110
AST_CONFIG_EXPERTS_LOSS_SCALE_START = 111
AST_CONFIG_EXPERTS_LOSS_SCALE_EPOCHS = 112
AST_CONFIG_EXPERTS_GRADIENT_PENALTY = 113
AST_CONFIG_EXPERTS_DIR = 120
AST_CONFIG_DISTILL_IPC = 200
AST_CONFIG_DISTILL_SYN_STEPS = 201
AST_CONFIG_DISTILL_EXPERT_EPOCHS = 202
AST_CONFIG_DISTILL_MAX_START_EPOCH = 203
AST_CONFIG_DISTILL_ITERATIONS = 204
AST_CONFIG_DISTILL_LR_IMG = 205
AST_CONFIG_DISTILL_LR_LR = 206
AST_CONFIG_DISTILL_LR_INIT = 207
AST_CONFIG_DISTILL_BATCH_SYN = 208
AST_CONFIG_DISTILL_INIT = 209
AST_CONFIG_DISTILL_INNER_MOMENTUM = 210
AST_CONFIG_DISTILL_BALANCED_LOSS = 211
AST_CONFIG_DISTILL_INTERMEDIATE = 212
AST_CONFIG_DISTILL_WEIGHT_PERTURBATION = 213
AST_CONFIG_DISTILL_AUGMENTATION = 214
AST_CONFIG_DISTILL_CHECKPOINT_EVERY = 215
AST_CONFIG_DISTILL_MOMENTUM = 216
AST_CONFIG_DISTILL_SOFT_LABELS = 217
AST_CONFIG_DISTILL_LR_LABELS = 218
AST_CONFIG_DISTILL_ACTIVATION_MIB = 219
AST_CONFIG_DISTILL_SEGMENTS = 220
AST_CONFIG_EVAL_MODELS = 300
AST_CONFIG_EVAL_EPOCHS = 301
AST_CONFIG_EVAL_BATCH = 302
AST_CONFIG_EVAL_AUGMENTATION = 303
AST_CONFIG_EVAL_BASELINE = 304
AST_CONFIG_EVAL_BASELINE_LR = 305
AST_CONFIG_EVAL_WIDTH = 306
AST_CONFIG_EVAL_DEPTH = 307
AST_CONFIG_EVAL_NORM = 308
AST_CONFIG_EVAL_POOL = 309
AST_CONFIG_EVAL_EVERY = 310
AST_CONFIG_DATA_DATASET = 400
AST_CONFIG_DATA_DIR = 401
AST_CONFIG_DATA_PREPROCESSING = 402
AST_CONFIG_DATA_TRAIN_LIMIT = 403
AST_CONFIG_DATA_TEST_LIMIT = 404
AST_CONFIG_DATA_PATH = 405

AST_LABELS_INT32 = 1
AST_LABELS_INT64 = 2

AST_MAX_TENSOR_RANK = 4
AST_IMAGES_TRAINING, AST_IMAGES_PIXEL = 0, 1
AST_RESULT_DISTILLED, AST_RESULT_RANDOM_REAL = 0, 1
AST_ABI_VERSION = 1


class ast_progress(Structure):
    # typedef struct ast_progress { int32_t struct_size; int32_t stage; int64_t step;
    #     int64_t total; double loss; double elapsed_seconds;
    #     int64_t index; int64_t count; double accuracy; double accuracy_std;
    #     double step_size; int64_t start_epoch; const char *message; } ast_progress;
    _fields_ = [("struct_size", c_int32), ("stage", c_int32), ("step", c_int64),
                ("total", c_int64), ("loss", c_double), ("elapsed_seconds", c_double),
                ("index", c_int64), ("count", c_int64), ("accuracy", c_double),
                ("accuracy_std", c_double), ("step_size", c_double), ("start_epoch", c_int64),
                ("message", c_char_p)]


class ast_matching_options(Structure):
    # typedef struct ast_matching_options { int32_t struct_size; int32_t intermediate_count;
    #     double inner_momentum; double inner_loss_weight; const float *intermediate_targets;
    #     const int64_t *intermediate_steps; const float *intermediate_weights;
    #     const char *augmentation; int64_t activation_budget; } ast_matching_options;
    _fields_ = [("struct_size", c_int32), ("intermediate_count", c_int32),
                ("inner_momentum", c_double), ("inner_loss_weight", c_double),
                ("intermediate_targets", POINTER(c_float)), ("intermediate_steps", POINTER(c_int64)),
                ("intermediate_weights", POINTER(c_float)), ("augmentation", c_char_p),
                ("activation_budget", c_int64)]


class ast_bounds(Structure):
    # typedef struct ast_bounds { int32_t key; int32_t type; const char *name;
    #     int64_t int_min, int_max, int_default; double float_min, float_max, float_default; }
    _fields_ = [("key", c_int32), ("type", c_int32), ("name", c_char_p),
                ("int_min", c_int64), ("int_max", c_int64), ("int_default", c_int64),
                ("float_min", c_double), ("float_max", c_double), ("float_default", c_double)]


# typedef int32_t (*ast_progress_fn)(const ast_progress *progress, void *user_data);
ast_progress_fn = CFUNCTYPE(c_int32, POINTER(ast_progress), c_void_p)

c_float_p = POINTER(c_float)
c_int32_p = POINTER(c_int32)
c_int64_p = POINTER(c_int64)
c_double_p = POINTER(c_double)
handle_p = POINTER(c_void_p)


# --- finding libast.so --------------------------------------------------------------------
# Order (the first that loads wins; `libast.library_path` says which file it was):
#   1. $LIBAST_PATH: the file, or a directory holding libast.so. Set but wrong is an error,
#      never silently skipped.
#   2. libast.so inside this package (a non-editable `pip install bindings/python` copies the
#      built library there; see bindings/python/setup.py).
#   3. the system loader: dlopen("libast.so") honours LD_LIBRARY_PATH, the ldconfig cache and
#      the default directories (/usr/local/lib needs `ldconfig` after copying it there).
#   4. the build directory of the checkout this package lives in (editable installs and running
#      from the source tree): $AST_BUILD_DIR/lib, else <repository>/build/lib
#      (scripts/build-lib.sh writes it).

LIBRARY_NAME = "libast.so"


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def _checkout_build_library() -> "Path | None":
    """<build>/lib/libast.so of the libast checkout this package lives in, else None."""
    repo = _package_dir().parent.parent.parent  # bindings/python/libast -> repository root
    if not ((repo / "include" / "ast.h").is_file() and (repo / "bindings" / "python").is_dir()):
        return None
    build = os.environ.get("AST_BUILD_DIR")
    return (Path(build) if build else repo / "build") / "lib" / LIBRARY_NAME


class _LinkMap(Structure):
    # struct link_map { ElfW(Addr) l_addr; char *l_name; ... } (<link.h>): the file dlopen loaded.
    _fields_ = [("l_addr", c_void_p), ("l_name", c_char_p)]


def _loaded_file(handle: ctypes.CDLL) -> str:
    """The absolute path of the file behind a loaded library (dlinfo RTLD_DI_LINKMAP)."""
    rtld_di_linkmap = 2
    for libc_name in (None, "libdl.so.2"):
        try:
            dlinfo = ctypes.CDLL(libc_name).dlinfo
        except (OSError, AttributeError):
            continue
        dlinfo.argtypes = [c_void_p, ctypes.c_int, c_void_p]
        dlinfo.restype = ctypes.c_int
        link_map = POINTER(_LinkMap)()
        if dlinfo(handle._handle, rtld_di_linkmap, ctypes.byref(link_map)) == 0 and link_map:
            name = link_map.contents.l_name
            if name:
                return os.path.realpath(name.decode(errors="replace"))
    return handle._name


def _load() -> "tuple[ctypes.CDLL, str, str]":
    """Loads libast.so; returns (library, absolute path, how it was found)."""
    tried: list[str] = []

    def attempt(path: Path, how: str):
        if not path.is_file():
            tried.append(f"{how}: {path} (no such file)")
            return None
        try:
            return ctypes.CDLL(str(path)), str(path.resolve()), how
        except OSError as error:
            tried.append(f"{how}: {path} ({error})")
            return None

    env = os.environ.get("LIBAST_PATH")
    if env:
        p = Path(env)
        candidate = p / LIBRARY_NAME if p.is_dir() else p
        found = attempt(candidate, "$LIBAST_PATH")
        if found:
            return found
        raise OSError(f"LIBAST_PATH={env!r} does not lead to a loadable libast.so: {tried[-1]}. "
                      "Point it at the file or the directory holding it, or unset it.")
    found = attempt(_package_dir() / LIBRARY_NAME, "inside the package")
    if found:
        return found
    try:
        handle = ctypes.CDLL(LIBRARY_NAME)
        return handle, _loaded_file(handle), "system loader"
    except OSError as error:
        ld_path = os.environ.get("LD_LIBRARY_PATH", "")
        tried.append(f"system loader: dlopen(\"{LIBRARY_NAME}\") with LD_LIBRARY_PATH={ld_path!r}, "
                     f"the ldconfig cache and the default directories ({error})")
    build = _checkout_build_library()
    if build is not None:
        found = attempt(build, "build directory")
        if found:
            return found
    else:
        tried.append("build directory: none (this package is not inside a libast checkout)")
    raise OSError("libast.so not found. Build it with scripts/build-lib.sh (then reinstall the "
                  "package, or set LIBAST_PATH to build/lib). Tried, in order:\n  "
                  + "\n  ".join(tried))


lib, path, found_by = _load()


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# --- versions, errors -----------------------------------------------------------------------
# int32_t ast_version_number(void);
ast_version_number = _fn("ast_version_number", c_int32)
# const char *ast_version_string(void);
ast_version_string = _fn("ast_version_string", c_char_p)
# int32_t ast_abi_version(void);
ast_abi_version = _fn("ast_abi_version", c_int32)
# const char *ast_status_string(ast_status status);
ast_status_string = _fn("ast_status_string", c_char_p, c_int32)
# const char *ast_last_error(void);
ast_last_error = _fn("ast_last_error", c_char_p)

# --- ast_config -----------------------------------------------------------------------------
# ast_status ast_config_create(ast_config **out);
ast_config_create = _fn("ast_config_create", c_int32, handle_p)
# ast_status ast_config_clone(const ast_config *config, ast_config **out);
ast_config_clone = _fn("ast_config_clone", c_int32, c_void_p, handle_p)
# void ast_config_free(ast_config *config);
ast_config_free = _fn("ast_config_free", None, c_void_p)
# const char *ast_config_last_error(const ast_config *config);
ast_config_last_error = _fn("ast_config_last_error", c_char_p, c_void_p)
# ast_status ast_config_set_int(ast_config *config, int32_t key, int64_t value);
ast_config_set_int = _fn("ast_config_set_int", c_int32, c_void_p, c_int32, c_int64)
# ast_status ast_config_get_int(const ast_config *config, int32_t key, int64_t *out);
ast_config_get_int = _fn("ast_config_get_int", c_int32, c_void_p, c_int32, c_int64_p)
# ast_status ast_config_set_float(ast_config *config, int32_t key, double value);
ast_config_set_float = _fn("ast_config_set_float", c_int32, c_void_p, c_int32, c_double)
# ast_status ast_config_get_float(const ast_config *config, int32_t key, double *out);
ast_config_get_float = _fn("ast_config_get_float", c_int32, c_void_p, c_int32, c_double_p)
# ast_status ast_config_bounds(int32_t key, ast_bounds *out);
ast_config_bounds = _fn("ast_config_bounds", c_int32, c_int32, POINTER(ast_bounds))
# ast_status ast_config_key_by_name(const char *name, int32_t *out_key);
ast_config_key_by_name = _fn("ast_config_key_by_name", c_int32, c_char_p, c_int32_p)
# ast_status ast_config_keys(int32_t *keys, int32_t capacity, int32_t *out_count);
ast_config_keys = _fn("ast_config_keys", c_int32, c_int32_p, c_int32, c_int32_p)

# --- ast_dataset ----------------------------------------------------------------------------
# ast_status ast_dataset_create(const float *images, int64_t images_len,
#                               const void *labels, int32_t label_type, int64_t labels_len,
#                               int64_t count, int64_t channels, int64_t height,
#                               int64_t width, int64_t classes, ast_dataset **out);
ast_dataset_create = _fn("ast_dataset_create", c_int32, c_float_p, c_int64, c_void_p, c_int32,
                         c_int64, c_int64, c_int64, c_int64, c_int64, c_int64, handle_p)
# void ast_dataset_free(ast_dataset *dataset);
ast_dataset_free = _fn("ast_dataset_free", None, c_void_p)
# const char *ast_dataset_last_error(const ast_dataset *dataset);
ast_dataset_last_error = _fn("ast_dataset_last_error", c_char_p, c_void_p)
# ast_status ast_dataset_shape(const ast_dataset *dataset, int64_t *out_count,
#     int64_t *out_channels, int64_t *out_height, int64_t *out_width, int64_t *out_classes);
ast_dataset_shape = _fn("ast_dataset_shape", c_int32, c_void_p, c_int64_p, c_int64_p,
                        c_int64_p, c_int64_p, c_int64_p)
# ast_status ast_dataset_fingerprint(const ast_dataset *dataset, const char **out);
ast_dataset_fingerprint = _fn("ast_dataset_fingerprint", c_int32, c_void_p, POINTER(c_char_p))
# ast_status ast_dataset_copy_images(const ast_dataset *dataset, float *out, int64_t out_len);
ast_dataset_copy_images = _fn("ast_dataset_copy_images", c_int32, c_void_p, c_float_p, c_int64)
# ast_status ast_dataset_copy_labels(const ast_dataset *dataset, int32_t *out, int64_t out_len);
ast_dataset_copy_labels = _fn("ast_dataset_copy_labels", c_int32, c_void_p, c_int32_p, c_int64)

# --- ast_network ----------------------------------------------------------------------------
# ast_status ast_network_create(const ast_config *config, ast_network **out);
ast_network_create = _fn("ast_network_create", c_int32, c_void_p, handle_p)
# void ast_network_free(ast_network *network);
ast_network_free = _fn("ast_network_free", None, c_void_p)
# const char *ast_network_last_error(const ast_network *network);
ast_network_last_error = _fn("ast_network_last_error", c_char_p, c_void_p)
# ast_status ast_network_get_config(const ast_network *network, ast_config **out);
ast_network_get_config = _fn("ast_network_get_config", c_int32, c_void_p, handle_p)
# ast_status ast_network_parameter_count(const ast_network *network, int64_t *out);
ast_network_parameter_count = _fn("ast_network_parameter_count", c_int32, c_void_p, c_int64_p)
# ast_status ast_network_tensor_count(const ast_network *network, int64_t *out);
ast_network_tensor_count = _fn("ast_network_tensor_count", c_int32, c_void_p, c_int64_p)
# ast_status ast_network_tensor(const ast_network *network, int64_t index,
#     const char **out_name, int64_t *out_offset, int64_t *out_count, int32_t *out_rank,
#     int64_t *out_shape, int32_t shape_capacity);
ast_network_tensor = _fn("ast_network_tensor", c_int32, c_void_p, c_int64, POINTER(c_char_p),
                         c_int64_p, c_int64_p, c_int32_p, c_int64_p, c_int32)
# ast_status ast_network_init_parameters(const ast_network *network, uint64_t seed,
#                                        float *out, int64_t out_len);
ast_network_init_parameters = _fn("ast_network_init_parameters", c_int32, c_void_p, c_uint64,
                                  c_float_p, c_int64)
# ast_status ast_network_logits(const ast_network *network,
#     const float *parameters, int64_t parameters_len,
#     const float *images, int64_t images_len, int64_t count,
#     float *out_logits, int64_t out_len);
ast_network_logits = _fn("ast_network_logits", c_int32, c_void_p, c_float_p, c_int64,
                         c_float_p, c_int64, c_int64, c_float_p, c_int64)
# ast_status ast_network_loss_gradient(const ast_network *network,
#     const float *parameters, int64_t parameters_len, const float *images, int64_t images_len,
#     const int32_t *labels, int64_t count, float *out_loss, float *out_gradient,
#     int64_t gradient_len);
ast_network_loss_gradient = _fn("ast_network_loss_gradient", c_int32, c_void_p, c_float_p,
                                c_int64, c_float_p, c_int64, c_int32_p, c_int64, c_float_p,
                                c_float_p, c_int64)
# ast_status ast_network_hessian_vector_product(const ast_network *network,
#     const float *parameters, int64_t parameters_len, const float *images, int64_t images_len,
#     const int32_t *labels, int64_t count, const float *vector, int64_t vector_len,
#     float *out, int64_t out_len);
ast_network_hessian_vector_product = _fn("ast_network_hessian_vector_product", c_int32,
                                         c_void_p, c_float_p, c_int64, c_float_p, c_int64,
                                         c_int32_p, c_int64, c_float_p, c_int64, c_float_p,
                                         c_int64)
# ast_status ast_network_mixed_input_product(... same arguments as above ...);
ast_network_mixed_input_product = _fn("ast_network_mixed_input_product", c_int32, c_void_p,
                                      c_float_p, c_int64, c_float_p, c_int64, c_int32_p,
                                      c_int64, c_float_p, c_int64, c_float_p, c_int64)
# ast_status ast_network_evaluate(const ast_network *network,
#     const float *parameters, int64_t parameters_len, const ast_dataset *dataset,
#     int64_t batch_size, ast_progress_fn progress, void *user_data,
#     double *out_loss, double *out_accuracy);
ast_network_evaluate = _fn("ast_network_evaluate", c_int32, c_void_p, c_float_p, c_int64,
                           c_void_p, c_int64, ast_progress_fn, c_void_p, c_double_p, c_double_p)

# --- ast_config: strings, names, presets, JSON -----------------------------------------------
c_char_buf = POINTER(c_char)
# ast_status ast_config_set_string(ast_config *config, int32_t key, const char *value);
ast_config_set_string = _fn("ast_config_set_string", c_int32, c_void_p, c_int32, c_char_p)
# ast_status ast_config_get_string(const ast_config *config, int32_t key, char *buffer,
#                                  int64_t capacity, int64_t *out_length);
ast_config_get_string = _fn("ast_config_get_string", c_int32, c_void_p, c_int32, c_char_buf,
                            c_int64, c_int64_p)
# ast_status ast_config_describe(int32_t key, const char **out_name, const char **out_help,
#                                const char **out_choices);
ast_config_describe = _fn("ast_config_describe", c_int32, c_int32, POINTER(c_char_p),
                          POINTER(c_char_p), POINTER(c_char_p))
# ast_status ast_config_load_preset(ast_config *config, const char *name);
ast_config_load_preset = _fn("ast_config_load_preset", c_int32, c_void_p, c_char_p)
# ast_status ast_config_presets(const char **names, int32_t capacity, int32_t *out_count);
ast_config_presets = _fn("ast_config_presets", c_int32, POINTER(c_char_p), c_int32, c_int32_p)
# ast_status ast_config_load_json(ast_config *config, const char *path);
ast_config_load_json = _fn("ast_config_load_json", c_int32, c_void_p, c_char_p)
# ast_status ast_config_apply_json(ast_config *config, const char *json);
ast_config_apply_json = _fn("ast_config_apply_json", c_int32, c_void_p, c_char_p)
# ast_status ast_config_to_json(const ast_config *config, char *buffer, int64_t capacity,
#                               int64_t *out_length);
ast_config_to_json = _fn("ast_config_to_json", c_int32, c_void_p, c_char_buf, c_int64, c_int64_p)

# --- ast_run --------------------------------------------------------------------------------
# ast_status ast_run_create(const ast_config *config, const char *output_directory,
#                           ast_run **out);
ast_run_create = _fn("ast_run_create", c_int32, c_void_p, c_char_p, handle_p)
# ast_status ast_run_create_with_data(const ast_config *config, const char *output_directory,
#                                     const ast_dataset *train, const ast_dataset *test,
#                                     ast_run **out);
ast_run_create_with_data = _fn("ast_run_create_with_data", c_int32, c_void_p, c_char_p, c_void_p,
                               c_void_p, handle_p)
# void ast_run_free(ast_run *run);
ast_run_free = _fn("ast_run_free", None, c_void_p)
# const char *ast_run_last_error(const ast_run *run);
ast_run_last_error = _fn("ast_run_last_error", c_char_p, c_void_p)
# ast_status ast_run_get_config(const ast_run *run, ast_config **out);
ast_run_get_config = _fn("ast_run_get_config", c_int32, c_void_p, handle_p)
# ast_status ast_run_generate_experts(ast_run *run, int64_t first, int64_t count,
#                                     ast_progress_fn progress, void *user_data);
ast_run_generate_experts = _fn("ast_run_generate_experts", c_int32, c_void_p, c_int64, c_int64,
                               ast_progress_fn, c_void_p)
# ast_status ast_run_distill(ast_run *run, ast_progress_fn progress, void *user_data);
ast_run_distill = _fn("ast_run_distill", c_int32, c_void_p, ast_progress_fn, c_void_p)
# ast_status ast_run_evaluate(ast_run *run, ast_progress_fn progress, void *user_data,
#     double *out_distilled_mean, double *out_distilled_std, double *out_baseline_mean,
#     double *out_baseline_std);
ast_run_evaluate = _fn("ast_run_evaluate", c_int32, c_void_p, ast_progress_fn, c_void_p,
                       c_double_p, c_double_p, c_double_p, c_double_p)
# ast_status ast_run_write_outputs(ast_run *run);
ast_run_write_outputs = _fn("ast_run_write_outputs", c_int32, c_void_p)
# ast_status ast_run_all(ast_run *run, ast_progress_fn progress, void *user_data);
ast_run_all = _fn("ast_run_all", c_int32, c_void_p, ast_progress_fn, c_void_p)
# ast_status ast_run_complete_experts(const ast_run *run, int64_t *out);
ast_run_complete_experts = _fn("ast_run_complete_experts", c_int32, c_void_p, c_int64_p)
# ast_status ast_run_distilled_shape(const ast_run *run, int64_t *out_count,
#     int64_t *out_channels, int64_t *out_height, int64_t *out_width, int64_t *out_classes);
ast_run_distilled_shape = _fn("ast_run_distilled_shape", c_int32, c_void_p, c_int64_p, c_int64_p,
                              c_int64_p, c_int64_p, c_int64_p)
# ast_status ast_run_copy_distilled_images(const ast_run *run, int32_t space, float *out,
#                                          int64_t out_len);
ast_run_copy_distilled_images = _fn("ast_run_copy_distilled_images", c_int32, c_void_p, c_int32,
                                    c_float_p, c_int64)
# ast_status ast_run_copy_distilled_labels(const ast_run *run, int32_t *out, int64_t out_len);
ast_run_copy_distilled_labels = _fn("ast_run_copy_distilled_labels", c_int32, c_void_p, c_int32_p,
                                    c_int64)
# ast_status ast_run_copy_soft_labels(const ast_run *run, float *out, int64_t out_len,
#                                     int32_t *out_present);
ast_run_copy_soft_labels = _fn("ast_run_copy_soft_labels", c_int32, c_void_p, c_float_p, c_int64, c_int32_p)
# ast_status ast_run_step_size(const ast_run *run, float *out_step_size, int64_t *out_iterations);
ast_run_step_size = _fn("ast_run_step_size", c_int32, c_void_p, c_float_p, c_int64_p)
# ast_status ast_run_loss_history(const ast_run *run, float *out, int64_t capacity,
#                                 int64_t *out_count);
ast_run_loss_history = _fn("ast_run_loss_history", c_int32, c_void_p, c_float_p, c_int64, c_int64_p)
# ast_status ast_run_evaluation(const ast_run *run, int32_t which, double *out_mean,
#     double *out_std, double *accuracies, int64_t capacity, int64_t *out_count);
ast_run_evaluation = _fn("ast_run_evaluation", c_int32, c_void_p, c_int32, c_double_p, c_double_p,
                         c_double_p, c_int64, c_int64_p)
# ast_status ast_run_distill_begin(ast_run *run, int64_t *out_iteration, int64_t *out_segments,
#                                  int64_t *out_gradient_len);
ast_run_distill_begin = _fn("ast_run_distill_begin", c_int32, c_void_p, c_int64_p, c_int64_p, c_int64_p)
# ast_status ast_run_segment_gradient(ast_run *run, int64_t iteration, int64_t segment, float *out,
#                                     int64_t out_len);
ast_run_segment_gradient = _fn("ast_run_segment_gradient", c_int32, c_void_p, c_int64, c_int64, c_float_p, c_int64)
# ast_status ast_run_apply_gradient_sum(ast_run *run, const float *sum, int64_t sum_len,
#                                       int32_t write_checkpoint);
ast_run_apply_gradient_sum = _fn("ast_run_apply_gradient_sum", c_int32, c_void_p, c_float_p, c_int64, c_int32)

# --- trajectory matching --------------------------------------------------------------------
# ast_status ast_matching_step(const ast_network *network, const float *start,
#     const float *target, int64_t parameters_len, const float *images, int64_t images_len,
#     const int32_t *labels, int64_t count, float step_size, int64_t steps, int64_t batch_syn,
#     uint64_t seed, const int64_t *minibatches, int64_t minibatches_len,
#     const ast_matching_options *options, float *out_loss, float *out_image_gradient,
#     int64_t image_gradient_len, float *out_step_size_gradient, float *out_final_parameters,
#     int64_t final_parameters_len);
ast_matching_step = _fn("ast_matching_step", c_int32, c_void_p, c_float_p, c_float_p, c_int64,
                        c_float_p, c_int64, c_int32_p, c_int64, c_float, c_int64, c_int64, c_uint64,
                        c_int64_p, c_int64, POINTER(ast_matching_options), c_float_p, c_float_p,
                        c_int64, c_float_p, c_float_p, c_int64)
# ast_status ast_matching_minibatches(int64_t count, int64_t batch_syn, int64_t steps,
#                                     uint64_t seed, int64_t *out, int64_t out_len);
ast_matching_minibatches = _fn("ast_matching_minibatches", c_int32, c_int64, c_int64, c_int64,
                               c_uint64, c_int64_p, c_int64)
