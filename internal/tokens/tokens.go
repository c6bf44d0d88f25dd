// Package tokens manages API tokens: long-lived bearer tokens for scripts
// and CI, accepted beside the one-hour JWTs. A token's secret is shown once
// and stored only as its SHA-256; the token acts with the lower of its own
// role and its creator's current role, and dies with its creator.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/idempotency"
	"github.com/neuais/neuais/models"
)

// Limits of a token's fields.
const (
	MaxNameLength = 100
	// lastUsedResolution bounds writes of last_used_at to one a minute per
	// token, so that a busy CI token does not make every request a write.
	lastUsedResolution = time.Minute
)

var _ auth.Authenticator = (*Service)(nil)

// Service creates, lists, revokes and authenticates API tokens.
type Service struct {
	db *bun.DB
	// sealer encrypts the idempotency records of creates, which hold secrets.
	sealer models.Sealer
	now    func() time.Time
}

// New returns the token service. now may be nil (time.Now).
func New(db *bun.DB, sealer models.Sealer, now func() time.Time) *Service {
	if sealer == nil {
		panic("tokens: a sealer is required")
	}
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, sealer: sealer, now: now}
}

// CreateInput describes a new token: a name, a role no higher than the
// caller's, and an optional expiry in the future.
type CreateInput struct {
	Name      string
	Role      models.Role
	ExpiresAt *time.Time
}

// Create issues a token for the caller; its secret is in the result only.
// A retry with the same idempotency key and input within a day returns the
// same token and secret: keys are the caller's own (another user's key
// never replays their secret), and the stored response is sealed.
// Errors: unauthorized, invalid_request on "name", "expiresAt" or
// "idempotencyKey", forbidden (a role above the caller's), conflict (key
// reused with another input).
func (s *Service) Create(ctx context.Context, in CreateInput, idempotencyKey string) (*models.NewAPIToken, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLength {
		return nil, models.Invalid("name", fmt.Sprintf("must be 1 to %d characters", MaxNameLength))
	}
	if !in.Role.Valid() {
		return nil, models.Invalid("role", "must be one of admin, developer, viewer")
	}
	if in.Role.Rank() > who.Role.Rank() {
		return nil, models.Errorf(models.CodeForbidden, "A token's role cannot be above your own (%s)", who.Role)
	}
	now := models.Now()
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		return nil, models.Invalid("expiresAt", "must be in the future")
	}
	idem, err := idempotency.New(who.OrgID, "createApiToken "+who.UserID, idempotencyKey, in)
	if err != nil {
		return nil, err
	}
	created, _, err := idempotency.Do(ctx, s.db, idem.SealedWith(s.sealer), func(ctx context.Context, tx bun.Tx) (*models.NewAPIToken, string, error) {
		var user models.User
		if err := tx.NewSelect().Model(&user).Where("id = ?", who.UserID).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, "", models.ErrUnauthorized
			}
			return nil, "", fmt.Errorf("tokens: load user: %w", err)
		}
		secret, err := newSecret()
		if err != nil {
			return nil, "", err
		}
		t := &models.APIToken{
			ID: models.NewID(models.PrefixAPIToken), OrgID: who.OrgID, UserID: who.UserID, Name: name, Role: in.Role,
			SecretHash: hash(secret), TokenVersion: user.TokenVersion, CreatedAt: now,
		}
		if in.ExpiresAt != nil {
			exp := in.ExpiresAt.UTC().Truncate(time.Microsecond)
			t.ExpiresAt = &exp
		}
		if _, err := tx.NewInsert().Model(t).Exec(ctx); err != nil {
			return nil, "", fmt.Errorf("tokens: insert: %w", err)
		}
		return &models.NewAPIToken{APIToken: t, Secret: secret}, t.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// newSecret returns nat_ and 32 random bytes in lowercase base32.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("tokens: random: %w", err)
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return models.PrefixAPITokenSecret + strings.ToLower(enc.EncodeToString(b[:])), nil
}

// hash is the stored form of a secret: the secret is 256 random bits, so
// a fast hash is enough (no password to guess), and lookups are by hash.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

var sortColumns = map[string]string{"created_at": "created_at", "createdAt": "created_at", "name": "name", "last_used_at": "last_used_at", "lastUsedAt": "last_used_at"}

