package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	"github.com/neuais/neuais/models"
)

// Proxy returns a handler that serves agents' endpoints: a request whose
// Host is {name}{hostSuffix} (the endpoint template http://{name}.localhost:8000
// has the suffix ".localhost"; the port is ignored) is reverse-proxied to
// one of that agent's replicas that are up, round robin. Other requests go
// to next (404 when next is nil).
//
// Agent names are unique per organization only: when two organizations
// have an agent of the same name, the one created first is served.
// Replies: 404 not_found for an unknown name, 503 service_unavailable when
// no replica is up or the chosen one does not answer. Body bytes in and out
// count towards the agent's network usage.
func (m *Manager) Proxy(hostSuffix string, next http.Handler) http.Handler {
	hostSuffix = strings.ToLower(hostSuffix)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(proxyTarget{}).(*url.URL))
			pr.Out.Host = pr.In.Host // agents may route on the public name
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			m.log.Warn("runtime: proxy", "host", r.Host, "err", err)
			writeProxyError(w, http.StatusServiceUnavailable, models.CodeServiceUnavailable, "Agent replica did not answer")
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		name, ok := strings.CutSuffix(host, hostSuffix)
		if !ok || name == "" || strings.Contains(name, ".") {
			if next == nil {
				writeProxyError(w, http.StatusNotFound, models.CodeNotFound, "Not found")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		rec := m.recordByName(name)
		if rec == nil {
			writeProxyError(w, http.StatusNotFound, models.CodeNotFound, fmt.Sprintf("Agent %s not found", name))
			return
		}
		var up []Replica
		for _, rep := range m.driver.Replicas(rec.id) {
			if rep.Up {
				up = append(up, rep)
			}
		}
		if len(up) == 0 {
			writeProxyError(w, http.StatusServiceUnavailable, models.CodeServiceUnavailable,
				fmt.Sprintf("Agent %s has no replica up", name))
			return
		}
		rep := up[rec.next.Add(1)%uint64(len(up))]
		target := &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(rep.Port))}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countingBody{ReadCloser: r.Body, count: rec.network.Add}
		}
		cw := &countingWriter{ResponseWriter: w, count: rec.network.Add}
		rp.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), proxyTarget{}, target)))
	})
}

type proxyTarget struct{}

// recordByName returns the agent named name created first.
func (m *Manager) recordByName(name string) *agentRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	var found *agentRecord
	for _, rec := range m.records {
		if rec.name != name {
			continue
		}
		if found == nil || rec.createdAt.Before(found.createdAt) ||
			(rec.createdAt.Equal(found.createdAt) && rec.id < found.id) {
			found = rec
		}
	}
	return found
}

func writeProxyError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{ //nolint:errcheck // the client may be gone
		"error": map[string]string{"code": code, "message": message},
	})
}

type countingBody struct {
	io.ReadCloser
	count func(int64) int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.count(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	count func(int64) int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.count(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the flusher and hijacker.
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
