#ifndef LIBAST_COPENBLAS_SHIM_H
#define LIBAST_COPENBLAS_SHIM_H
#include <cblas.h>
/* LAPACK symmetric eigensolver (Fortran ABI, shipped inside libopenblas). */
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
             float *work, const int *lwork, int *iwork, const int *liwork, int *info);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info);

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels once, when it is loaded, and only re-reads
 * OPENBLAS_CORETYPE in gotoblas_dynamic_init. Weak, so a build without DYNAMIC_ARCH still links
 * (the pointers are then NULL and nothing is changed). */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

/* OpenBLAS 0.3.21 does not know CPUs newer than it (e.g. Intel family 6 model 207, with AVX-512)
 * and falls back to its SSE3 "Prescott" kernels, a quarter of the sgemm rate such a CPU has.
 * When that happened, the caller did not choose a core (no OPENBLAS_CORETYPE) and the CPU runs
 * the AVX-512 (SkylakeX) or AVX2 + FMA (Haswell) kernels, switch to those. Call once, before
 * any other BLAS call of the process is running. Returns 1 when it switched. */
static inline int ast_openblas_upgrade_fallback_core(void) {
    if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit || getenv("OPENBLAS_CORETYPE")) return 0;
    const char *name = openblas_get_corename();
    if (!name || strcasecmp(name, "prescott") != 0) return 0;
    __builtin_cpu_init();
    const char *target = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        target = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        target = "Haswell";
    if (!target) return 0;
    setenv("OPENBLAS_CORETYPE", target, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");
    return 1;
}

/* A spin-wait hint to the CPU (libast's worker pool waits for work this way for a moment). */
static inline void ast_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
#endif
