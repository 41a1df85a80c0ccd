"""Writes reference-vit-gelu.safetensors: what the official CLIP Surgery implementation computes
on the fixtures' ViT (../shared/fixtures/vit.pt) with its MLP activation swapped from QuickGELU to
torch.nn.GELU() (the exact erf form): the pipeline of the fixtures (image.png at 64 and 96 px, the
labels of reference.json, the 85 default templates), keys as in the fixtures' README under
"vit.R." (image, surgery_image_features, plain_image_features at 64 px only, text_features,
redundant_features, similarity, similarity_redundant). The similarity map (5 MB) is left out: it
is computed from the similarity by code that does not depend on the activation.

Made with Debian 12's python3-torch 1.13.1 on the CPU (fp32), from the project root:

    apt-get install -y python3-torch python3-torchvision python3-regex python3-tqdm libopenblas0-pthread
    git clone <xmed-lab/CLIP_Surgery> /tmp/cs-official      # commit d4696d4 ("fix norm issue")
    OFFICIAL=/tmp/cs-official /usr/bin/python3 src/test/resources/org/clipsurgery/activation/make_reference.py \
        --activation gelu --out src/test/resources/org/clipsurgery/activation/reference-vit-gelu.safetensors

With --activation quick_gelu (the official code unchanged) and --check ../shared/fixtures/reference-vit.safetensors
it compares itself with the fixtures instead (made with PyTorch 2.11 elsewhere) and prints the
largest error per key: that run is what says this script reproduces the fixtures' pipeline.
"""
import argparse
import json
import os
import struct
import sys
import types

import numpy as np
import torch
from PIL import Image

REF = os.environ["OFFICIAL"]
try:
    import pkg_resources  # noqa: F401  (the official clip.py imports it; Debian 12 may lack it)
except Exception:
    import packaging
    import packaging.version
    m = types.ModuleType("pkg_resources")
    m.packaging = packaging
    sys.modules["pkg_resources"] = m
try:
    import ftfy  # noqa: F401
except Exception:
    # The labels and templates are plain ASCII, which ftfy.fix_text returns unchanged.
    m = types.ModuleType("ftfy")
    m.fix_text = lambda s: s
    sys.modules["ftfy"] = m
sys.path.insert(0, REF)
import clip  # noqa: E402  (the official package)
from clip.build_model import build_model  # noqa: E402


def load_model(state_dict, surgery, activation):
    """The official model (CLIPSurgery, or the plain CLIP) in fp32 with the given MLP activation."""
    model = build_model("CS-ViT" if surgery else "ViT", {k: v.clone() for k, v in state_dict.items()}).float().eval()
    if activation == "gelu":
        blocks = list(model.visual.transformer.resblocks) + list(model.transformer.resblocks)
        for b in blocks:
            assert type(b.mlp.gelu).__name__ == "QuickGELU"
            b.mlp.gelu = torch.nn.GELU()  # approximate="none": the exact erf
    return model


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        assert spec["dtype"] == "F32", spec
        a, b = spec["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(spec["shape"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default="../shared/fixtures")
    ap.add_argument("--activation", choices=["gelu", "quick_gelu"], default="gelu")
    ap.add_argument("--out")
    ap.add_argument("--check", help="a reference safetensors file to compare with instead of writing")
    args = ap.parse_args()
    torch.set_num_threads(2)
    info = json.load(open(os.path.join(args.fixtures, "reference.json")))
    texts = info["texts"]
    state_dict = torch.load(os.path.join(args.fixtures, "vit.pt"), map_location="cpu")
    image = Image.open(os.path.join(args.fixtures, "image.png"))
    out = {}
    with torch.no_grad():
        for res in (64, 96):
            # A fresh model per resolution: the official forward overwrites its position embeddings.
            model = load_model(state_dict, True, args.activation)
            k = "vit.%d." % res
            pixels = clip.clip._transform(res)(image).unsqueeze(0)
            features = model.encode_image(pixels)
            text = clip.encode_text_with_prompt_ensemble(model, texts, "cpu")
            redundant = clip.encode_text_with_prompt_ensemble(model, [""], "cpu")
            normed = features / features.norm(dim=-1, keepdim=True)
            out[k + "image"] = pixels
            out[k + "surgery_image_features"] = features
            out[k + "text_features"] = text
            out[k + "redundant_features"] = redundant
            out[k + "similarity"] = clip.clip_feature_surgery(normed, text)
            out[k + "similarity_redundant"] = clip.clip_feature_surgery(normed, text, redundant)
            if res == 64:
                out[k + "plain_image_features"] = load_model(state_dict, False, args.activation).encode_image(pixels)
    if args.check:
        ref = read_safetensors(args.check)
        worst = 0.0
        for name, t in out.items():
            a, b = t.numpy(), ref[name]
            err = float(np.abs(a - b).max())
            ok = bool(np.all(np.abs(a - b) <= 1e-4 + 1e-3 * np.abs(b)))
            worst = max(worst, err)
            print("%-36s max abs error %.3g%s" % (name, err, "" if ok else "  OUTSIDE 1e-4 + 1e-3*|ref|"))
        print("largest: %.3g" % worst)
        return
    meta = {"activation": args.activation, "torch": torch.__version__, "official": "xmed-lab/CLIP_Surgery d4696d4",
            "source": "vit.pt, image.png, reference.json texts, 85 templates"}
    write_safetensors(args.out, out, meta)
    print("wrote %s: %d keys" % (args.out, len(out)))


if __name__ == "__main__":
    main()
