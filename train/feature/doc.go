// Package feature turns Arrow records into the sparse mini-batches models
// train and score on, as described by a YAML feature spec that travels inside
// every saved model so training and serving featurize identically.
//
// # The spec
//
//	version: 1
//	label: {column: click, type: binary}   # binary | multiclass (with classes) | real
//	weight: imp_weight                     # optional, finite and ≥ 0
//	event_time: ts                         # optional, timestamp or int64 ms
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
