package org.clipsurgery.engine.cpu;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The bf16 gate reads /proc/cpuinfo as the Linux kernel writes it on each architecture. */
class CpuFeaturesTest {
    /** This project's CI machine (abridged): AVX2 and FMA, no bf16. */
    static final String EPYC_AVX2 = """
            processor\t: 0
            vendor_id\t: AuthenticAMD
            model name\t: AMD EPYC
            flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2
            """;

    @Test
    void x86NeedsAvx512Bf16OrAmx() {
        assertFalse(CpuFeatures.bf16Dot(EPYC_AVX2));
        // AVX-512 alone is not enough: its bf16 products are converted in software
        assertFalse(CpuFeatures.bf16Dot(EPYC_AVX2.replace("bmi2", "bmi2 avx512f avx512bw avx512vl avx512_vnni")));
        assertTrue(CpuFeatures.bf16Dot(EPYC_AVX2.replace("bmi2", "bmi2 avx512f avx512_bf16"))); // Zen 4, Cooper Lake
        assertTrue(CpuFeatures.bf16Dot(EPYC_AVX2.replace("bmi2", "bmi2 amx_bf16 amx_tile amx_int8"))); // Sapphire Rapids
    }

    @Test
    void armNeedsBf16InFeatures() {
        String graviton3 = "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd evtstrm aes sve i8mm bf16 svebf16\n";
        assertTrue(CpuFeatures.bf16Dot(graviton3));
        assertFalse(CpuFeatures.bf16Dot(graviton3.replace(" bf16 svebf16", ""))); // Graviton2-like
        assertFalse(CpuFeatures.bf16Dot(graviton3.replace(" bf16 ", " ebf16x "))); // a whole word, not a part
    }

    @Test
    void nothingKnownMeansNoBf16() {
        assertFalse(CpuFeatures.bf16Dot(""));
        assertFalse(CpuFeatures.bf16Dot("model name : bf16 in a name is no flag\n"));
    }

    @Test
    void theRefusalNamesTheCpuAndTheWayOut() {
        // On whatever machine runs this: either bf16 is offered, or the message says why not.
        CpuFeatures.bf16Refusal().ifPresent(why -> {
            assertTrue(why.contains("AVX512-BF16 or AMX") && why.contains("use fp32"), why);
        });
    }
}
