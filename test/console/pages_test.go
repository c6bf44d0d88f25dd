package console_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
)

// TestPages: the pages carry a Content-Security-Policy of the server's own
// origin; pages and assets are served without a token and are not counted
// against the anonymous rate limit; assets are compressed and revalidated
// by ETag; a page is never served as an asset, without its policy.
func TestPages(t *testing.T) {
	s := apitest.Start(t, "sqlite:"+t.TempDir()+"/test.db", func(c *config.Config) {
		c.AnonymousRateLimit = 10
		c.RateLimitMin = 0
	})
	get := func(path string, headers ...string) *apitest.Response {
		t.Helper()
		return s.Do(http.MethodGet, path, "", nil, headers...)
	}
	t.Run("ContentSecurityPolicy", func(t *testing.T) {
		for _, tc := range []struct{ path, accept string }{{"/", ""}, {"/docs", ""}, {"/graphql", "text/html"}} {
			res := get(tc.path, "Accept", tc.accept)
			csp := res.Header.Get("Content-Security-Policy")
			if res.Status != http.StatusOK || !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self'") {
				t.Errorf("%s: %d, CSP %q", tc.path, res.Status, csp)
			}
			if strings.Contains(string(res.Body), "://") {
				t.Errorf("%s refers to another origin: %s", tc.path, res.Body)
			}
		}
		if csp := get("/").Header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe") {
			t.Errorf("dashboard CSP %q allows unsafe sources", csp)
		}
	})
	t.Run("NotRateLimited", func(t *testing.T) {
		// A window that turns over between the two reads resets the count:
		// then measure again in the new one.
		for try := 0; ; try++ {
			first := get("/v1/services")
			for range 20 {
				for _, p := range []string{"/", "/docs", "/assets/console/app.js", "/assets/vendor/graphiql/graphiql.min.css"} {
					if res := get(p); res.Status != http.StatusOK || res.Header.Get("X-RateLimit-Limit") != "" {
						t.Fatalf("%s: %d, X-RateLimit-Limit %q", p, res.Status, res.Header.Get("X-RateLimit-Limit"))
					}
				}
			}
			last := get("/v1/services")
			if first.Header.Get("X-RateLimit-Reset") != last.Header.Get("X-RateLimit-Reset") && try == 0 {
				continue
			}
			before, after := first.Header.Get("X-RateLimit-Remaining"), last.Header.Get("X-RateLimit-Remaining")
			if b, err := strconv.Atoi(before); err != nil || after != strconv.Itoa(b-1) {
				t.Errorf("remaining %q before 80 page and asset requests and %q after, want one less", before, after)
			}
			break
		}
	})
	t.Run("AssetsCompressedAndRevalidated", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/assets/vendor/uplot/uPlot.esm.js", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		etag := res.Header.Get("ETag")
		if res.Header.Get("Content-Encoding") != "gzip" || etag == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
			t.Fatalf("headers %v", res.Header)
		}
		if res := get("/assets/vendor/uplot/uPlot.esm.js", "If-None-Match", etag); res.Status != http.StatusNotModified {
			t.Errorf("If-None-Match: %d, want 304", res.Status)
		}
	})
	t.Run("PageIsNoAsset", func(t *testing.T) {
		if res := get("/assets/console/index.html"); res.Status != http.StatusNotFound {
			t.Errorf("page as an asset: %d, want 404", res.Status)
		}
	})
}
