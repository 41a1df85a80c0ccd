#!/usr/bin/env python3
"""PyTorch's own CPU autocast-bf16 error on the reference fixtures: the yardstick of the CPU
engine's bf16 mode (BF16CpuTest, issue #13: "within 2x of PyTorch's CPU autocast-bf16 error").

Runs the official CLIP Surgery code (the public repository xmed-lab/CLIP_Surgery) on the fixture
models vit.pt and rn.pt under torch.autocast("cpu", dtype=torch.bfloat16), on the fixtures' own preprocessed
images and text features, and prints, per model and resolution, the largest absolute difference from the
fp32 references of:
  - surgery_image_features: the CLIP Surgery image encoder's tokens, all of them, not normalised;
  - similarity: feature surgery of those tokens (normalised) with the reference text features;
  - text_features: the 85-template prompt ensemble of the fixture labels, normalised.
Output: JSON on stdout, committed as src/test/resources/org/clipsurgery/bf16-autocast-error.json.

usage: OFFICIAL=DIR python3 tests/reference/bf16_autocast_error.py FIXTURES_DIR > OUT.json
  DIR holds the clip/ package of xmed-lab/CLIP_Surgery; Debian's python3-torch (1.13) suffices.
"""
import json, os, struct, sys, types

import numpy as np

sys.path.insert(0, os.environ["OFFICIAL"])
for name, attr, value in (("pkg_resources", None, None), ("ftfy", "fix_text", lambda s: s)):
    try:
        __import__(name)
    except Exception:  # stand-ins for imports the code makes but this run does not use
        m = types.ModuleType(name)
        if name == "pkg_resources":
            import packaging, packaging.version
            m.packaging = packaging
        else:
            setattr(m, attr, value)
        sys.modules[name] = m
import torch
import clip
from clip.build_model import build_model

fixtures = sys.argv[1]
# AUTOCAST=0: the same run in fp32, a check of this script (every error then about 1e-6)
AUTOCAST = os.environ.get("AUTOCAST", "1") != "0"


def safetensors(path):
    """The tensors of a .safetensors file as float32 numpy arrays (the format is a JSON header)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    kinds = {"F32": np.float32, "F16": np.float16, "I32": np.int32}
    out = {}
    for key, v in header.items():
        if key == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[key] = np.frombuffer(data[a:b], dtype=kinds[v["dtype"]]).reshape(v["shape"]).astype(np.float32)
    return out


torch.manual_seed(0)
torch.set_num_threads(2)
labels = json.load(open(os.path.join(fixtures, "reference.json")))["texts"]
result = {"what": "max |autocast %s - fp32 reference| of the official code on the fixture models" % ("bf16" if AUTOCAST else "off"),
          "torch": torch.__version__, "labels": labels, "errors": {}}
for name in ("vit", "rn"):
    ref = safetensors(os.path.join(fixtures, "reference-%s.safetensors" % name))
    # clip.load's own route (the name holds "CS-": the surgery model; fp32 on the CPU). Called
    # directly because torch 1.13 cannot re-read the file after clip.load's TorchScript attempt.
    state = torch.load(os.path.join(fixtures, name + ".pt"), map_location="cpu")
    model = build_model("CS-" + name, state).float().eval()
    err = lambda a, b: float(np.abs(a.numpy() - b).max())
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=AUTOCAST):
        ensemble = clip.encode_text_with_prompt_ensemble(model, labels, "cpu").float()
        for res in (64, 96):
            key = "%s.%d." % (name, res)
            tokens = model.encode_image(torch.from_numpy(ref[key + "image"])).float()
            feats = tokens / tokens.norm(dim=-1, keepdim=True)
            similarity = clip.clip_feature_surgery(feats, torch.from_numpy(ref[key + "text_features"])).float()
            result["errors"][key[:-1]] = {
                "surgery_image_features": err(tokens, ref[key + "surgery_image_features"]),
                "similarity": err(similarity, ref[key + "similarity"]),
                "text_features": err(ensemble, ref[key + "text_features"]),
            }
print(json.dumps(result, indent=1))