// List returns a page of tokens: an admin's are every token of its
// organization, others' their own. Errors: unauthorized, invalid_request
// on "limit", "offset" or "sort".
func (s *Service) List(ctx context.Context, p models.ListParams) (*models.APITokenPage, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	order, err := p.Validate(sortColumns, models.SortOrder{Column: "created_at"})
	if err != nil {
		return nil, err
	}
	items := []*models.APIToken{}
	q := s.db.NewSelect().Model(&items).Where("org_id = ?", who.OrgID)
	if who.Role != models.RoleAdmin {
		q = q.Where("user_id = ?", who.UserID)
	}
	total, err := db.ScanAndCount(ctx, s.db, q.OrderExpr(order.OrderExpr()), p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("tokens: list: %w", err)
	}
	return &models.APITokenPage{Items: items, Total: int(total), Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(items) < int(total)}, nil
}

// Revoke deletes a token: the caller's own, or any of its organization for
// an admin. It is refused from the next request on. Errors: unauthorized,
// not_found (also another user's token for a non-admin, and another
// organization's).
func (s *Service) Revoke(ctx context.Context, id string) (*models.APIToken, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	t := new(models.APIToken)
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		q := tx.NewSelect().Model(t).Where("id = ?", id).Where("org_id = ?", who.OrgID)
		if who.Role != models.RoleAdmin {
			q = q.Where("user_id = ?", who.UserID)
		}
		if err := q.Scan(ctx); errors.Is(err, sql.ErrNoRows) {
			return models.NotFound("token")
		} else if err != nil {
			return fmt.Errorf("tokens: load: %w", err)
		}
		if _, err := tx.NewDelete().Model(t).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("tokens: revoke: %w", err)
		}
		return idempotency.Forget(ctx, tx, t.ID)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

var (
	errInvalid = models.Errorf(models.CodeUnauthorized, "Invalid API token")
	errExpired = models.Errorf(models.CodeUnauthorized, "API token expired")
	errRevoked = models.Errorf(models.CodeUnauthorized, "API token revoked: its creator's password has changed since it was created")
)

// Authenticate resolves an API token secret to its identity as it stands
// now: the lower of the token's and its creator's current role, the
// organization's rate limit. A revoked (deleted) token, an expired one,
// or one whose creator changed password or was deleted is unauthorized.
// Last use is recorded, to the minute.
func (s *Service) Authenticate(ctx context.Context, raw string) (*models.Identity, error) {
	if !strings.HasPrefix(raw, models.PrefixAPITokenSecret) {
		return nil, errInvalid
	}
	var row struct {
		ID           string      `bun:"id"`
		OrgID        string      `bun:"org_id"`
		UserID       string      `bun:"user_id"`
		Role         models.Role `bun:"role"`
		TokenVersion int64       `bun:"token_version"`
		ExpiresAt    *time.Time  `bun:"expires_at"`
		LastUsedAt   *time.Time  `bun:"last_used_at"`
		UserRole     models.Role `bun:"user_role"`
		UserVersion  int64       `bun:"user_version"`
		RateLimit    int         `bun:"rate_limit"`
	}
	err := s.db.NewSelect().TableExpr("api_tokens AS t").
		Join("JOIN users AS u ON u.id = t.user_id").
		Join("JOIN organizations AS o ON o.id = t.org_id").
		ColumnExpr("t.id, t.org_id, t.user_id, t.role, t.token_version, t.expires_at, t.last_used_at").
		ColumnExpr("u.role AS user_role, u.token_version AS user_version, o.rate_limit").
		Where("t.secret_hash = ?", hash(raw)).Where("u.org_id = t.org_id").Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("tokens: authenticate: %w", err)
	}
	now := s.now()
	switch {
	case row.ExpiresAt != nil && !now.Before(*row.ExpiresAt):
		return nil, errExpired
	case row.TokenVersion != row.UserVersion:
		return nil, errRevoked
	}
	if row.LastUsedAt == nil || now.Sub(*row.LastUsedAt) >= lastUsedResolution {
		if _, err := s.db.NewUpdate().Table("api_tokens").Set("last_used_at = ?", now.UTC().Truncate(time.Microsecond)).
			Where("id = ?", row.ID).Exec(ctx); err != nil {
			return nil, fmt.Errorf("tokens: record use: %w", err)
		}
	}
	id := &models.Identity{
		UserID: row.UserID, OrgID: row.OrgID, Role: models.MinRole(row.Role, row.UserRole),
		TokenID: row.ID, TokenVersion: row.UserVersion, RateLimit: row.RateLimit,
	}
	if row.ExpiresAt != nil {
		id.ExpiresAt = *row.ExpiresAt
	}
	return id, nil
}
