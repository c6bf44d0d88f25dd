package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/migrations"
	"github.com/neuais/neuais/models"
)

// openDB opens the configured database, the same one the server uses.
func openDB(ctx context.Context, cfg config.Config) (*bun.DB, error) {
	return db.Open(ctx, db.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, SQLiteSynchronous: cfg.SQLiteSynchronous})
}

// migrateCmd runs `neuais migrate up|down|status [flags]`.
func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "usage: neuais migrate up|down|status [flags]"
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, pos, err := config.LoadFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New(usage)
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	switch pos[0] {
	case "up":
		applied, err := migrations.Up(ctx, d)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Applied %d migration(s); the database is up to date\n", applied)
	case "down":
		group, err := migrations.Down(ctx, d)
		if err != nil {
			return err
		}
		if group.IsZero() {
			fmt.Fprintln(stdout, "Nothing to roll back")
			return nil
		}
		fmt.Fprintf(stdout, "Rolled back group %d:\n", group.ID)
		for _, m := range group.Migrations {
			fmt.Fprintf(stdout, "  %s\n", m.Name+"_"+m.Comment)
		}
	case "status":
		ms, err := migrations.Status(ctx, d)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MIGRATION\tSTATUS\tGROUP\tAPPLIED AT")
		for _, m := range ms {
			if m.IsApplied() {
				fmt.Fprintf(tw, "%s\tapplied\t%d\t%s\n", m.Name+"_"+m.Comment, m.GroupID, m.MigratedAt.UTC().Format(time.RFC3339))
			} else {
				fmt.Fprintf(tw, "%s\tpending\t\t\n", m.Name+"_"+m.Comment)
			}
		}
		return tw.Flush()
	default:
		return errors.New(usage)
	}
	return nil
}

// orgsCmd runs `neuais orgs create|list`. It applies pending migrations
// first, as the server does on start.
func orgsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	const usage = "usage: neuais orgs create NAME --admin-email E [--admin-password P] [--tier free|pro|enterprise] [--slug S] | neuais orgs list"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("orgs "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var email, password, tier, slug string
	if args[0] == "create" {
		fs.StringVar(&slug, "slug", "", "the organization's label in its agents' endpoint hosts; derived from NAME when empty")
		fs.StringVar(&email, "admin-email", "", "e-mail of the organization's first admin")
		fs.StringVar(&password, "admin-password", "", "password of the first admin; generated and printed once when empty")
		fs.StringVar(&tier, "tier", string(models.TierFree), "rate-limit tier: free, pro or enterprise")
	}
	cfg, pos, err := config.LoadFlags(fs, args[1:], getenv)
	if err != nil {
		return err
	}
	switch {
	case args[0] == "create" && len(pos) == 1:
	case args[0] == "list" && len(pos) == 0:
	default:
		return errors.New(usage)
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := migrations.Up(ctx, d); err != nil {
		return err
	}
	svc := orgs.NewService(d, auth.NewHasher(cfg.BcryptCost))
	if args[0] == "list" {
		list, err := svc.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSLUG\tTIER\tRATE LIMIT\tCREATED AT")
		for _, o := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/min\t%s\n", o.ID, o.Name, o.Slug, o.Tier, o.RateLimit, o.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	}
	generated := password == ""
	if generated {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("generate password: %w", err)
		}
		password = base64.RawURLEncoding.EncodeToString(b[:])
	}
	org, admin, err := svc.Create(ctx, orgs.CreateParams{Name: pos[0], Slug: slug, Tier: models.Tier(tier), AdminEmail: email, AdminPassword: password})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created organization %q (%s, slug %s, tier %s, %d requests/minute) with admin %s (%s)\n", org.Name, org.ID, org.Slug, org.Tier, org.RateLimit, admin.Email, admin.ID)
	if generated {
		fmt.Fprintf(stdout, "Generated password (shown once): %s\n", password)
	}
	return nil
}
