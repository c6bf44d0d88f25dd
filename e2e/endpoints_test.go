package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

// TestEndpointsAreUniqueAcrossOrganizations: two organizations each run an
// agent named web; each endpoint host reaches its own organization's agent
// only, hosts under the endpoint suffix that name no agent are 404 (neither
// another organization's agent nor the API), the API answers on its own
// address, and the advertised endpoint is the one that works.
func TestEndpointsAreUniqueAcrossOrganizations(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, dbURL string) {
		s := apitest.StartConfig(t, runtimeConfig(dbURL, t.TempDir()))
		acme := s.CreateOrg("Acme", "boss@acme.example", models.TierFree)
		endpoint := map[string]string{}
		for org, token := range map[string]string{"default": s.AdminToken, "acme": acme.Token} {
			res := s.Do(http.MethodPost, "/v1/agents", token, map[string]any{
				"name": "web", "runtime": "go", "binary_url": binaries.URL + "/agent",
				"environment": map[string]string{"GREETING": org},
			})
			if res.Status != http.StatusCreated {
				t.Fatalf("create in %s: %d %s", org, res.Status, res.Body)
			}
			agent := decodeAgent(t, res)
			if res := s.Do(http.MethodGet, "/v1/agents/"+agent.ID+"/wait?status=running&timeout=60s", token, nil); res.Status != http.StatusOK {
				t.Fatalf("wait in %s: %d %s", org, res.Status, res.Body)
			}
			var got struct {
				Endpoints []string `json:"endpoints"`
			}
			if res := s.Do(http.MethodGet, "/v1/agents/"+agent.ID, token, nil); json.Unmarshal(res.Body, &got) != nil || len(got.Endpoints) != 1 {
				t.Fatalf("get in %s: %s", org, res.Body)
			}
			endpoint[org] = got.Endpoints[0]
		}

		t.Run("EachHostReachesItsOwnAgent", func(t *testing.T) {
			for org, ep := range endpoint {
				u, err := url.Parse(ep)
				if err != nil {
					t.Fatal(err)
				}
				if want := "web." + org + ".localhost:" + strings.TrimPrefix(s.URL, "http://127.0.0.1:"); u.Host != want {
					t.Errorf("endpoint of %s = %s, want host %s", org, ep, want)
				}
				// *.localhost is the loopback: send to the server's address with the endpoint's host.
				status, body := throughHost(t, s, u.Host, "/env?name=GREETING", "Authorization", "Bearer "+s.AdminToken)
				if status != http.StatusOK || body != org {
					t.Errorf("%s answered %d %q, want %s's agent", u.Host, status, body, org)
				}
			}
		})
		t.Run("UnknownHostsUnderTheSuffixAre404", func(t *testing.T) {
			for _, host := range []string{"web.localhost", "web.nope.localhost", "nobody.acme.localhost", "a.web.acme.localhost", "localhost.localhost"} {
				status, body := throughHost(t, s, host, "/v1/agents", "Authorization", "Bearer "+s.AdminToken)
				if status != http.StatusNotFound || !strings.Contains(body, "not_found") {
					t.Errorf("%s answered %d %s", host, status, body)
				}
			}
		})
		t.Run("APIAnswersOnItsOwnAddress", func(t *testing.T) {
			for _, host := range []string{strings.TrimPrefix(s.URL, "http://"), "localhost"} {
				status, body := throughHost(t, s, host, "/v1/agents", "Authorization", "Bearer "+acme.Token)
				if status != http.StatusOK || !strings.Contains(body, `"agents"`) {
					t.Errorf("API on %s answered %d %s", host, status, body)
				}
			}
		})
	})
}
