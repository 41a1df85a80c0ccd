/*
 * clip_surgery.h — the C API of the CLIP Surgery native library (the only surface Java binds).
 *
 * Basic usage (CPU):
 *
 *     float sim[B * N * T];
 *     int rc = cs_feature_surgery_cpu(image, CS_F32, B, N, C, text, T, NULL, sim, NULL);
 *     if (rc != CS_OK) fprintf(stderr, "%s: %s\n", cs_status_string(rc), cs_last_error());
 *
 * Every computation has a CPU entry point (`*_cpu`, host pointers) and a CUDA one (`*_cuda`,
 * device pointers) with the same parameters and contract; the CPU one is the test oracle of the
 * CUDA one. CUDA entry points enqueue work on `stream` and return without synchronising; CPU
 * entry points ignore `stream` and return when done.
 *
 * Conventions:
 *  - functions return 0 (CS_OK) on success or a cs_status code; on failure nothing is written
 *    to outputs that were not already partly written by the device, and cs_last_error() gives
 *    a message for the calling thread;
 *  - every argument is checked before any work starts; no function aborts the process;
 *  - tensors are dense row-major, shapes are given as int64_t, the layout of every argument is
 *    written next to it as (dim0, dim1, ...).
 *  - a library built without nvcc still has every CUDA entry point: they return
 *    CS_ERR_NO_CUDA ("built without CUDA").
 */
#ifndef CLIP_SURGERY_H
#define CLIP_SURGERY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define CS_API __declspec(dllexport)
#else
#define CS_API __attribute__((visibility("default")))
#endif

#define CS_VERSION_MAJOR 0
#define CS_VERSION_MINOR 1
#define CS_VERSION_PATCH 0

/* The same type as cudaStream_t, declared without CUDA headers. NULL is the legacy default stream. */
typedef struct CUstream_st *cs_stream;

typedef enum cs_status {
    CS_OK = 0,
    CS_ERR_INVALID_ARGUMENT = 1, /* a pointer, shape or option is not acceptable */
    CS_ERR_NO_CUDA = 2,          /* the library was built without CUDA */
    CS_ERR_CUDA = 3,             /* the CUDA runtime reported an error (no device, old driver, ...) */
    CS_ERR_OUT_OF_MEMORY = 4,    /* host or device allocation failed */
    CS_ERR_UNSUPPORTED = 5,      /* a valid request this build cannot serve (dtype, head dim, ...) */
    CS_ERR_INTERNAL = 6          /* a bug: please report it with the message */
} cs_status;

/* Element types of tensor inputs. Accumulation and softmax are always fp32. */
typedef enum cs_dtype {
    CS_F32 = 0,
    CS_F16 = 1,
    CS_BF16 = 2
} cs_dtype;

/* "major.minor.patch" of this library. */
CS_API const char *cs_version(void);

/* A fixed description of a status code ("invalid argument", ...); never NULL. */
CS_API const char *cs_status_string(int status);

/* The message of the last failed call on the calling thread ("" if none); valid until the next
 * call on this thread. */
CS_API const char *cs_last_error(void);

/* 1 if the library was compiled with CUDA kernels, else 0. */
CS_API int cs_cuda_built(void);

/* Number of CUDA devices the driver reports; CS_ERR_NO_CUDA without CUDA, CS_ERR_CUDA with the
 * runtime's message when there is no usable driver. */
CS_API int cs_cuda_device_count(int *count);

/* ---------------------------------------------------------------------------------------------
 * Feature surgery ("redundancy subtraction", CLIP Surgery eq. for the similarity map).
 *
 * image:     (batch, tokens, channels), unnormalised image tokens, token 0 is the class token,
 *            element type `image_dtype`
 * text:      (labels, channels) fp32 text features, L2-normalised
 * redundant: NULL for label-set mode, else (channels) fp32 redundant feature r
 * out:       (batch, tokens, labels) fp32
 *
 * Image tokens are L2-normalised first (x / ||x||). Then, per image,
 *   label-set mode:  p = softmax(2 · x0 · textᵀ), w = p / mean(p),
 *                    out[i,t] = w_t · (x_i·text_t) − (1/T) · Σ_t' w_t' · (x_i·text_t')
 *   redundant mode:  out[i,t] = x_i · (text_t − r)
 * The N×T×C tensor of the official code is never formed.
 * ------------------------------------------------------------------------------------------- */
CS_API int cs_feature_surgery_cpu(const void *image, int image_dtype, int64_t batch,
                                  int64_t tokens, int64_t channels, const float *text,
                                  int64_t labels, const float *redundant, float *out,
                                  cs_stream stream);
CS_API int cs_feature_surgery_cuda(const void *image, int image_dtype, int64_t batch,
                                   int64_t tokens, int64_t channels, const float *text,
                                   int64_t labels, const float *redundant, float *out,
                                   cs_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* CLIP_SURGERY_H */
