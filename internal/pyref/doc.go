// Package pyref runs Python reference implementations (pyarrow, scikit-learn,
// grpcio) from Go tests, so that Lakestream's results are checked against
// independent code rather than against themselves.
//
// The interpreter is $LAKESTREAM_PYTHON, which deploy/local/python.sh points
// at a virtual environment holding deploy/local/requirements.txt. A test that
// needs Python fails (never skips) when the interpreter is missing, except
// under -short, which is the documented way to run unit tests alone.
package pyref
