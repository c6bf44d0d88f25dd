// Package orgs manages organizations: creation with a first admin, listing,
// and the bootstrap of an empty database.
package orgs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/models"
)

// DefaultName and DefaultAdminEmail are used on first start.
const (
	DefaultName       = "default"
	DefaultAdminEmail = "admin@localhost"
)

// Service manages organizations.
type Service struct {
	db     *bun.DB
	hasher *auth.Hasher
}

// NewService returns the organizations service.
func NewService(db *bun.DB, hasher *auth.Hasher) *Service {
	return &Service{db: db, hasher: hasher}
}

// CreateParams describe a new organization and its first admin. Slug,
// when empty, is derived from Name and made unique.
type CreateParams struct {
	Name string
	Slug string
	Tier models.Tier
	// RateLimit, requests per minute, is the tier's default when 0.
	RateLimit     int
	AdminEmail    string
	AdminPassword string
}

// Create makes an organization and its first admin in one transaction.
// Errors: invalid_request (field named), conflict (name, slug or e-mail taken).
func (s *Service) Create(ctx context.Context, p CreateParams) (*models.Organization, *models.User, error) {
	p.Name = strings.TrimSpace(p.Name)
	derived := p.Slug == ""
	if derived {
		p.Slug = Slug(p.Name)
	}
	if p.Tier == "" {
		p.Tier = models.TierFree
	}
	email, err := NormalizeEmail(p.AdminEmail)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case p.Name == "" || len(p.Name) > 100:
		return nil, nil, models.Invalid("name", "must be 1 to 100 characters")
	case !p.Tier.Valid():
		return nil, nil, models.Invalid("tier", "must be one of free, pro, enterprise")
	case p.RateLimit < 0:
		return nil, nil, models.Invalid("rate_limit", "must be positive")
	case !validSlug(p.Slug):
		return nil, nil, models.Invalid("slug", fmt.Sprintf("must be a DNS label of 1 to %d lowercase letters, digits and hyphens, starting and ending with a letter or digit", maxSlug))
	}
	if err := CheckPassword(p.AdminPassword); err != nil {
		return nil, nil, err
	}
	hash, err := s.hasher.Hash(p.AdminPassword)
	if err != nil {
		return nil, nil, err
	}
	now := models.Now()
	if p.RateLimit == 0 {
		p.RateLimit = p.Tier.DefaultRateLimit()
	}
	org := &models.Organization{ID: models.NewID(models.PrefixOrganization), Name: p.Name, Slug: p.Slug, Tier: p.Tier, RateLimit: p.RateLimit, CreatedAt: now}
	user := &models.User{ID: models.NewID(models.PrefixUser), OrgID: org.ID, Email: email, PasswordHash: hash, Role: models.RoleAdmin, CreatedAt: now, UpdatedAt: now}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if n, err := tx.NewSelect().Model((*models.Organization)(nil)).Where("name = ?", org.Name).Count(ctx); err != nil {
			return fmt.Errorf("orgs: check name: %w", err)
		} else if n > 0 {
			return models.Errorf(models.CodeConflict, "An organization named %q already exists", org.Name)
		}
		if err := uniqueSlug(ctx, tx, org, derived); err != nil {
			return err
		}
		if n, err := tx.NewSelect().Model((*models.User)(nil)).Where("email = ?", email).Count(ctx); err != nil {
			return fmt.Errorf("orgs: check email: %w", err)
		} else if n > 0 {
			return &models.Error{Code: models.CodeConflict, Message: "A user with this e-mail already exists", Field: "email", Reason: "is already taken"}
		}
		if _, err := tx.NewInsert().Model(org).Exec(ctx); err != nil {
			return fmt.Errorf("orgs: insert organization: %w", err)
		}
		if _, err := tx.NewInsert().Model(user).Exec(ctx); err != nil {
			return fmt.Errorf("orgs: insert admin: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return org, user, nil
}

// List returns every organization, oldest first.
func (s *Service) List(ctx context.Context) ([]*models.Organization, error) {
	var list []*models.Organization
	if err := s.db.NewSelect().Model(&list).Order("created_at ASC", "id ASC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("orgs: list: %w", err)
	}
	return list, nil
}

// Get returns one organization. Errors: not_found.
func (s *Service) Get(ctx context.Context, id string) (*models.Organization, error) {
	org := new(models.Organization)
	if err := s.db.NewSelect().Model(org).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, models.NotFound("organization")
	}
	return org, nil
}

