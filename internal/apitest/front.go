package apitest

import (
	"context"
	"io"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/redistest"
)

// InstancesEnv (e.g. NEUAIS_TEST_INSTANCES=2) makes every server started
// on PostgreSQL that many instances on its database, the NATS server of
// NATSEnv (default nats://127.0.0.1:4222) and one data directory, behind a
// round-robin front on 127.0.0.1, counting limits in the Redis of
// redistest (unless the test sets another): each request, WebSocket upgrades too,
// goes to the next instance. Server.URL is the front's; Server.App is the
// first instance, the leader.
const (
	InstancesEnv = "NEUAIS_TEST_INSTANCES"
	NATSEnv      = "NEUAIS_TEST_NATS_URL"
)

// instances is how many instances a server on databaseURL has.
func instances(databaseURL string) int {
	n, err := strconv.Atoi(os.Getenv(InstancesEnv))
	if err != nil || n < 2 || !strings.HasPrefix(databaseURL, "postgres") {
		return 1
	}
	return n
}

// startFront starts n instances of cfg behind a round-robin front; they
// stop when the test ends.
func startFront(t testing.TB, cfg config.Config, n int, options ...app.Option) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if cfg.EndpointTemplate == "" {
		cfg.EndpointTemplate = config.DefaultEndpointTemplate(ln.Addr().String())
	}
	if cfg.BusURL == "" {
		cfg.BusURL = os.Getenv(NATSEnv)
		if cfg.BusURL == "" {
			cfg.BusURL = "nats://127.0.0.1:4222"
		}
	}
	if cfg.RedisURL == "" {
		// Rate limits and login throttles count over every instance.
		cfg.RedisURL, cfg.RedisPrefix = redistest.URL(t), redistest.Prefix(t)
	}
	var targets []*url.URL
	var apps []*app.App
	for i := range n {
		c := cfg
		c.Addr = "127.0.0.1:0"
		c.InstanceID = "inst_test_" + strconv.Itoa(i)
		srv, a := startInstance(t, c, options...)
		targets = append(targets, &url.URL{Scheme: "http", Host: srv.Listener.Addr().String()})
		apps = append(apps, a)
	}
	var next atomic.Uint64
	front := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[next.Add(1)%uint64(len(targets))]) //nolint:gosec // below len(targets)
			pr.Out.Host = pr.In.Host                             // agents' endpoints are routed on it
		},
		FlushInterval: -1, // SSE streams
	}
	srv := httptest.NewUnstartedServer(front)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	s := &Server{Server: srv, App: apps[0], Instances: apps, t: t}
	t.Cleanup(srv.Close)
	s.AdminToken = s.Login(AdminEmail, AdminPassword)
	return s
}

// startInstance runs one instance of cfg on its own listener until the
// test ends.
func startInstance(t testing.TB, cfg config.Config, options ...app.Option) (*httptest.Server, *app.App) {
	t.Helper()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	a, err := app.New(context.Background(), cfg, testLogger(t), io.Discard, options...)
	if err != nil {
		ln.Close()
		t.Fatalf("start app: %v", err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close the server: %v", err)
		}
	})
	return srv, a
}
