// Package train benchmarks end-to-end training over the lake: Parquet
// decode (package dataset) + featurization (train/feature) + the training
// step against the in-process parameter server, one core, side by side with
// scikit-learn's SGDClassifier reading the same file with pyarrow and
// featurizing it with FeatureHasher; and DeepFM/MLP side by side with a
// PyTorch CPU DeepFM of the same architecture on the same featurized rows
// (deepfm_torch.py, in its own environment: deploy/local/python-torch.sh).
//
//	go test ./bench/train -run TestSpeedVersusScikitLearn -v   # the comparison, ~1-2 min
//	go test ./bench/train -run '^$' -bench 'Step|EndToEnd' -benchmem   # Go side only
//	go test ./bench/train -run '^$' -bench DeepVersusPyTorch -benchtime 1x -v  # ~3 min
//
// The figures go to bench/RESULTS.md.
package train
