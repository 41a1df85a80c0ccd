package org.clipsurgery.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Test helper: a Hugging Face CLIPModel folder made from OpenAI-layout weights the way
 * transformers' convert_clip_original_pytorch_to_hf.py does it (in_proj chunked into q/k/v,
 * projections transposed, ln_pre → pre_layrnorm, ...), written here independently of
 * {@link HuggingFaceLayout}, so that the reader is checked against a second producer rather
 * than against its own inverse.
 */
public final class HuggingFaceCopy {
    private HuggingFaceCopy() {}

    /** Where the weights go: model.safetensors or pytorch_model.bin. */
    public enum Weights { SAFETENSORS, TORCH_SAVE }

    /**
     * Writes {@code dir}/config.json (with {@code hiddenAct} and {@code eps} in both towers) and the
     * weights of ViT {@code openAi}; {@code positionIds} adds the buffers older transformers save.
     */
    public static void write(Map<String, HostTensor> openAi, ModelConfig c, Path dir, String hiddenAct, double eps,
            Weights weights, boolean positionIds) throws IOException {
        Map<String, HostTensor> hf = new LinkedHashMap<>();
        for (Map.Entry<String, HostTensor> e : openAi.entrySet()) {
            String k = e.getKey();
            HostTensor t = e.getValue();
            if (ModelConfig.CONFIG_ENTRIES.contains(k)) continue;
            if (k.endsWith(".attn.in_proj_weight") || k.endsWith(".attn.in_proj_bias")) {
                String layer = layerName(k.substring(0, k.indexOf(".attn.in_proj_")));
                String kind = k.endsWith("weight") ? "weight" : "bias";
                long rows = t.size(0) / 3;
                long rowBytes = t.numel() / t.size(0) * t.dtype().size();
                long[] shape = t.shape();
                shape[0] = rows;
                String[] names = {"q_proj", "k_proj", "v_proj"};
                for (int i = 0; i < 3; i++) {
                    ByteBuffer part = t.data().position((int) (i * rows * rowBytes)).limit((int) ((i + 1) * rows * rowBytes));
                    hf.put(layer + ".self_attn." + names[i] + "." + kind, new HostTensor(t.dtype(), shape, copy(part)));
                }
                continue;
            }
            switch (k) {
                case "text_projection" -> hf.put("text_projection.weight", transposed(t));
                case "visual.proj" -> hf.put("visual_projection.weight", transposed(t));
                case "logit_scale" -> hf.put("logit_scale", t);
                case "token_embedding.weight" -> hf.put("text_model.embeddings.token_embedding.weight", t);
                case "positional_embedding" -> hf.put("text_model.embeddings.position_embedding.weight", t);
                case "ln_final.weight" -> hf.put("text_model.final_layer_norm.weight", t);
                case "ln_final.bias" -> hf.put("text_model.final_layer_norm.bias", t);
                case "visual.class_embedding" -> hf.put("vision_model.embeddings.class_embedding", t);
                case "visual.conv1.weight" -> hf.put("vision_model.embeddings.patch_embedding.weight", t);
                case "visual.positional_embedding" -> hf.put("vision_model.embeddings.position_embedding.weight", t);
                case "visual.ln_pre.weight" -> hf.put("vision_model.pre_layrnorm.weight", t);
                case "visual.ln_pre.bias" -> hf.put("vision_model.pre_layrnorm.bias", t);
                case "visual.ln_post.weight" -> hf.put("vision_model.post_layernorm.weight", t);
                case "visual.ln_post.bias" -> hf.put("vision_model.post_layernorm.bias", t);
                default -> {
                    // transformer.resblocks.3.mlp.c_fc.weight → text_model.encoder.layers.3.mlp.fc1.weight
                    int at = k.indexOf(".", k.indexOf("resblocks.") + "resblocks.".length());
                    String rest = k.substring(at + 1).replace("attn.out_proj", "self_attn.out_proj").replace("ln_1", "layer_norm1")
                            .replace("ln_2", "layer_norm2").replace("mlp.c_fc", "mlp.fc1").replace("mlp.c_proj", "mlp.fc2");
                    hf.put(layerName(k.substring(0, at)) + "." + rest, t);
                }
            }
        }
        if (positionIds) {
            long grid = c.imageResolution() / c.visionPatchSize();
            hf.put("text_model.embeddings.position_ids", arange(c.contextLength()));
            hf.put("vision_model.embeddings.position_ids", arange(grid * grid + 1));
        }
        Files.createDirectories(dir);
        if (weights == Weights.SAFETENSORS) {
            Safetensors.write(dir.resolve("model.safetensors"), hf);
        } else {
            Files.write(dir.resolve("pytorch_model.bin"), TorchSaveWriter.write("archive", hf));
        }
        Files.writeString(dir.resolve("config.json"), config(c, hiddenAct, eps));
    }

