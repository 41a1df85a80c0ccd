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
    CS_BF16 = 2,
    CS_U8 = 3,  /* label maps only */
    CS_I32 = 4  /* label maps only */
} cs_dtype;

/* Memory layout of per-label maps. */
typedef enum cs_map_layout {
    CS_LAYOUT_BTHW = 0, /* (batch, labels, height, width) */
    CS_LAYOUT_BHWT = 1  /* (batch, height, width, labels) */
} cs_map_layout;

/* Memory layout of an image-shaped tensor (batch, channels, height, width). */
typedef enum cs_image_layout {
    CS_NCHW = 0, /* (batch, channels, height, width): planes, as pixels arrive */
    CS_NHWC = 1  /* (batch, height, width, channels): channels last, as GEMMs produce them */
} cs_image_layout;

/* Channel order of an interleaved 8-bit frame. */
typedef enum cs_pixel_order {
    CS_RGB = 0,
    CS_BGR = 1
} cs_pixel_order;

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
 * The N×T×C tensor of the official code is never formed. CUDA: channels + labels <= 12224 (a
 * token's channels and scores share a block's 48 KiB of shared memory; CS_ERR_UNSUPPORTED
 * beyond); CPU: any.
 * ------------------------------------------------------------------------------------------- */
CS_API int cs_feature_surgery_cpu(const void *image, int image_dtype, int64_t batch,
                                  int64_t tokens, int64_t channels, const float *text,
                                  int64_t labels, const float *redundant, float *out,
                                  cs_stream stream);
CS_API int cs_feature_surgery_cuda(const void *image, int image_dtype, int64_t batch,
                                   int64_t tokens, int64_t channels, const float *text,
                                   int64_t labels, const float *redundant, float *out,
                                   cs_stream stream);

/* ---------------------------------------------------------------------------------------------
 * Dual-path attention (ViT architecture surgery), per image and head h (d = channels / heads):
 *   out_ori = softmax(scale · q·kᵀ) · v        (the original path)
 *   out_vv  = softmax(scale · v·vᵀ) · v        (the surgery path, v-v attention)
 *
 * qkv:     (batch, tokens, 3·channels), the packed in_proj output: q, k, v side by side, head h
 *          at columns h·d .. h·d+d-1 of each part; element type `dtype` (f32, f16, bf16)
 * out_ori: (batch, tokens, channels) of `dtype`, or NULL to skip the original path
 * out_vv:  (batch, tokens, channels) of `dtype`, or NULL to skip the surgery path
 * scale:   the softmax scale, usually d^-1/2
 * At least one output must be non-NULL; outputs must not overlap qkv or each other. Softmax and
 * accumulation are fp32; no tokens×tokens matrix is stored. CUDA: head dims 32, 64, 80 and 128
 * (others CS_ERR_UNSUPPORTED); CPU: any.
 * CUDA with f16/bf16 uses tensor cores where qkv is 16-byte aligned, and there (as
 * FlashAttention does) rounds the softmax weights to the input type before multiplying by v.
 * ------------------------------------------------------------------------------------------- */
CS_API int cs_attention_dual_cpu(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                 int64_t channels, int64_t heads, float scale, void *out_ori,
                                 void *out_vv, cs_stream stream);
CS_API int cs_attention_dual_cuda(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                  int64_t channels, int64_t heads, float scale, void *out_ori,
                                  void *out_vv, cs_stream stream);

