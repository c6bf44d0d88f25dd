package models_test

import (
	"testing"

	"github.com/neuais/neuais/models"
)

func TestEndpointTemplate(t *testing.T) {
	tpl, err := models.ParseEndpointTemplate("http://{name}.{org}.localhost:9000")
	if err != nil {
		t.Fatal(err)
	}
	if got := tpl.URL("acme", "web"); got != "http://web.acme.localhost:9000" {
		t.Errorf("URL = %q", got)
	}
	reversed, err := models.ParseEndpointTemplate("https://{org}.{name}.agents.example.com/x")
	if err != nil {
		t.Fatal(err)
	}
	// A value that spells a placeholder is not substituted again.
	if got := reversed.URL("{name}", "{org}"); got != "https://{name}.{org}.agents.example.com/x" {
		t.Errorf("URL = %q", got)
	}
	for host, want := range map[string][2]string{
		"web.acme.localhost:9000": {"acme", "web"},
		"WEB.Acme.localhost.":     {"acme", "web"},
		"web.acme.localhost":      {"acme", "web"},
	} {
		if org, name, ok := tpl.Match(host); !ok || org != want[0] || name != want[1] {
			t.Errorf("Match(%q) = %q %q %v", host, org, name, ok)
		}
	}
	for _, host := range []string{"web.localhost", "a.web.acme.localhost", "web.acme.example.com", "localhost", "127.0.0.1:9000"} {
		if _, _, ok := tpl.Match(host); ok {
			t.Errorf("Match(%q) matched", host)
		}
	}
	for host, want := range map[string]bool{"web.localhost": true, "a.b.c.localhost:1": true, "localhost:9000": false, "127.0.0.1": false, "evil-localhost": false} {
		if got := tpl.Under(host); got != want {
			t.Errorf("Under(%q) = %v", host, got)
		}
	}
	for _, bad := range []string{
		"http://{name}.localhost:8000",         // no organization: hosts collide across organizations
		"http://{org}-{name}.localhost",        // joined: a-b + c and a + b-c collide
		"http://{name}.{org}",                  // no suffix to tell agents from the API
		"http://localhost/{org}/{name}",        // not in the host
		"ftp://{name}.{org}.localhost",         // not http
		"http://{name}.{org}.{name}.localhost", // twice
	} {
		if _, err := models.ParseEndpointTemplate(bad); err == nil {
			t.Errorf("ParseEndpointTemplate(%q) accepted", bad)
		}
	}
}
