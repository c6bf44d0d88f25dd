package logs

import (
	"strconv"
	"strings"
	"time"

	"github.com/neuais/neuais/models"
)

// DefaultTail and MaxTail bound how many lines one read returns.
const (
	DefaultTail = 100
	MaxTail     = 10000
)

// All as Filter.Tail selects every matching line.
const All = -1

// Filter selects an agent's lines. The zero value selects none of the
// backlog (Tail 0); set Tail to All or a count.
type Filter struct {
	// Level keeps lines of this level and more severe ones; "" keeps all.
	Level string
	// Since keeps lines stamped at or after it; zero keeps all.
	Since time.Time
	// AfterID keeps lines with a greater ID: the Last-Event-ID of a resumed stream.
	AfterID int64
	// Tail keeps the newest Tail of the matching lines, or all with All.
	Tail int
}

var severity = map[string]int{models.LevelDebug: 0, models.LevelInfo: 1, models.LevelWarn: 2, models.LevelError: 3}

// levelsFrom lists level and the levels more severe than it.
func levelsFrom(level string) []string {
	var out []string
	for l, s := range severity {
		if s >= severity[level] {
			out = append(out, l)
		}
	}
	return out
}

// Match reports whether line passes the level, since and after-ID parts of f.
func (f Filter) Match(line *models.LogLine) bool {
	if f.Level != "" && severity[line.Level] < severity[f.Level] {
		return false
	}
	if !f.Since.IsZero() && line.Timestamp.Before(f.Since) {
		return false
	}
	return line.ID > f.AfterID
}

// ParseLevel checks a level argument. Errors: invalid_request naming field.
func ParseLevel(field, level string) (string, error) {
	if _, ok := severity[level]; !ok && level != "" {
		return "", models.Invalid(field, "must be one of debug, info, warn, error")
	}
	return level, nil
}

// ParseTail checks a tail argument against MaxTail. Errors: invalid_request.
func ParseTail(field string, tail int) (int, error) {
	if tail < 0 || tail > MaxTail {
		return 0, models.Invalid(field, "must be between 0 and "+strconv.Itoa(MaxTail))
	}
	return tail, nil
}

// ParseSince turns a duration such as 1h, 30m, 90s or 7d into the time
// that far back from now; "" gives the zero time. Errors: invalid_request.
func ParseSince(field, since string, now time.Time) (time.Time, error) {
	if since == "" {
		return time.Time{}, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(since, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(since)
	}
	if err != nil || d <= 0 {
		return time.Time{}, models.Invalid(field, "must be a positive duration such as 1h or 30m")
	}
	return now.Add(-d), nil
}

// ParseEventID reads a Last-Event-ID (a line ID); "" gives 0. Errors: invalid_request.
func ParseEventID(field, id string) (int64, error) {
	if id == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, models.Invalid(field, "must be a log line id")
	}
	return n, nil
}
