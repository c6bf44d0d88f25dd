package resolvers

// deref returns *p, or "" for an absent optional argument.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nonEmpty is s, or nil (null) when it is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
