package models

// ListArgs returns the list parameters of GraphQL arguments, where an
// explicit null means the default.
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
