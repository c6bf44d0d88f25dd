package models

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultPageLimit and MaxPageLimit bound every list.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// ListParams are the generic list arguments: a page and an ordering.
type ListParams struct {
	Limit  int
	Offset int
	// Sort is "field" or "field:asc|desc" in the REST spelling (created_at:desc).
	Sort string
}

// ListArgs returns the list parameters of a list field's GraphQL
// arguments: the schema gives limit and offset their defaults, so nil only
// comes from an explicit null, which means the default too.
func ListArgs(limit, offset *int, sort *string) ListParams {
	p := ListParams{Limit: DefaultPageLimit}
	if limit != nil {
		p.Limit = *limit
	}
	if offset != nil {
		p.Offset = *offset
	}
	if sort != nil {
		p.Sort = *sort
	}
	return p
}

// SortOrder is a validated sort: Column is the SQL column, Desc its direction.
type SortOrder struct {
	Column string
	Desc   bool
}

// Validate checks limit, offset and sort. allowed maps each accepted sort
// key (REST snake_case and GraphQL camelCase spellings) to its SQL column;
// def is the order used when Sort is empty.
// Errors: invalid_request on "limit", "offset" or "sort".
func (p ListParams) Validate(allowed map[string]string, def SortOrder) (SortOrder, error) {
	switch {
	case p.Limit < 1:
		return SortOrder{}, Invalid("limit", "must be greater than 0")
	case p.Limit > MaxPageLimit:
		return SortOrder{}, Invalid("limit", fmt.Sprintf("must be at most %d", MaxPageLimit))
	case p.Offset < 0:
		return SortOrder{}, Invalid("offset", "must not be negative")
	}
	if p.Sort == "" {
		return def, nil
	}
	key, dir, _ := strings.Cut(p.Sort, ":")
	col, ok := allowed[key]
	if !ok {
		keys := make([]string, 0, len(allowed))
		for k := range allowed {
			if !strings.ContainsAny(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
				keys = append(keys, k)
			}
		}
		return SortOrder{}, Invalid("sort", "names an unknown sort field "+fmt.Sprintf("%q", key)+"; allowed: "+strings.Join(slices.Sorted(slices.Values(keys)), ", "))
	}
	switch strings.ToLower(dir) {
	case "", "asc":
		return SortOrder{Column: col}, nil
	case "desc":
		return SortOrder{Column: col, Desc: true}, nil
	}
	return SortOrder{}, Invalid("sort", "direction must be asc or desc")
}

// OrderExpr returns the ORDER BY expression with id as the tie-breaker.
func (s SortOrder) OrderExpr() string {
	dir := " ASC"
	if s.Desc {
		dir = " DESC"
	}
	return s.Column + dir + ", id" + dir
}
