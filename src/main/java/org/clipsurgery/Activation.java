package org.clipsurgery;

/**
 * The MLP activation of a CLIP transformer block. OpenAI trained CLIP with QuickGELU; most
 * OpenCLIP models and many Hugging Face checkpoints use the exact GELU. The two differ by up to
 * ~0.02 per element, enough to move every output of a deep model: the activation must match the
 * one the weights were trained with.
 */
public enum Activation {
    /** x · sigmoid(1.702 · x): OpenAI's CLIP ({@code QuickGELU} in clip/model.py). */
    QUICK_GELU("quick_gelu"),
    /** x · Φ(x) with the exact erf, as {@code torch.nn.GELU()} by default. */
    GELU("gelu");

    private final String configName;

    Activation(String configName) {
        this.configName = configName;
    }

    /** The name Hugging Face's {@code hidden_act} and this project's options use. */
    public String configName() {
        return configName;
    }

    /** The activation named {@code name} exactly ("quick_gelu" or "gelu", as transformers spells them), or null. */
    public static Activation fromConfigName(String name) {
        for (Activation a : values()) if (a.configName.equals(name)) return a;
        return null;
    }

    @Override
    public String toString() {
        return configName;
    }
}