// Bootstrap creates the default organization and its admin when the
// database has no organization. With an empty password it generates one and
// returns it (generated is then true) so the caller can print it once. It
// is the self-hosted operator's own: enterprise, with rateLimit per minute.
func (s *Service) Bootstrap(ctx context.Context, email, password string, rateLimit int) (created bool, generated string, err error) {
	n, err := s.db.NewSelect().Model((*models.Organization)(nil)).Count(ctx)
	if err != nil {
		return false, "", fmt.Errorf("orgs: bootstrap: %w", err)
	}
	if n > 0 {
		return false, "", nil
	}
	if email == "" {
		email = DefaultAdminEmail
	}
	if password == "" {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return false, "", fmt.Errorf("orgs: generate password: %w", err)
		}
		password = base64.RawURLEncoding.EncodeToString(b[:])
		generated = password
	}
	if _, _, err := s.Create(ctx, CreateParams{Name: DefaultName, Tier: models.TierEnterprise, RateLimit: rateLimit, AdminEmail: email, AdminPassword: password}); err != nil {
		return false, "", fmt.Errorf("orgs: bootstrap: %w", err)
	}
	return true, generated, nil
}

// maxSlug leaves room in a 63-character label for the suffix that makes
// a derived slug unique.
const maxSlug = 40

// Slug derives an organization's slug from its name: lowercase, every run
// of characters other than letters and digits as one hyphen, at most 40
// characters; "org" when nothing is left. The migration that gave existing
// organizations their slugs follows the same rule.
func Slug(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
			continue
		}
		hyphen = true
	}
	slug := strings.TrimRight(b.String()[:min(b.Len(), maxSlug)], "-")
	if slug == "" {
		return "org"
	}
	return slug
}

func validSlug(slug string) bool {
	if slug == "" || len(slug) > maxSlug || slug[0] == '-' || slug[len(slug)-1] == '-' {
		return false
	}
	for _, c := range slug {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// uniqueSlug refuses a taken slug that was asked for, and numbers a
// derived one (acme, acme-2, acme-3, …) until it is free.
func uniqueSlug(ctx context.Context, tx bun.Tx, org *models.Organization, derived bool) error {
	base := org.Slug
	for n := 2; ; n++ {
		taken, err := tx.NewSelect().Model((*models.Organization)(nil)).Where("slug = ?", org.Slug).Exists(ctx)
		if err != nil {
			return fmt.Errorf("orgs: check slug: %w", err)
		}
		if !taken {
			return nil
		}
		if !derived {
			return &models.Error{Code: models.CodeConflict, Message: fmt.Sprintf("An organization with slug %q already exists", org.Slug), Details: map[string]any{"field": "slug"}}
		}
		org.Slug = fmt.Sprintf("%s-%d", base, n)
	}
}

// NormalizeEmail validates an e-mail address and returns it lowercased.
// Errors: invalid_request on field "email".
func NormalizeEmail(raw string) (string, error) {
	email := strings.ToLower(strings.TrimSpace(raw))
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") && !strings.HasSuffix(email, "@localhost") {
		return "", models.Invalid("email", "must be a valid e-mail address")
	}
	return email, nil
}

// CheckPassword enforces the password length rules on field "password".
func CheckPassword(password string) error {
	if len(password) < auth.MinPasswordLength {
		return models.Invalid("password", fmt.Sprintf("must be at least %d characters", auth.MinPasswordLength))
	}
	if len(password) > auth.MaxPasswordLength {
		return models.Invalid("password", fmt.Sprintf("must be at most %d bytes", auth.MaxPasswordLength))
	}
	return nil
}

// SetTier changes an organization's tier (named by id, slug or name) and
// its rate limit: rateLimit per minute, or the tier's default when 0. It is
// an operator's action, never an API one; tokens already issued get the new
// limit on their next request, which reads it from the organization.
// Errors: not_found, invalid_request on tier or rate_limit.
func (s *Service) SetTier(ctx context.Context, ref string, tier models.Tier, rateLimit int) (*models.Organization, error) {
	switch {
	case !tier.Valid():
		return nil, models.Invalid("tier", "must be one of free, pro, enterprise")
	case rateLimit < 0:
		return nil, models.Invalid("rate_limit", "must be positive")
	case rateLimit == 0:
		rateLimit = tier.DefaultRateLimit()
	}
	var ids []string
	if err := s.db.NewSelect().Model((*models.Organization)(nil)).Column("id").
		Where("id = ? OR slug = ? OR name = ?", ref, ref, ref).OrderExpr("id = ? DESC, slug = ? DESC", ref, ref).Limit(1).Scan(ctx, &ids); err != nil {
		return nil, fmt.Errorf("orgs: set tier: %w", err)
	}
	if len(ids) == 0 {
		return nil, models.NotFound("organization")
	}
	if _, err := s.db.NewUpdate().Model((*models.Organization)(nil)).Set("tier = ?", tier).Set("rate_limit = ?", rateLimit).
		Where("id = ?", ids[0]).Exec(ctx); err != nil {
		return nil, fmt.Errorf("orgs: set tier: %w", err)
	}
	return s.Get(ctx, ids[0])
}
