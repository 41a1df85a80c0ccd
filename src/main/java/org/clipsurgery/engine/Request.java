package org.clipsurgery.engine;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import org.clipsurgery.Device;
import org.clipsurgery.Method;
import org.clipsurgery.Precision;
import org.clipsurgery.graph.ClipGraph;
import org.clipsurgery.graph.LastBlocks;
import org.clipsurgery.weights.ModelConfig;

/**
 * What one explain call computes, every field resolved and validated here and nowhere else: the
 * facade resolves the model-wide part once ({@link #resolve}) and derives each call's request
 * from it ({@link #withLabels}, {@link #plain}, ...). Engines read the fields and never apply
 * defaults of their own. Immutable.
 */
public final class Request {
    /** Outputs an engine may prepare beyond the similarity (which every run returns). */
    public enum Output {
        /** Per-label maps at the frame's size, (H, W, T). */
        MAPS,
        /** The per-pixel argmax of the maps at {@link #labelThreshold()}. */
        LABEL_MAP,
        /** SAM point prompts per label at {@link #pointThreshold()}. */
        POINTS
    }

    /** Surgery depth of the official implementation: the last 6 ViT blocks get the v-v path. */
    public static final int DEFAULT_SURGERY_DEPTH = 6;
    /** Largest input side accepted (position embeddings and workspace grow with its square). */
    public static final int MAX_RESOLUTION = 4096;
    /** The label-map threshold an engine prepares when none is given: half of each map's range. */
    public static final float DEFAULT_LABEL_THRESHOLD = 0.5f;
    /** The official SAM-points threshold. */
    public static final float DEFAULT_POINT_THRESHOLD = 0.8f;

    private final Device device;
    private final Precision precision; // arithmetic of the encoders; the CPU engine has FP32 and BF16
    private final int resolution; // input side r: a positive multiple of the grid stride, <= MAX_RESOLUTION
    private final int surgeryDepth; // ViT: last k blocks with the dual path (1..layers); ResNet: 1; 0: plain model
    private final LastBlocks method; // a training-free sibling's last blocks instead of the dual path; null: by depth
    private final float[] text; // (T, E) L2-normalised label features; null until withLabels
    private final int labels; // T
    private final float[] redundant; // (E) feature subtracted in redundant-feature mode; null: label-set mode
    private final Set<Output> outputs; // what to prepare on the device beyond the similarity
    private final float labelThreshold, pointThreshold; // the thresholds prepared with LABEL_MAP and POINTS

    private Request(Device device, Precision precision, int resolution, int surgeryDepth, LastBlocks method, float[] text,
            int labels, float[] redundant, Set<Output> outputs, float labelThreshold, float pointThreshold) {
        this.device = device;
        this.precision = precision;
        this.resolution = resolution;
        this.surgeryDepth = surgeryDepth;
        this.method = method;
        this.text = text;
        this.labels = labels;
        this.redundant = redundant;
        this.outputs = outputs;
        this.labelThreshold = labelThreshold;
        this.pointThreshold = pointThreshold;
    }

