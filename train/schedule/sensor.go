package schedule

import (
	"context"
	"fmt"

	"github.com/lakestream/lakestream/lake"
)

// Missing returns the partition folders (keys without a trailing slash) that
// are not committed: no _SUCCESS marker in the folder, in a partition folder
// above it, or in the table root (the lake's commit rule, see lake.Commit).
func Missing(ctx context.Context, store lake.Store, folders []string) ([]string, error) {
	var missing []string
	for _, f := range folders {
		candidates := lake.PartitionFolders(f + "/" + lake.SuccessMarker)
		if len(candidates) == 0 {
			candidates = []string{f}
		}
		ok := false
		for _, c := range candidates {
			var err error
			if ok, err = lake.IsCommitted(ctx, store, c); err != nil {
				return nil, fmt.Errorf("sensor: %w", err)
			}
			if ok {
				break
			}
		}
		if !ok {
			missing = append(missing, f)
		}
	}
	return missing, nil
}
