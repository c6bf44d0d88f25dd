package resolvers

import "github.com/neuais/neuais/models"

// deref returns *p, or "" for an absent optional argument.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// listParams gathers the generic list arguments; the schema gives limit
// and offset their defaults, so nil only comes from an explicit null.
func listParams(limit, offset *int, sort *string) models.ListParams {
	p := models.ListParams{Limit: models.DefaultPageLimit, Sort: deref(sort)}
	if limit != nil {
		p.Limit = *limit
	}
	if offset != nil {
		p.Offset = *offset
	}
	return p
}

// nonEmpty is s, or nil (null) when it is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
