package agents

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/models"
)

// IdempotencyWindow is how long an idempotency key is remembered.
const IdempotencyWindow = 24 * time.Hour

const fieldIdempotencyKey = "idempotencyKey"

// idempotencyRecord is one remembered request: its key, the hash of its
// input and the first result. It goes with its agent (the result holds
// the agent's environment) and is swept after IdempotencyWindow.
type idempotencyRecord struct {
	bun.BaseModel `bun:"table:idempotency_keys"`

	OrgID       string    `bun:"org_id,pk"`
	Operation   string    `bun:"operation,pk"`
	Key         string    `bun:"idempotency_key,pk"`
	RequestHash string    `bun:"request_hash,notnull"`
	Response    string    `bun:"response,notnull"`
	AgentID     string    `bun:"agent_id"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
}

type idempotency struct {
	orgID, operation, key, hash string
}

// newIdempotency checks the key and hashes the input; JSON encoding sorts
// map keys, so equal inputs hash equally whatever their key order was.
func newIdempotency(orgID, operation, key string, input any) (*idempotency, error) {
	if len(key) > MaxIdempotencyKey {
		return nil, models.Invalid(fieldIdempotencyKey, fmt.Sprintf("must be at most %d characters", MaxIdempotencyKey))
	}
	for _, c := range key {
		if c < 0x20 || c > 0x7e {
			return nil, models.Invalid(fieldIdempotencyKey, "must be printable ASCII")
		}
	}
	data, err := json.Marshal(input)
	if err != nil {
		return nil, fmt.Errorf("agents: hash request: %w", err)
	}
	sum := sha256.Sum256(data)
	return &idempotency{orgID: orgID, operation: operation, key: key, hash: hex.EncodeToString(sum[:])}, nil
}

// lookup returns the first result of the key within the window, nil when
// the key is new (an expired record is removed), or a conflict when the
// key came with another input.
func (i *idempotency) lookup(ctx context.Context, tx bun.Tx) (*models.Agent, error) {
	rec := new(idempotencyRecord)
	err := tx.NewSelect().Model(rec).
		Where("org_id = ?", i.orgID).Where("operation = ?", i.operation).Where("idempotency_key = ?", i.key).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agents: idempotency lookup: %w", err)
	}
	if time.Since(rec.CreatedAt) > IdempotencyWindow {
		if _, err := tx.NewDelete().Model(rec).WherePK().Exec(ctx); err != nil {
			return nil, fmt.Errorf("agents: idempotency expire: %w", err)
		}
		return nil, nil
	}
	if rec.RequestHash != i.hash {
		return nil, &models.Error{Code: models.CodeConflict, Message: "This Idempotency-Key was already used with a different request",
			Field: fieldIdempotencyKey, Reason: "was already used with a different request"}
	}
	first := new(models.Agent)
	if err := json.Unmarshal([]byte(rec.Response), first); err != nil {
		return nil, fmt.Errorf("agents: idempotency response: %w", err)
	}
	return first, nil
}

// record remembers a as the key's result.
func (i *idempotency) record(ctx context.Context, tx bun.Tx, a *models.Agent) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("agents: idempotency response: %w", err)
	}
	rec := &idempotencyRecord{OrgID: i.orgID, Operation: i.operation, Key: i.key, RequestHash: i.hash, Response: string(data), AgentID: a.ID, CreatedAt: models.Now()}
	if _, err := tx.NewInsert().Model(rec).Exec(ctx); err != nil {
		return fmt.Errorf("agents: idempotency record: %w", err)
	}
	return nil
}

// SweepIdempotencyKeys deletes the idempotency records older than
// IdempotencyWindow, of every organization, and returns how many.
func (s *Service) SweepIdempotencyKeys(ctx context.Context) (int64, error) {
	res, err := s.db.NewDelete().Model((*idempotencyRecord)(nil)).
		Where("created_at < ?", models.Now().Add(-IdempotencyWindow)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("agents: sweep idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
