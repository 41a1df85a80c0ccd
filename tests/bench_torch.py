#!/usr/bin/env python3
"""PyTorch side of the native benchmark (tests/bench_native.cu), same shapes, same machine.

Times what the kernels replace, with CUDA events (median of many):
  - dual-path attention as two scaled_dot_product_attention calls (q-k and v-v) on the packed
    in_proj output, fp16, including the reshape/transpose PyTorch needs from (B, N, 3C);
  - the official feature surgery (the N×T×C broadcast of CLIP_Surgery's clip_feature_surgery),
    fp32, 59 labels.
Needs torch with CUDA. Usage: python3 tests/bench_torch.py [iterations]
"""
import sys

import torch
import torch.nn.functional as F

ITERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100


def median_ms(fn):
    for _ in range(5):
        fn()
    times = []
    for _ in range(ITERS):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def dual_sdpa(qkv, heads):
    n, c3 = qkv.shape[1], qkv.shape[2]
    c = c3 // 3
    q, k, v = qkv.view(1, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    ori = F.scaled_dot_product_attention(q, k, v)
    vv = F.scaled_dot_product_attention(v, v, v)
    return ori.transpose(1, 2).reshape(1, n, c), vv.transpose(1, 2).reshape(1, n, c)


def official_feature_surgery(image_features, text_features):
    # The official formulation: weights from the class token, then an N×T×C product.
    prob = image_features[:, :1, :] @ text_features.t()
    prob = (prob * 2).softmax(-1)
    w = prob / prob.mean(-1, keepdim=True)
    b, n_t, n_i, c = image_features.shape[0], text_features.shape[0], image_features.shape[1], image_features.shape[2]
    feats = image_features.reshape(b, n_i, 1, c) * text_features.reshape(1, 1, n_t, c)
    feats *= w.reshape(1, 1, n_t, 1)
    redundant = feats.mean(2, keepdim=True)
    return (feats - redundant).sum(-1)


def main():
    dev = torch.device("cuda")
    print(f"device: {torch.cuda.get_device_name(dev)}, torch {torch.__version__}")
    for name, res, patch, c, heads in (("ViT-B/16@224", 224, 16, 768, 12), ("ViT-B/16@512", 512, 16, 768, 12),
                                       ("ViT-L/14@336", 336, 14, 1024, 16)):
        n = 1 + (res // patch) ** 2
        qkv = torch.randn(1, n, 3 * c, device=dev, dtype=torch.float16)
        ms = median_ms(lambda: dual_sdpa(qkv, heads))
        print(f"{'two SDPA calls f16':28s} {name} N={n} C={c}: {ms:.4f} ms")
        e = 512 if c == 768 else 768
        img = F.normalize(torch.randn(1, n, e, device=dev), dim=-1)
        text = F.normalize(torch.randn(59, e, device=dev), dim=-1)
        ms = median_ms(lambda: official_feature_surgery(img, text))
        print(f"{'official feature surgery':28s} {name} N={n} E={e} T=59: {ms:.4f} ms")


if __name__ == "__main__":
    main()
