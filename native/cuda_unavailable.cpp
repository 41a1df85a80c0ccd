// The CUDA entry points of a library built without nvcc: each returns CS_ERR_NO_CUDA.
// (Excluded from the build when the CUDA kernels in cuda/ are compiled.)
#include "common.h"

#define CS_NO_CUDA(name) return cs::fail(CS_ERR_NO_CUDA, #name ": this library was built without CUDA")

extern "C" {

int cs_cuda_built(void) { return 0; }

int cs_cuda_device_count(int *count) {
    if (count) *count = 0;
    CS_NO_CUDA(cs_cuda_device_count);
}

int cs_feature_surgery_cuda(const void *, int, int64_t, int64_t, int64_t, const float *, int64_t,
                            const float *, float *, cs_stream) {
    CS_NO_CUDA(cs_feature_surgery_cuda);
}

int cs_attention_dual_cuda(const void *, int, int64_t, int64_t, int64_t, int64_t, float, void *,
                           void *, cs_stream) {
    CS_NO_CUDA(cs_attention_dual_cuda);
}

int cs_self_attention_cuda(const void *, int, int64_t, int64_t, int64_t, int64_t, float, int, int64_t, float,
                           const void *, void *, void *, cs_stream) {
    CS_NO_CUDA(cs_self_attention_cuda);
}

int cs_map_upsample_cuda(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int, int,
                         void *, cs_stream) {
    CS_NO_CUDA(cs_map_upsample_cuda);
}

int cs_map_labels_cuda(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, float, int32_t,
                       int, void *, cs_stream) {
    CS_NO_CUDA(cs_map_labels_cuda);
}

int cs_map_points_cuda(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, float, int64_t,
                       int32_t *, int32_t *, cs_stream) {
    CS_NO_CUDA(cs_map_points_cuda);
}

int cs_preprocess_cuda(const uint8_t *, int64_t, int64_t, int64_t, int, int64_t, int64_t, int,
                       void *, cs_stream) {
    CS_NO_CUDA(cs_preprocess_cuda);
}

int cs_layer_norm_cuda(const void *, int, int64_t, int64_t, const float *, const float *, float,
                       void *, cs_stream) {
    CS_NO_CUDA(cs_layer_norm_cuda);
}

int cs_bias_quick_gelu_cuda(const void *, int, int64_t, int64_t, const float *, void *, cs_stream) {
    CS_NO_CUDA(cs_bias_quick_gelu_cuda);
}

int cs_bias_gelu_cuda(const void *, int, int64_t, int64_t, const float *, void *, cs_stream) {
    CS_NO_CUDA(cs_bias_gelu_cuda);
}

int cs_add_cuda(const void *, const float *, const void *, int64_t, const float *, int, int64_t,
                int64_t, void *, cs_stream) {
    CS_NO_CUDA(cs_add_cuda);
}

int cs_embed_tokens_cuda(const void *, int, int64_t, int64_t, int64_t, const float *, const float *,
                         int64_t, void *, cs_stream) {
    CS_NO_CUDA(cs_embed_tokens_cuda);
}

int cs_class_token_copy_cuda(const void *, void *, int, int64_t, int64_t, int64_t, cs_stream) {
    CS_NO_CUDA(cs_class_token_copy_cuda);
}

int cs_l2_normalize_cuda(const void *, int, int64_t, int64_t, void *, cs_stream) {
    CS_NO_CUDA(cs_l2_normalize_cuda);
}

int cs_convert_cuda(const void *, int, int64_t, void *, int, cs_stream) {
    CS_NO_CUDA(cs_convert_cuda);
}

int cs_gather_rows_cuda(const void *, int64_t, int64_t, const int32_t *, int64_t, void *,
                        cs_stream) {
    CS_NO_CUDA(cs_gather_rows_cuda);
}

int cs_attention_cuda(const void *, const void *, const void *, int64_t, int, int64_t, int64_t,
                      int64_t, int64_t, float, int, void *, cs_stream) {
    CS_NO_CUDA(cs_attention_cuda);
}

int cs_im2col_cuda(const void *, int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                   int64_t, int, void *, cs_stream) {
    CS_NO_CUDA(cs_im2col_cuda);
}

int cs_batch_norm_cuda(const void *, int, int64_t, int64_t, const float *, const float *,
                       const float *, const float *, float, void *, cs_stream) {
    CS_NO_CUDA(cs_batch_norm_cuda);
}

int cs_relu_cuda(const void *, int, int64_t, void *, cs_stream) { CS_NO_CUDA(cs_relu_cuda); }

int cs_avg_pool_cuda(const void *, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                     void *, cs_stream) {
    CS_NO_CUDA(cs_avg_pool_cuda);
}

} // extern "C"
