package org.clipsurgery;

/**
 * The MLP activation of a CLIP transformer block. OpenAI trained CLIP with QuickGELU; most
 * OpenCLIP models and many Hugging Face checkpoints use the exact GELU. The two differ by up to
 * ~0.02 per element, enough to move every output of a deep model: the activation must match the
 * one the weights were trained with. Used by {@link ClipSurgery.Options#optActivation} for
 * checkpoints that do not declare theirs.
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

    /**
     * The name Hugging Face's {@code hidden_act} and this project's options use.
     *
     * @return {@code "quick_gelu"} or {@code "gelu"}
     */
    public String configName() {
        return configName;
    }

    /**
     * The activation of a configuration name, matched exactly (case-sensitive).
     *
     * @param name "quick_gelu" or "gelu", as transformers spells them; may be null
     * @return the activation so named, or null for any other name (null included)
     */
    public static Activation fromConfigName(String name) {
        for (Activation a : values()) if (a.configName.equals(name)) return a;
        return null;
    }

    /**
     * The configuration name.
     *
     * @return {@link #configName()}
     */
    @Override
    public String toString() {
        return configName;
    }
}
