// Command neuais is the platform's server and operator tool.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/config"
)

const usage = `usage: neuais <command> [flags]

commands:
  serve                          run the API server
  migrate up|down|status         apply, roll back (the last group) or list migrations
  orgs create NAME --admin-email E [--admin-password P] [--tier free|pro|enterprise]
                                 create an organization and its first admin
  orgs list                      list organizations
  version                        print the version, VCS revision and Go version of the build

Every command reads the server's configuration (NEUAIS_* variables and
their flags, see neuais serve --help) and works while a server runs.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp): // the help asked for is printed
	case err != nil:
		fmt.Fprintln(os.Stderr, "neuais:", err)
		os.Exit(1)
	}
}

// run executes one command; ctx ends on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], getenv, stdout, stderr)
	case "orgs":
		return orgsCmd(ctx, args[1:], getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "neuais", app.BuildInfo())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg.Addr = ln.Addr().String() // the port chosen for ":0", for the endpoints advertised
	a, err := app.New(ctx, cfg, logger, stdout)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	logger.Info("listening", "addr", ln.Addr().String(), "version", app.Version)
	fmt.Fprintf(stdout, "neuais %s listening on %s\n", app.Version, ln.Addr())
	return a.Serve(ctx, ln)
}
