// Package users manages the members of an organization: an admin manages
// the users of its own organization; other roles may read only themselves.
package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/idempotency"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/models"
)

// Service manages users; each public method owns its transaction.
type Service struct {
	db     *bun.DB
	hasher *auth.Hasher
}

// NewService returns the users service.
func NewService(db *bun.DB, hasher *auth.Hasher) *Service {
	return &Service{db: db, hasher: hasher}
}

// sortColumns are the accepted sort keys, in REST and GraphQL spelling.
var sortColumns = map[string]string{
	"created_at": "created_at",
	"createdAt":  "created_at",
	"email":      "email",
	"role":       "role",
}

var defaultOrder = models.SortOrder{Column: "created_at"}

// List returns a page of the caller's organization's users.
// Errors: unauthorized, forbidden (not an admin), invalid_request on
// "limit", "offset" or "sort".
func (s *Service) List(ctx context.Context, p models.ListParams) (*models.UserPage, error) {
	caller, err := models.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	order, err := p.Validate(sortColumns, defaultOrder)
	if err != nil {
		return nil, err
	}
	items := []*models.User{}
	total, err := db.ScanAndCount(ctx, s.db, s.db.NewSelect().Model(&items).
		Where("org_id = ?", caller.OrgID).
		OrderExpr(order.OrderExpr()), p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("users: list: %w", err)
	}
	return &models.UserPage{Items: items, Total: int(total), Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(items) < int(total)}, nil
}

// Get returns one user. Anyone may read themselves; only an admin may read
// others, and only within its organization.
// Errors: unauthorized, forbidden, not_found (also for other organizations' users).
func (s *Service) Get(ctx context.Context, id string) (*models.User, error) {
	caller, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if id != caller.UserID && caller.Role != models.RoleAdmin {
		return nil, models.ErrForbidden
	}
	return getInOrg(ctx, s.db, caller.OrgID, id)
}

// Create adds a user to the caller's organization. With an idempotency
// key, a retry with the same input within 24 hours returns the first
// result and creates nothing.
// Errors: unauthorized, forbidden (not an admin), invalid_request on
// "email", "password", "role" or "idempotencyKey", conflict (e-mail taken,
// field "email"; key reused with another input, field "idempotencyKey").
func (s *Service) Create(ctx context.Context, in models.CreateUserInput, idempotencyKey string) (*models.User, error) {
	caller, err := models.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	// The password is in the input: only its hash (in the request hash) is kept.
	idem, err := idempotency.New(caller.OrgID, "createUser", idempotencyKey, in)
	if err != nil {
		return nil, err
	}
	email, err := orgs.NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := orgs.CheckPassword(in.Password); err != nil {
		return nil, err
	}
	if err := checkRole(in.Role); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	now := models.Now()
	user := &models.User{ID: models.NewID(models.PrefixUser), OrgID: caller.OrgID, Email: email, PasswordHash: hash, Role: in.Role, CreatedAt: now, UpdatedAt: now}
	user, _, err = idempotency.Do(ctx, s.db, idem, func(ctx context.Context, tx bun.Tx) (*models.User, string, error) {
		if err := checkEmailFree(ctx, tx, email, ""); err != nil {
			return nil, "", err
		}
		if _, err := tx.NewInsert().Model(user).Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return nil, "", errEmailTaken
			}
			return nil, "", fmt.Errorf("users: insert: %w", err)
		}
		return user, user.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return user, nil
}

