// Package evalstream runs eval's prequential (test-then-train) evaluation
// as operators of the datastream runtime.
//
// A streaming job evaluates its model on each row before it trains on it:
//
//	scored := src.Map("score", evalstream.ScoreColumn(model, "score", mem))
//	scored.To("train", trainer) // learns from the rows after they were scored
//	w := datastream.Aggregate(scored.KeyBy("country").Window(datastream.Tumbling(time.Hour)),
//		"prequential", evalstream.NewPrequential("score", "clicked"))
//	w.To("metrics", metricsSink)
//
// ScoreColumn appends the current model's score to every record; because the
// scoring operator runs before the training operator, each row is scored by
// a model that has not learned from it. Prequential is a
// datastream.Aggregator: per key and event-time window (tumbling, sliding,
// session) it keeps an eval.BinaryState — counts, a bounded AUC sketch and
// calibration bins, gob-encoded into checkpoints — and emits one row per
// window with the examples, AUC and its error bound, log loss, accuracy and
// expected calibration error. eval.NewWindowReports and eval.PrequentialPlot
// turn collected results into the report and its plot.
//
// It lives apart from eval so that the metrics do not depend on the runtime.
package evalstream
