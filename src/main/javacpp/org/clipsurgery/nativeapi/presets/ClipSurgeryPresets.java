package org.clipsurgery.nativeapi.presets;

import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.javacpp.tools.Info;
import org.bytedeco.javacpp.tools.InfoMap;
import org.bytedeco.javacpp.tools.InfoMapper;

/**
 * JavaCPP description of {@code include/clip_surgery.h}. The build's {@code parse} step reads the
 * header and generates {@code org.clipsurgery.nativeapi.ClipSurgeryNative} (under
 * {@code target/generated-sources/javacpp}); the {@code build} step compiles its JNI glue against
 * {@code libclip_surgery}. Java code calls the generated class only through
 * {@link org.clipsurgery.nativeapi.NativeCalls}, which turns status codes into exceptions.
 */
@Properties(
        target = "org.clipsurgery.nativeapi.ClipSurgeryNative",
        value = @Platform(include = "clip_surgery.h", link = "clip_surgery"))
public class ClipSurgeryPresets implements InfoMapper {
    @Override
    public void map(InfoMap infoMap) {
        infoMap.put(new Info("CS_API").cppTypes().annotations())
                // Streams are opaque handles (a cudaStream_t from org.bytedeco:cuda or 0 for the
                // default stream); passing the raw address keeps this binding free of the cudart
                // preset, which would need libcuda.so.1 just to load.
                .put(new Info("cs_stream").cast().valueTypes("Pointer"))
                .put(new Info("CLIP_SURGERY_H").cppTypes());
    }
}