/* ---------------------------------------------------------------------------------------------
 * Self-attention of the training-free methods' rebuilt last blocks (CLIP Surgery's siblings),
 * one entry point with a mode; per image b and head h (d = channels / heads), s = scale:
 *   CS_ATTN_QQ           softmax(s·q·qᵀ)·v                                  (ClearCLIP)
 *   CS_ATTN_KK           softmax(s·k·kᵀ)·v
 *   CS_ATTN_VV           softmax(s·v·vᵀ)·v                 (CLIP Surgery's surgery path)
 *   CS_ATTN_QQ_PLUS_KK   softmax(s·q·qᵀ)·v + softmax(s·k·kᵀ)·v                  (SCLIP)
 *   CS_ATTN_KK_GAUSSIAN  softmax(s·k·kᵀ + Ω)·v, Ω[i,j] = exp(−‖p_i − p_j‖² / (2·sigma²)) for
 *                        patch tokens i, j >= 1 at grid coordinates p = ((i−1) / grid,
 *                        (i−1) % grid), 0 on the class token's row and column; tokens must be
 *                        1 + grid² and sigma > 0                                (NACLIP)
 *   CS_ATTN_VALUE        v itself                                           (MaskCLIP)
 *   CS_ATTN_GEM          (A_v + A_k + A_q)·v / 3 with τ[b] = s · mean over tokens of the L2
 *                        norms of normed[b] (full rows), and for w in {q, k, v}: ŵ = w / ‖w‖
 *                        per head row, one iteration ŵ ← n(softmax(τ·ŵŵᵀ)·ŵ) (n: the same
 *                        normalisation), A_w = softmax(τ·ŵŵᵀ)                      (GEM)
 *
 * qkv:       (batch, tokens, 3·channels), the packed in_proj output (as cs_attention_dual)
 * normed:    (batch, tokens, channels) of `dtype`, the block's ln_1 output: CS_ATTN_GEM only
 *            (else ignored, may be NULL)
 * workspace: cs_self_attention_workspace(...) bytes of device memory (host memory for the CPU
 *            twin), 16-byte aligned: CS_ATTN_GEM only (0 bytes for the other modes, may be
 *            NULL); must not overlap the other buffers
 * out:       (batch, tokens, channels) of `dtype`, not overlapping qkv, normed or workspace
 * grid, sigma: CS_ATTN_KK_GAUSSIAN only (else ignored)
 * Softmax and accumulation are fp32, no tokens×tokens matrix is stored (GEM's iterated features
 * are fp32 in the workspace). CUDA: head dims 32, 64, 80 and 128 (others CS_ERR_UNSUPPORTED);
 * CPU: any.
 * ------------------------------------------------------------------------------------------- */
typedef enum cs_attention_mode {
    CS_ATTN_QQ = 0,
    CS_ATTN_KK = 1,
    CS_ATTN_VV = 2,
    CS_ATTN_QQ_PLUS_KK = 3,
    CS_ATTN_KK_GAUSSIAN = 4,
    CS_ATTN_VALUE = 5,
    CS_ATTN_GEM = 6
} cs_attention_mode;

/* Bytes of workspace cs_self_attention needs for `mode` at this shape (0 but for CS_ATTN_GEM);
 * -1 for an unknown mode or a shape below 1. */
CS_API int64_t cs_self_attention_workspace(int mode, int64_t batch, int64_t tokens, int64_t channels);
CS_API int cs_self_attention_cpu(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                 int64_t channels, int64_t heads, float scale, int mode,
                                 int64_t grid, float sigma, const void *normed, void *workspace,
                                 void *out, cs_stream stream);
CS_API int cs_self_attention_cuda(const void *qkv, int dtype, int64_t batch, int64_t tokens,
                                  int64_t channels, int64_t heads, float scale, int mode,
                                  int64_t grid, float sigma, const void *normed, void *workspace,
                                  void *out, cs_stream stream);

