package config_test

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := config.Load(nil, env(nil), io.Discard)
		if err != nil || c.Addr != ":8000" || c.AnonymousRateLimit != 100 || c.LoginMaxFailures != 5 || c.LoginFailureWindow != 15*time.Minute || c.RateLimitMin != 0 {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("SubscriptionBounds", func(t *testing.T) {
		c, err := config.Load([]string{"--max-subscriptions-per-connection", "7"}, env(map[string]string{"NEUAIS_MAX_SUBSCRIPTIONS_PER_USER": "9"}), io.Discard)
		if err != nil || c.MaxSubscriptionsPerConnection != 7 || c.MaxSubscriptionsPerUser != 9 || config.Default().MaxSubscriptionsPerConnection != 100 || config.Default().MaxSubscriptionsPerUser != 500 {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("RateLimitWindow", func(t *testing.T) {
		c, err := config.Load([]string{"--rate-limit-window", "2s"}, env(map[string]string{"NEUAIS_RATE_LIMIT_WINDOW": "5s"}), io.Discard)
		if err != nil || c.RateLimitWindow != 2*time.Second || config.Default().RateLimitWindow != time.Minute {
			t.Fatalf("%+v %v", c, err)
		}
		for _, bad := range []string{"500ms", "1500ms", "0s"} {
			if _, err := config.Load(nil, env(map[string]string{"NEUAIS_RATE_LIMIT_WINDOW": bad}), io.Discard); err == nil {
				t.Fatalf("window %s accepted", bad)
			}
		}
	})
	t.Run("FlagOverridesEnvironment", func(t *testing.T) {
		c, err := config.Load([]string{"--rate-limit-min", "7"}, env(map[string]string{"NEUAIS_RATE_LIMIT_MIN": "3", "NEUAIS_LOGIN_FAILURE_WINDOW": "1m"}), io.Discard)
		if err != nil || c.RateLimitMin != 7 || c.LoginFailureWindow != time.Minute {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("EndpointTemplateFollowsAddr", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			env  map[string]string
			want string
		}{
			{nil, nil, "http://{name}.{org}.localhost:8000"},
			{nil, map[string]string{"NEUAIS_ADDR": "127.0.0.1:9123"}, "http://{name}.{org}.localhost:9123"},
			{[]string{"--addr", ":80"}, nil, "http://{name}.{org}.localhost"},
			{[]string{"--addr", ":9000"}, map[string]string{"NEUAIS_ENDPOINT_TEMPLATE": "https://{name}.{org}.agents.example.com"}, "https://{name}.{org}.agents.example.com"},
		} {
			c, err := config.Load(tc.args, env(tc.env), io.Discard)
			if err != nil || c.Endpoints() != tc.want {
				t.Errorf("%v %v: template %q, %v; want %q", tc.args, tc.env, c.Endpoints(), err, tc.want)
			}
		}
		if got := config.Default().Endpoints(); got != "http://{name}.{org}.localhost:8000" {
			t.Errorf("Default().Endpoints() = %q", got)
		}
	})
	t.Run("LogLimits", func(t *testing.T) {
		c, err := config.Load([]string{"--log-rate-lines", "50"}, env(map[string]string{
			"NEUAIS_LOG_RATE_BYTES": "4096", "NEUAIS_LOG_RATE_BURST": "5s", "NEUAIS_LOG_MAX_LINE_BYTES": "1024",
			"NEUAIS_LOG_QUEUE_BYTES": "1048576", "NEUAIS_LOG_MAX_BYTES_PER_ORG": "1000000",
		}), io.Discard)
		if err != nil || c.LogRateLines != 50 || c.LogRateBytes != 4096 || c.LogRateBurst != 5*time.Second ||
			c.LogMaxLineBytes != 1024 || c.LogQueueBytes != 1<<20 || c.LogMaxBytesPerOrg != 1_000_000 {
			t.Fatalf("%+v %v", c, err)
		}
		d := config.Default()
		if d.LogRateLines != 1000 || d.LogRateBytes != 1<<20 || d.LogMaxBytesPerOrg != 1<<30 {
			t.Fatalf("defaults %+v", d)
		}
		for _, bad := range []map[string]string{
			{"NEUAIS_LOG_RATE_LINES": "0"}, {"NEUAIS_LOG_MAX_BYTES_PER_ORG": "-1"}, {"NEUAIS_LOG_MAX_LINE_BYTES": "65536"},
		} {
			if _, err := config.Load(nil, env(bad), io.Discard); err == nil {
				t.Errorf("accepted %v", bad)
			}
		}
	})
	t.Run("ErrBadValues", func(t *testing.T) {
		if _, err := config.Load(nil, env(map[string]string{"NEUAIS_LOGIN_MAX_FAILURES": "many"}), io.Discard); err == nil {
			t.Fatal("accepted a non-integer")
		}
		if _, err := config.Load([]string{"--max-subscriptions-per-user", "0"}, env(nil), io.Discard); err == nil {
			t.Fatal("accepted no subscriptions per user")
		}
		if _, err := config.Load([]string{"extra"}, env(nil), io.Discard); err == nil {
			t.Fatal("accepted an argument")
		}
	})
	// Each error names the one variable at fault and what it must be.
	t.Run("ErrNamesTheVariable", func(t *testing.T) {
		for variable, bad := range map[string]string{
			"NEUAIS_STOP_GRACE":             "0s",
			"NEUAIS_FETCH_MIN_RATE":         "0",
			"NEUAIS_MAX_DOWNLOADS_PER_ORG":  "0",
			"NEUAIS_LOGIN_MAX_DELAY":        "10ms",
			"NEUAIS_LOGIN_MAX_FAILURES":     "-1",
			"NEUAIS_WEBHOOK_WORKERS":        "0",
			"NEUAIS_WEBHOOK_RETRY_SCHEDULE": ",",
			"NEUAIS_RATE_LIMIT_WINDOW":      "1500ms",
			"NEUAIS_RUNTIME_DRIVER":         "docker",
			"NEUAIS_REGIONS":                ",",
			"NEUAIS_LOG_MAX_LINE_BYTES":     "100",
			"NEUAIS_REPLICA_MAX_OPEN_FILES": "8",
			"NEUAIS_RESTART_BACKOFF_MAX":    "100ms",
		} {
			_, err := config.Load(nil, env(map[string]string{variable: bad}), io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), variable+": must be ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s=%s: %v", variable, bad, err)
			}
		}
	})
}

func TestLoadFlags(t *testing.T) {
	fs := flag.NewFlagSet("orgs create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("admin-email", "", "")
	c, args, err := config.LoadFlags(fs, []string{"--data-dir", "/tmp/x", "acme", "--admin-email", "boss@acme.example", "more"},
		env(map[string]string{"NEUAIS_ADMIN_EMAIL": "bootstrap@example.com"}))
	t.Run("ArgumentsBetweenFlags", func(t *testing.T) {
		if err != nil || !slices.Equal(args, []string{"acme", "more"}) || c.DataDir != "/tmp/x" {
			t.Fatalf("%v %v %+v", args, err, c)
		}
	})
	t.Run("CallerFlagWins", func(t *testing.T) {
		if *email != "boss@acme.example" || c.AdminEmail != "" {
			t.Fatalf("caller's %q, config's %q", *email, c.AdminEmail)
		}
	})
}
