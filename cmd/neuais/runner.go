package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/neuais/neuais/internal/runner"
)

// runnerCommand is what an agent's Kubernetes pod runs, and its readiness probe.
func runnerCommand() *cli.Command {
	return &cli.Command{
		Name:  "runner",
		Usage: "in an agent's pod: fetch its binary as NEUAIS_RUNNER_* say, check its sha256 and run it",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Present() {
				return usagef("unknown command %q", cmd.Args().First())
			}
			return runner.Run(ctx, os.Environ())
		},
		Commands: []*cli.Command{{
			Name:  "ready",
			Usage: "readiness probe: exit 0 once the agent listens on --port or has run for --after",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "port", Usage: "the agent's TCP port on 127.0.0.1"},
				&cli.DurationFlag{Name: "after", Value: 30 * time.Second, Usage: "grace period for agents that listen on no port, from when the runner wrote --binary"},
				&cli.StringFlag{Name: "binary", Value: "/work/agent", Usage: "the binary the runner wrote and exec'd"},
			},
			Action: func(_ context.Context, cmd *cli.Command) error {
				if cmd.Args().Present() {
					return usagef("runner ready takes no arguments")
				}
				port, after := cmd.Int("port"), cmd.Duration("after")
				if !runner.Ready(port, after, cmd.String("binary")) {
					return fmt.Errorf("not ready: nothing listens on port %d and the agent has run less than %s", port, after)
				}
				return nil
			},
		}},
	}
}