/* ---------------------------------------------------------------------------------------------
 * Maps from a similarity (batch, tokens, labels) fp32, tokens = 1 + g·g (token 0, the class
 * token, is skipped; patch tokens are the g×g grid, row-major).
 *
 * Min-max normalisation, used by all three (one rule for the CPU twins and the kernels):
 *   norm(x) = (x − min) / (max − min) over the map's values, where
 *   - values that are not finite (NaN, ±inf: e.g. from NaN features) take no part in min and
 *     max, and normalise to 0;
 *   - a map whose range max − min is not positive and finite (a constant map, a map with no
 *     finite value) is 0 everywhere.
 *   The official code gives NaN in both cases; every output here is finite, in [0, 1].
 *
 * cs_map_upsample: per image and label, norm over the g·g patch values ((x − min)·(1 / range)),
 *   then bilinear resize (align_corners=False, as torch.nn.functional.interpolate) to
 *   height × width.
 *   out: `layout` (cs_map_layout) of `out_dtype` (CS_F32 or CS_F16).
 *
 * cs_map_labels: the per-pixel argmax over labels of the cs_map_upsample maps (the first label
 *   wins ties); pixels whose best value is < threshold get `background` instead (with a NaN
 *   threshold, every pixel).
 *   out: (batch, height, width) of `out_dtype` (CS_U8 or CS_I32); labels and background must fit.
 *
 * cs_map_points: SAM point prompts per image and label (the official similarity_map_to_points):
 *   the label's g×g raw patch values are resized bilinear to (g/2)×(g/2) (integer division; a
 *   cell with a non-finite tap is non-finite), norm over those cells ((x − min) / range),
 *   n = min(#cells >= threshold, cells / 2, max_points), and n = 0 when the cells' range is not
 *   positive and finite (no contrast, whatever the threshold); sorted ascending (stable), the n
 *   highest cells are positives (ascending order), the n lowest negatives; a cell (r, c) becomes
 *   the point x = min((c + 0.5)·width/(g/2), width − 1), y = min((r + 0.5)·height/(g/2),
 *   height − 1), truncated to integers.
 *   n = 0 (no cell >= threshold, no contrast, or a 2×2 or 3×3 grid: one cell, cells / 2 = 0)
 *   gives no point at all: the official code's rank[-0:] then returns every cell as a positive
 *   with an empty label list, which this API does not reproduce.
 *   points: (batch, labels, 2·max_points, 2) int32 (x, y): positives first, then negatives;
 *           entries past 2n are set to -1
 *   counts: (batch, labels) int32, n per label
 * CPU: the upsample and label maps share output rows among threads (CS_CPU_THREADS in the
 * environment, default the hardware's thread count); results do not depend on the count.
 * ------------------------------------------------------------------------------------------- */
CS_API int cs_map_upsample_cpu(const float *similarity, int64_t batch, int64_t tokens,
                               int64_t labels, int64_t height, int64_t width, int layout,
                               int out_dtype, void *out, cs_stream stream);
CS_API int cs_map_upsample_cuda(const float *similarity, int64_t batch, int64_t tokens,
                                int64_t labels, int64_t height, int64_t width, int layout,
                                int out_dtype, void *out, cs_stream stream);
CS_API int cs_map_labels_cpu(const float *similarity, int64_t batch, int64_t tokens,
                             int64_t labels, int64_t height, int64_t width, float threshold,
                             int32_t background, int out_dtype, void *out, cs_stream stream);
CS_API int cs_map_labels_cuda(const float *similarity, int64_t batch, int64_t tokens,
                              int64_t labels, int64_t height, int64_t width, float threshold,
                              int32_t background, int out_dtype, void *out, cs_stream stream);
CS_API int cs_map_points_cpu(const float *similarity, int64_t batch, int64_t tokens,
                             int64_t labels, int64_t height, int64_t width, float threshold,
                             int64_t max_points, int32_t *points, int32_t *counts,
                             cs_stream stream);
CS_API int cs_map_points_cuda(const float *similarity, int64_t batch, int64_t tokens,
                              int64_t labels, int64_t height, int64_t width, float threshold,
                              int64_t max_points, int32_t *points, int32_t *counts,
                              cs_stream stream);

/* ---------------------------------------------------------------------------------------------
 * Preprocess one frame: PIL's antialiased BICUBIC resize (horizontal pass, then vertical, each
 * rounded to uint8, 22-bit fixed-point weights), /255, then (x − mean_c) / std_c with CLIP's
 * mean (0.48145466, 0.4578275, 0.40821073) and std (0.26862954, 0.26130258, 0.27577711).
 *
 * frame:     height rows of width·3 bytes, row r at frame + r·row_pitch (row_pitch >= 3·width),
 *            channel order `order` (cs_pixel_order)
 * out:       (3, out_height, out_width) RGB planes of `out_dtype` (f32, f16, bf16)
 * The CPU result equals PIL's uint8 resize exactly before normalisation; the CUDA result equals
 * the CPU one bit for bit (the same integer arithmetic, the weights computed without FMA
 * contraction).
 * ------------------------------------------------------------------------------------------- */
