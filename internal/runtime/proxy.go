package runtime

import (
	"context"
	"encoding/json"
	"errors"
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
// Host is {name}{hostSuffix} (see HostSuffix; the port is ignored) is
// reverse-proxied to one of that agent's replicas that are up, round robin.
// A request without a body moves on to the next replica when one fails
// (it crashed and is not marked down yet), see retryable. Other hosts go to
// next (404 when next is nil).
//
// Agent names are unique per organization only: when two organizations
// have an agent of the same name, the one created first is served.
// Replies: 404 not_found for an unknown name, 503 service_unavailable when
// no replica is up or none answers. Body bytes in and out count towards the
// agent's network usage.
func (m *Manager) Proxy(hostSuffix string, next http.Handler) http.Handler {
	hostSuffix = strings.ToLower(hostSuffix)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			at := pr.In.Context().Value(attemptKey{}).(*proxyAttempt)
			pr.SetURL(at.targets[at.next])
			pr.Out.Host = pr.In.Host // agents may route on the public name
			pr.SetXForwarded()
		},
	}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		at := r.Context().Value(attemptKey{}).(*proxyAttempt)
		if at.next+1 < len(at.targets) && r.Context().Err() == nil && retryable(at.in, err) {
			at.next++
			rp.ServeHTTP(w, at.in)
			return
		}
		if r.Context().Err() == nil {
			m.log.Warn("runtime: proxy", "host", r.Host, "err", err)
		}
		writeProxyError(w, http.StatusServiceUnavailable, models.CodeServiceUnavailable, "Agent replica did not answer")
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
		at := &proxyAttempt{}
		first := int(rec.next.Add(1) % uint64(len(up)))
		for k := range up {
			rep := up[(first+k)%len(up)]
			at.targets = append(at.targets, &url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(rep.Port))})
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countingBody{ReadCloser: r.Body, count: rec.network.Add}
		}
		at.in = r.WithContext(context.WithValue(r.Context(), attemptKey{}, at))
		rp.ServeHTTP(&countingWriter{ResponseWriter: w, count: rec.network.Add}, at.in)
	})
}

// retryable reports whether a request without a body that failed with
// err may go to another replica: always when the connection was refused
// (nothing was sent), and for idempotent methods when the replica went
// away before answering (ErrorHandler runs only before any response byte).
func retryable(r *http.Request, err error) bool {
	if r.Body != nil && r.Body != http.NoBody {
		return false
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// HostSuffix returns the host suffix that Proxy matches for an endpoint
// template whose host begins with the agent's name:
// "http://{name}.localhost:8000" gives ".localhost". Templates that place
// the name elsewhere cannot be served by host and are an error.
func HostSuffix(endpointTemplate string) (string, error) {
	const placeholder = "neuais-agent-name"
	u, err := url.Parse(strings.Replace(endpointTemplate, "{name}", placeholder, 1))
	if err != nil {
		return "", fmt.Errorf("runtime: endpoint template: %w", err)
	}
	suffix, ok := strings.CutPrefix(strings.ToLower(u.Hostname()), placeholder)
	if !ok || !strings.HasPrefix(suffix, ".") {
		return "", fmt.Errorf("runtime: endpoint template %q: the host must begin with {name}.", endpointTemplate)
	}
	return suffix, nil
}

// proxyAttempt is one proxied request: the replicas to try in order and
// the one being tried.
type proxyAttempt struct {
	in      *http.Request
	targets []*url.URL
	next    int
}

type attemptKey struct{}

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