    /**
     * The model-wide request: the one place where the public options' defaults are applied.
     *
     * @param precision null: FP32 on the CPU, FP16 on CUDA; FP16 is refused on the CPU
     * @param resolution 0: the model's own; else a positive multiple of the patch size (ViT) or 32 (ResNet)
     * @param surgeryDepth 0: min(6, layers) for a ViT; else 1..layers. A ResNet has one attention
     *     pool and always gets depth 1.
     * @throws IllegalArgumentException for a resolution or depth the model cannot take
     * @throws UnsupportedOperationException for a precision the device's engine does not have
     */
    public static Request resolve(ModelConfig config, Device device, Precision precision, int resolution, int surgeryDepth) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(device, "device");
        Precision p = precision != null ? precision : device == Device.CUDA ? Precision.FP16 : Precision.FP32;
        if (device == Device.CPU && p == Precision.FP16) {
            throw new UnsupportedOperationException("the CPU engine computes in fp32 or bf16; fp16 is for the CUDA engine");
        }
        int r = resolution == 0 ? config.imageResolution() : resolution;
        if (r < config.gridStride() || r % config.gridStride() != 0 || r > MAX_RESOLUTION) {
            throw new IllegalArgumentException("resolution " + r + " must be a positive multiple of " + config.gridStride()
                    + (config.isVit() ? " (the patch size)" : " (the ResNet stride)") + ", at most " + MAX_RESOLUTION);
        }
        int layers = config.isVit() ? config.visionLayers()[0] : 1;
        int depth;
        if (!config.isVit()) {
            depth = 1;
        } else {
            depth = surgeryDepth == 0 ? Math.min(DEFAULT_SURGERY_DEPTH, layers) : surgeryDepth;
            if (depth < 1 || depth > layers) {
                throw new IllegalArgumentException("surgery depth " + surgeryDepth + " must be in 1.." + layers);
            }
        }
        return new Request(device, p, r, depth, null, null, 0, null, EnumSet.allOf(Output.class), DEFAULT_LABEL_THRESHOLD,
                DEFAULT_POINT_THRESHOLD);
    }

    /**
     * The same request for a public {@link Method}: CLIP Surgery's dual path as resolved, the plain
     * model, or a training-free sibling's last blocks.
     *
     * @throws IllegalArgumentException for a sibling on a ResNet, or on a ViT with fewer blocks than it modifies
     */
    public Request forMethod(Method m, ModelConfig config) {
        return switch (m) {
            case SURGERY -> this;
            case PLAIN -> plain();
            default -> withMethod(LastBlocks.valueOf(m.name()), config);
        };
    }

    /**
     * The same request with a training-free sibling's last blocks instead of CLIP Surgery's dual
     * path ({@code null}: back to the dual path at this request's depth).
     *
     * @throws IllegalArgumentException for a ResNet (the methods are defined on ViT blocks) or a
     *     ViT with fewer blocks than the method modifies
     */
    public Request withMethod(LastBlocks m, ModelConfig config) {
        if (m != null) m.requireFits(config);
        return new Request(device, precision, resolution, surgeryDepth, m, text, labels, redundant, outputs, labelThreshold,
                pointThreshold);
    }

    /**
     * This request for a label set: {@code text} (labels, E) normalised features, and
     * {@code redundant} (E) for redundant-feature mode or null for label-set mode. The arrays are
     * not copied (engines may cache per array identity): callers must not modify them.
     */
    public Request withLabels(float[] text, int labels, float[] redundant) {
        Objects.requireNonNull(text, "text");
        if (labels < 1 || text.length % labels != 0) {
            throw new IllegalArgumentException(text.length + " text feature values for " + labels + " labels");
        }
        if (redundant != null && redundant.length != text.length / labels) {
            throw new IllegalArgumentException("redundant feature of length " + redundant.length + " for features of width "
                    + text.length / labels);
        }
        return new Request(device, precision, resolution, surgeryDepth, method, text, labels, redundant, outputs, labelThreshold,
                pointThreshold);
    }

    /** The same request on the plain model (no architecture surgery: depth 0). */
    public Request plain() {
        return new Request(device, precision, resolution, 0, null, text, labels, redundant, outputs, labelThreshold, pointThreshold);
    }

    /** Only these outputs prepared beyond the similarity (a camera loop that reads scores only needs none). */
    public Request withOutputs(Set<Output> wanted) {
        Set<Output> o = wanted.isEmpty() ? EnumSet.noneOf(Output.class) : EnumSet.copyOf(wanted);
        return new Request(device, precision, resolution, surgeryDepth, method, text, labels, redundant, o, labelThreshold,
                pointThreshold);
    }

    /** The thresholds to prepare the label map and points at (others are computed on demand). */
    public Request withThresholds(float labelMap, float points) {
        if (Float.isNaN(labelMap) || Float.isNaN(points)) throw new IllegalArgumentException("a threshold is NaN");
        return new Request(device, precision, resolution, surgeryDepth, method, text, labels, redundant, outputs, labelMap, points);
    }

    public Device device() {
        return device;
    }

    public Precision precision() {
        return precision;
    }

    public int resolution() {
        return resolution;
    }

    /** 0 for the plain model. */
    public int surgeryDepth() {
        return surgeryDepth;
    }

    /**
     * The image tokens this request asks of {@code graph}: a training-free method's last blocks,
     * or CLIP Surgery's dual path to {@link #surgeryDepth} (0: the plain model). The one dispatch
     * both engines use.
     */
    public <T> T encodeImage(ClipGraph<T> graph, T pixels) {
        return method != null ? graph.encodeImage(pixels, method) : graph.encodeImage(pixels, surgeryDepth);
    }

    /** The training-free sibling whose last blocks replace the dual path, or null (the dual path at {@link #surgeryDepth}). */
    public LastBlocks method() {
        return method;
    }

    /** (T, E) label features (the live array); null for the model-wide request. */
    public float[] text() {
        return text;
    }

    public int labels() {
        return labels;
    }

    /** (E) redundant feature (the live array), or null for label-set mode. */
    public float[] redundant() {
        return redundant;
    }

    public boolean wants(Output o) {
        return outputs.contains(o);
    }

    public Set<Output> outputs() {
        return outputs.isEmpty() ? EnumSet.noneOf(Output.class) : EnumSet.copyOf(outputs);
    }

    public float labelThreshold() {
        return labelThreshold;
    }

    public float pointThreshold() {
        return pointThreshold;
    }

    /** Throws unless labels were given: an engine's explain needs them. */
    public void requireLabels() {
        if (text == null) throw new IllegalArgumentException("a request without labels (call withLabels)");
    }

    @Override
    public String toString() {
        return "Request[" + device + ", " + precision + ", " + resolution + " px, " + (method != null ? method : "depth " + surgeryDepth) + ", " + labels
                + " labels, " + (redundant != null ? "redundant-feature" : "label-set") + " mode, " + outputs + "]";
    }
}