// Update changes the given fields of a user of the caller's organization.
// Errors: unauthorized, forbidden (not an admin), not_found,
// invalid_request on "email", "password" or "role", conflict (e-mail taken;
// demoting the organization's last admin).
func (s *Service) Update(ctx context.Context, id string, in models.UpdateUserInput) (*models.User, error) {
	caller, err := models.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	var email, hash string
	if in.Email != nil {
		if email, err = orgs.NormalizeEmail(*in.Email); err != nil {
			return nil, err
		}
	}
	if in.Password != nil {
		if err := orgs.CheckPassword(*in.Password); err != nil {
			return nil, err
		}
	}
	if in.Role != nil {
		if err := checkRole(*in.Role); err != nil {
			return nil, err
		}
	}
	if in.Password != nil {
		// Hashed before the transaction: bcrypt is slow and needs no lock.
		if hash, err = s.hasher.Hash(*in.Password); err != nil {
			return nil, err
		}
	}
	var user *models.User
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if user, err = getInOrg(ctx, tx, caller.OrgID, id); err != nil {
			return err
		}
		// Like agents, a user changes (and its updated_at moves) only when
		// a value does.
		changed := hash != ""
		if in.Email != nil && email != user.Email {
			if err := checkEmailFree(ctx, tx, email, user.ID); err != nil {
				return err
			}
			user.Email = email
			changed = true
		}
		if hash != "" {
			user.PasswordHash = hash
			user.TokenVersion++
		}
		if in.Role != nil && *in.Role != user.Role {
			if user.Role == models.RoleAdmin {
				if err := checkNotLastAdmin(ctx, tx, user.OrgID, "demoted"); err != nil {
					return err
				}
			}
			user.Role = *in.Role
			changed = true
		}
		if !changed {
			return nil
		}
		user.UpdatedAt = models.Now()
		if _, err := tx.NewUpdate().Model(user).Column("email", "password_hash", "role", "token_version", "updated_at").WherePK().Exec(ctx); err != nil {
			if db.IsUniqueViolation(err) {
				return errEmailTaken
			}
			return fmt.Errorf("users: update: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return user, nil
}

// Delete removes a user of the caller's organization; its tokens stop
// working at once. Errors: unauthorized, forbidden (not an admin),
// not_found, conflict (the organization's last admin).
func (s *Service) Delete(ctx context.Context, id string) error {
	caller, err := models.RequireAdmin(ctx)
	if err != nil {
		return err
	}
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		user, err := getInOrg(ctx, tx, caller.OrgID, id)
		if err != nil {
			return err
		}
		if user.Role == models.RoleAdmin {
			if err := checkNotLastAdmin(ctx, tx, user.OrgID, "deleted"); err != nil {
				return err
			}
		}
		if _, err := tx.NewDelete().Model(user).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("users: delete: %w", err)
		}
		return idempotency.Forget(ctx, tx, user.ID)
	})
}

var errEmailTaken = &models.Error{Code: models.CodeConflict, Message: "A user with this e-mail already exists", Field: "email", Reason: "is already taken"}

func checkRole(r models.Role) error {
	if !r.Valid() {
		return models.Invalid("role", "must be one of admin, developer, viewer")
	}
	return nil
}

func getInOrg(ctx context.Context, q bun.IDB, orgID, id string) (*models.User, error) {
	user := new(models.User)
	err := q.NewSelect().Model(user).Where("id = ? AND org_id = ?", id, orgID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, models.NotFound("user")
	}
	if err != nil {
		return nil, fmt.Errorf("users: load: %w", err)
	}
	return user, nil
}

// checkEmailFree reports a conflict when another user than exceptID has email.
// E-mails are unique across organizations, since login is by e-mail alone.
func checkEmailFree(ctx context.Context, tx bun.Tx, email, exceptID string) error {
	q := tx.NewSelect().Model((*models.User)(nil)).Where("email = ?", email)
	if exceptID != "" {
		q = q.Where("id <> ?", exceptID)
	}
	n, err := q.Count(ctx)
	if err != nil {
		return fmt.Errorf("users: check e-mail: %w", err)
	}
	if n > 0 {
		return errEmailTaken
	}
	return nil
}

// checkNotLastAdmin refuses to remove the last admin of orgID. It locks the
// organization first so that two concurrent demotions cannot both pass.
func checkNotLastAdmin(ctx context.Context, tx bun.Tx, orgID, verb string) error {
	if err := db.LockRow(ctx, tx, (*models.Organization)(nil), orgID); err != nil {
		return fmt.Errorf("users: lock organization: %w", err)
	}
	n, err := tx.NewSelect().Model((*models.User)(nil)).Where("org_id = ? AND role = ?", orgID, models.RoleAdmin).Count(ctx)
	if err != nil {
		return fmt.Errorf("users: count admins: %w", err)
	}
	if n <= 1 {
		return models.Errorf(models.CodeConflict, "The last admin of an organization cannot be %s", verb)
	}
	return nil
}
