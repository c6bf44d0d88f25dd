package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

// fixture is one server with callers of every kind.
type fixture struct {
	s                           *apitest.Server
	admin, dev, viewer, outside *apitest.User
	expired, tampered           string
	seq                         atomic.Int64
}

func newFixture(t *testing.T, url string) *fixture {
	s := apitest.Start(t, url)
	f := &fixture{s: s, admin: s.Admin()}
	f.dev = s.CreateUser(s.AdminToken, "dev@example.com", models.RoleDeveloper)
	f.viewer = s.CreateUser(s.AdminToken, "viewer@example.com", models.RoleViewer)
	f.outside = s.CreateOrg("other", "other-admin@example.com", models.TierFree)
	f.expired = s.TokenAt(f.admin, time.Now().Add(-2*time.Hour))
	parts := strings.Split(s.AdminToken, ".")
	f.tampered = parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	return f
}

// email returns a fresh address.
func (f *fixture) email() string { return fmt.Sprintf("u%d@example.com", f.seq.Add(1)) }

// target creates a fresh developer in the first organization.
func (f *fixture) target() *apitest.User {
	return f.s.CreateUser(f.s.AdminToken, f.email(), models.RoleDeveloper)
}

// hashPattern matches a bcrypt hash.
var hashPattern = regexp.MustCompile(`\$2[aby]?\$\d\d\$`)

// noSecrets fails when a response body carries a password or its hash.
func noSecrets(t *testing.T, body []byte) {
	t.Helper()
	lower := strings.ToLower(string(body))
	if hashPattern.Match(body) || strings.Contains(lower, "password_hash") || strings.Contains(lower, "passwordhash") ||
		strings.Contains(string(body), apitest.UserPassword) || strings.Contains(string(body), apitest.AdminPassword) {
		t.Fatalf("response carries a password or hash: %s", body)
	}
}

