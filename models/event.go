package models

import (
	"time"

	"github.com/uptrace/bun"
)

// Event is one row of the durable event log: an agent event of the
// webhook contract, written in the transaction of the change it records.
// ID, given by the database, only grows; Data is the payload's data object
// as JSON (the agent's id and name, its status, reason and changed fields;
// never environment values).
type Event struct {
	bun.BaseModel `bun:"table:events"`

	ID        int64     `bun:"id,pk,autoincrement"`
	OrgID     string    `bun:"org_id,notnull"`
	AgentID   string    `bun:"agent_id,notnull"`
	Type      string    `bun:"type,notnull"`
	Data      string    `bun:"data,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}
