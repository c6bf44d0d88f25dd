// Package binaries stores the agent binaries users upload: streamed to a
// file in the data directory (never held whole in memory), content-addressed
// and kept once per organization, and refused for deletion while an agent
// refers to one.
package binaries

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/idempotency"
	"github.com/neuais/neuais/models"
)

// Service stores binaries under Dir/{org id}/{sha256}; each public method
// owns its transaction.
type Service struct {
	db       *bun.DB
	dir      string
	maxBytes int64
	// mu orders file moves and removals within this process, so that an
	// upload of a binary being deleted cannot lose its file.
	mu sync.Mutex
}

// Dir returns the directory of uploaded binaries in dataDir.
func Dir(dataDir string) string { return filepath.Join(dataDir, "uploads") }

// New returns the service over dataDir's upload directory (created 0700),
// refusing binaries above maxBytes. Uploads cut short by a crash are removed.
func New(db *bun.DB, dataDir string, maxBytes int64) (*Service, error) {
	if maxBytes <= 0 {
		return nil, errors.New("binaries: the size cap must be positive")
	}
	dir := Dir(dataDir)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("binaries: %w", err)
	}
	if partial, err := filepath.Glob(filepath.Join(dir, "tmp", "upload-*")); err == nil {
		for _, f := range partial {
			os.Remove(f)
		}
	}
	return &Service{db: db, dir: dir, maxBytes: maxBytes}, nil
}

// MaxBytes is the size cap of one binary.
func (s *Service) MaxBytes() int64 { return s.maxBytes }

// ErrTooLarge is the error of a binary over the cap.
func (s *Service) ErrTooLarge() *models.Error {
	return &models.Error{Code: models.CodePayloadTooLarge, Message: fmt.Sprintf("The binary is larger than the limit of %d bytes (NEUAIS_MAX_BINARY_BYTES)", s.maxBytes),
		Details: map[string]any{"limit": s.maxBytes}}
}

