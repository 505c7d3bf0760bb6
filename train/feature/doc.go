// Package feature turns Arrow records into the sparse mini-batches models
// train and score on, as described by a YAML feature spec that travels inside
// every saved model so training and serving featurize identically.
//
// # The spec
//
//	version: 1
//	label: {column: click, type: binary}   # binary | multiclass (with classes) | real
//	weight: imp_weight                     # optional, finite and ≥ 0
//	event_time: ts                         # optional, timestamp or int64 ms (a derived column too)
//	hash_bits: 20                          # default buckets per field: 2^hash_bits
//	numeric:
//	  - {column: price, clip: [0, 1000], log1p: true, standardize: true}
//	  - {column: age, bucketize: [18, 25, 35, 50], invalid: impute, impute: 30}
//	categorical:
//	  - {column: site_id}
//	  - {column: device_model, hash_bits: 16}
//	  - {column: tags}                     # a list<string> column: multi-valued
//	crosses:
//	  - {columns: [site_id, device_model]}
//
// # Derived columns
//
// A spec computes columns from others with expressions, so a label such as
// "arrived more than 15 minutes late" or the hour of day inside Avazu's
// YYMMDDHH integer needs no preprocessing outside the product:
//
//	label: {expr: "delay > 15"}           # binary (a comparison); column: names it (default label)
//	derived:
//	  - {name: hod, expr: "hour(hour, \"YYMMDDHH\")"}
//	  - {name: dow, expr: "day_of_week(dep_time)"}        # a timestamp or date column
//	  - {name: hod_sin, expr: "sin_cycle(hod, 24)"}
//	  - {name: speed, expr: "distance / (air_time + 1)"}
//	categorical: [{column: hod}, {column: dow}]
//	numeric: [{column: hod_sin}, {column: speed, log1p: true}]
//
// Fields, crosses, the weight and later derived columns name a derived
// column like a record column; its name must not be a column of the records.
// A label expression without a type is binary when it is a comparison or a
// logical expression and real otherwise. Derived columns are part of the spec,
// so they travel inside the model: training, stream training, batch and
// stream scoring and the predictor compute them identically, and a model's
// inputs (what the predictor decodes) are the columns the expressions read.
//
// The grammar, loosest binding first:
//
//	expr    = and { ("or" | "||") and }
//	and     = not { ("and" | "&&") not }
//	not     = ("not" | "!") not | cmp
//	cmp     = sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]   (no chains)
//	sum     = product { ("+" | "-") product }
//	product = unary { ("*" | "/" | "%") unary }
//	unary   = "-" unary | primary
//	primary = number | "true" | "false" | string | column | func "(" expr { "," expr } ")" | "(" expr ")"
//	column  = name of letters, digits, "_" and "." | `any name in backquotes`
//	string  = "…" | '…'   (a format, or compared with == / != to a string column)
//
// Functions: hour, minute, day_of_week (0 = Monday … 6 = Sunday),
// epoch_ms (milliseconds since the epoch: an event time),
// hour_of_week (day_of_week·24 + hour, 0–167), day_of_month, month and year
// of a time; time(x, "format") makes a time of an integer or string column,
// and every time part also takes (x, "format") directly. A time is a
// timestamp (any unit), date32 or date64 column, always read in UTC; formats
// are fixed-width layouts of YYYY, YY (19YY from 69, else 20YY), MM, DD, HH,
// mm and ss with other characters literal (an integer's digits are
// zero-padded to the layout's width), or unix_s / unix_ms for numbers of
// seconds or milliseconds. sin_cycle(x, p) and cos_cycle(x, p) are
// sin(2πx/p) and cos(2πx/p), the cyclical encoding of an hour (p = 24) or a
// weekday (p = 7); abs, log1p, min and max work on numbers.
//
// Results are int64 columns when the expression is a comparison, a logical
// expression, a time part or integer arithmetic (+ − * % on integers), and
// float64 otherwise (any division); comparisons and logic give 1 or 0.
// Null in, null out: a null or unparseable input, or a date that does not
// exist, makes the row's value null, which a numeric field treats as an
// invalid value, a categorical field as missing, and a label as an error
// quoting the expression. Integers are exact up to 2^53. Evaluation is
// columnar: each node of the expression fills one reused buffer per record,
// so a record costs a few allocations (the Arrow wrappers of the derived
// columns) and none per row.
//
// # Windowed features
//
// A spec declares per-key aggregates over a sliding window of event time,
// which the runtime computes (datastream.WindowFeatures, through
// AddWindows) in front of the featurizer, the same operator in training
// from the lake, in trainer stream and in stream scoring:
//
//	event_time: ts                          # needed: int64 ms or a timestamp
//	derived:
//	  - {name: ts, expr: 'epoch_ms(hour, "YYMMDDHH")'}
//	windows:
//	  - {name: ip_rows_1h, key: device_ip, agg: count, over: 1h}
//	  - {name: ip_clicks_1h, key: device_ip, agg: count, column: click, over: 1h}
//	  - {name: site_ctr_24h, key: site_id, agg: ratio, column: click, over: 24h, resolution: 1h}
//	  - {name: ip_sites_1h, key: device_ip, agg: distinct, column: site_id, over: 1h}
//	numeric: [{column: ip_rows_1h, log1p: true}, {column: site_ctr_24h, invalid: impute}]
//
// agg is count (of the key's events; with column, of those whose column is
// nonzero), sum, mean, distinct (distinct values of column), last (the
// column's most recent value) or ratio (events with column nonzero over
// events with denominator nonzero, or all events: a click-through rate).
// count and distinct are int64 columns, 0 when the window is empty; the
// others are float64, and mean, last and ratio are null (a numeric field's
// invalid value) when there is nothing to aggregate. over is a duration;
// resolution (default over/60, at most 1440 buckets) is the step of the
// window's older edge: a row at time t aggregates the events of its key at
// times in [⌊t/resolution⌋·resolution − over, t). The newer edge is exact:
// an event at the row's own time never counts, whatever order the rows
// arrive in, so a row never sees its own label or a later one.
//
// Values are point-in-time correct when each key's rows arrive in event
// time order (a time-ordered table, a topic keyed by the window key); a
// row older than an event of its key already seen gets the buckets before
// its own. So trainer train with windows runs with --parallel 1 and
// --shuffle-buffer 0 (it refuses others), and distributed workers refuse
// windows. A validation pass computes the windows over the validation rows
// alone: its first window of event time sees no earlier rows.
//
// The predictor's client sends a window's value as an input of the model
// (Metadata.Inputs lists it, int64 or float64): the predictor keeps no
// state. Stream scoring decodes the columns the windows read
// (Metadata.WindowInputs) and computes them in its own graph.
//
// Every numeric, categorical and cross entry is a field. Field ids follow the
// spec order: numeric entries first, then categorical, then crosses; Spec.Fields
// lists them. Each emitted feature carries its field id, so field-aware models
// (FFM, DeepFM) know where it came from.
//
// # Keys
//
// A feature's key is Key(field, bucket) = field<<32 | bucket, so each field has
// its own bucket space and keys of different fields never collide.
//
//   - A plain numeric field has one key, bucket 0, whose value is the
//     transformed number.
//   - A bucketized numeric field emits bucket 1+i for the i-th interval
//     (i = number of boundaries ≤ x) with value 1.
//   - A categorical field hashes each value (string bytes with xxh3, integers
//     with a 64-bit mixer; so an int64 column and a string column holding the
//     same digits hash differently) into buckets 1..2^b−1 with value 1.
//     Bucket 0 is the dedicated "missing" bucket: a null value, a null or empty
//     list, or a cross with any missing component lands there.
//   - A multi-valued (list) categorical column emits one feature per element.
//   - A cross hashes the combination of its components' value hashes; its
//     components must be single-valued categorical or bucketized numeric
//     fields of the spec.
//
// # Missing and invalid values
//
// Categorical nulls go to the missing bucket (documented above). A numeric
// value that is null, NaN or ±Inf, or that a transform makes non-finite (log1p
// of a value < −1), follows the field's invalid policy: "error" (the default)
// fails the batch with a *ValueError naming the row and column; "impute"
// replaces the raw value by the field's impute value (default 0) before the
// transforms. Labels and weights are never imputed: a null, non-finite or
// out-of-type label (a binary label other than 0/1, a class not in the
// class list) is a *ValueError.
//
// # Transforms
//
// A numeric value goes through, in this fixed order: impute (if invalid) →
// clip to [lo, hi] → log1p → standardize ((x−mean)/std) or bucketize.
// Standardization statistics come from a pass over the training data: feed
// records to a Stats and call Freeze, which returns a copy of the spec with
// each standardized field's mean and std filled in. A spec with an unfitted
// standardize field fails NewFeaturizer.
//
// # Featurizing
//
// A Featurizer compiles a spec against record schemas and fills a reusable
// Batch in CSR form. It works column by column, over blocks of 256 rows so
// the part of the batch being filled stays in cache, hashes string bytes in
// place (xxh3) and allocates nothing per row;
// once the Batch's slices have grown to the largest record it allocates
// nothing at all. A Featurizer is not safe for concurrent use; create one per
// goroutine.
package feature
