// Package publish is the one way a model leaves a training job: the publish
// step of the job graph (source → featurize → train → evaluate → publish).
//
// A stream job calls its Publisher after each mini-batch it trained
// test-then-train: Observe keeps the rows with the scores the model gave
// them before learning from them, and Due says when the next version is due
// (Every: a number of records, a processing-time interval or an
// event-time interval). Publish then
//
//  1. saves the version to the registry with its lineage (model.Lineage:
//     the Kafka offsets or Parquet position and the watermark it was
//     trained up to);
//  2. judges it with the registry's gate (model.Gate) against the current
//     champion on the same rows: by default the recent prequential window
//     — the rows observed since the previous version (at least MinWindow of
//     the latest, at most Window), on which the candidate's figure is its
//     own test-then-train score and the champion scores them now (it never
//     trained on rows after its own lineage); or, with Config.HeldOut, a
//     held-out slice of the lake;
//  3. records the decision beside the version (model.Promote), moves the
//     champion alias when the gate passes and announces the move on the
//     model topic (Config.Announce). A refused version stays in the
//     registry, not promoted, with the reason in its decision record.
//
// A bounded job calls Publish once when it ends, so every model reaches the
// registry through the same step. Lineage never goes backwards: a job
// restored from a checkpoint older than its last published version does not
// publish again until its input has passed that version's lineage.
//
// Status writes the job's state — prequential metrics, the last windows,
// the versions published and their decisions — to
// jobs/<job>/status.json in the lake (StatusKey), replaced atomically after
// every version and on Close, for consoles and notebooks to read.
package publish
