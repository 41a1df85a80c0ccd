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
                .put(new Info("CLIP_SURGERY_H").cppTypes())
                // One binding that is not the C API's rides along with cs_cuda_built: libc's
                // setenv, for NativeCalls.defaultEnvironment. The JVM cannot change its own
                // process's environment, and LibTorch's OpenMP runtime reads OMP_WAIT_POLICY once,
                // when it is loaded. The JNI glue includes <stdlib.h>.
                .put(new Info("cs_cuda_built").javaText("public static native int cs_cuda_built();\n"
                        + "/** libc's setenv(3), for NativeCalls only: not part of the C API. */\n"
                        + "public static native @Name(\"setenv\") int setenv(String name, String value, int overwrite);\n"))
                // The CPU map twins fill outputs of B·H·W·T floats (72 MB for 59 labels at
                // 640×480). Besides the overloads the parser generates (Pointer out), they get
                // overloads on Java arrays in a JNI critical region: the twin reads and writes the
                // arrays' own memory (GetPrimitiveArrayCritical, no copy on HotSpot) instead of a
                // fresh native buffer copied into a Java array afterwards. The twins make no JNI
                // call (their worker threads are plain std::threads), as a critical region needs;
                // the GC waits for the call (tens of milliseconds for the largest maps).
                .put(new Info("cs_map_upsample_cpu").javaText(mapsCpu("cs_map_upsample_cpu",
                        "int layout, int out_dtype", "float[]")))
                .put(new Info("cs_map_labels_cpu").javaText(mapsCpu("cs_map_labels_cpu",
                        "float threshold, int background, int out_dtype", "int[]")));
    }

    /** The parser's three overloads of a CPU map twin plus the critical-region one on arrays. */
    private static String mapsCpu(String name, String options, String outArray) {
        String sizes = "@Cast(\"int64_t\") long batch, @Cast(\"int64_t\") long tokens, @Cast(\"int64_t\") long labels,\n"
                + "        @Cast(\"int64_t\") long height, @Cast(\"int64_t\") long width, " + options + ", ";
        String stream = ", @Cast(\"cs_stream\") Pointer stream);\n";
        StringBuilder text = new StringBuilder();
        for (String similarity : new String[] {"FloatPointer", "FloatBuffer", "float[]"}) {
            text.append("public static native int ").append(name).append("(@Const ").append(similarity)
                    .append(" similarity, ").append(sizes).append("Pointer out").append(stream);
        }
        // The stream is a plain address here: a Pointer would be read (GetLongField) inside the
        // critical region, where JNI allows no other call. The CPU twins ignore it: pass 0.
        text.append("/** As above, on Java arrays pinned for the call (JNI critical region): no copy in or out. */\n")
                .append("@CriticalRegion public static native int ").append(name).append("(@Const float[] similarity, ")
                .append(sizes).append(outArray).append(" out, @Cast(\"cs_stream\") long stream);\n");
        return text.toString();
    }
}