    /** transformer.resblocks.N / visual.transformer.resblocks.N → text_model / vision_model.encoder.layers.N */
    private static String layerName(String openAiBlock) {
        String n = openAiBlock.substring(openAiBlock.lastIndexOf('.') + 1);
        return (openAiBlock.startsWith("visual.") ? "vision_model" : "text_model") + ".encoder.layers." + n;
    }

    /** A config.json as transformers' CLIPConfig.to_json_string writes one (the keys the model reads). */
    public static String config(ModelConfig c, String hiddenAct, double eps) {
        return String.format(Locale.ROOT, """
                {
                  "architectures": ["CLIPModel"],
                  "initializer_factor": 1.0,
                  "logit_scale_init_value": 2.6592,
                  "model_type": "clip",
                  "projection_dim": %d,
                  "text_config": {
                    "attention_dropout": 0.0, "bos_token_id": 49406, "eos_token_id": 49407, "hidden_act": "%s",
                    "hidden_size": %d, "intermediate_size": %d, "layer_norm_eps": %s, "max_position_embeddings": %d,
                    "model_type": "clip_text_model", "num_attention_heads": %d, "num_hidden_layers": %d,
                    "pad_token_id": 1, "projection_dim": %d, "vocab_size": %d
                  },
                  "torch_dtype": "float16",
                  "transformers_version": "4.46.0",
                  "vision_config": {
                    "attention_dropout": 0.0, "hidden_act": "%s", "hidden_size": %d, "image_size": %d,
                    "intermediate_size": %d, "layer_norm_eps": %s, "model_type": "clip_vision_model",
                    "num_attention_heads": %d, "num_channels": 3, "num_hidden_layers": %d, "patch_size": %d,
                    "projection_dim": %d
                  }
                }
                """, c.embedDim(), hiddenAct, c.transformerWidth(), 4 * c.transformerWidth(), eps, c.contextLength(),
                c.transformerHeads(), c.transformerLayers(), c.embedDim(), c.vocabSize(), hiddenAct, c.visionWidth(),
                c.imageResolution(), 4 * c.visionWidth(), eps, c.visionHeads(), c.visionLayers()[0], c.visionPatchSize(),
                c.embedDim());
    }

    private static HostTensor transposed(HostTensor t) {
        int r = (int) t.size(0), cols = (int) t.size(1), es = t.dtype().size();
        ByteBuffer in = t.data(), out = ByteBuffer.allocate(r * cols * es).order(ByteOrder.LITTLE_ENDIAN);
        for (int j = 0; j < cols; j++) for (int i = 0; i < r; i++) for (int b = 0; b < es; b++) out.put(in.get((i * cols + j) * es + b));
        return new HostTensor(t.dtype(), new long[] {cols, r}, out.flip());
    }

    private static ByteBuffer copy(ByteBuffer b) {
        ByteBuffer out = ByteBuffer.allocate(b.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        out.put(b);
        return out.flip();
    }

    private static HostTensor arange(long n) {
        ByteBuffer b = ByteBuffer.allocate((int) (8 * n)).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < n; i++) b.putLong(i);
        return new HostTensor(DType.I64, new long[] {1, n}, b.flip());
    }
}
