package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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

// TestProxyToAgents: agents learn the client's real address whatever the
// client claims, and a body sent to an agent must arrive within the body
// read timeout, as one sent to the API must.
func TestProxyToAgents(t *testing.T) {
	const timeout = time.Second
	cfg := runtimeConfig("", t.TempDir())
	cfg.BodyReadTimeout = timeout
	s := apitest.StartConfig(t, cfg)
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{"name": "web", "runtime": "go", "binary_url": binaries.URL + "/agent"})
	agent := decodeAgent(t, res)
	waitStatus(t, s, agent.ID, "running")
	const host = "web.default.localhost"

	t.Run("RealRemoteAddress", func(t *testing.T) {
		for _, header := range []string{"X-Real-IP", "X-Forwarded-For"} {
			status, body := throughHost(t, s, host, "/header?name="+header, "X-Real-IP", "203.0.113.7", "X-Forwarded-For", "203.0.113.7")
			if status != http.StatusOK || body != "127.0.0.1" {
				t.Errorf("%s seen by the agent: %d %q, want 127.0.0.1", header, status, body)
			}
		}
		if status, body := throughHost(t, s, host, "/header?name=Forwarded", "Forwarded", "for=203.0.113.7"); status != http.StatusOK || body != "" {
			t.Errorf("Forwarded seen by the agent: %d %q", status, body)
		}
	})
	t.Run("SlowBodyIsCut", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\nnot all of it", host)
		start := time.Now()
		conn.SetReadDeadline(time.Now().Add(timeout + 20*time.Second))
		status, err := bufio.NewReader(conn).ReadString('\n')
		if elapsed := time.Since(start); elapsed > timeout+15*time.Second {
			t.Fatalf("the server held the connection for %s", elapsed)
		}
		if err == nil && strings.Contains(status, " 200 ") {
			t.Fatalf("answer to a body that never came: %q", status)
		}
		if status, body := throughHost(t, s, host, "/"); status != http.StatusOK || !strings.HasPrefix(body, "replica ") {
			t.Fatalf("agent after a cut body: %d %q", status, body)
		}
	})
}