CS_API int cs_preprocess_cpu(const uint8_t *frame, int64_t height, int64_t width,
                             int64_t row_pitch, int order, int64_t out_height, int64_t out_width,
                             int out_dtype, void *out, cs_stream stream);
CS_API int cs_preprocess_cuda(const uint8_t *frame, int64_t height, int64_t width,
                              int64_t row_pitch, int order, int64_t out_height, int64_t out_width,
                              int out_dtype, void *out, cs_stream stream);

/* ---------------------------------------------------------------------------------------------
 * Engine helpers around the GEMMs. Tensors of `dtype` (f32, f16, bf16); parameter vectors
 * (weight, bias, embeddings) are fp32; arithmetic is fp32. `out` may equal the input (in place).
 *
 * cs_layer_norm:       out[r] = (x[r] − mean) / sqrt(var + eps) · weight + bias, x (rows, cols)
 * cs_bias_quick_gelu:  out[r,c] = y · sigmoid(1.702 · y), y = x[r,c] + bias[c] (bias may be NULL)
 *                      (OpenAI's QuickGELU)
 * cs_bias_gelu:        out[r,c] = y · Φ(y) = y/2 · (1 + erf(y/√2)), y = x[r,c] + bias[c] (bias
 *                      may be NULL): the exact GELU, torch.nn.GELU()'s default (OpenCLIP's and
 *                      many Hugging Face checkpoints' activation); arguments as cs_bias_quick_gelu
 *                      (for both: out equals x or does not overlap it, nor the bias)
 * cs_add:              out[r,c] = a[r,c] + a_bias[c] + b[r mod b_rows, c] + b_bias[c], a and out
 *                      (rows, cols), b (b_rows, cols) broadcast over rows (rows a multiple of
 *                      b_rows); b, a_bias and b_bias may each be NULL (a residual add is
 *                      cs_add(x, NULL, y, rows, bias, ..., out = x); a bias alone is b = NULL,
 *                      and then b_rows is not read); out may equal a, or b when b_rows == rows;
 *                      no other overlap
 * cs_embed_tokens:     patches (batch, grid·grid, channels) → out (batch, 1 + grid·grid, channels):
 *                      out[b,0] = class_embedding + pos[0];
 *                      out[b,1+i] = patches[b,i] + P[i], P = the pos_grid × pos_grid part of
 *                      pos_embedding (1 + pos_grid², channels) resized bilinear
 *                      (align_corners=False) to grid × grid
 * cs_class_token_copy: dst[b,0,:] = src[b,0,:] for x (batch, tokens, channels) (the class-token
 *                      swap of the surgery path); other tokens untouched
 * cs_l2_normalize:     out[r] = x[r] / max(||x[r]||, 1e-12)
 * ------------------------------------------------------------------------------------------- */
CS_API int cs_layer_norm_cpu(const void *x, int dtype, int64_t rows, int64_t cols,
                             const float *weight, const float *bias, float eps, void *out,
                             cs_stream stream);
CS_API int cs_layer_norm_cuda(const void *x, int dtype, int64_t rows, int64_t cols,
                              const float *weight, const float *bias, float eps, void *out,
                              cs_stream stream);
CS_API int cs_bias_quick_gelu_cpu(const void *x, int dtype, int64_t rows, int64_t cols,
                                  const float *bias, void *out, cs_stream stream);
CS_API int cs_bias_quick_gelu_cuda(const void *x, int dtype, int64_t rows, int64_t cols,
                                   const float *bias, void *out, cs_stream stream);
CS_API int cs_bias_gelu_cpu(const void *x, int dtype, int64_t rows, int64_t cols,
                            const float *bias, void *out, cs_stream stream);
CS_API int cs_bias_gelu_cuda(const void *x, int dtype, int64_t rows, int64_t cols,
                             const float *bias, void *out, cs_stream stream);
CS_API int cs_add_cpu(const void *a, const float *a_bias, const void *b, int64_t b_rows,
                      const float *b_bias, int dtype, int64_t rows, int64_t cols, void *out,
                      cs_stream stream);
