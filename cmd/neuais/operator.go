package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/uptrace/bun"
	"github.com/urfave/cli/v3"

	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/billing"
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

// operatorCommands are the commands that run the platform: serve,
// migrate, orgs, invoices and version work on the server's database
// directly; runner runs in an agent's pod.
func operatorCommands(getenv func(string) string, stdout, stderr io.Writer) []*cli.Command {
	migrateSub := func(name, usage string, do func(context.Context, *bun.DB) error) *cli.Command {
		b := config.Bind(getenv)
		return &cli.Command{Name: name, Usage: usage, Flags: configFlags(b), Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return usagef("migrate %s takes no arguments", name)
			}
			cfg, err := b.Finish()
			if err != nil {
				return err
			}
			d, err := openDB(ctx, cfg)
			if err != nil {
				return err
			}
			defer d.Close()
			return do(ctx, d)
		}}
	}
	return []*cli.Command{
		serveCommand(getenv, stdout, stderr),
		{
			Name:   "migrate",
			Usage:  "apply, roll back (the last group) or list migrations; works while a server runs",
			Action: noSubcommand,
			Commands: []*cli.Command{
				migrateSub("up", "apply pending migrations", func(ctx context.Context, d *bun.DB) error {
					applied, err := migrations.Up(ctx, d)
					if err == nil {
						fmt.Fprintf(stdout, "Applied %d migration(s); the database is up to date\n", applied)
					}
					return err
				}),
				migrateSub("down", "roll back the last group of migrations", func(ctx context.Context, d *bun.DB) error {
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
					return nil
				}),
				migrateSub("status", "list migrations with their applied times", func(ctx context.Context, d *bun.DB) error {
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
				}),
			},
		},
		{
			Name:     "orgs",
			Usage:    "create and list organizations and set their tiers (applies pending migrations first, as serve does)",
			Action:   noSubcommand,
			Commands: []*cli.Command{orgsCreate(getenv, stdout), orgsList(getenv, stdout), orgsSetTier(getenv, stdout)},
		},
		{
			Name:     "invoices",
			Usage:    "list invoices and record their payment (applies pending migrations first, as serve does)",
			Action:   noSubcommand,
			Commands: []*cli.Command{invoicesList(getenv, stdout), invoicesStatus(getenv, stdout, "mark-paid", models.InvoicePaid), invoicesStatus(getenv, stdout, "void", models.InvoiceVoid)},
		},
		runnerCommand(),
		{
			Name:  "version",
			Usage: "print the version, VCS revision and Go version of the build",
			Action: func(context.Context, *cli.Command) error {
				fmt.Fprintln(stdout, "neuais", app.BuildInfo())
				return nil
			},
		},
	}
}

// orgsService opens the database, applies pending migrations and returns
// the organizations service; close the database when done.
func orgsService(ctx context.Context, b *config.Binding) (*orgs.Service, *bun.DB, error) {
	cfg, err := b.Finish()
	if err != nil {
		return nil, nil, err
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if _, err := migrations.Up(ctx, d); err != nil {
		d.Close()
		return nil, nil, err
	}
	return orgs.NewService(d, auth.NewHasher(cfg.BcryptCost)), d, nil
}

func orgsList(getenv func(string) string, stdout io.Writer) *cli.Command {
	b := config.Bind(getenv)
	return &cli.Command{Name: "list", Usage: "list organizations: id, name, slug, tier, rate limit, creation time", Flags: configFlags(b),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return usagef("orgs list takes no arguments")
			}
			svc, d, err := orgsService(ctx, b)
			if err != nil {
				return err
			}
			defer d.Close()
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
		}}
}

