// Package agents owns the agent resource: its specification and desired
// state in the agents table (the spec itself, with its validation, is
// declared in models/agentspec.go), idempotent creation, optimistic
// concurrency, events and waits. The runtime writes the actual state
// (status, status_reason); this package writes it only to start a
// transition (stopping, starting, restarting), which the runtime ends.
package agents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/idempotency"
	"github.com/neuais/neuais/internal/secrets"
	"github.com/neuais/neuais/models"
)

// Reconciler is told about every change of an agent so that actual state
// can follow desired state; internal/runtime.Manager implements it.
// Reconcile must return at once.
type Reconciler interface {
	Reconcile(agentID string)
}

// Config is the part of the server's configuration the agents API uses.
type Config struct {
	// Regions agents may be placed in; the first is the default.
	Regions []string
	// Endpoints gives an agent's endpoint URL from its name and its
	// organization's slug; the zero template gives agents no endpoint.
	Endpoints models.EndpointTemplate
	// AllowFileURLs accepts file:// binary URLs (local use only).
	AllowFileURLs bool
	// MaxReplicas bounds an agent's replica count.
	MaxReplicas int
	// MaxWait bounds the timeout of Wait.
	MaxWait time.Duration
	// Secrets encrypts environments and the idempotency records holding them.
	Secrets models.Sealer
}

// Service manages agents of the caller's organization.
type Service struct {
	db         *bun.DB
	bus        events.Bus
	events     *events.Log
	cfg        Config
	rules      models.AgentRules
	reconciler Reconciler
	log        *slog.Logger
	// stopping is closed by Shutdown, ending every wait.
	stopping     chan struct{}
	shutdownOnce sync.Once
	// slugs caches organization ids to slugs, which never change.
	slugs sync.Map
	// getStmt is Get's query, prepared at first use: parsing it took a
	// quarter of a REST read's time on SQLite.
	getStmt atomic.Pointer[sql.Stmt]
}

// NewService returns the agents service. reconciler may be nil (no runtime).
func NewService(db *bun.DB, bus events.Bus, cfg Config, reconciler Reconciler, logger *slog.Logger) *Service {
	if cfg.Secrets == nil {
		panic("agents: Config.Secrets is required: environments are stored encrypted")
	}
	if len(cfg.Regions) == 0 {
		cfg.Regions = []string{"local"}
	}
	if cfg.MaxReplicas < 1 {
		cfg.MaxReplicas = 1
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Minute
	}
	if logger == nil {
		logger = slog.Default()
	}
	rules := models.AgentRules{Regions: cfg.Regions, AllowFileURLs: cfg.AllowFileURLs, MaxReplicas: cfg.MaxReplicas}
	return &Service{db: db, bus: bus, events: events.NewLog(db, bus, logger), cfg: cfg, rules: rules, reconciler: reconciler, log: logger, stopping: make(chan struct{})}
}

// Shutdown ends every Wait in progress with service_unavailable, so that
// long waits do not hold up a graceful shutdown. It is safe to call twice.
func (s *Service) Shutdown() {
	s.shutdownOnce.Do(func() { close(s.stopping) })
}

// ConfigInput, CreateInput and UpdateInput are the spec's inputs, which
// models declares with the spec.
type (
	ConfigInput = models.AgentConfigInput
	CreateInput = models.CreateAgentInput
	UpdateInput = models.UpdateAgentInput
)

// orgSlug returns the slug of the organization orgID; slugs never change.
func (s *Service) orgSlug(ctx context.Context, orgID string) (string, error) {
	if slug, ok := s.slugs.Load(orgID); ok {
		return slug.(string), nil
	}
	var slug string
	err := s.db.NewSelect().Table("organizations").Column("slug").Where("id = ?", orgID).Scan(ctx, &slug)
	if err != nil {
		return "", fmt.Errorf("agents: endpoints: %w", err)
	}
	stored, _ := s.slugs.LoadOrStore(orgID, slug)
	return stored.(string), nil
}

// CanReadEnvironment reports whether the caller may read environment
// values, which hold secrets: admins and developers may, viewers may not.
func CanReadEnvironment(ctx context.Context) bool {
	id := models.IdentityFrom(ctx)
	return id != nil && id.Role.CanWrite()
}

