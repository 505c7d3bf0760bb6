// Package modeltest saves small hand-made models into a lake for tests of
// the code that loads and scores them (evaluation, the trainer's eval
// command): SaveLogistic writes a logistic regression whose weights the
// test chooses, so its scores are known exactly; RandomMF makes an mf
// model with random rows and its interactions, for top-N recommendation.
package modeltest
