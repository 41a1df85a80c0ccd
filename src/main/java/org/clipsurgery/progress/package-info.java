/**
 * Progress reporting for long work (downloads, embedding large label sets, many images):
 * {@link org.clipsurgery.progress.Progress} starts a {@link org.clipsurgery.progress.Progress.Task}
 * per job, and draws it as one self-overwriting terminal line ({@link
 * org.clipsurgery.progress.Progress#stderr()}, {@link
 * org.clipsurgery.progress.Progress#to(java.io.PrintStream)}) or not at all ({@link
 * org.clipsurgery.progress.Progress#none()}); subclass it to send progress elsewhere, such as a
 * GUI or a log.
 */
package org.clipsurgery.progress;
