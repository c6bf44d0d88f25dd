package agents_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
)

// TestRoles runs every route as every kind of caller: admins and
// developers may do everything, viewers only read, another organization
// sees nothing of ours, and no token is unauthorized.
func TestRoles(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		tok := mustTokens(t, s)
		callers := []struct {
			name  string
			token string
			// want is the status of reads, writes on our agents and creates.
			read, write, create int
		}{
			{"Admin", tok.admin, 200, 200, 201},
			{"Developer", tok.developer, 200, 200, 201},
			{"Viewer", tok.viewer, 200, 403, 403},
			{"OtherOrg", tok.otherOrg, 404, 404, 201},
			{"NoToken", "", 401, 401, 401},
		}
		routes := []struct {
			name, method, path string
			body               string
			write              bool
		}{
			{"Get", http.MethodGet, "", "", false},
			{"Wait", http.MethodGet, "/wait?status=deploying&timeout=1s", "", false},
			{"Update", http.MethodPut, "", `{"config": {"replicas": 2}}`, true},
			{"Start", http.MethodPost, "/start", "", true},
			{"Stop", http.MethodPost, "/stop", "", true},
			{"Restart", http.MethodPost, "/restart", "", true},
			{"Scale", http.MethodPost, "/scale", `{"replicas": 4}`, true},
			{"Delete", http.MethodDelete, "", "", true},
		}
		for i, c := range callers {
			t.Run(c.name, func(t *testing.T) {
				for _, r := range routes {
					t.Run(r.name, func(t *testing.T) {
						id := mustCreate(t, s, tok.admin, strings.ToLower("agent-"+c.name+"-"+r.name))
						var body any
						if r.body != "" {
							body = r.body
						}
						want := c.read
						if r.write {
							want = c.write
						}
						res := s.Do(r.method, "/v1/agents/"+id+r.path, c.token, body)
						if res.Status != want {
							t.Fatalf("%d %s, want %d", res.Status, res.Body, want)
						}
					})
				}
				t.Run("Create", func(t *testing.T) {
					res := s.Do(http.MethodPost, "/v1/agents", c.token, withField(t, "name", "created-by-"+string(rune('a'+i))))
					if res.Status != c.create {
						t.Fatalf("%d %s, want %d", res.Status, res.Body, c.create)
					}
				})
				t.Run("List", func(t *testing.T) {
					res := s.Do(http.MethodGet, "/v1/agents", c.token, nil)
					want := c.read
					if want == 404 {
						want = 200 // another organization lists its own agents only
					}
					if res.Status != want {
						t.Fatalf("%d %s, want %d", res.Status, res.Body, want)
					}
				})
			})
		}
		t.Run("OtherOrgSeesOnlyItsOwn", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/v1/agents", tok.otherOrg, nil)
			if body := res.JSON(t); body["total"] != float64(1) {
				t.Fatalf("%s", res.Body)
			}
		})
		t.Run("ViewerReadsNoEnvironment", func(t *testing.T) {
			id := mustCreate(t, s, tok.admin, "secretive")
			res := s.Do(http.MethodGet, "/v1/agents/"+id, tok.viewer, nil)
			if body := res.JSON(t); res.Status != 200 || body["environment"] != nil {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			gql := s.GraphQL(tok.developer, `query($id: ID!) { agent(id: $id) { environment } }`, map[string]any{"id": id})
			if string(gql.Data) != `{"agent":{"environment":{"LOG_LEVEL":"info"}}}` {
				t.Fatalf("developer: %s %+v", gql.Data, gql.Errors)
			}
		})
	})
}