// Get returns one agent of the caller's organization, its environment
// still sealed (VisibleEnvironment opens it).
// Errors: unauthorized, not_found (also for another organization's agent).
func (s *Service) Get(ctx context.Context, id string) (*models.Agent, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	stmt, err := s.prepareGet(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.QueryContext(ctx, id, who.OrgID)
	if err != nil {
		return nil, fmt.Errorf("agents: get: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("agents: get: %w", err)
		}
		return nil, models.NotFound("agent")
	}
	a := new(models.Agent)
	if err := s.db.ScanRow(ctx, rows, a); err != nil {
		return nil, fmt.Errorf("agents: get: %w", err)
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a, nil
}

func (s *Service) prepareGet(ctx context.Context) (*sql.Stmt, error) {
	if stmt := s.getStmt.Load(); stmt != nil {
		return stmt, nil
	}
	first, second := bun.Safe("?"), bun.Safe("?")
	if s.db.Dialect().Name() == dialect.PG {
		first, second = bun.Safe("$1"), bun.Safe("$2")
	}
	query := s.db.NewSelect().Model((*models.Agent)(nil)).Where("id = ?", first).Where("org_id = ?", second).String()
	stmt, err := s.db.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("agents: prepare get: %w", err)
	}
	if !s.getStmt.CompareAndSwap(nil, stmt) {
		stmt.Close()
		return s.getStmt.Load(), nil
	}
	return stmt, nil
}

// Present readies agents for a reader before they are returned: their
// endpoints' template set, their environment shown if the caller may
// read it (both are made only when selected). Plain fields rather than field resolvers
// keep gqlgen from resolving each agent's fields in goroutines.
func (s *Service) Present(ctx context.Context, list ...*models.Agent) error {
	show := CanReadEnvironment(ctx)
	for _, a := range list {
		if a == nil {
			continue
		}
		if !s.cfg.Endpoints.IsZero() {
			slug, err := s.orgSlug(ctx, a.OrgID)
			if err != nil {
				return err
			}
			a.SetEndpoint(&s.cfg.Endpoints, slug)
		}
		if show {
			a.ShowEnvironment(s.cfg.Secrets)
		}
	}
	return nil
}

func (s *Service) get(ctx context.Context, db bun.IDB, orgID, id string) (*models.Agent, error) {
	a := new(models.Agent)
	err := db.NewSelect().Model(a).Where("id = ?", id).Where("org_id = ?", orgID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, models.NotFound("agent")
	}
	if err != nil {
		return nil, fmt.Errorf("agents: get: %w", err)
	}
	return a, s.loaded(a)
}

// loaded finishes an agent read from the database: its environment
// decrypted, its times UTC whatever the driver's location.
func (s *Service) loaded(a *models.Agent) error {
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	return a.OpenEnvironment(s.cfg.Secrets)
}

// Filter narrows a list; empty fields do not filter.
type Filter struct {
	Status     string
	Region     string
	NamePrefix string
}

// Page is one page of agents with the total that matched.
type Page struct {
	Items   []*models.Agent
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}

var sortColumns = map[string]string{
	"created_at": "created_at", "createdAt": "created_at",
	"updated_at": "updated_at", "updatedAt": "updated_at",
	"name": "name",
}

// List returns a page of the organization's agents.
// A region no agent uses filters to an empty page: the filter names a
// region, it does not place anything there.
// Errors: unauthorized; invalid_request on status, region (malformed),
// limit, offset, sort.
func (s *Service) List(ctx context.Context, f Filter, p models.ListParams) (*Page, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	order, err := p.Validate(sortColumns, models.SortOrder{Column: "created_at"})
	if err != nil {
		return nil, err
	}
	if f.Status != "" && !models.AgentStatus(f.Status).Valid() {
		return nil, invalidStatus()
	}
	if f.Region != "" {
		if err := s.validateRegionFilter(f.Region); err != nil {
			return nil, err
		}
	}
	var items []*models.Agent
	q := s.db.NewSelect().Model(&items).Where("org_id = ?", who.OrgID)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Region != "" {
		q = q.Where("region = ?", f.Region)
	}
	if f.NamePrefix != "" {
		// substr rather than LIKE: no wildcards to escape, and the same
		// case-sensitive comparison on SQLite and PostgreSQL.
		q = q.Where("substr(name, 1, ?) = ?", len(f.NamePrefix), f.NamePrefix)
	}
	n, err := db.ScanAndCount(ctx, s.db, q.OrderExpr(order.OrderExpr()), p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("agents: list: %w", err)
	}
	total := int(n)
	for _, a := range items {
		// The environment stays sealed until selected (VisibleEnvironment).
		a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	}
	if items == nil {
		items = []*models.Agent{}
	}
	return &Page{Items: items, Total: total, Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(items) < total}, nil
}

// Create stores a new agent (status deploying, desired running) and tells
// the reconciler. With an idempotency key, a retry with the same input
// within 24 hours returns the first result and creates nothing.
// Errors: unauthorized, forbidden (viewer), invalid_request (field named),
// conflict (name taken, or key reused with another input).
// Publishes agent.created.
func (s *Service) Create(ctx context.Context, in CreateInput, idempotencyKey string) (*models.Agent, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.newAgent(who.OrgID, in)
	if err != nil {
		return nil, err
	}
	if err := s.resolveBinary(ctx, a); err != nil {
		return nil, err
	}
	idem, err := idempotency.New(who.OrgID, "createAgent", idempotencyKey, in)
	idem = idem.SealedWith(s.cfg.Secrets) // the response holds the environment
	if err != nil {
		return nil, err
	}
	created := []events.AgentEvent{agentEvent(events.AgentCreated, a, nil)}
	a, replayed, err := idempotency.Do(ctx, s.db, idem, func(ctx context.Context, tx bun.Tx) (*models.Agent, string, error) {
		if err := s.insert(ctx, tx, a); err != nil {
			return nil, "", err
		}
		return a, a.ID, events.Insert(ctx, tx, created)
	})
	if err != nil || replayed {
		return a, err
	}
	s.events.Publish(ctx, created...)
	s.reconcile(a)
	return a, nil
}

func (s *Service) newAgent(orgID string, in CreateInput) (*models.Agent, error) {
	now := models.Now()
	a := &models.Agent{
		ID: models.NewID(models.PrefixAgent), OrgID: orgID,
		Desired: models.DesiredRunning, Status: models.AgentDeploying,
		Generation: 1, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := in.Apply(a, s.rules); err != nil {
		return nil, err
	}
	return a, nil
}

// insert stores a in tx, or fails with a conflict when its name is taken.
func (s *Service) insert(ctx context.Context, tx bun.Tx, a *models.Agent) error {
	taken, err := tx.NewSelect().Model((*models.Agent)(nil)).Where("org_id = ?", a.OrgID).Where("name = ?", a.Name).Exists(ctx)
	if err != nil {
		return fmt.Errorf("agents: check name: %w", err)
	}
	if taken {
		return nameTaken(a.Name)
	}
	if err := a.SealEnvironment(s.cfg.Secrets); err != nil {
		return err
	}
	if _, err := tx.NewInsert().Model(a).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return nameTaken(a.Name)
		}
		return fmt.Errorf("agents: insert: %w", err)
	}
	return nil
}

