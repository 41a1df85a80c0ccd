#!/usr/bin/env bash
# Spark's overhead over a plain loop (SparkOverheadBenchmark): N fixture-image copies on
# local[2] against two threads over the library in one JVM. Needs the library installed
# (mvn -B install at the top). Usage: spark/bench-overhead.sh [fixture|vit-b16] [images] [rounds] [LibTorch threads]
set -euo pipefail
cd "$(dirname "$0")"
mvn -B -q test-compile dependency:build-classpath -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
export CLIP_SURGERY_FIXTURES="${CLIP_SURGERY_FIXTURES:-$(cd ../.. && pwd)/shared/fixtures}"
export OMP_WAIT_POLICY=PASSIVE
exec java -Xmx6g -Dorg.bytedeco.javacpp.maxPhysicalBytes=0 -Dorg.bytedeco.javacpp.maxBytes=0 @java17-opens.args \
    -cp "target/test-classes:target/classes:$(cat target/test-classpath.txt)" \
    org.clipsurgery.spark.SparkOverheadBenchmark "$@"
