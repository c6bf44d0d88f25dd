package agents_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
)

func names(t *testing.T, body map[string]any) []string {
	t.Helper()
	var out []string
	for _, item := range body["agents"].([]any) {
		out = append(out, item.(map[string]any)["name"].(string))
	}
	return out
}

func TestListPagingAndSorting(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		for _, n := range []string{"bravo", "alpha", "charlie", "alpha-2"} {
			mustCreate(t, s, s.AdminToken, n)
		}
		for _, tc := range []struct {
			name, query string
			want        []string
			hasMore     bool
		}{
			{"CreatedAtByDefault", "", []string{"bravo", "alpha", "charlie", "alpha-2"}, false},
			{"CreatedAtDesc", "sort=created_at:desc", []string{"alpha-2", "charlie", "alpha", "bravo"}, false},
			{"Name", "sort=name", []string{"alpha", "alpha-2", "bravo", "charlie"}, false},
			{"NameDesc", "sort=name:desc", []string{"charlie", "bravo", "alpha-2", "alpha"}, false},
			{"UpdatedAt", "sort=updated_at", []string{"bravo", "alpha", "charlie", "alpha-2"}, false},
			{"FirstPage", "sort=name&limit=2", []string{"alpha", "alpha-2"}, true},
			{"LastPage", "sort=name&limit=2&offset=2", []string{"bravo", "charlie"}, false},
			{"PastTheEnd", "offset=10", nil, false},
			{"NamePrefix", "name_prefix=alpha&sort=name", []string{"alpha", "alpha-2"}, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.Do(http.MethodGet, "/v1/agents?"+tc.query, s.AdminToken, nil)
				body := res.JSON(t)
				if res.Status != 200 || !slices.Equal(names(t, body), tc.want) || body["has_more"] != tc.hasMore {
					t.Fatalf("%d %s, want %v has_more %v", res.Status, res.Body, tc.want, tc.hasMore)
				}
				if tc.name != "NamePrefix" && body["total"] != float64(4) {
					t.Fatalf("total %v", body["total"])
				}
			})
		}
		t.Run("GraphQL", func(t *testing.T) {
			gql := s.GraphQL(s.AdminToken, `{ agents(namePrefix: "alpha", sort: "name:desc", limit: 1) { items { name config { replicas } } total limit offset hasMore } }`, nil)
			if string(gql.Data) != `{"agents":{"items":[{"name":"alpha-2","config":{"replicas":3}}],"total":2,"limit":1,"offset":0,"hasMore":true}}` {
				t.Fatalf("%s %+v", gql.Data, gql.Errors)
			}
		})
	})
}

// TestListByTransition: the transitions lifecycle requests write are
// statuses like any other for filters and waits (without a runtime, here,
// nothing ends them).
func TestListByTransition(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		ids := map[string]string{}
		for action, status := range map[string]string{"stop": "stopping", "restart": "restarting"} {
			id := mustCreate(t, s, s.AdminToken, action)
			res := s.Do(http.MethodPost, "/v1/agents/"+id+"/"+action, s.AdminToken, nil)
			if res.Status != http.StatusOK || res.JSON(t)["status"] != status {
				t.Fatalf("%s: %d %s", action, res.Status, res.Body)
			}
			ids[status] = id
		}
		res := s.Do(http.MethodPost, "/v1/agents/"+ids["stopping"]+"/start", s.AdminToken, nil)
		if res.Status != http.StatusOK || res.JSON(t)["status"] != "starting" {
			t.Fatalf("start: %d %s", res.Status, res.Body)
		}
		for status, want := range map[string][]string{"starting": {"stop"}, "restarting": {"restart"}, "stopping": nil} {
			res := s.Do(http.MethodGet, "/v1/agents?status="+status, s.AdminToken, nil)
			if body := res.JSON(t); res.Status != http.StatusOK || !slices.Equal(names(t, body), want) {
				t.Errorf("status=%s: %d %s, want %v", status, res.Status, res.Body, want)
			}
		}
		res = s.Do(http.MethodGet, "/v1/agents/"+ids["restarting"]+"/wait?status=restarting&timeout=5s", s.AdminToken, nil)
		if res.Status != http.StatusOK {
			t.Errorf("wait for restarting: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodGet, "/v1/agents?status=sideways", s.AdminToken, nil); res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "restarting") {
			t.Errorf("status=sideways: %d %s", res.Status, res.Body)
		}
	})
}
