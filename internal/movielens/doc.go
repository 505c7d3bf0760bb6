// Package movielens reads MovieLens 100k (GroupLens: 100,000 ratings 1–5 of
// 1,682 movies by 943 users) as deploy/local/datasets.sh fetches it from a
// package registry into ~/.cache/lakestream/data ($LAKESTREAM_DATASETS
// moves it), and writes it to a lake
// as a ratings table, so the quality tests and the defaults benchmark train
// and judge recommendation models on real ratings.
//
// WriteLake splits the ratings at random (a seeded hash of user and item)
// into three dt partitions: 80% for training (TrainDT), 10% for validation
// and early stopping (ValidationDT) and 10% held out for the final figure
// (TestDT). BiasBaseline is the regularized user/item-bias predictor that a
// matrix factorization has to beat on that held-out split.
package movielens