func nameTaken(name string) error {
	return &models.Error{Code: models.CodeConflict, Message: fmt.Sprintf("An agent named %q already exists", name),
		Field: "name", Reason: "is already taken"}
}

// Update changes the fields given. ifMatch, when set, must be the agent's
// current ETag ("*" matches any). Changes of binary, runtime, environment
// or config bump the generation, so the runtime replaces the replicas.
// Errors: unauthorized, forbidden, not_found, invalid_request (also a
// name other than the current one), precondition_failed (stale ifMatch).
// Publishes agent.updated.
func (s *Service) Update(ctx context.Context, id string, in UpdateInput, ifMatch string) (*models.Agent, error) {
	return s.modify(ctx, id, ifMatch, func(a *models.Agent) (bool, error) {
		before := *a
		if err := in.Apply(a, s.rules); err != nil {
			return false, err
		}
		if err := s.resolveBinary(ctx, a); err != nil {
			return false, err
		}
		return len(a.SpecChanges(&before)) > 0, nil
	})
}

// Scale sets the replica count. Errors: as Update, invalid_request on
// "replicas". Publishes agent.updated.
func (s *Service) Scale(ctx context.Context, id string, replicas int) (*models.Agent, error) {
	if _, err := models.RequireWriter(ctx); err != nil {
		return nil, err
	}
	if err := s.rules.ValidateReplicas("replicas", replicas); err != nil {
		return nil, err
	}
	return s.modify(ctx, id, "", func(a *models.Agent) (bool, error) {
		changed := a.Replicas != replicas
		a.Replicas = replicas
		return changed, nil
	})
}

