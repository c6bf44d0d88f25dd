// Package idempotency makes creates safe to retry. A create called with an
// Idempotency-Key runs once per organization, operation and key: a retry
// with the same input within Window gets the first response and creates
// nothing; the same key with another input is a conflict.
//
// A create uses it in three steps:
//
//	req, err := idempotency.New(orgID, "createUser", key, input) // before any work
//	user, replayed, err := idempotency.Do(ctx, db, req, func(ctx context.Context, tx bun.Tx) (*models.User, string, error) {
//		… insert in tx …
//		return user, user.ID, nil // the response, and the id of what it created
//	})
//	// publish events only when !replayed
//
// and the delete of that resource calls Forget in its transaction, since the
// stored response may hold the resource's secrets. Records of every
// operation share the table idempotency_keys; Sweep removes expired ones.
package idempotency

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/secrets"
	"github.com/neuais/neuais/models"
)

// Window is how long a key is remembered.
const Window = 24 * time.Hour

// MaxKeyLength is the longest key accepted, in bytes.
const MaxKeyLength = 255

// Field is the argument that carries the key in GraphQL; REST names it
// Idempotency-Key in its errors.
const Field = "idempotencyKey"

// record is one remembered request: its key, the hash of its input, the
// first response and the resource that response created.
type record struct {
	bun.BaseModel `bun:"table:idempotency_keys"`

	OrgID       string    `bun:"org_id,pk"`
	Operation   string    `bun:"operation,pk"`
	Key         string    `bun:"idempotency_key,pk"`
	RequestHash string    `bun:"request_hash,notnull"`
	Response    string    `bun:"response,notnull"`
	ResourceID  string    `bun:"resource_id,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
}

var errKeyReused = &models.Error{Code: models.CodeConflict, Message: "This Idempotency-Key was already used with a different request",
	Field: Field, Reason: "was already used with a different request"}

// Request is one keyed create, made by New.
type Request struct {
	orgID, operation, key, hash string
	sealer                      models.Sealer
}

// SealedWith makes the stored response encrypted with s, for creates
// whose responses hold secrets. r may be nil, as New returns on error.
func (r *Request) SealedWith(s models.Sealer) *Request {
	if r != nil {
		r.sealer = s
	}
	return r
}

func (r *Request) context() string {
	return "idempotency " + r.orgID + " " + r.operation + " " + r.key
}

// New checks key and hashes input (JSON: map keys are sorted, so equal
// inputs hash equally whatever their key order). Under the Request of an
// empty key, Do simply runs the create.
// Errors: invalid_request on Field (too long, not printable ASCII).
func New(orgID, operation, key string, input any) (*Request, error) {
	if key == "" {
		return &Request{}, nil
	}
	if len(key) > MaxKeyLength {
		return nil, models.Invalid(Field, fmt.Sprintf("must be at most %d characters", MaxKeyLength))
	}
	for _, c := range key {
		if c < 0x20 || c > 0x7e {
			return nil, models.Invalid(Field, "must be printable ASCII")
		}
	}
	data, err := json.Marshal(input)
	if err != nil {
		return nil, fmt.Errorf("idempotency: hash request: %w", err)
	}
	sum := sha256.Sum256(data)
	return &Request{orgID: orgID, operation: operation, key: key, hash: hex.EncodeToString(sum[:])}, nil
}

// Do runs create in a transaction and returns its response. With a key, a
// key seen within Window returns the first response (decoded
// from JSON into a T) with replayed true, without calling create; a new
// key stores create's response (as JSON) beside the resource id it
// returns, in create's transaction. A concurrent request with the same key
// may commit first, making this one fail on a unique constraint or a
// conflict (a name it just took): Do then tries once more, which finds
// that request's record. Errors: create's, and conflict on Field when the
// key came with another input.
func Do[T any](ctx context.Context, idb *bun.DB, req *Request, create func(ctx context.Context, tx bun.Tx) (T, string, error)) (result T, replayed bool, err error) {
	for attempt := 0; ; attempt++ {
		result, replayed, err = do(ctx, idb, req, create)
		if err != nil && req.key != "" && attempt == 0 && !errors.Is(err, errKeyReused) &&
			(db.IsUniqueViolation(err) || models.ErrorCode(err) == models.CodeConflict) {
			continue
		}
		return result, replayed, err
	}
}

func do[T any](ctx context.Context, idb *bun.DB, req *Request, create func(ctx context.Context, tx bun.Tx) (T, string, error)) (result T, replayed bool, err error) {
	err = idb.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if req.key != "" {
			if replayed, err = req.lookup(ctx, tx, &result); err != nil || replayed {
				return err
			}
		}
		var id string
		if result, id, err = create(ctx, tx); err != nil || req.key == "" {
			return err
		}
		return req.record(ctx, tx, id, result)
	})
	return result, replayed, err
}

// lookup decodes the key's first response into out and reports true when
// the key was seen within Window (an expired record is removed), and
// fails with a conflict when it came with another input.
func (r *Request) lookup(ctx context.Context, tx bun.Tx, out any) (bool, error) {
	rec := new(record)
	err := tx.NewSelect().Model(rec).
		Where("org_id = ?", r.orgID).Where("operation = ?", r.operation).Where("idempotency_key = ?", r.key).
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("idempotency: lookup: %w", err)
	}
	if time.Since(rec.CreatedAt) > Window {
		if _, err := tx.NewDelete().Model(rec).WherePK().Exec(ctx); err != nil {
			return false, fmt.Errorf("idempotency: expire: %w", err)
		}
		return false, nil
	}
	if rec.RequestHash != r.hash {
		return false, errKeyReused
	}
	data := []byte(rec.Response)
	if r.sealer != nil && !strings.HasPrefix(rec.Response, "{") {
		if data, err = r.sealer.Open(rec.Response, r.context()); err != nil {
			return false, fmt.Errorf("idempotency: response: %w", err)
		}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return false, fmt.Errorf("idempotency: response: %w", err)
	}
	return true, nil
}

func (r *Request) record(ctx context.Context, tx bun.Tx, resourceID string, response any) error {
	data, err := json.Marshal(response)
	if err != nil {
		return fmt.Errorf("idempotency: response: %w", err)
	}
	stored := string(data)
	if r.sealer != nil {
		stored = r.sealer.Seal(data, r.context())
	}
	rec := &record{OrgID: r.orgID, Operation: r.operation, Key: r.key, RequestHash: r.hash, Response: stored, ResourceID: resourceID, CreatedAt: models.Now()}
	if _, err := tx.NewInsert().Model(rec).Exec(ctx); err != nil {
		return fmt.Errorf("idempotency: record: %w", err)
	}
	return nil
}

// Forget deletes the records of the creates that made resourceID; a
// resource's delete calls it in its transaction, so that responses holding
// its secrets (an agent's environment) do not outlive it.
func Forget(ctx context.Context, idb bun.IDB, resourceID string) error {
	if _, err := idb.NewDelete().Model((*record)(nil)).Where("resource_id = ?", resourceID).Exec(ctx); err != nil {
		return fmt.Errorf("idempotency: forget: %w", err)
	}
	return nil
}

// Sweep deletes the records older than Window, of every organization and
// operation, and returns how many.
func Sweep(ctx context.Context, idb bun.IDB) (int64, error) {
	res, err := idb.NewDelete().Model((*record)(nil)).Where("created_at < ?", models.Now().Add(-Window)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("idempotency: sweep: %w", err)
	}
	return res.RowsAffected()
}

// Reseal seals with kr's current key the stored responses of operation
// that are in the clear or under an older key, and returns how many.
func Reseal(ctx context.Context, idb *bun.DB, kr *secrets.Keyring, operation string) (int, error) {
	var recs []*record
	if err := idb.NewSelect().Model(&recs).Where("operation = ?", operation).Scan(ctx); err != nil {
		return 0, fmt.Errorf("idempotency: reseal: %w", err)
	}
	n := 0
	for _, rec := range recs {
		if kr.Current(rec.Response) {
			continue
		}
		r := &Request{orgID: rec.OrgID, operation: rec.Operation, key: rec.Key, sealer: kr}
		data := []byte(rec.Response)
		if !strings.HasPrefix(rec.Response, "{") {
			var err error
			if data, err = kr.Open(rec.Response, r.context()); err != nil {
				return n, fmt.Errorf("idempotency: reseal: %w", err)
			}
		}
		old := rec.Response
		rec.Response = kr.Seal(data, r.context())
		if _, err := idb.NewUpdate().Model(rec).Column("response").WherePK().Where("response = ?", old).Exec(ctx); err != nil {
			return n, fmt.Errorf("idempotency: reseal: %w", err)
		}
		n++
	}
	return n, nil
}
