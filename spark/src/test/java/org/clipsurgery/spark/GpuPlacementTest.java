package org.clipsurgery.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;

/**
 * Which CUDA device a task's model opens on, from the resources Spark's scheduler gave the task
 * (no GPU or Spark needed: the rule alone; the device index itself is checked on a GPU by
 * CudaFixtureGpuTest's optCudaDevice case).
 */
class GpuPlacementTest {
    @Test
    void theTasksFirstGpuAddressIsTheCudaDevice() {
        assertEquals(3, PartitionExplainer.cudaDevice(Map.of("gpu", new ResourceInformation("gpu", new String[] {"3", "5"})), 0));
        assertEquals(1, PartitionExplainer.cudaDevice(Map.of("gpu", new ResourceInformation("gpu", new String[] {" 1 "})), 0));
        assertEquals(0, PartitionExplainer.cudaDevice(Map.of(), 0), "no gpu resource: the default device");
        assertEquals(0, PartitionExplainer.cudaDevice(Map.of("gpu", new ResourceInformation("gpu", new String[0])), 0));
        assertEquals(0, PartitionExplainer.cudaDevice(Map.of("fpga", new ResourceInformation("fpga", new String[] {"2"})), 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PartitionExplainer.cudaDevice(
                Map.of("gpu", new ResourceInformation("gpu", new String[] {"GPU-8f2c"})), 0));
        assertEquals("the task's gpu resource address \"GPU-8f2c\" is not a CUDA device index", e.getMessage());
    }
}