// Start sets the desired state to running, and the status to starting
// until the runtime reports it running (or error). Starting an agent that
// failed retries it; starting a running one changes nothing.
// Errors: unauthorized, forbidden, not_found. Publishes agent.updated.
func (s *Service) Start(ctx context.Context, id string) (*models.Agent, error) {
	return s.modify(ctx, id, "", func(a *models.Agent) (bool, error) {
		if a.Desired == models.DesiredRunning && a.Status != models.AgentError && a.Status != models.AgentStopped {
			return false, nil
		}
		a.Desired = models.DesiredRunning
		a.Status, a.StatusReason = models.AgentStarting, ""
		return true, nil
	})
}

// Stop sets the desired state to stopped, and the status to stopping until
// the runtime has stopped the replicas. Errors: unauthorized, forbidden,
// not_found. Publishes agent.updated.
func (s *Service) Stop(ctx context.Context, id string) (*models.Agent, error) {
	return s.modify(ctx, id, "", func(a *models.Agent) (bool, error) {
		if a.Desired == models.DesiredStopped {
			return false, nil
		}
		a.Desired = models.DesiredStopped
		a.Status, a.StatusReason = models.AgentStopping, ""
		return true, nil
	})
}

// Restart replaces every replica (a new generation with the same spec) and
// wants the agent running; the status is restarting until every replica
// has been replaced. Errors: unauthorized, forbidden, not_found.
// Publishes agent.updated.
func (s *Service) Restart(ctx context.Context, id string) (*models.Agent, error) {
	return s.modify(ctx, id, "", func(a *models.Agent) (bool, error) {
		a.Desired = models.DesiredRunning
		a.Status, a.StatusReason = models.AgentRestarting, ""
		return true, nil
	})
}

