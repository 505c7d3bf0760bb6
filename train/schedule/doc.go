// Package schedule retrains models on a schedule: jobs in one YAML file, a
// data sensor, run records in the lake, leases so several schedulers can
// share a lake, backfills and retries. "trainer schedule" wires it.
//
// # Jobs and intervals
//
// A schedule file (Parse, Load) lists jobs. A job's schedule — a 5-field
// cron expression, @daily, @hourly, or @every 6h, in a time zone — cuts time
// into data intervals, from one tick to the next; the run of an interval
// starts once it has closed, as Airflow's data intervals. An interval is
// named by its start (Interval.ID: "2026-11-08", or "2026-11-08T05" for a
// job that ticks at most hourly). A run trains on a window of Window
// intervals ending with its own and holds out the Evaluate.Intervals that
// follow. Settings are templates rendered per interval (Job.Plan):
// "dt >= '{{ds_add -6}}'", "dt={{ds}}" (see TemplateNames). Everything is
// checked when the file is parsed: a bad cron expression, an unknown
// template variable or a reserved training flag fails before anything runs.
//
// # A run
//
// A Scheduler runs an interval in one attempt (RunInterval, for an external
// scheduler calling "trainer schedule run" once per interval), a range of
// them (Backfill, at most MaxActiveRuns at once, starting in interval
// order), or every interval as it closes (Serve, the long-running process).
// An attempt:
//
//  1. takes the interval's lease: an object created with lake.Create (S3
//     If-None-Match: *, a hard link locally), numbered, renewed every third
//     of its duration, taken over by another scheduler once it expires;
//  2. waits (the sensor) until every partition folder of the window and of
//     the evaluation slice is committed by a _SUCCESS marker, up to the
//     interval's end + Sensor.Timeout, and otherwise ends as no-data naming
//     the missing partitions;
//  3. trains a candidate (Pipeline.Train: warm-started from the champion
//     unless warm_start: none) and records its version;
//  4. publishes it (Pipeline.Publish: both models scored on the evaluation
//     slice, the registry's gate, promotion and an announcement on the
//     model topic), ending as succeeded or gate-refused.
//
// A failed attempt is tried again after RetryDelay, doubled each time, up to
// Retries times. An attempt that died after step 3 (a killed scheduler) is
// resumed at step 4 with the recorded version, and Publish never promotes a
// version twice, so a model is promoted at most once per interval.
//
// # Run records
//
// Each interval has one record, runs/<job>/<interval>.json (Record), written
// at every state change by the lease holder only (it checks before each
// write that no one took the lease over): state (queued, waiting, running,
// succeeded, gate-refused, no-data, failed), attempts, the version, its
// metrics and gate decision, phase durations. A succeeded or gate-refused
// interval is not run again unless forced. Records and WriteTable give the
// runs table of "trainer schedule status"; Metrics are the Prometheus
// figures and every state change is one slog line.
//
// Time comes from a Clock, so tests run schedules, sensors, retries and
// leases on fake time (scheduletest.Clock).
package schedule