func orgsCreate(getenv func(string) string, stdout io.Writer) *cli.Command {
	b := config.Bind(getenv, "admin-email", "admin-password")
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "slug", Usage: "the organization's label in its agents' endpoint hosts; derived from NAME when empty"},
		&cli.StringFlag{Name: "admin-email", Usage: "e-mail of the organization's first admin", Required: true},
		&cli.StringFlag{Name: "admin-password", Usage: "password of the first admin; generated and printed once when empty"},
		&cli.StringFlag{Name: "tier", Usage: "rate-limit tier: free, pro or enterprise", Value: string(models.TierFree)},
	}, configFlags(b)...)
	return &cli.Command{Name: "create", Usage: "create an organization and its first admin", ArgsUsage: "NAME", Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("orgs create takes one NAME")
			}
			svc, d, err := orgsService(ctx, b)
			if err != nil {
				return err
			}
			defer d.Close()
			password := cmd.String("admin-password")
			generated := password == ""
			if generated {
				var r [18]byte
				if _, err := rand.Read(r[:]); err != nil {
					return fmt.Errorf("generate password: %w", err)
				}
				password = base64.RawURLEncoding.EncodeToString(r[:])
			}
			org, admin, err := svc.Create(ctx, orgs.CreateParams{Name: cmd.Args().First(), Slug: cmd.String("slug"), Tier: models.Tier(cmd.String("tier")),
				AdminEmail: cmd.String("admin-email"), AdminPassword: password})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Created organization %q (%s, slug %s, tier %s, %d requests/minute) with admin %s (%s)\n", org.Name, org.ID, org.Slug, org.Tier, org.RateLimit, admin.Email, admin.ID)
			if generated {
				fmt.Fprintf(stdout, "Generated password (shown once): %s\n", password)
			}
			return nil
		}}
}

func orgsSetTier(getenv func(string) string, stdout io.Writer) *cli.Command {
	b := config.Bind(getenv)
	flags := append([]cli.Flag{
		&cli.StringFlag{Name: "tier", Usage: "free, pro or enterprise", Required: true},
		&cli.IntFlag{Name: "rate-limit", Usage: "requests per minute; the tier's default (100, 1000, 10000) when 0"},
	}, configFlags(b)...)
	return &cli.Command{Name: "set-tier", Usage: "set an organization's tier and rate limit; its tokens get it on their next request", ArgsUsage: "ORG (id, slug or name)", Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("orgs set-tier takes one ORG")
			}
			svc, d, err := orgsService(ctx, b)
			if err != nil {
				return err
			}
			defer d.Close()
			org, err := svc.SetTier(ctx, cmd.Args().First(), models.Tier(cmd.String("tier")), int(cmd.Int("rate-limit")))
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Organization %q (%s) is on tier %s, %d requests/minute\n", org.Name, org.ID, org.Tier, org.RateLimit)
			return nil
		}}
}

// billingService opens the database, applies pending migrations and
// returns the billing service; close the database when done.
func billingService(ctx context.Context, b *config.Binding) (*billing.Service, *bun.DB, error) {
	cfg, err := b.Finish()
	if err != nil {
		return nil, nil, err
	}
	d, err := openDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if _, err := migrations.Up(ctx, d); err != nil {
		d.Close()
		return nil, nil, err
	}
	return billing.NewService(d, billing.DefaultPrices, billing.SystemClock{}), d, nil
}

func invoicesList(getenv func(string) string, stdout io.Writer) *cli.Command {
	b := config.Bind(getenv)
	flags := append([]cli.Flag{&cli.StringFlag{Name: "org", Usage: "only this organization's (its id)"}}, configFlags(b)...)
	return &cli.Command{Name: "list", Usage: "list invoices, newest period first", Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return usagef("invoices list takes no arguments")
			}
			svc, d, err := billingService(ctx, b)
			if err != nil {
				return err
			}
			defer d.Close()
			list, err := svc.AllInvoices(ctx, cmd.String("org"))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tORGANIZATION\tPERIOD\tAMOUNT\tSTATUS\tDUE DATE")
			for _, inv := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", inv.ID, inv.OrgID, inv.Period, inv.Amount, inv.Status, inv.DueDate)
			}
			return tw.Flush()
		}}
}

func invoicesStatus(getenv func(string) string, stdout io.Writer, name string, status models.InvoiceStatus) *cli.Command {
	b := config.Bind(getenv)
	return &cli.Command{Name: name, Usage: "record an open invoice as " + string(status), ArgsUsage: "INVOICE_ID", Flags: configFlags(b),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() != 1 {
				return usagef("invoices %s takes one INVOICE_ID", name)
			}
			svc, d, err := billingService(ctx, b)
			if err != nil {
				return err
			}
			defer d.Close()
			inv, err := svc.SetStatus(ctx, cmd.Args().First(), status)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Invoice %s (%s, %s) is %s\n", inv.ID, inv.Period, inv.Amount, inv.Status)
			return nil
		}}
}
