/**
 * CLIP Surgery: where in an image a CLIP model finds each label. The API is the facade package
 * {@code org.clipsurgery} ({@link org.clipsurgery.ClipSurgery}) and the types its signatures use:
 * images ({@code org.clipsurgery.image}), results and their presentation
 * ({@code org.clipsurgery.post}) and progress reporting ({@code org.clipsurgery.progress}).
 * Everything else (engines, kernels binding, weight readers, text encoder, command line) is
 * internal to this module and may change without notice.
 */
module org.clipsurgery {
    requires transitive java.desktop; // BufferedImage in Images, Overlay and ClipSurgery.explain
    requires java.net.http; // model downloads
    requires org.bytedeco.javacpp;
    requires org.bytedeco.pytorch; // the CPU engine
    requires static org.bytedeco.cuda; // the CUDA engine: optional, checked when a CUDA model opens
    requires static info.picocli; // the command line only
    requires com.google.gson;

    exports org.clipsurgery;
    exports org.clipsurgery.image;
    exports org.clipsurgery.post;
    exports org.clipsurgery.progress;

    opens org.clipsurgery.cli to info.picocli; // picocli fills the commands' option fields
}
