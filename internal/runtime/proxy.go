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
	"sync/atomic"

	"github.com/neuais/neuais/models"
)

// Proxy returns a handler that serves agents' endpoints: a request whose
// Host matches endpoints (see models.EndpointTemplate.Match; any port) is
// reverse-proxied to one of the replicas that are up of the agent of that
// name in the organization of that slug, round robin; an agent this
// Manager does not run (it does not lead) is reached at the addresses the
// leader recorded (replica_addresses). A request without a
// body moves on to the next replica when one fails (it crashed and is not
// marked down yet), see retryable. Other hosts below the template's suffix
// are 404, so that no other organization's agent, nor the API, answers for
// them; the remaining hosts (the API's own address) go to next (404 when
// next is nil).
//
// Agents get the client's headers as sent, except X-Real-IP,
// X-Forwarded-For and Forwarded, which say the real remote address.
// Replies: 404 not_found for an unknown agent, 503 service_unavailable when
// no replica is up or none answers. Body bytes in and out count towards the
// agent's network usage.
func (m *Manager) Proxy(endpoints models.EndpointTemplate, next http.Handler) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			at := pr.In.Context().Value(attemptKey{}).(*proxyAttempt)
			pr.SetURL(at.targets[at.next])
			pr.Out.Host = pr.In.Host // agents may route on the public name
			pr.SetXForwarded()
			// A client must not pass for another address: X-Forwarded-For
			// is rebuilt by SetXForwarded, these are overwritten.
			pr.Out.Header.Del("Forwarded")
			if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
				pr.Out.Header.Set("X-Real-IP", ip)
			} else {
				pr.Out.Header.Del("X-Real-IP")
			}
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
		slug, name, ok := endpoints.Match(r.Host)
		if !ok {
			if next == nil || endpoints.Under(r.Host) {
				writeProxyError(w, http.StatusNotFound, models.CodeNotFound, "Not found")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		var (
			targets []string
			remote  string // the agent's id when another instance runs it
		)
		rec := m.recordByEndpoint(slug, name)
		if rec != nil {
			for _, rep := range m.driver.Replicas(rec.id) {
				if rep.Up {
					targets = append(targets, rep.Address())
				}
			}
		} else {
			// Not run here: this instance does not lead, or the agent is
			// unknown; the leader records its replicas' addresses.
			var found bool
			if remote, targets, found = m.recordedAddresses(r.Context(), slug, name); !found {
				writeProxyError(w, http.StatusNotFound, models.CodeNotFound, fmt.Sprintf("Agent %s not found", name))
				return
			}
		}
		if len(targets) == 0 {
			writeProxyError(w, http.StatusServiceUnavailable, models.CodeServiceUnavailable,
				fmt.Sprintf("Agent %s has no replica up", name))
			return
		}
		at := &proxyAttempt{}
		turn := &m.proxied
		if rec != nil {
			turn = &rec.next
		}
		first := int(turn.Add(1) % uint64(len(targets))) //nolint:gosec // below len(targets)
		for k := range targets {
			at.targets = append(at.targets, &url.URL{Scheme: "http", Host: targets[(first+k)%len(targets)]})
		}
		var carried atomic.Int64 // to an agent run elsewhere, told once the request ends
		count := carried.Add
		if rec != nil {
			count = func(n int64) int64 { rec.metered.Add(n); return rec.network.Add(n) }
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countingBody{ReadCloser: r.Body, count: count}
		}
		at.in = r.WithContext(context.WithValue(r.Context(), attemptKey{}, at))
		rp.ServeHTTP(&countingWriter{ResponseWriter: w, count: count}, at.in)
		if n := carried.Load(); n > 0 && m.remoteBytes != nil {
			m.remoteBytes(remote, n)
		}
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

// proxyAttempt is one proxied request: the replicas to try in order and
// the one being tried.
type proxyAttempt struct {
	in      *http.Request
	targets []*url.URL
	next    int
}

type attemptKey struct{}

// recordByEndpoint returns the agent named name of the organization
// orgSlug; of two (one deleted, not forgotten yet) the one created last.
func (m *Manager) recordByEndpoint(orgSlug, name string) *agentRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	var found *agentRecord
	for _, rec := range m.records {
		if rec.name != name || rec.orgSlug != orgSlug {
			continue
		}
		if found == nil || rec.createdAt.After(found.createdAt) ||
			(rec.createdAt.Equal(found.createdAt) && rec.id > found.id) {
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
