package agents

import (
	"context"

	"github.com/neuais/neuais/internal/idempotency"
)

// SweepIdempotencyKeys deletes the idempotency records older than
// idempotency.Window, of every organization and operation (agents' and
// the other creates'), and returns how many.
func (s *Service) SweepIdempotencyKeys(ctx context.Context) (int64, error) {
	return idempotency.Sweep(ctx, s.db)
}