CS_API int cs_add_cuda(const void *a, const float *a_bias, const void *b, int64_t b_rows,
                       const float *b_bias, int dtype, int64_t rows, int64_t cols, void *out,
                       cs_stream stream);
CS_API int cs_embed_tokens_cpu(const void *patches, int dtype, int64_t batch, int64_t grid,
                               int64_t channels, const float *class_embedding,
                               const float *pos_embedding, int64_t pos_grid, void *out,
                               cs_stream stream);
CS_API int cs_embed_tokens_cuda(const void *patches, int dtype, int64_t batch, int64_t grid,
                                int64_t channels, const float *class_embedding,
                                const float *pos_embedding, int64_t pos_grid, void *out,
                                cs_stream stream);
CS_API int cs_class_token_copy_cpu(const void *src, void *dst, int dtype, int64_t batch,
                                   int64_t tokens, int64_t channels, cs_stream stream);
CS_API int cs_class_token_copy_cuda(const void *src, void *dst, int dtype, int64_t batch,
                                    int64_t tokens, int64_t channels, cs_stream stream);
CS_API int cs_l2_normalize_cpu(const void *x, int dtype, int64_t rows, int64_t cols, void *out,
                               cs_stream stream);
CS_API int cs_l2_normalize_cuda(const void *x, int dtype, int64_t rows, int64_t cols, void *out,
                                cs_stream stream);

/* ---------------------------------------------------------------------------------------------
 * The rest of the engine's work around the GEMMs (text encoder, patch embedding, dtypes).
 *
 * cs_convert:     out[i] = x[i] converted between f32, f16 and bf16 (round to nearest even),
 *                 n elements; out may equal x when the types have the same size, and must
 *                 not overlap it otherwise.
 * cs_gather_rows: out[r] = table[index[r]] for rows of row_bytes bytes (a multiple of 2; token
 *                 embedding, end-token pooling); an index outside [0, table_rows) gives a row of
 *                 zero bytes (the GPU cannot report it; callers check indices first). out must
 *                 not overlap table or index.
 * cs_attention:   single-path multi-head attention, per image b, head h (d = channels / heads)
 *                 and query i: out[b,i,h] = softmax(scale · q[b,i,h]·k[b,j,h]ᵀ over keys j)·v;
 *                 with `causal` query i sees keys 0..i only (the text encoder). q, k and v are
 *                 (batch, tokens, ·) with rows `row_stride` elements apart and head h at columns
 *                 h·d .. h·d+d-1 (row_stride = 3·channels for parts of a packed qkv, channels for
 *                 a plain tensor; q = k = v gives the v-v path alone); out (batch, tokens,
 *                 channels), not overlapping q, k or v (which may overlap each other); causal
 *                 is 0 or 1. fp32 softmax and accumulation. CUDA: head dim at most 128, and
 *                 tokens at most 3072 (CS_ERR_UNSUPPORTED beyond); CPU: any.
 * ------------------------------------------------------------------------------------------- */
CS_API int cs_convert_cpu(const void *x, int x_dtype, int64_t n, void *out, int out_dtype,
                          cs_stream stream);
CS_API int cs_convert_cuda(const void *x, int x_dtype, int64_t n, void *out, int out_dtype,
                           cs_stream stream);
CS_API int cs_gather_rows_cpu(const void *table, int64_t table_rows, int64_t row_bytes,
                              const int32_t *index, int64_t rows, void *out, cs_stream stream);
CS_API int cs_gather_rows_cuda(const void *table, int64_t table_rows, int64_t row_bytes,
                               const int32_t *index, int64_t rows, void *out, cs_stream stream);
CS_API int cs_attention_cpu(const void *q, const void *k, const void *v, int64_t row_stride,
                            int dtype, int64_t batch, int64_t tokens, int64_t channels,
                            int64_t heads, float scale, int causal, void *out, cs_stream stream);
CS_API int cs_attention_cuda(const void *q, const void *k, const void *v, int64_t row_stride,
                             int dtype, int64_t batch, int64_t tokens, int64_t channels,
                             int64_t heads, float scale, int causal, void *out,
                             cs_stream stream);

