package models

import (
	"time"

	"github.com/uptrace/bun"
)

// API token ids and secrets: the secret is PrefixAPITokenSecret followed
// by random characters, so that it is told from a JWT (and found by secret
// scanners) at a glance.
const (
	PrefixAPIToken       = "tkn_"
	PrefixAPITokenSecret = "nat_"
)

// APIToken is a long-lived bearer token for scripts and CI. Only the
// SHA-256 of its secret is stored. It acts with the lower of Role and its
// creator's current role, and dies with its creator.
type APIToken struct {
	bun.BaseModel `bun:"table:api_tokens"`

	ID         string `bun:"id,pk"`
	OrgID      string `bun:"org_id,notnull"`
	UserID     string `bun:"user_id,notnull"`
	Name       string `bun:"name,notnull"`
	Role       Role   `bun:"role,notnull"`
	SecretHash string `bun:"secret_hash,notnull" json:"-"`
	// TokenVersion is the creator's TokenVersion at creation: a password
	// change revokes API tokens as it revokes JWTs.
	TokenVersion int64      `bun:"token_version,notnull"`
	CreatedAt    time.Time  `bun:"created_at,notnull"`
	ExpiresAt    *time.Time `bun:"expires_at"`
	LastUsedAt   *time.Time `bun:"last_used_at"`
}

// NewAPIToken is a created token with its secret, shown this once.
type NewAPIToken struct {
	*APIToken
	Secret string
}

// APITokenPage is one page of API tokens.
type APITokenPage struct {
	Items   []*APIToken
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}

// Rank orders roles: admin 3, developer 2, viewer 1, anything else 0.
func (r Role) Rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleDeveloper:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// MinRole returns the less privileged of a and b.
func MinRole(a, b Role) Role {
	if a.Rank() < b.Rank() {
		return a
	}
	return b
}
