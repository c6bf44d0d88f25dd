package events_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
)

// startNATS runs a NATS server of the test's own on a free loopback port
// with the given extra arguments and returns its host:port.
func startNATS(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		bin = "/usr/sbin/nats-server"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs nats-server: %v", err)
		}
		t.Skip("nats-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, append([]string{"-a", "127.0.0.1", "-p", port}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	apitest.Eventually(t, 10*time.Second, "nats-server to listen on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// roundTrip proves an authenticated bus carries a message.
func roundTrip(t *testing.T, b *events.NATS) {
	t.Helper()
	ctx := context.Background()
	sub, err := b.Subscribe(ctx, "auth-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, events.Message{Topic: "auth-test", Type: "ping", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if m, ok := recv(t, sub); !ok || m.Type != "ping" {
		t.Fatalf("got %+v", m)
	}
}

func TestNATS_Credentials(t *testing.T) {
	t.Run("UserPassword", func(t *testing.T) {
		addr := startNATS(t, "--user", "neuais", "--pass", "bus-password-1")
		b, err := events.NewNATS("nats://neuais:bus-password-1@"+addr, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		roundTrip(t, b)
		_, err = events.NewNATS("nats://neuais:wrong-password@"+addr, 0, nil)
		if err == nil || strings.Contains(err.Error(), "wrong-password") {
			t.Fatalf("wrong password: %v", err)
		}
	})
	t.Run("Token", func(t *testing.T) {
		addr := startNATS(t, "--auth", "bus-token-1")
		b, err := events.NewNATS("nats://bus-token-1@"+addr, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		roundTrip(t, b)
		_, err = events.NewNATS("nats://"+addr, 0, nil)
		if err == nil {
			t.Fatal("connected without the token")
		}
		_, err = events.NewNATS("nats://other-token@"+addr, 0, nil)
		if err == nil || strings.Contains(err.Error(), "other-token") {
			t.Fatalf("wrong token: %v", err)
		}
	})
	t.Run("NKey", func(t *testing.T) {
		user, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		public, _ := user.PublicKey()
		seed, _ := user.Seed()
		dir := t.TempDir()
		conf := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(conf, []byte(fmt.Sprintf("authorization { users = [ { nkey: %q } ] }\n", public)), 0o600); err != nil {
			t.Fatal(err)
		}
		seedFile := filepath.Join(dir, "user.nk")
		if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		addr := startNATS(t, "-c", conf)
		b, err := events.NewNATS("nats://"+addr+"?nkey="+seedFile, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		roundTrip(t, b)
		if _, err := events.NewNATS("nats://"+addr, 0, nil); err == nil {
			t.Fatal("connected without the nkey")
		}
	})
	t.Run("ErrBadURL", func(t *testing.T) {
		for _, u := range []string{"nats://127.0.0.1:1?creds=/x", "nats://127.0.0.1:1?nkey=", "nats://127.0.0.1:1?nkey=/no/such/seed", "http://127.0.0.1:4222"} {
			if _, err := events.NewNATS(u, 0, nil); err == nil {
				t.Errorf("%s accepted", u)
			}
		}
	})
}