// Upload stores the bytes read from r as a binary of the caller's
// organization and returns it; the same bytes uploaded again return the
// binary already stored. size is the length the client declared, or -1.
// An idempotency key seen within a day with other bytes is a conflict.
// An error of r that is a *models.Error (a transfer too slow) is returned
// as it is. Errors: unauthorized, forbidden (viewer), payload_too_large,
// invalid_request on "file" (empty, not an executable, cut short) or
// "idempotencyKey", conflict (key reused with other bytes).
func (s *Service) Upload(ctx context.Context, r io.Reader, size int64, idempotencyKey string) (*models.Binary, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	// The key is checked before the body is read; the input it guards is
	// only known at the end.
	if _, err := idempotency.New(who.OrgID, "uploadBinary", idempotencyKey, nil); err != nil {
		return nil, err
	}
	if size > s.maxBytes {
		return nil, s.ErrTooLarge()
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("binaries: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once moved into place
	hash := sha256.New()
	head := &headWriter{}
	n, err := io.Copy(io.MultiWriter(tmp, hash, head), io.LimitReader(r, s.maxBytes+1))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var coded *models.Error
	switch {
	case errors.As(err, &coded):
		return nil, coded
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		return nil, models.Invalid("file", "could not be read to its end: "+err.Error())
	case n > s.maxBytes:
		return nil, s.ErrTooLarge()
	case n == 0:
		return nil, models.Invalid("file", "is empty")
	case !executable(head.b):
		return nil, models.Invalid("file", "must be an executable: an ELF binary or a #! script")
	}
	sum := hex.EncodeToString(hash.Sum(nil))
	idem, err := idempotency.New(who.OrgID, "uploadBinary", idempotencyKey, map[string]string{"sha256": sum})
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(s.dir, who.OrgID), 0o700); err != nil {
		return nil, fmt.Errorf("binaries: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path(who.OrgID, sum)); err != nil {
		return nil, fmt.Errorf("binaries: store: %w", err)
	}
	stored, _, err := idempotency.Do(ctx, s.db, idem, func(ctx context.Context, tx bun.Tx) (*models.Binary, string, error) {
		b := &models.Binary{ID: models.NewID(models.PrefixBinary), OrgID: who.OrgID, SHA256: sum, Size: n, CreatedBy: who.UserID, CreatedAt: models.Now()}
		if _, err := tx.NewInsert().Model(b).On("CONFLICT (org_id, sha256) DO NOTHING").Exec(ctx); err != nil {
			return nil, "", fmt.Errorf("binaries: insert: %w", err)
		}
		stored := new(models.Binary)
		if err := tx.NewSelect().Model(stored).Where("org_id = ?", who.OrgID).Where("sha256 = ?", sum).Scan(ctx); err != nil {
			return nil, "", fmt.Errorf("binaries: load: %w", err)
		}
		return stored, stored.ID, nil
	})
	if err != nil {
		s.removeUnreferenced(ctx, who.OrgID, sum)
		return nil, err
	}
	return stored, nil
}

// removeUnreferenced removes the stored file of sum when no binary row
// names it, after an upload that did not commit one. Callers hold s.mu.
func (s *Service) removeUnreferenced(ctx context.Context, orgID, sum string) {
	n, err := s.db.NewSelect().Model((*models.Binary)(nil)).Where("org_id = ?", orgID).Where("sha256 = ?", sum).Count(ctx)
	if err == nil && n == 0 {
		os.Remove(s.path(orgID, sum))
	}
}

func (s *Service) path(orgID, sum string) string { return filepath.Join(s.dir, orgID, sum) }

// Path is where the binary sum of organization orgID is kept in dataDir,
// for the runtime, which copies it from there into its cache.
func Path(dataDir, orgID, sum string) string { return filepath.Join(Dir(dataDir), orgID, sum) }

// headWriter keeps the first bytes written, for the executable check.
type headWriter struct{ b []byte }

func (h *headWriter) Write(p []byte) (int, error) {
	if n := 4 - len(h.b); n > 0 {
		h.b = append(h.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

// executable accepts ELF binaries and #! scripts, as the runtime does, so
// that an HTML page or an archive is refused at upload, not at start.
func executable(head []byte) bool {
	return bytes.HasPrefix(head, []byte("\x7fELF")) || bytes.HasPrefix(head, []byte("#!"))
}

// sortColumns are the accepted sort keys, in REST and GraphQL spelling.
var sortColumns = map[string]string{"created_at": "created_at", "createdAt": "created_at", "size": "size"}

// List returns a page of the caller's organization's binaries. Errors:
// unauthorized, invalid_request on "limit", "offset" or "sort".
func (s *Service) List(ctx context.Context, p models.ListParams) (*models.BinaryPage, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	order, err := p.Validate(sortColumns, models.SortOrder{Column: "created_at"})
	if err != nil {
		return nil, err
	}
	items := []*models.Binary{}
	total, err := db.ScanAndCount(ctx, s.db, s.db.NewSelect().Model(&items).Where("org_id = ?", who.OrgID).
		OrderExpr(order.OrderExpr()), p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("binaries: list: %w", err)
	}
	return &models.BinaryPage{Items: items, Total: int(total), Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(items) < int(total)}, nil
}

// Get returns one binary of the caller's organization. Errors:
// unauthorized, not_found (also another organization's).
func (s *Service) Get(ctx context.Context, id string) (*models.Binary, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	return s.Lookup(ctx, who.OrgID, id)
}

// Lookup returns binary id of organization orgID, for callers that have
// checked the identity themselves (agents, the runtime). Errors: not_found.
func (s *Service) Lookup(ctx context.Context, orgID, id string) (*models.Binary, error) {
	return lookup(ctx, s.db, orgID, id)
}

func lookup(ctx context.Context, db bun.IDB, orgID, id string) (*models.Binary, error) {
	b := new(models.Binary)
	err := db.NewSelect().Model(b).Where("id = ?", id).Where("org_id = ?", orgID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, models.NotFound("binary")
	}
	if err != nil {
		return nil, fmt.Errorf("binaries: load: %w", err)
	}
	return b, nil
}

// Open returns a binary of the caller's organization and its bytes; the
// caller closes the file. Errors: unauthorized, not_found.
func (s *Service) Open(ctx context.Context, id string) (*models.Binary, *os.File, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, nil, err
	}
	return s.OpenIn(ctx, who.OrgID, id)
}

// OpenIn is Open of organization orgID, for callers that have checked
// who asks themselves (the runners of agents' pods). Errors: not_found.
func (s *Service) OpenIn(ctx context.Context, orgID, id string) (*models.Binary, *os.File, error) {
	b, err := s.Lookup(ctx, orgID, id)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(s.path(b.OrgID, b.SHA256))
	if err != nil {
		return nil, nil, fmt.Errorf("binaries: open: %w", err)
	}
	return b, f, nil
}

// Delete removes a binary of the caller's organization and its file.
// Errors: unauthorized, forbidden (viewer), not_found, conflict while an
// agent (stopped ones too) refers to it.
func (s *Service) Delete(ctx context.Context, id string) (*models.Binary, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b *models.Binary
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if b, err = lookup(ctx, tx, who.OrgID, id); err != nil {
			return err
		}
		var users []string
		if err := tx.NewSelect().Table("agents").Column("name").Where("binary_id = ?", id).OrderExpr("name").Limit(5).Scan(ctx, &users); err != nil {
			return fmt.Errorf("binaries: check use: %w", err)
		}
		if len(users) > 0 {
			return &models.Error{Code: models.CodeConflict, Message: fmt.Sprintf("The binary is used by agent %s; change or delete the agent first", strings.Join(users, ", ")),
				Details: map[string]any{"agents": users}}
		}
		if _, err := tx.NewDelete().Model(b).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("binaries: delete: %w", err)
		}
		return idempotency.Forget(ctx, tx, b.ID)
	})
	if err != nil {
		return nil, err
	}
	if err := os.Remove(s.path(b.OrgID, b.SHA256)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("binaries: remove file: %w", err)
	}
	return b, nil
}

// StoredBytes returns the bytes of binaries organization orgID stores,
// which count as its storage for billing.
func (s *Service) StoredBytes(ctx context.Context, orgID string) (int64, error) {
	var total sql.NullInt64
	if err := s.db.NewSelect().Model((*models.Binary)(nil)).ColumnExpr("SUM(size)").Where("org_id = ?", orgID).Scan(ctx, &total); err != nil {
		return 0, fmt.Errorf("binaries: stored bytes: %w", err)
	}
	return total.Int64, nil
}
