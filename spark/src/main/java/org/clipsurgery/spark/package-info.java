/**
 * CLIP Surgery on Apache Spark: {@link org.clipsurgery.spark.ClipSurgeryTransformer}, a Spark ML
 * transformer that explains each row's image on the executors (one model per executor JVM, images
 * batched within partitions, bad rows as error rows), and {@link org.clipsurgery.spark.ExplainJob},
 * a {@code spark-submit} job from image files to Parquet. Spark is the caller's (a provided
 * dependency); this package uses only the library's public API.
 */
package org.clipsurgery.spark;
