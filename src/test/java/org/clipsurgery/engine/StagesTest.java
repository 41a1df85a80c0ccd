package org.clipsurgery.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The recorder's bookkeeping on a fake clock (no real timing is asserted). */
class StagesTest {
    /** A clock that advances by the given steps, one per reading. */
    private static class FakeClock implements java.util.function.LongSupplier {
        long now;
        final long[] steps;
        int i;

        FakeClock(long... steps) {
            this.steps = steps;
        }

        @Override
        public long getAsLong() {
            return now += steps[i++ % steps.length];
        }
    }

    @Test
    void lapsChargeTheTimeSinceThePreviousMarkOrLapAndAddUpPerStage() {
        FakeClock clock = new FakeClock(10);
        Stages s = Stages.recorder(clock);
        s.mark();
        s.lap("a", 100);
        s.lap("b");
        s.lap("a", 50);
        s.endIteration();
        List<Stages.Row> rows = s.rows();
        assertEquals(List.of(new Stages.Row("a", 20, 2, 150), new Stages.Row("b", 10, 1, 0)), rows);
        assertEquals(30, s.totalNanos());
        assertEquals(1, s.iterations());
        assertEquals(150 / 20.0, rows.get(0).gflops(), 1e-12); // FLOP per ns = GFLOP/s
        assertEquals(0, rows.get(1).gflops());
    }

    @Test
    void meansAreOverIterationsAndStagesKeepFirstLappedOrder() {
        Stages s = Stages.recorder(new FakeClock(1_000_000));
        for (int i = 0; i < 4; i++) {
            s.mark();
            s.lap("x");
            s.lap("y");
            s.lap("y");
            s.endIteration();
        }
        assertEquals(4, s.iterations());
        List<Stages.Row> rows = s.rows();
        assertEquals(List.of("x", "y"), rows.stream().map(Stages.Row::stage).toList());
        assertEquals(1.0, rows.get(0).meanMs(4), 1e-12);
        assertEquals(2.0, rows.get(1).meanMs(4), 1e-12);
        assertEquals(8, rows.get(1).laps());
    }

    @Test
    void lapsOutsideARunAreIgnored() {
        Stages s = Stages.recorder(new FakeClock(5));
        s.lap("before any mark");
        s.mark();
        s.lap("in");
        s.endIteration();
        s.lap("after the run"); // e.g. a label set embedded between two profiled explains
        s.endIteration(); // not a second run
        assertEquals(List.of(new Stages.Row("in", 5, 1, 0)), s.rows());
        assertEquals(1, s.iterations());
    }

    @Test
    void resetForgetsTheWarmUp() {
        Stages s = Stages.recorder(new FakeClock(7));
        s.mark();
        s.lap("warm-up only");
        s.endIteration();
        s.reset();
        assertTrue(s.rows().isEmpty());
        assertEquals(0, s.iterations());
        assertEquals(0, s.totalNanos());
        s.mark();
        s.lap("timed");
        s.endIteration();
        assertEquals(List.of(new Stages.Row("timed", 7, 1, 0)), s.rows());
    }

    @Test
    void noneRecordsNothingAndNeverReadsTheClock() {
        Stages s = Stages.NONE;
        assertFalse(s.enabled());
        s.mark();
        s.lap("a", 1);
        s.endIteration();
        assertTrue(s.rows().isEmpty());
        assertEquals(0, s.iterations());
    }

    @Test
    void theBarrierRunsBeforeEveryClockReading() {
        int[] barriers = {0};
        long[] readsSeen = {0};
        FakeClock clock = new FakeClock(1) {
            @Override
            public long getAsLong() {
                readsSeen[0]++;
                assertEquals(readsSeen[0], barriers[0], "barrier before the reading");
                return super.getAsLong();
            }
        };
        Stages s = Stages.recorder(() -> barriers[0]++, clock);
        s.mark();
        s.lap("a");
        s.lap("b");
        s.endIteration();
        assertEquals(3, barriers[0]);
    }
}
