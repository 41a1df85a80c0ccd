/**
 * CLIP Surgery for Java: where in an image a CLIP model finds each label. This package is the
 * library's API; the other exported packages hold the types its signatures use.
 *
 * <h2>In five steps</h2>
 * <ol>
 *   <li><b>Open a model</b> once with {@link org.clipsurgery.ClipSurgery#open(String,
 *       org.clipsurgery.ClipSurgery.Options)}: a name such as "ViT-B/16" (downloaded once into a
 *       cache), a checkpoint file (OpenAI TorchScript, torch.save, safetensors) or a Hugging Face
 *       folder. {@link org.clipsurgery.ClipSurgery.Options} chooses the device, precision,
 *       resolution, surgery depth, prompt templates and the MLP activation for checkpoints that
 *       do not declare it. Close the model to free its native memory.</li>
 *   <li><b>Embed labels</b> with {@link org.clipsurgery.ClipSurgery#labels(String...)}: the
 *       text side, run once and reused for every image. A target may combine labels with
 *       {@code +} ("person+bench"). {@link org.clipsurgery.LabelSet#textFeatures()} can be saved
 *       and given back to {@link org.clipsurgery.ClipSurgery#labels(java.util.List, float[])} to
 *       skip the text encoder.</li>
 *   <li><b>Explain images</b> with {@code explain}: a file, a {@link java.awt.image.BufferedImage}
 *       or a batch of {@link org.clipsurgery.image.RgbImage}s of any sizes, with a
 *       {@link org.clipsurgery.Redundancy} mode (default {@link org.clipsurgery.Redundancy#AUTO}).
 *       {@link org.clipsurgery.ClipSurgery#explainPlain} gives plain CLIP's maps for comparison.</li>
 *   <li><b>Read the results</b> from each {@link org.clipsurgery.Explanation}:
 *       {@link org.clipsurgery.Explanation#scores()} (multi-label scores from the class token),
 *       {@link org.clipsurgery.Explanation#map(String)} (an H×W map in [0, 1] at the image's
 *       size), {@link org.clipsurgery.Explanation#maps()} (all labels, (1, H, W, T)),
 *       {@link org.clipsurgery.Explanation#labelMap(float)} (per-pixel label or background),
 *       {@link org.clipsurgery.Explanation#points(String)} (point prompts for Segment Anything),
 *       and the raw (N, T) {@link org.clipsurgery.Explanation#similarity()}, token 0 the class
 *       token. {@link org.clipsurgery.post.Overlay} draws maps as heat maps.</li>
 *   <li><b>Camera frames</b>: {@link org.clipsurgery.ClipSurgery#session} gives a
 *       {@link org.clipsurgery.Session} that takes raw RGB or BGR bytes of one fixed size, frame
 *       after frame.</li>
 * </ol>
 *
 * <h2>Devices, precision and threads</h2>
 * {@link org.clipsurgery.Device#CPU} runs LibTorch in fp32; every explanation holds all its
 * outputs on the Java heap. {@link org.clipsurgery.Device#CUDA} runs the whole image side on the
 * GPU as a replayed CUDA graph, in fp16 by default ({@link org.clipsurgery.Precision}); only the
 * similarity (and so the scores) comes back with an explanation, and maps, label map, points,
 * features and preprocessed pixels are downloaded when first read, while the GPU still holds that
 * run (see {@link org.clipsurgery.ClipSurgery}); afterwards maps, label map and points are
 * computed on the host by the same rules. A model is thread-safe: CPU calls may run concurrently
 * (LibTorch's pool, sized by {@link org.clipsurgery.ClipSurgery#setCpuThreads}, is shared by all
 * CPU models of the JVM); CUDA calls of one model are serialised on its stream, so open one model
 * per thread for parallel GPU work. Label sets and explanations may be shared between threads.
 *
 * <h2>Errors</h2>
 * Bad arguments throw {@link java.lang.IllegalArgumentException} (null ones
 * {@link java.lang.NullPointerException}); a closed model or session throws
 * {@link java.lang.IllegalStateException}; unreadable files throw {@link java.io.IOException}
 * ({@link org.clipsurgery.image.ImageFormatException} for images).
 *
 * <h2>The module</h2>
 * Module {@code org.clipsurgery} exports this package, {@code org.clipsurgery.image} (decoding
 * and 8-bit RGB images), {@code org.clipsurgery.post} (maps, label maps, SAM points, overlays)
 * and {@code org.clipsurgery.progress} (progress reporting); everything else is internal. It
 * needs {@code org.bytedeco.pytorch} for the CPU engine; {@code org.bytedeco.cuda} only for
 * {@link org.clipsurgery.Device#CUDA}.
 */
package org.clipsurgery;