/* ---------------------------------------------------------------------------------------------
 * Convolutions as GEMMs, and the rest of the ModifiedResNet image encoder, on channels-last
 * activations. Tensors of `dtype` (f32, f16, bf16); parameter vectors fp32; arithmetic fp32.
 *
 * cs_im2col:     x (batch, channels, height, width) in `layout` (cs_image_layout) of x_dtype →
 *                out (batch·oh·ow, channels·kernel·kernel) of out_dtype, oh = (height + 2·padding
 *                − kernel) / stride + 1 and ow likewise (integer division, as torch): row
 *                (b, oy, ox) holds the window at (oy·stride − padding, ox·stride − padding) with
 *                columns in (channel, ky, kx) order — a convolution weight (out, channels, kernel,
 *                kernel) flattened — and zeros where the window reaches into the padding. The
 *                convolution is then one GEMM with that weight, its result (batch, oh, ow, out)
 *                channels-last; with stride = kernel and padding 0 this is a ViT's patch
 *                embedding. kernel must fit the padded image (kernel <= height + 2·padding and
 *                width + 2·padding, so oh, ow >= 1); any padding >= 0 and stride >= 1. out must
 *                not overlap x.
 * cs_batch_norm: x (rows, channels) → out[r,c] = (x[r,c] − mean[c]) / sqrt(var[c] + eps) ·
 *                weight[c] + bias[c] (inference batch norm on channels-last activations, rows =
 *                batch·height·width); eps finite and >= 0. out may equal x, no other overlap.
 * cs_relu:       out[i] = max(x[i], 0), n elements: NaN stays NaN with x's bits (as torch.relu
 *                propagates NaN), −0 gives +0, nothing is rounded. out may equal x, no other
 *                overlap.
 * cs_avg_pool:   x (batch, height, width, channels) → out (batch, height / kernel_h, width /
 *                kernel_w, channels): the mean of each kernel_h × kernel_w window, stride = kernel,
 *                no padding, rows and columns past the last whole window dropped (torch's
 *                AvgPool2d(k) for kernel_h = kernel_w = k; with kernel_h = height and kernel_w =
 *                width, the mean over all positions); kernel_h <= height, kernel_w <= width. The
 *                window is summed in fp32 and divided by kernel_h·kernel_w. out must not overlap x.
 * ------------------------------------------------------------------------------------------- */
CS_API int cs_im2col_cpu(const void *x, int x_dtype, int layout, int64_t batch, int64_t channels,
                         int64_t height, int64_t width, int64_t kernel, int64_t stride,
                         int64_t padding, int out_dtype, void *out, cs_stream stream);
CS_API int cs_im2col_cuda(const void *x, int x_dtype, int layout, int64_t batch, int64_t channels,
                          int64_t height, int64_t width, int64_t kernel, int64_t stride,
                          int64_t padding, int out_dtype, void *out, cs_stream stream);
CS_API int cs_batch_norm_cpu(const void *x, int dtype, int64_t rows, int64_t channels,
                             const float *weight, const float *bias, const float *mean,
                             const float *var, float eps, void *out, cs_stream stream);
CS_API int cs_batch_norm_cuda(const void *x, int dtype, int64_t rows, int64_t channels,
                              const float *weight, const float *bias, const float *mean,
                              const float *var, float eps, void *out, cs_stream stream);
CS_API int cs_relu_cpu(const void *x, int dtype, int64_t n, void *out, cs_stream stream);
CS_API int cs_relu_cuda(const void *x, int dtype, int64_t n, void *out, cs_stream stream);
CS_API int cs_avg_pool_cpu(const void *x, int dtype, int64_t batch, int64_t height, int64_t width,
                           int64_t channels, int64_t kernel_h, int64_t kernel_w, void *out,
                           cs_stream stream);
CS_API int cs_avg_pool_cuda(const void *x, int dtype, int64_t batch, int64_t height,
                            int64_t width, int64_t channels, int64_t kernel_h, int64_t kernel_w,
                            void *out, cs_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* CLIP_SURGERY_H */