var codeByStatus = map[int]string{400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict"}

func TestAuthorizationMatrix(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		type caller struct {
			name  string
			token func() string
		}
		callers := []caller{
			{"admin", func() string { return f.admin.Token }},
			{"developer", func() string { return f.dev.Token }},
			{"viewer", func() string { return f.viewer.Token }},
			{"other-org-admin", func() string { return f.outside.Token }},
			{"no-token", func() string { return "" }},
			{"expired-token", func() string { return f.expired }},
			{"tampered-token", func() string { return f.tampered }},
		}
		type route struct {
			name   string
			method string
			path   func() string
			body   func() any
			gql    func() (string, map[string]any)
			want   map[string]int // by caller; missing: 401
		}
		members := map[string]int{"admin": 200, "developer": 200, "viewer": 200, "other-org-admin": 200}
		adminOnly := map[string]int{"admin": 200, "developer": 403, "viewer": 403, "other-org-admin": 404}
		routes := []route{
			{name: "CreateToken", method: "POST", path: func() string { return "/v1/auth/token" },
				body: func() any { return map[string]string{"email": f.dev.Email, "password": apitest.UserPassword} },
				gql: func() (string, map[string]any) {
					return `mutation($e: String!, $p: String!) { createToken(email: $e, password: $p) { tokenType } }`, map[string]any{"e": f.dev.Email, "p": apitest.UserPassword}
				},
				want: map[string]int{"admin": 200, "developer": 200, "viewer": 200, "other-org-admin": 200, "no-token": 200, "expired-token": 200, "tampered-token": 200}},
			{name: "ListUsers", method: "GET", path: func() string { return "/v1/users" },
				gql:  func() (string, map[string]any) { return `{ users { total } }`, nil },
				want: map[string]int{"admin": 200, "developer": 403, "viewer": 403, "other-org-admin": 200}},
			{name: "CreateUser", method: "POST", path: func() string { return "/v1/users" },
				body: func() any {
					return map[string]string{"email": f.email(), "password": apitest.UserPassword, "role": "viewer"}
				},
				gql: func() (string, map[string]any) {
					return `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, map[string]any{"i": map[string]any{"email": f.email(), "password": apitest.UserPassword, "role": "viewer"}}
				},
				want: map[string]int{"admin": 201, "developer": 403, "viewer": 403, "other-org-admin": 201}},
			{name: "GetOtherUser", method: "GET", path: func() string { return "/v1/users/" + f.dev.ID },
				gql: func() (string, map[string]any) {
					return `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": f.dev.ID}
				},
				want: map[string]int{"admin": 200, "developer": 200, "viewer": 403, "other-org-admin": 404}},
			{name: "GetViewerSelf", method: "GET", path: func() string { return "/v1/users/" + f.viewer.ID },
				gql: func() (string, map[string]any) {
					return `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": f.viewer.ID}
				},
				want: map[string]int{"admin": 200, "developer": 403, "viewer": 200, "other-org-admin": 404}},
			{name: "GetMissingUser", method: "GET", path: func() string { return "/v1/users/usr_missing" },
				gql:  func() (string, map[string]any) { return `{ user(id: "usr_missing") { id } }`, nil },
				want: map[string]int{"admin": 404, "developer": 403, "viewer": 403, "other-org-admin": 404}},
			{name: "UpdateUser", method: "PUT", path: func() string { return "/v1/users/" + f.target().ID },
				body: func() any { return map[string]string{"role": "viewer"} },
				gql: func() (string, map[string]any) {
					return `mutation($id: ID!) { updateUser(id: $id, input: {role: viewer}) { id } }`, map[string]any{"id": f.target().ID}
				},
				want: adminOnly},
			{name: "DeleteUser", method: "DELETE", path: func() string { return "/v1/users/" + f.target().ID },
				gql: func() (string, map[string]any) {
					return `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": f.target().ID}
				},
				want: adminOnly},
			{name: "Me", method: "", gql: func() (string, map[string]any) { return `{ me { id } }`, nil }, want: members},
			{name: "ListServices", method: "GET", path: func() string { return "/v1/services" },
				gql: func() (string, map[string]any) { return `{ services { items { name } } }`, nil }, want: members},
			{name: "ServiceStatus", method: "GET", path: func() string { return "/v1/services/database/status" },
				gql: func() (string, map[string]any) { return `{ service(name: "database") { status } }`, nil }, want: members},
		}
		for _, rt := range routes {
			for _, c := range callers {
				want := rt.want[c.name]
				if want == 0 {
					want = 401
				}
				if rt.method != "" {
					t.Run(fmt.Sprintf("REST/%s/%s/%d", rt.name, c.name, want), func(t *testing.T) {
						var body any
						if rt.body != nil {
							body = rt.body()
						}
						res := f.s.Do(rt.method, rt.path(), c.token(), body)
						if res.Status != want {
							t.Fatalf("%s %d %s, want %d", rt.method, res.Status, res.Body, want)
						}
						if code := codeByStatus[want]; code != "" && res.ErrorCode() != code {
							t.Fatalf("code %q, want %q: %s", res.ErrorCode(), code, res.Body)
						}
						noSecrets(t, res.Body)
					})
				}
				t.Run(fmt.Sprintf("GraphQL/%s/%s/%d", rt.name, c.name, want), func(t *testing.T) {
					q, vars := rt.gql()
					res := f.s.GraphQL(c.token(), q, vars)
					if code := codeByStatus[want]; res.Code() != code {
						t.Fatalf("code %q, want %q: %s %+v", res.Code(), code, res.Data, res.Errors)
					}
					raw, _ := json.Marshal(res)
					noSecrets(t, raw)
				})
			}
		}
		t.Run("OtherOrgListSeesOnlyItsOwn", func(t *testing.T) {
			res := f.s.Do("GET", "/v1/users", f.outside.Token, nil)
			if strings.Contains(string(res.Body), f.dev.ID) || strings.Contains(string(res.Body), "dev@example.com") {
				t.Fatalf("other organization sees our users: %s", res.Body)
			}
		})
		t.Run("DeletedUserTokenRefused", func(t *testing.T) {
			u := f.target()
			if res := f.s.Do("DELETE", "/v1/users/"+u.ID, f.admin.Token, nil); res.Status != 200 || string(res.Body) != `{"message":"User deleted successfully"}`+"\n" {
				t.Fatalf("delete: %d %q", res.Status, res.Body)
			}
			if res := f.s.Do("GET", "/v1/users/"+u.ID, u.Token, nil); res.Status != 401 {
				t.Fatalf("token of a deleted user: %d %s", res.Status, res.Body)
			}
		})
	})
}

