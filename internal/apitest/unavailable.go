package apitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Unavailable starts a proxy in front of target (a server's root) that
// answers the first request of each method and URL 503 with Retry-After: 1
// and forwards the later ones. One that comes before that second has passed
// is answered 400 retried_early, which clients do not retry, so a client
// that does not honour Retry-After fails. It returns the proxy's root.
func Unavailable(t testing.TB, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	retryAt := map[string]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.RequestURI()
		mu.Lock()
		at, seen := retryAt[key]
		if !seen {
			retryAt[key] = time.Now().Add(time.Second)
		}
		mu.Unlock()
		switch {
		case !seen:
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"code":"service_unavailable","message":"unavailable once, by the test proxy","details":{}}}`)
		case time.Now().Before(at):
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"code":"retried_early","message":"retried before Retry-After had passed","details":{}}}`)
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
