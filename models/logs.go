package models

import (
	"strconv"
	"time"

	"github.com/uptrace/bun"
)

// Log levels, from least to most severe.
const (
	LevelDebug = "debug"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// LogLine is one line of an agent's log: a replica's output (Replica ≥ 1,
// the replica's index as the runtime numbers it) or a platform line about
// the agent (Replica 0). ID, assigned by the database when the line is
// written, orders an agent's lines and is the SSE event id.
type LogLine struct {
	bun.BaseModel `bun:"table:agent_logs"`

	ID        int64     `bun:"id,pk,autoincrement"`
	AgentID   string    `bun:"agent_id,notnull"`
	OrgID     string    `bun:"org_id,notnull"`
	Replica   int       `bun:"replica,notnull"`
	Timestamp time.Time `bun:"timestamp,notnull"`
	Level     string    `bun:"level,notnull"`
	Message   string    `bun:"message,notnull"`
	// Bytes is len(Message), summed by the per-organization byte cap.
	Bytes int64 `bun:"bytes,notnull"`
	// encodings, set once the line is final (Share), is shared by its
	// copies: every follower's copy is encoded once per selection.
	encodings *Encodings
}

// Share makes the line's encodings shared by every copy made from now on;
// call it once the line no longer changes (written and numbered).
func (l *LogLine) Share() { l.encodings = new(Encodings) }

// Encodings returns the encodings its readers share, or nil before Share.
func (l *LogLine) Encodings() *Encodings { return l.encodings }

// EventID is the line's ID as clients see it: the GraphQL id and the SSE
// event id.
func (l *LogLine) EventID() string { return strconv.FormatInt(l.ID, 10) }