func TestUserBadInput(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		valid := func(change func(m map[string]any)) map[string]any {
			m := map[string]any{"email": f.email(), "password": "good-password", "role": "developer"}
			change(m)
			return m
		}
		long := strings.Repeat("a", 250) + "@example.com"
		create := []struct {
			name   string
			body   any
			field  string
			status int
		}{
			{"EmailMissing", valid(func(m map[string]any) { delete(m, "email") }), "email", 400},
			{"EmailNotString", valid(func(m map[string]any) { m["email"] = 5 }), "email", 400},
			{"EmailNull", valid(func(m map[string]any) { m["email"] = nil }), "email", 400},
			{"EmailMalformed", valid(func(m map[string]any) { m["email"] = "not-an-address" }), "email", 400},
			{"EmailWithName", valid(func(m map[string]any) { m["email"] = "Bob <bob@example.com>" }), "email", 400},
			{"EmailTooLong", valid(func(m map[string]any) { m["email"] = long }), "email", 400},
			{"EmailTaken", valid(func(m map[string]any) { m["email"] = "DEV@example.com" }), "email", 409},
			{"PasswordMissing", valid(func(m map[string]any) { delete(m, "password") }), "password", 400},
			{"PasswordNotString", valid(func(m map[string]any) { m["password"] = 12345678 }), "password", 400},
			{"PasswordTooShort", valid(func(m map[string]any) { m["password"] = "short" }), "password", 400},
			{"PasswordTooLong", valid(func(m map[string]any) { m["password"] = strings.Repeat("p", 73) }), "password", 400},
			{"RoleMissing", valid(func(m map[string]any) { delete(m, "role") }), "role", 400},
			{"RoleUnknown", valid(func(m map[string]any) { m["role"] = "owner" }), "role", 400},
			{"RoleNotString", valid(func(m map[string]any) { m["role"] = 1 }), "role", 400},
			{"UnknownField", valid(func(m map[string]any) { m["is_admin"] = true }), "is_admin", 400},
			{"MalformedJSON", `{"email": "a@example.com",`, "body", 400},
			{"NotAnObject", `["a@example.com"]`, "body", 400},
		}
		for _, tc := range create {
			t.Run("Create/"+tc.name, func(t *testing.T) {
				res := f.s.Do("POST", "/v1/users", f.admin.Token, tc.body)
				if res.Status != tc.status || res.ErrorCode() != codeByStatus[tc.status] || res.ErrorField() != tc.field {
					t.Fatalf("%d %s, want %d on %q", res.Status, res.Body, tc.status, tc.field)
				}
				noSecrets(t, res.Body)
			})
		}
		target := f.target()
		update := []struct {
			name   string
			body   any
			field  string
			status int
		}{
			{"EmailMalformed", map[string]any{"email": "nope"}, "email", 400},
			{"EmailNotString", map[string]any{"email": true}, "email", 400},
			{"EmailTaken", map[string]any{"email": "viewer@example.com"}, "email", 409},
			{"PasswordTooShort", map[string]any{"password": "short"}, "password", 400},
			{"PasswordTooLong", map[string]any{"password": strings.Repeat("p", 73)}, "password", 400},
			{"RoleUnknown", map[string]any{"role": "root"}, "role", 400},
			{"UnknownField", map[string]any{"organization_id": "org_x"}, "organization_id", 400},
			{"MalformedJSON", `{`, "body", 400},
		}
		for _, tc := range update {
			t.Run("Update/"+tc.name, func(t *testing.T) {
				res := f.s.Do("PUT", "/v1/users/"+target.ID, f.admin.Token, tc.body)
				if res.Status != tc.status || res.ErrorCode() != codeByStatus[tc.status] || res.ErrorField() != tc.field {
					t.Fatalf("%d %s, want %d on %q", res.Status, res.Body, tc.status, tc.field)
				}
			})
		}
		list := []struct{ query, field string }{
			{"limit=0", "limit"},
			{"limit=1001", "limit"},
			{"limit=ten", "limit"},
			{"offset=-1", "offset"},
			{"offset=x", "offset"},
			{"sort=password", "sort"},
			{"sort=email:sideways", "sort"},
			{"fields=id,password_hash", "fields"},
			{"fields=,", "fields"},
		}
		for _, tc := range list {
			t.Run("List/"+tc.query, func(t *testing.T) {
				res := f.s.Do("GET", "/v1/users?"+tc.query, f.admin.Token, nil)
				if res.Status != 400 || res.ErrorCode() != "invalid_request" || res.ErrorField() != tc.field {
					t.Fatalf("%d %s, want 400 on %q", res.Status, res.Body, tc.field)
				}
			})
		}
		t.Run("GraphQL", func(t *testing.T) {
			for _, tc := range []struct {
				input map[string]any
				field string
			}{
				{map[string]any{"email": "nope", "password": "good-password", "role": "viewer"}, "email"},
				{map[string]any{"email": f.email(), "password": "short", "role": "viewer"}, "password"},
				{map[string]any{"email": f.email(), "password": "good-password", "role": "root"}, "i.role"},
			} {
				res := f.s.GraphQL(f.admin.Token, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, map[string]any{"i": tc.input})
				details, _ := res.Errors[0].Extensions["details"].(map[string]any)
				if res.Code() != "invalid_request" || details["field"] != tc.field {
					t.Errorf("%v: %+v, want invalid_request on %q", tc.input, res.Errors, tc.field)
				}
			}
			if res := f.s.GraphQL(f.admin.Token, `{ users(limit: 5000) { total } }`, nil); res.Code() != "invalid_request" {
				t.Errorf("limit 5000: %+v", res.Errors)
			}
			if res := f.s.GraphQL(f.admin.Token, `{ me { passwordHash } }`, nil); res.Code() != "invalid_request" {
				t.Errorf("passwordHash is queryable: %s", res.Data)
			}
		})
	})
}

