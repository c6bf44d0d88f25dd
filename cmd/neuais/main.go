// Command neuais is the platform's server, operator tool and client.
//
// Exit codes: 0 success, 1 a failure on this machine (a file that cannot be
// read, an agent ending in error), 2 a usage error (unknown command or
// flag, bad argument), 3 an error answered by the API (its code and message
// are printed), 4 the server cannot be reached.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/config"
)

// Exit codes, documented above and in the README.
const (
	exitFailure    = 1
	exitUsage      = 2
	exitAPI        = 3
	exitConnection = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, os.Stderr))
}

// report prints err and returns the exit code of its kind.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "neuais:", err)
	var usage usageError
	var api *apiError
	var conn *connError
	switch {
	case errors.As(err, &usage):
		return exitUsage
	case errors.As(err, &api):
		return exitAPI
	case errors.As(err, &conn):
		return exitConnection
	}
	return exitFailure
}

// usageError is a command used wrongly: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() + " (see --help)" }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run executes one command line; ctx ends on SIGINT or SIGTERM. Operator
// commands read the server's configuration through getenv; client commands
// read NEUAIS_URL, NEUAIS_TOKEN and the saved login.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cli.Command{
		Name:                  "neuais",
		Usage:                 "run the neuais server, operate it, and deploy and watch agents on it",
		Version:               app.Version,
		Writer:                stdout,
		ErrWriter:             stderr,
		Reader:                stdin,
		EnableShellCompletion: true,
		HideVersion:           true,
		// main turns errors into exit codes; the library must not exit.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Flags:          env.clientFlags(),
		Commands:       append(operatorCommands(getenv, stdout, stderr), env.clientCommands()...),
		Action:         noSubcommand,
	}
	markUsageErrors(root)
	return root.Run(ctx, append([]string{"neuais"}, args...))
}

// markUsageErrors makes flag errors of cmd and its subcommands usage
// errors (exit code 2); the library sets the handler per command.
func markUsageErrors(cmd *cli.Command) {
	cmd.OnUsageError = func(_ context.Context, _ *cli.Command, err error, _ bool) error { return usageError{err} }
	for _, sub := range cmd.Commands {
		markUsageErrors(sub)
	}
}

// noSubcommand is the action of a command that only groups others.
func noSubcommand(_ context.Context, cmd *cli.Command) error {
	if cmd.Args().Present() {
		return usagef("unknown command %q", cmd.Args().First())
	}
	_ = cli.ShowSubcommandHelp(cmd)
	return usagef("no command given")
}

// configFlags are the server's settings as flags of a command: each also
// reads its variable (already read into b), and the help shows the
// built-in default, never a value from the environment.
func configFlags(b *config.Binding) []cli.Flag {
	flags := make([]cli.Flag, 0, len(b.Settings))
	for _, st := range b.Settings {
		flags = append(flags, &cli.GenericFlag{
			Name:        st.Name,
			Usage:       st.Usage + " [" + st.Env + "]",
			Value:       st.Value,
			DefaultText: config.QuoteDefault(st.Default),
			Category:    "server configuration",
		})
	}
	return flags
}

func serveCommand(getenv func(string) string, stdout, stderr io.Writer) *cli.Command {
	b := config.Bind(getenv)
	return &cli.Command{
		Name:  "serve",
		Usage: "run the API server",
		Flags: configFlags(b),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return usagef("serve takes no arguments, got %q", cmd.Args().Slice())
			}
			cfg, err := b.Finish()
			if err != nil {
				return err
			}
			return serve(ctx, cfg, stdout, stderr)
		},
	}
}

func serve(ctx context.Context, cfg config.Config, stdout, stderr io.Writer) (err error) {
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
	defer func() { err = errors.Join(err, a.Close()) }()
	a.Logger.Info("listening", "addr", ln.Addr().String(), "version", app.Version)
	fmt.Fprintf(stdout, "neuais %s listening on %s\n", app.Version, ln.Addr())
	return a.Serve(ctx, ln)
}
