package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/db"
)

type openInterval struct {
	ID       int64      `bun:"id"`
	LastSeen time.Time  `bun:"last_seen_at"`
	Ended    *time.Time `bun:"ended_at"`
}

// TestKillClosesIntervalAtLastHeartbeat: the built server is killed with
// SIGKILL while a replica runs; on the next start its open interval ends
// at the last heartbeat the dead server stored, never later.
func TestKillClosesIntervalAtLastHeartbeat(t *testing.T) {
	dir := t.TempDir()
	bin := build(t, dir, ".", "neuais")
	hello := build(t, dir, "../../examples/hello", "hello")
	home := filepath.Join(dir, "home")
	data := filepath.Join(dir, "data")
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
	srv := &server{t: t, bin: bin, addr: freeAddr(t), env: append(base,
		"NEUAIS_DATA_DIR="+data, "NEUAIS_ADMIN_EMAIL=root@example.com", "NEUAIS_ADMIN_PASSWORD=root-password-1",
		"NEUAIS_BCRYPT_COST=4", "NEUAIS_LOG_LEVEL=error", "NEUAIS_STOP_GRACE=2s", "NEUAIS_BILLING_HEARTBEAT=1s")}
	srv.start()
	client := append(base, "NEUAIS_URL=http://"+srv.addr+"/v1")
	if r := runBin(t, bin, client, "root-password-1\n", "login", "--email", "root@example.com", "--password-stdin"); r.code != 0 {
		t.Fatal(r)
	}
	if r := runBin(t, bin, client, "", "deploy", "hello", "--binary", hello); r.code != 0 || !strings.Contains(r.out, "is running") {
		t.Fatal(r)
	}

	d, err := db.Open(context.Background(), db.Options{DataDir: data, SQLiteSynchronous: config.Default().SQLiteSynchronous})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	read := func() []openInterval {
		var rows []openInterval
		if err := d.NewSelect().Table("replica_intervals").Column("id", "last_seen_at", "ended_at").OrderExpr("id").Scan(context.Background(), &rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	// A heartbeat after the interval opened moved its last-seen time.
	var before []openInterval
	apitest.Eventually(t, 60*time.Second, "a heartbeat of the open interval", func() bool {
		before = read()
		return len(before) == 1 && before[0].Ended == nil && !before[0].LastSeen.IsZero()
	})
	first := before[0].LastSeen
	apitest.Eventually(t, 60*time.Second, "a later heartbeat", func() bool {
		before = read()
		return before[0].LastSeen.After(first)
	})
	srv.kill()
	before = read()
	if len(before) != 1 || before[0].Ended != nil {
		t.Fatalf("after the kill: %+v", before)
	}

	srv.start()
	defer srv.stop()
	var after []openInterval
	apitest.Eventually(t, 60*time.Second, "the old interval to close", func() bool {
		after = read()
		return len(after) >= 1 && after[0].Ended != nil
	})
	if !after[0].Ended.Equal(before[0].LastSeen) {
		t.Fatalf("closed at %v, last heartbeat %v", after[0].Ended, before[0].LastSeen)
	}
}