type userPage struct {
	Users   []map[string]any `json:"users"`
	Total   int              `json:"total"`
	Limit   int              `json:"limit"`
	Offset  int              `json:"offset"`
	HasMore bool             `json:"has_more"`
}

func TestUserListPaging(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		for _, e := range []string{"carol@example.com", "alice@example.com", "erin@example.com", "bob@example.com"} {
			s.CreateUser(s.AdminToken, e, models.RoleViewer)
		}
		// Five users: the bootstrap admin and the four above, in that order of creation.
		page := func(t *testing.T, query string) userPage {
			t.Helper()
			res := s.Do("GET", "/v1/users?"+query, s.AdminToken, nil)
			if res.Status != 200 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			noSecrets(t, res.Body)
			var p userPage
			if err := json.Unmarshal(res.Body, &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		emails := func(p userPage) []string {
			var out []string
			for _, u := range p.Users {
				out = append(out, u["email"].(string))
			}
			return out
		}
		t.Run("Defaults", func(t *testing.T) {
			p := page(t, "")
			if p.Total != 5 || p.Limit != 100 || p.Offset != 0 || p.HasMore || len(p.Users) != 5 {
				t.Fatalf("%+v", p)
			}
			if got := emails(p); got[0] != apitest.AdminEmail || got[4] != "bob@example.com" {
				t.Fatalf("default order is not creation order: %v", got)
			}
			if keys := slices.Sorted(mapsKeys(p.Users[0])); !slices.Equal(keys, []string{"created_at", "email", "id", "organization_id", "role", "updated_at"}) {
				t.Fatalf("user keys %v", keys)
			}
		})
		t.Run("FirstPageHasMore", func(t *testing.T) {
			if p := page(t, "limit=2"); len(p.Users) != 2 || p.Total != 5 || p.Limit != 2 || !p.HasMore {
				t.Fatalf("%+v", p)
			}
		})
		t.Run("LastPage", func(t *testing.T) {
			if p := page(t, "limit=2&offset=4"); len(p.Users) != 1 || p.Offset != 4 || p.HasMore {
				t.Fatalf("%+v", p)
			}
		})
		t.Run("PastTheEnd", func(t *testing.T) {
			if p := page(t, "offset=10"); len(p.Users) != 0 || p.Total != 5 || p.HasMore || p.Users == nil {
				t.Fatalf("%+v", p)
			}
		})
		t.Run("SortEmailAsc", func(t *testing.T) {
			want := []string{"admin@example.com", "alice@example.com", "bob@example.com", "carol@example.com", "erin@example.com"}
			if got := emails(page(t, "sort=email")); !slices.Equal(got, want) {
				t.Fatalf("%v", got)
			}
			if got := emails(page(t, "sort=email:asc")); !slices.Equal(got, want) {
				t.Fatalf("%v", got)
			}
		})
		t.Run("SortEmailDescPaged", func(t *testing.T) {
			if got := emails(page(t, "sort=email:desc&limit=2&offset=1")); !slices.Equal(got, []string{"carol@example.com", "bob@example.com"}) {
				t.Fatalf("%v", got)
			}
		})
		t.Run("SortCreatedAtDesc", func(t *testing.T) {
			if got := emails(page(t, "sort=created_at:desc")); got[0] != "bob@example.com" || got[4] != apitest.AdminEmail {
				t.Fatalf("%v", got)
			}
		})
		t.Run("SortRole", func(t *testing.T) {
			if got := page(t, "sort=role:asc"); got.Users[0]["role"] != "admin" {
				t.Fatalf("%v", got.Users)
			}
		})
		t.Run("Fields", func(t *testing.T) {
			p := page(t, "fields=id,email")
			for _, u := range p.Users {
				if keys := slices.Sorted(mapsKeys(u)); !slices.Equal(keys, []string{"email", "id"}) {
					t.Fatalf("keys %v", keys)
				}
			}
			if p.Total != 5 {
				t.Fatalf("%+v", p)
			}
		})
		t.Run("FieldsOnGet", func(t *testing.T) {
			res := s.Do("GET", "/v1/users/"+s.Admin().ID+"?fields=role", s.AdminToken, nil)
			if res.Status != 200 || string(res.Body) != `{"role":"admin"}` {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("GraphQL", func(t *testing.T) {
			res := s.GraphQL(s.AdminToken, `{ users(limit: 2, offset: 1, sort: "email:desc") { items { email } total limit offset hasMore } }`, nil)
			want := `{"users":{"items":[{"email":"carol@example.com"},{"email":"bob@example.com"}],"total":5,"limit":2,"offset":1,"hasMore":true}}`
			if string(res.Data) != want {
				t.Fatalf("%s %+v", res.Data, res.Errors)
			}
		})
	})
}

func mapsKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestUserLifecycle(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		admin := s.Admin()
		t.Run("CreateAnswers201WithLocation", func(t *testing.T) {
			res := s.Do("POST", "/v1/users", s.AdminToken, map[string]string{"email": " New@Example.COM ", "password": "new-password", "role": "developer"})
			body := res.JSON(t)
			if res.Status != 201 || res.Header.Get("Location") != "/v1/users/"+body["id"].(string) || body["email"] != "new@example.com" || body["organization_id"] != admin.OrgID {
				t.Fatalf("%d %v %s", res.Status, res.Header, res.Body)
			}
			noSecrets(t, res.Body)
			s.Login("new@example.com", "new-password")
		})
		t.Run("UpdateIsPartial", func(t *testing.T) {
			u := s.CreateUser(s.AdminToken, "partial@example.com", models.RoleViewer)
			res := s.Do("PUT", "/v1/users/"+u.ID, s.AdminToken, map[string]string{"password": "changed-password"})
			if res.Status != 200 || res.JSON(t)["email"] != "partial@example.com" || res.JSON(t)["role"] != "viewer" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			noSecrets(t, res.Body)
			// The password change revoked u.Token; this one predates the role change.
			token := s.Login("partial@example.com", "changed-password")
			res = s.Do("PUT", "/v1/users/"+u.ID, s.AdminToken, map[string]string{"email": "renamed@example.com", "role": "developer"})
			if res.Status != 200 || res.JSON(t)["email"] != "renamed@example.com" || res.JSON(t)["role"] != "developer" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			// The role change applies to tokens issued before it.
			if res := s.Do("PUT", "/v1/users/"+u.ID, token, map[string]string{"role": "admin"}); res.Status != 403 {
				t.Fatalf("developer promoted itself: %d %s", res.Status, res.Body)
			}
		})
		t.Run("NoChangeKeepsUpdatedAt", func(t *testing.T) {
			u := s.CreateUser(s.AdminToken, "same@example.com", models.RoleViewer)
			before := s.Do("GET", "/v1/users/"+u.ID, s.AdminToken, nil).JSON(t)["updated_at"]
			for _, body := range []map[string]string{{}, {"email": "Same@Example.com", "role": "viewer"}} {
				res := s.Do("PUT", "/v1/users/"+u.ID, s.AdminToken, body)
				if res.Status != 200 || res.JSON(t)["updated_at"] != before {
					t.Fatalf("PUT %v: %d %s, want updated_at %v kept", body, res.Status, res.Body, before)
				}
			}
		})
		t.Run("ErrLastAdmin", func(t *testing.T) {
			if res := s.Do("DELETE", "/v1/users/"+admin.ID, s.AdminToken, nil); res.Status != 409 || res.ErrorCode() != "conflict" {
				t.Fatalf("delete last admin: %d %s", res.Status, res.Body)
			}
			if res := s.Do("PUT", "/v1/users/"+admin.ID, s.AdminToken, map[string]string{"role": "developer"}); res.Status != 409 {
				t.Fatalf("demote last admin: %d %s", res.Status, res.Body)
			}
			if res := s.GraphQL(s.AdminToken, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": admin.ID}); res.Code() != "conflict" {
				t.Fatalf("GraphQL delete last admin: %+v", res.Errors)
			}
		})
		t.Run("SecondAdminAllowsDemotion", func(t *testing.T) {
			second := s.CreateUser(s.AdminToken, "second-admin@example.com", models.RoleAdmin)
			if res := s.Do("PUT", "/v1/users/"+admin.ID, second.Token, map[string]string{"role": "viewer"}); res.Status != 200 {
				t.Fatalf("demote one of two admins: %d %s", res.Status, res.Body)
			}
			if res := s.Do("DELETE", "/v1/users/"+second.ID, second.Token, nil); res.Status != 409 {
				t.Fatalf("delete the now last admin: %d %s", res.Status, res.Body)
			}
			if res := s.Do("PUT", "/v1/users/"+admin.ID, second.Token, map[string]string{"role": "admin"}); res.Status != 200 {
				t.Fatalf("promote back: %d %s", res.Status, res.Body)
			}
			if res := s.Do("DELETE", "/v1/users/"+second.ID, s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("delete one of two admins: %d %s", res.Status, res.Body)
			}
		})
		t.Run("GraphQLCRUD", func(t *testing.T) {
			res := s.GraphQL(s.AdminToken, `mutation { createUser(input: {email: "gql@example.com", password: "gql-password", role: viewer}) { id email role } }`, nil)
			var created struct {
				CreateUser struct{ ID, Email, Role string }
			}
			if err := json.Unmarshal(res.Data, &created); err != nil || created.CreateUser.Role != "viewer" {
				t.Fatalf("%s %+v", res.Data, res.Errors)
			}
			id := created.CreateUser.ID
			if res := s.GraphQL(s.AdminToken, `mutation($id: ID!) { updateUser(id: $id, input: {role: developer}) { role } }`, map[string]any{"id": id}); string(res.Data) != `{"updateUser":{"role":"developer"}}` {
				t.Fatalf("%s %+v", res.Data, res.Errors)
			}
			if res := s.GraphQL(s.AdminToken, `mutation($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": id}); string(res.Data) != `{"deleteUser":"`+id+`"}` {
				t.Fatalf("%s %+v", res.Data, res.Errors)
			}
			if res := s.GraphQL(s.AdminToken, `query($id: ID!) { user(id: $id) { id } }`, map[string]any{"id": id}); res.Code() != "not_found" {
				t.Fatalf("%+v", res.Errors)
			}
		})
	})
}

func TestPasswordChangeRevokesTokens(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		res := s.Do(http.MethodPost, "/v1/users", s.AdminToken, map[string]string{"email": "dev@example.com", "password": "first-password", "role": "developer"})
		if res.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		id := res.JSON(t)["id"].(string)
		old := s.Login("dev@example.com", "first-password")

		if res := s.Do(http.MethodPut, "/v1/users/"+id, s.AdminToken, map[string]string{"role": "viewer"}); res.Status != http.StatusOK {
			t.Fatalf("role change: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodGet, "/v1/users/"+id, old, nil); res.Status != http.StatusOK {
			t.Fatalf("a role change revoked the token: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodPut, "/v1/users/"+id, s.AdminToken, map[string]string{"password": "second-password"}); res.Status != http.StatusOK {
			t.Fatalf("password change: %d %s", res.Status, res.Body)
		}
		res = s.Do(http.MethodGet, "/v1/users/"+id, old, nil)
		if res.Status != http.StatusUnauthorized || !strings.Contains(string(res.Body), "password has changed") {
			t.Fatalf("token from before the password change: %d %s", res.Status, res.Body)
		}
		if gql := s.GraphQL(old, `{ me { id } }`, nil); gql.Code() != "unauthorized" {
			t.Fatalf("GraphQL with the old token: %+v", gql.Errors)
		}
		fresh := s.Login("dev@example.com", "second-password")
		if res := s.Do(http.MethodGet, "/v1/users/"+id, fresh, nil); res.Status != http.StatusOK {
			t.Fatalf("new token: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodGet, "/v1/users/"+id, s.AdminToken, nil); res.Status != http.StatusOK {
			t.Fatalf("the admin's token was revoked by another user's change: %d %s", res.Status, res.Body)
		}
	})
}

// TestUserIdempotencyKey: POST /v1/users and createUser honour an
// Idempotency-Key as POST /v1/agents does.
func TestUserIdempotencyKey(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		body := map[string]string{"email": "idem@example.com", "password": "idem-password", "role": "developer"}
		first := s.Do("POST", "/v1/users", s.AdminToken, body, "Idempotency-Key", "u-1")
		if first.Status != 201 {
			t.Fatalf("%d %s", first.Status, first.Body)
		}
		count := func() any { return s.Do("GET", "/v1/users?fields=id", s.AdminToken, nil).JSON(t)["total"] }
		t.Run("RetryReturnsFirstResponse", func(t *testing.T) {
			again := s.Do("POST", "/v1/users", s.AdminToken, body, "Idempotency-Key", "u-1")
			if again.Status != 201 || string(again.Body) != string(first.Body) || again.Header.Get("Location") != first.Header.Get("Location") || count() != float64(2) {
				t.Fatalf("%d %s, want %s; %v users", again.Status, again.Body, first.Body, count())
			}
		})
		t.Run("ErrOtherBody", func(t *testing.T) {
			other := map[string]string{"email": "idem@example.com", "password": "idem-password", "role": "viewer"}
			res := s.Do("POST", "/v1/users", s.AdminToken, other, "Idempotency-Key", "u-1")
			if res.Status != http.StatusConflict || res.ErrorCode() != "conflict" || res.ErrorField() != "Idempotency-Key" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("WithoutKeyConflictOnEmail", func(t *testing.T) {
			if res := s.Do("POST", "/v1/users", s.AdminToken, body); res.Status != http.StatusConflict || res.ErrorField() != "email" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("GraphQL", func(t *testing.T) {
			const q = `mutation($in: CreateUserInput!, $key: String) { createUser(input: $in, idempotencyKey: $key) { id email } }`
			in := map[string]any{"email": "gql-idem@example.com", "password": "idem-password", "role": "viewer"}
			a := s.GraphQL(s.AdminToken, q, map[string]any{"in": in, "key": "g-1"})
			b := s.GraphQL(s.AdminToken, q, map[string]any{"in": in, "key": "g-1"})
			if len(a.Errors) > 0 || len(b.Errors) > 0 || string(a.Data) != string(b.Data) {
				t.Fatalf("%s %+v / %s %+v", a.Data, a.Errors, b.Data, b.Errors)
			}
		})
		t.Run("DeletePurgesRecord", func(t *testing.T) {
			id, _ := first.JSON(t)["id"].(string)
			if res := s.Do("DELETE", "/v1/users/"+id, s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			n, err := s.App.DB.NewSelect().Table("idempotency_keys").Where("idempotency_key = ?", "u-1").Count(t.Context())
			if err != nil || n != 0 {
				t.Fatalf("%d records of a deleted user, %v", n, err)
			}
			if res := s.Do("POST", "/v1/users", s.AdminToken, body, "Idempotency-Key", "u-1"); res.Status != 201 || res.JSON(t)["id"] == id {
				t.Fatalf("after the delete the key creates anew: %d %s", res.Status, res.Body)
			}
		})
	})
}
