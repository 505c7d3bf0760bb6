// Package train benchmarks end-to-end training over the lake: Parquet
// decode (package dataset) + featurization (train/feature) + the training
// step against the in-process parameter server, one core, side by side with
// scikit-learn's SGDClassifier reading the same file with pyarrow and
// featurizing it with FeatureHasher.
//
//	go test ./bench/train -run TestSpeedVersusScikitLearn -v   # the comparison, ~1-2 min
//	go test ./bench/train -run '^$' -bench . -benchmem         # Go side only
//
// The figures go to bench/RESULTS.md.
package train
