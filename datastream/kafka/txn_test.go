package kafka

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestTxnRetriable: CONCURRENT_TRANSACTIONS (the coordinator still
// finishing a previous commit or abort) is retried although kerr does not
// mark it retriable; fencing and other hard errors are not.
func TestTxnRetriable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{kerr.ConcurrentTransactions, true},
		{fmt.Errorf("end txn: %w", kerr.ConcurrentTransactions), true},
		{kerr.CoordinatorLoadInProgress, true},
		{kerr.NotCoordinator, true},
		{kerr.InvalidProducerEpoch, false},
		{kerr.ProducerFenced, false},
		{errors.New("dial tcp: connection refused"), false},
	} {
		if got := txnRetriable(tc.err); got != tc.want {
			t.Errorf("txnRetriable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