// modify loads the agent, applies change and stores the spec and desired
// columns when change reports a change (bumping Generation and Version),
// and the status columns when change set a transition: otherwise they are
// the runtime's, which may have written them since they were read.
// The write is guarded by the version read, so a concurrent writer is
// detected: with ifMatch it is precondition_failed, without it a retry.
func (s *Service) modify(ctx context.Context, id, ifMatch string, change func(*models.Agent) (bool, error)) (*models.Agent, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		a, err := s.get(ctx, s.db, who.OrgID, id)
		if err != nil {
			return nil, err
		}
		if err := checkIfMatch(a, ifMatch); err != nil {
			return nil, err
		}
		before := *a
		changed, err := change(a)
		if err != nil {
			return nil, err
		}
		if !changed {
			return a, nil
		}
		a.Generation++
		a.Version++
		a.UpdatedAt = models.Now()
		columns := models.AgentWriteColumns()
		if a.Status != before.Status {
			columns = append(columns, "status", "status_reason")
		}
		if err := a.SealEnvironment(s.cfg.Secrets); err != nil {
			return nil, err
		}
		updated := false
		_, err = s.events.Change(ctx, func(ctx context.Context, tx *events.Tx) error {
			res, err := tx.NewUpdate().Model(a).Column(columns...).
				Where("id = ?", a.ID).Where("version = ?", before.Version).Exec(ctx)
			if err != nil {
				return fmt.Errorf("agents: update: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("agents: update: %w", err)
			} else if n == 1 {
				updated = true
				tx.Record(agentEvent(events.AgentUpdated, a, changedFields(&before, a)))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if updated {
			s.reconcile(a)
			return a, nil
		}
		if ifMatch != "" || attempt >= 5 {
			return nil, errStale()
		}
	}
}

func checkIfMatch(a *models.Agent, ifMatch string) error {
	if ifMatch == "" || ifMatch == "*" || ifMatch == a.ETag() {
		return nil
	}
	return errStale()
}

func errStale() error {
	return models.Errorf(models.CodePreconditionFailed, "The agent was changed since it was read; read it again and retry")
}

// Delete removes an agent; the runtime stops its replicas. ifMatch as in
// Update. Errors: unauthorized, forbidden, not_found, precondition_failed.
// Publishes agent.deleted.
func (s *Service) Delete(ctx context.Context, id, ifMatch string) (*models.Agent, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.get(ctx, s.db, who.OrgID, id)
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(a, ifMatch); err != nil {
		return nil, err
	}
	// The idempotency records go with the agent: their responses hold its environment.
	_, err = s.events.Change(ctx, func(ctx context.Context, tx *events.Tx) error {
		q := tx.NewDelete().Model((*models.Agent)(nil)).Where("id = ?", a.ID)
		if ifMatch != "" && ifMatch != "*" {
			q = q.Where("version = ?", a.Version)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return fmt.Errorf("agents: delete: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("agents: delete: %w", err)
		} else if n == 0 {
			if ifMatch != "" && ifMatch != "*" {
				return errStale()
			}
			return models.NotFound("agent")
		}
		tx.Record(agentEvent(events.AgentDeleted, a, nil))
		return idempotency.Forget(ctx, tx.Tx, a.ID)
	})
	if err != nil {
		return nil, err
	}
	s.reconcile(a)
	return a, nil
}

// agentEvent is the event of a change of a, with the fields it changed.
func agentEvent(event string, a *models.Agent, changed []string) events.AgentEvent {
	return events.AgentEvent{Event: event, Timestamp: a.UpdatedAt, Data: events.AgentEventData{
		AgentID: a.ID, Name: a.Name, OrgID: a.OrgID, Status: string(a.Status), Changed: changed,
	}}
}

// changedFields names the fields of the contract that differ between
// before and after, as clients write them; the environment by name only.
func changedFields(before, after *models.Agent) []string {
	out := after.SpecChanges(before)
	if before.Status != after.Status {
		out = append(out, "status")
	}
	return out
}

// reconcile tells the reconciler about a committed change; the runtime's
// periodic pass catches up should it miss one.
func (s *Service) reconcile(a *models.Agent) {
	if s.reconciler != nil {
		s.reconciler.Reconcile(a.ID)
	}
}

func invalidStatus() error {
	names := make([]string, len(models.AgentStatuses))
	for i, st := range models.AgentStatuses {
		names[i] = string(st)
	}
	return models.Invalid("status", "must be one of "+strings.Join(names, ", "))
}

// Reseal seals again, with kr's current key, every environment stored in
// the clear (before encryption) or under an older key, and the create
// responses idempotency keeps, and returns how many values it changed.
// The server runs it on start, so that rotating NEUAIS_SECRET_KEY and the
// first start after an upgrade leave no value readable without the key.
func Reseal(ctx context.Context, db *bun.DB, kr *secrets.Keyring) (int, error) {
	var rows []*models.Agent
	if err := db.NewSelect().Model(&rows).Column("id", "environment").Scan(ctx); err != nil {
		return 0, fmt.Errorf("agents: reseal: %w", err)
	}
	n := 0
	for _, a := range rows {
		if kr.Current(a.SealedEnvironment) {
			continue
		}
		old := a.SealedEnvironment
		if err := a.OpenEnvironment(kr); err != nil {
			return n, err
		}
		if err := a.SealEnvironment(kr); err != nil {
			return n, err
		}
		// Only where nobody wrote meanwhile: a writer seals with the current key.
		if _, err := db.NewUpdate().Model(a).Column("environment").WherePK().Where("environment = ?", old).Exec(ctx); err != nil {
			return n, fmt.Errorf("agents: reseal: %w", err)
		}
		n++
	}
	m, err := idempotency.Reseal(ctx, db, kr, "createAgent")
	return n + m, err
}
