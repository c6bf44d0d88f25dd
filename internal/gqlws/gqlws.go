// Package gqlws connects gorilla/websocket to gqlgen's WebSocket transport
// (graphql-transport-ws and the legacy graphql-ws protocol), with an origin
// allowlist, authenticates connections by the token of connection_init, and
// checks every operation on a connection as the HTTP middleware checks a
// request (Guard).
package gqlws

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
)

// Gorilla is a transport.WebsocketImplementation over gorilla/websocket.
type Gorilla struct {
	// AllowedOrigins lists the browser origins (scheme://host[:port]) that
	// may connect besides the server's own; a request without an Origin
	// header comes from a non-browser client and is allowed.
	AllowedOrigins []string
	// HandshakeTimeout bounds the upgrade (default 10s).
	HandshakeTimeout time.Duration
}

var _ transport.WebsocketImplementation = Gorilla{}

// Accept implements transport.WebsocketImplementation. A refused origin
// gets the transport's failed-upgrade answer (400).
func (g Gorilla) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	timeout := g.HandshakeTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	up := websocket.Upgrader{
		HandshakeTimeout: timeout,
		WriteBufferPool:  &writeBuffers,
		Subprotocols:     opts.Subprotocols,
		CheckOrigin:      g.originAllowed,
		// The transport answers a failed upgrade itself.
		Error: func(http.ResponseWriter, *http.Request, int, error) {},
	}
	if !g.originAllowed(r) {
		return nil, errors.New("gqlws: origin not allowed")
	}
	conn, err := up.Upgrade(w, r, opts.ResponseHeader)
	if err != nil {
		return nil, err
	}
	return &Conn{conn: conn}, nil
}

// writeBuffers lends connections their write buffer for the length of a
// write, instead of 4 KiB kept by every connection: most sit idle.
var writeBuffers sync.Pool

// originAllowed accepts no Origin (non-browser clients), the server's own
// origin, and the allowlist; never anything else.
func (g Gorilla) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.ContainsFunc(g.AllowedOrigins, func(allowed string) bool {
		return strings.EqualFold(strings.TrimSuffix(allowed, "/"), origin)
	})
}

// Conn is one accepted connection; it implements transport.WebsocketConn
// and the optional read limiter and read deadliner.
type Conn struct {
	conn    *websocket.Conn
	writeMu sync.Mutex // gorilla allows one writer at a time
}

var (
	_ transport.WebsocketConn          = (*Conn)(nil)
	_ transport.WebsocketReadLimiter   = (*Conn)(nil)
	_ transport.WebsocketReadDeadliner = (*Conn)(nil)
)

// writeTimeout bounds one write, so a client that stops reading cannot
// hold a stream's goroutine forever.
const writeTimeout = 10 * time.Second

// NextReader implements transport.WebsocketConn; a normal close by the
// peer is transport.ErrWebsocketClosed.
func (c *Conn) NextReader() (int, io.Reader, error) {
	t, r, err := c.conn.NextReader()
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseNoStatusReceived) {
		return t, nil, transport.ErrWebsocketClosed
	}
	return t, r, err
}

// WriteJSON implements transport.WebsocketConn.
func (c *Conn) WriteJSON(v any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return err
	}
	return c.conn.WriteJSON(v)
}

// WriteClose implements transport.WebsocketConn.
func (c *Conn) WriteClose(code int, message string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, message), time.Now().Add(time.Second))
}

// Close implements transport.WebsocketConn.
func (c *Conn) Close() error { return c.conn.Close() }

// Subprotocol implements transport.WebsocketConn.
func (c *Conn) Subprotocol() string { return c.conn.Subprotocol() }

// SetReadLimit implements transport.WebsocketReadLimiter.
func (c *Conn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }

// SetReadDeadline implements transport.WebsocketReadDeadliner.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }
