package models

import (
	"time"

	"github.com/uptrace/bun"
)

// Tier is an organization's rate-limit tier.
type Tier string

// Tiers and their default limits in requests per minute.
const (
	TierFree       Tier = "free"
	TierPro        Tier = "pro"
	TierEnterprise Tier = "enterprise"
)

// Valid reports whether t is a known tier.
func (t Tier) Valid() bool { return t == TierFree || t == TierPro || t == TierEnterprise }

// DefaultRateLimit is the per-minute limit of a tier; enterprise defaults
// to 10000 unless the organization sets its own.
func (t Tier) DefaultRateLimit() int {
	switch t {
	case TierPro:
		return 1000
	case TierEnterprise:
		return 10000
	default:
		return 100
	}
}

// Organization owns users, agents, webhooks, usage and invoices.
type Organization struct {
	bun.BaseModel `bun:"table:organizations"`

	ID   string `bun:"id,pk"`
	Name string `bun:"name,notnull,unique"`
	// Slug names the organization in its agents' endpoint hosts: a DNS
	// label, unique, fixed at creation.
	Slug      string    `bun:"slug,notnull,unique"`
	Tier      Tier      `bun:"tier,notnull"`
	RateLimit int       `bun:"rate_limit,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// User is a member of one organization. PasswordHash never leaves the server.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID           string `bun:"id,pk"`
	OrgID        string `bun:"org_id,notnull"`
	Email        string `bun:"email,notnull,unique"`
	PasswordHash string `bun:"password_hash,notnull" json:"-"`
	Role         Role   `bun:"role,notnull"`
	// TokenVersion is in every token issued to the user; changing the
	// password bumps it, which revokes the tokens issued before.
	TokenVersion int64     `bun:"token_version,notnull"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
}
