package models

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Placeholders of an endpoint template.
const (
	EndpointName = "{name}"
	EndpointOrg  = "{org}"
)

// EndpointTemplate is the URL of an agent's endpoint, with {name} (the
// agent's name) and {org} (its organization's slug) as whole labels of the
// host. Names are unique per organization and slugs over all of them, so a
// host names one agent only; a joined label such as {org}-{name} would not
// ("a-b" + "c" and "a" + "b-c").
type EndpointTemplate struct {
	raw    string
	labels []string // the host's labels, lowercased, placeholders as written
	suffix string   // the literal labels after the last placeholder, with a leading dot
}

// ParseEndpointTemplate checks raw ("http://{name}.{org}.localhost:8000"):
// an http(s) URL whose host holds {name} and {org} once each as whole
// labels, followed by at least one literal label, the suffix under which
// every host belongs to agents.
func ParseEndpointTemplate(raw string) (EndpointTemplate, error) {
	const name, org = "neuais-placeholder-name", "neuais-placeholder-org"
	if strings.Count(raw, EndpointName) != 1 || strings.Count(raw, EndpointOrg) != 1 {
		return EndpointTemplate{}, fmt.Errorf("endpoint template %q: must hold %s and %s once each", raw, EndpointName, EndpointOrg)
	}
	u, err := url.Parse(strings.NewReplacer(EndpointName, name, EndpointOrg, org).Replace(raw))
	if err != nil {
		return EndpointTemplate{}, fmt.Errorf("endpoint template %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return EndpointTemplate{}, fmt.Errorf("endpoint template %q: must be an http or https URL", raw)
	}
	t := EndpointTemplate{raw: raw, labels: strings.Split(strings.ToLower(u.Hostname()), ".")}
	last := -1
	for i, l := range t.labels {
		switch {
		case l == name:
			t.labels[i], last = EndpointName, i
		case l == org:
			t.labels[i], last = EndpointOrg, i
		case strings.Contains(l, name) || strings.Contains(l, org):
			return EndpointTemplate{}, fmt.Errorf("endpoint template %q: %s and %s must be whole labels of the host", raw, EndpointName, EndpointOrg)
		}
	}
	switch {
	case !strings.Contains(u.Hostname(), name) || !strings.Contains(u.Hostname(), org):
		return EndpointTemplate{}, fmt.Errorf("endpoint template %q: %s and %s must be in the host", raw, EndpointName, EndpointOrg)
	case last == len(t.labels)-1:
		return EndpointTemplate{}, fmt.Errorf("endpoint template %q: the host must end in a domain after the placeholders, such as .localhost", raw)
	}
	t.suffix = "." + strings.Join(t.labels[last+1:], ".")
	return t, nil
}

// IsZero reports whether t is the zero template: agents have no endpoint.
func (t EndpointTemplate) IsZero() bool { return t.raw == "" }

// String returns the template as written.
func (t EndpointTemplate) String() string { return t.raw }

// URL returns the endpoint of the agent name of the organization orgSlug.
func (t EndpointTemplate) URL(orgSlug, name string) string {
	// Each placeholder is in raw once (ParseEndpointTemplate): cut around
	// both rather than build a Replacer per URL, on every agent read.
	first, second := strings.Index(t.raw, EndpointName), strings.Index(t.raw, EndpointOrg)
	if first < 0 || second < 0 {
		return t.raw
	}
	firstLen, firstValue, secondLen, secondValue := len(EndpointName), name, len(EndpointOrg), orgSlug
	if second < first {
		first, second = second, first
		firstLen, firstValue, secondLen, secondValue = secondLen, secondValue, firstLen, firstValue
	}
	return t.raw[:first] + firstValue + t.raw[first+firstLen:second] + secondValue + t.raw[second+secondLen:]
}

// Suffix returns the domain every endpoint host ends in (".localhost").
func (t EndpointTemplate) Suffix() string { return t.suffix }

// Match reads the organization's slug and the agent's name back from a
// request's host (any port, any case); ok is false when the host is not an
// endpoint host of the template.
func (t EndpointTemplate) Match(host string) (orgSlug, name string, ok bool) {
	host = normalHost(host)
	labels := strings.Split(host, ".")
	if t.raw == "" || len(labels) != len(t.labels) {
		return "", "", false
	}
	for i, l := range t.labels {
		switch {
		case l == EndpointName:
			name = labels[i]
		case l == EndpointOrg:
			orgSlug = labels[i]
		case l != labels[i]:
			return "", "", false
		}
	}
	return orgSlug, name, orgSlug != "" && name != ""
}

// Under reports whether host (any port, any case) is below the template's
// suffix, where only agents are served.
func (t EndpointTemplate) Under(host string) bool {
	return t.raw != "" && strings.HasSuffix(normalHost(host), t.suffix)
}

func normalHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}
