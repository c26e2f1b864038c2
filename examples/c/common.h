/* Small helpers shared by the C examples (not part of libast). */
#ifndef AST_EXAMPLES_COMMON_H
#define AST_EXAMPLES_COMMON_H

#include <ast.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Deterministic pseudo-random floats in [-1, 1) (a 64-bit LCG; no libc rand state). */
static void fill_random(float *out, int64_t n, uint64_t seed) {
    uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    int64_t i;
    for (i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        out[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

/* Creates the tiny network of the examples: 1x8x8 images, 3 classes, width 4, depth 2. */
static ast_status make_network(int64_t width, ast_network **out) {
    ast_config *cfg = NULL;
    ast_status st = ast_config_create(&cfg);
    if (st != AST_OK) return st;
    if ((st = ast_config_set_int(cfg, AST_CONFIG_CHANNELS, 1)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_IMAGE_SIZE, 8)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_CLASSES, 3)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_WIDTH, width)) == AST_OK &&
        (st = ast_config_set_int(cfg, AST_CONFIG_DEPTH, 2)) == AST_OK) {
        st = ast_network_create(cfg, out);
    }
    ast_config_free(cfg); /* the network keeps its own copy */
    return st;
}

#define CHECK(call)                                                                       \
    do {                                                                                  \
        ast_status check_status_ = (call);                                                \
        if (check_status_ != AST_OK) {                                                    \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,      \
                    ast_status_string(check_status_), ast_last_error());                  \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

#endif
