// Package web serves the browser pages embedded in the binary: the
// dashboard at /, GraphiQL at /graphql and the REST reference at /docs,
// with their assets under /assets/ (our own code in console/, docs/ and
// graphiql/; pinned npm files in vendor/, copied there by vendor.sh). Nothing
// comes from another origin, so the pages work offline.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

//go:embed console docs graphiql vendor
var files embed.FS

// AssetsPrefix is the path under which every asset is served.
const AssetsPrefix = "/assets/"

// Content-Security-Policies: the server's own origin only. GraphiQL and
// Swagger UI write style elements at run time, so their pages allow inline
// styles (never inline scripts); the dashboard does not need them.
const (
	strictCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	toolCSP   = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

// Public reports whether path is one of the pages or assets, which need no
// token and are not counted against any rate limit: a dashboard load is a
// dozen files, and counting them would spend an anonymous address's minute
// before it signs in.
func Public(p string) bool {
	return p == "/" || p == "/docs" || strings.HasPrefix(p, AssetsPrefix)
}

// Dashboard serves the dashboard's page.
func Dashboard() http.Handler { return page("console/index.html", strictCSP) }

// Docs serves the REST API reference, rendered from GET /v1/openapi.json.
func Docs() http.Handler { return page("docs/index.html", toolCSP) }

// GraphiQL serves the GraphQL playground for the endpoint the page is
// served at.
func GraphiQL() http.Handler { return page("graphiql/index.html", toolCSP) }

// Assets serves the embedded files under AssetsPrefix, compressed when the
// browser accepts it, with an ETag so that a reload costs a 304 per file.
func Assets() http.Handler {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), AssetsPrefix)
		if strings.HasSuffix(name, ".html") {
			// Pages are served only with their Content-Security-Policy.
			http.NotFound(w, r)
			return
		}
		serveFile(w, r, name)
	})
	return middleware.Compress(5)(h)
}

func page(name, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		serveFile(w, r, name)
	})
}

// etags holds each embedded file's content hash.
var etags = map[string]string{}

func init() {
	_ = fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		etags[p] = `"` + hex.EncodeToString(sum[:8]) + `"`
		return nil
	})
}

func serveFile(w http.ResponseWriter, r *http.Request, name string) {
	data, err := files.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", etags[name])
	// Names carry no hash: the browser revalidates, and the ETag makes that a 304.
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}
