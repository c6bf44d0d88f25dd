package app

import (
	"database/sql"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/runner"
	"github.com/neuais/neuais/models"
	"github.com/neuais/neuais/rest"
)

// runnerPrefix is the routes of agents' pods, outside the public API.
const runnerPrefix = "/runner/"

// RunnerCredential is the bearer credential with which agentID's pods
// fetch its binary from GET /runner/v1/binaries/{id}.
func (a *App) RunnerCredential(agentID string) string {
	return runner.Credential(a.runnerKey, agentID)
}

// runnerBinary serves a binary of the organization of the agent whose
// runner credential the request shows; deleting the agent revokes it.
// Errors: unauthorized, not_found.
func (a *App) runnerBinary(w http.ResponseWriter, r *http.Request) {
	raw, _ := auth.BearerToken(r.Header.Get("Authorization"))
	agentID, ok := runner.AgentOf(a.runnerKey, raw)
	if !ok {
		rest.WriteError(w, models.Errorf(models.CodeUnauthorized, "Authorization header must be: Bearer <runner credential>"))
		return
	}
	var orgID string
	err := a.DB.NewSelect().Table("agents").Column("org_id").Where("id = ?", agentID).Scan(r.Context(), &orgID)
	if errors.Is(err, sql.ErrNoRows) {
		rest.WriteError(w, models.Errorf(models.CodeUnauthorized, "The agent no longer exists"))
		return
	}
	if err != nil {
		a.Logger.ErrorContext(r.Context(), "runner binary", "err", err)
		rest.WriteError(w, models.Errorf(models.CodeInternal, "internal server error"))
		return
	}
	b, f, err := a.Binaries.OpenIn(r.Context(), orgID, chi.URLParam(r, "id"))
	a.serveBinary(w, r, b, f, err)
}
