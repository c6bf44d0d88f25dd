package migrations_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/migrations"
	"github.com/neuais/neuais/models"
)

// TestLogIDsMigrate stores lines under the schema before database-assigned
// log ids, migrates, and checks the lines kept their ids, got their sizes,
// and new lines take ids past them.
func TestLogIDsMigrate(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		ctx := context.Background()
		d, err := db.Open(ctx, apitest.DBOptions(t, url))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		folder := "sqlite"
		if d.Dialect().Name() == dialect.PG {
			folder = "postgres"
		}
		all, err := migrations.Files(folder)
		if err != nil {
			t.Fatal(err)
		}
		before := fstest.MapFS{}
		entries, err := fs.ReadDir(all, ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() < "20261202000200" {
				data, _ := fs.ReadFile(all, e.Name())
				before[e.Name()] = &fstest.MapFile{Data: data}
			}
		}
		set := migrate.NewMigrations()
		if err := set.Discover(before); err != nil {
			t.Fatal(err)
		}
		m := migrate.NewMigrator(d, set, migrate.WithMarkAppliedOnSuccess(true))
		if err := m.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := d.ExecContext(ctx, `INSERT INTO agent_logs (id, agent_id, org_id, replica, timestamp, level, message)
			VALUES (41, 'agt_a', 'org_1', 1, ?, 'info', 'héllo'), (42, 'agt_a', 'org_1', 0, ?, 'warn', 'Agent started')`,
			models.Now(), models.Now()); err != nil {
			t.Fatal(err)
		}

		if _, err := migrations.Up(ctx, d); err != nil {
			t.Fatal(err)
		}
		var old []models.LogLine
		if err := d.NewSelect().Model(&old).Order("id").Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(old) != 2 || old[0].ID != 41 || old[0].Bytes != int64(len("héllo")) || old[1].ID != 42 || old[1].Replica != 0 {
			t.Fatalf("migrated lines = %+v", old)
		}
		fresh := []models.LogLine{{AgentID: "agt_a", OrgID: "org_1", Replica: 2, Timestamp: models.Now(), Level: "info", Message: strings.Repeat("x", 3), Bytes: 3}}
		if _, err := d.NewInsert().Model(&fresh).Returning("id").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if fresh[0].ID <= 42 {
			t.Fatalf("new line's id = %d, want above the migrated 42", fresh[0].ID)
		}
	})
}
