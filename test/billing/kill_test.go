// Package billing_test meters a real agent across a SIGKILL of the built
// server: the interval left open closes at the last heartbeat, and a
// graceful stop records the replicas' ends.
package billing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/db"
)

var agentPath string

func TestMain(m *testing.M) {
	code := apitest.RunWithAgent(m, "../../internal/runtime/testdata/agent", &agentPath)
	apitest.RemoveServerBinary()
	os.Exit(code)
}

// waitFor bounds waits for work that is due; generous for loaded machines.
const waitFor = time.Minute

type intervalRow struct {
	Instance   string     `bun:"instance"`
	StartedAt  time.Time  `bun:"started_at"`
	LastSeenAt time.Time  `bun:"last_seen_at"`
	EndedAt    *time.Time `bun:"ended_at"`
}

func intervals(t *testing.T, d *bun.DB, agentID string) []intervalRow {
	t.Helper()
	var rows []intervalRow
	if err := d.NewSelect().Table("replica_intervals").Column("instance", "started_at", "last_seen_at", "ended_at").
		Where("agent_id = ?", agentID).Order("id").Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestKillClosesAtLastHeartbeat(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		dataDir := t.TempDir()
		env := []string{
			"PATH=" + os.Getenv("PATH"),
			"NEUAIS_ADDR=127.0.0.1:0",
			"NEUAIS_DATA_DIR=" + dataDir,
			"NEUAIS_DATABASE_URL=" + url,
			"NEUAIS_ADMIN_EMAIL=" + apitest.AdminEmail,
			"NEUAIS_ADMIN_PASSWORD=" + apitest.AdminPassword,
			"NEUAIS_BCRYPT_COST=4",
			"NEUAIS_LOG_LEVEL=error",
			"NEUAIS_RUNTIME_DRIVER=local",
			"NEUAIS_ALLOW_FILE_URLS=true",
			"NEUAIS_RATE_LIMIT_MIN=1000000",
			"NEUAIS_BILLING_HEARTBEAT=1s",
			"NEUAIS_STOP_GRACE=2s",
		}
		d, err := db.Open(context.Background(), apitest.DBOptions(t, url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })

		first := apitest.StartProcess(t, env)
		res := first.Do(t, http.MethodPost, "/v1/agents", first.Token, map[string]any{"name": "web", "runtime": "go", "binary_url": "file://" + agentPath})
		var agent struct{ ID string }
		if res.Err != nil || res.Status != http.StatusCreated || json.Unmarshal(res.Body, &agent) != nil {
			t.Fatalf("create: %d %s %v", res.Status, res.Body, res.Err)
		}
		if res := first.Do(t, http.MethodGet, "/v1/agents/"+agent.ID+"/wait?status=running&timeout=60s", first.Token, nil); res.Err != nil || res.Status != http.StatusOK {
			t.Fatalf("wait: %d %s %v", res.Status, res.Body, res.Err)
		}
		var ivs []intervalRow
		apitest.Eventually(t, waitFor, "a heartbeat after the replica's start", func() bool {
			ivs = intervals(t, d, agent.ID)
			return len(ivs) == 1 && ivs[0].LastSeenAt.After(ivs[0].StartedAt)
		}, func() string { return fmt.Sprintf("intervals %+v", ivs) })

		first.Kill()
		ivs = intervals(t, d, agent.ID)
		if len(ivs) != 1 || ivs[0].EndedAt != nil {
			t.Fatalf("intervals after the kill %+v, want one open", ivs)
		}
		lastSeen := ivs[0].LastSeenAt

		second := apitest.StartProcess(t, env)
		apitest.Eventually(t, waitFor, "the restarted replica's interval", func() bool {
			ivs = intervals(t, d, agent.ID)
			return len(ivs) == 2
		}, func() string { return fmt.Sprintf("intervals %+v", ivs) })
		if ivs[0].EndedAt == nil || !ivs[0].EndedAt.Equal(lastSeen) {
			t.Fatalf("killed server's interval %+v, want it closed at its last heartbeat %s", ivs[0], lastSeen)
		}
		if ivs[1].Instance == ivs[0].Instance || !ivs[1].StartedAt.After(lastSeen) {
			t.Fatalf("restarted replica's interval %+v overlaps %+v", ivs[1], ivs[0])
		}

		// A graceful stop writes the replica's end as the runtime logged it.
		second.Stop(t)
		ivs = intervals(t, d, agent.ID)
		var stopped time.Time
		if err := d.NewSelect().Table("agent_logs").Column("timestamp").Where("agent_id = ?", agent.ID).
			Where("replica = 0").Where("message = ?", "Replica 1 stopped").Scan(context.Background(), &stopped); err != nil {
			t.Fatalf("stopped line: %v", err)
		}
		if len(ivs) != 2 || ivs[1].EndedAt == nil || !ivs[1].EndedAt.Equal(stopped) {
			t.Fatalf("intervals after a graceful stop %+v, want the second to end at %s", ivs, stopped)
		}
	})
}
