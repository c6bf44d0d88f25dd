package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
)

// clientCommands are the commands that talk to a server's API.
func (e *environment) clientCommands() []*cli.Command {
	return []*cli.Command{
		e.loginCommand(),
		e.logoutCommand(),
		e.agentsCommand(),
		e.deployCommand(),
		e.logsCommand(),
		e.metricsCommand(),
		{Name: "services", Usage: "list the platform's components and their health",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return e.list(ctx, cmd, "/services", "services", []string{"name", "status", "version", "uptime"})
			}},
		e.usersCommand(),
		e.binariesCommand(),
		e.tokensCommand(),
	}
}

// query builds a query string from the flags that are set.
func query(cmd *cli.Command, names ...string) string {
	q := url.Values{}
	for _, n := range names {
		if cmd.IsSet(n) {
			q.Set(strings.ReplaceAll(n, "-", "_"), fmt.Sprint(cmd.Value(n)))
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

var pageFlags = []cli.Flag{
	&cli.IntFlag{Name: "limit", Usage: "page size"},
	&cli.IntFlag{Name: "offset", Usage: "items to skip"},
	&cli.StringFlag{Name: "sort", Usage: "field[:asc|desc]"},
}

// onAgent is a command acting on one agent by name or id.
func (e *environment) onAgent(name, usage string, extra []string, flags []cli.Flag, do func(ctx context.Context, cmd *cli.Command, c *client, id string, rest []string) (json.RawMessage, error)) *cli.Command {
	return &cli.Command{Name: name, Usage: usage, ArgsUsage: strings.Join(append([]string{"AGENT"}, extra...), " "), Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			a, err := args(cmd, append([]string{"AGENT"}, extra...)...)
			if err != nil {
				return err
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			id, err := agentID(ctx, c, a[0])
			if err != nil {
				return err
			}
			data, err := do(ctx, cmd, c, id, a[1:])
			if err != nil || data == nil {
				return err
			}
			return e.object(cmd, data)
		}}
}

func (e *environment) agentsCommand() *cli.Command {
	lifecycle := func(action string) *cli.Command {
		return e.onAgent(action, action+" an agent", nil, nil, func(ctx context.Context, _ *cli.Command, c *client, id string, _ []string) (json.RawMessage, error) {
			return c.call(ctx, http.MethodPost, "/agents/"+id+"/"+action, nil)
		})
	}
	return &cli.Command{
		Name: "agents", Usage: "list, create, change and control agents (by name or id)", Action: noSubcommand,
		Commands: []*cli.Command{
			{Name: "list", Usage: "list agents", Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "status", Usage: "only agents with this status"},
				&cli.StringFlag{Name: "region", Usage: "only agents in this region"},
				&cli.StringFlag{Name: "name-prefix", Usage: "only agents whose name starts so"},
			}, pageFlags...),
				Action: func(ctx context.Context, cmd *cli.Command) error {
					if _, err := args(cmd); err != nil {
						return err
					}
					return e.list(ctx, cmd, "/agents"+query(cmd, "status", "region", "name-prefix", "limit", "offset", "sort"), "agents",
						[]string{"id", "name", "status", "replicas", "region", "created_at"})
				}},
			e.onAgent("get", "show an agent", nil, nil, func(ctx context.Context, _ *cli.Command, c *client, id string, _ []string) (json.RawMessage, error) {
				return c.call(ctx, http.MethodGet, "/agents/"+id, nil)
			}),
			{Name: "create", Usage: "create an agent", ArgsUsage: "NAME", Flags: specFlags,
				Action: func(ctx context.Context, cmd *cli.Command) error {
					a, err := args(cmd, "NAME")
					if err != nil {
						return err
					}
					c, err := e.connect(cmd)
					if err != nil {
						return err
					}
					body, err := e.spec(ctx, cmd, c, true)
					if err != nil {
						return err
					}
					body["name"] = a[0]
					data, err := c.call(ctx, http.MethodPost, "/agents", body)
					if err != nil {
						return err
					}
					return e.object(cmd, data)
				}},
			e.onAgent("update", "change an agent's binary, replicas, environment or resources", nil, specFlags, func(ctx context.Context, cmd *cli.Command, c *client, id string, _ []string) (json.RawMessage, error) {
				body, err := e.spec(ctx, cmd, c, false)
				if err != nil {
					return nil, err
				}
				return c.call(ctx, http.MethodPut, "/agents/"+id, body)
			}),
			e.onAgent("delete", "delete an agent", nil, nil, func(ctx context.Context, _ *cli.Command, c *client, id string, _ []string) (json.RawMessage, error) {
				if _, err := c.call(ctx, http.MethodDelete, "/agents/"+id, nil); err != nil {
					return nil, err
				}
				fmt.Fprintf(e.stdout, "Agent %s deleted\n", id)
				return nil, nil
			}),
			lifecycle("start"), lifecycle("stop"), lifecycle("restart"),
			e.onAgent("scale", "set an agent's replica count", []string{"REPLICAS"}, nil, func(ctx context.Context, _ *cli.Command, c *client, id string, rest []string) (json.RawMessage, error) {
				n, err := strconv.Atoi(rest[0])
				if err != nil {
					return nil, usagef("REPLICAS must be a number, got %q", rest[0])
				}
				return c.call(ctx, http.MethodPost, "/agents/"+id+"/scale", map[string]int{"replicas": n})
			}),
			e.onAgent("wait", "wait until an agent has a status", nil, []cli.Flag{
				&cli.StringFlag{Name: "status", Value: "running", Usage: "the status to wait for"},
				&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "how long to wait"},
			}, func(ctx context.Context, cmd *cli.Command, c *client, id string, _ []string) (json.RawMessage, error) {
				return waitFor(ctx, c, id, cmd.String("status"), cmd.Duration("timeout"))
			}),
		},
	}
}

// waitFor waits for status in the server's longest waits, up to timeout;
// an agent in error ends the wait.
func waitFor(ctx context.Context, c *client, id, status string, timeout time.Duration) (json.RawMessage, error) {
	deadline := time.Now().Add(timeout)
	for {
		step := min(time.Until(deadline), 30*time.Second).Round(time.Second)
		if step < time.Second {
			step = time.Second
		}
		data, err := c.call(ctx, http.MethodGet, fmt.Sprintf("/agents/%s/wait?status=%s&timeout=%s", id, url.QueryEscape(status), step), nil)
		var api *apiError
		if errors.As(err, &api) && api.Code == "timeout" {
			if got, _ := api.Details["status"].(string); got == "error" && status != "error" {
				return nil, fmt.Errorf("agent %s is in error; see neuais logs %s", id, id)
			}
			if time.Now().Before(deadline) {
				continue
			}
		}
		return data, err
	}
}

func (e *environment) deployCommand() *cli.Command {
	flags := append([]cli.Flag{&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, Usage: "how long to wait for the agent to run"}}, specFlags...)
	return &cli.Command{
		Name: "deploy", Usage: "upload a binary, create or update the agent, wait until it runs and print its endpoint", ArgsUsage: "NAME", Flags: flags,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			a, err := args(cmd, "NAME")
			if err != nil {
				return err
			}
			if cmd.String("binary") == "" && cmd.String("binary-url") == "" {
				return usagef("deploy needs --binary FILE or --binary-url URL")
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			id, err := agentID(ctx, c, a[0])
			var api *apiError
			exists := err == nil
			if err != nil && !(errors.As(err, &api) && api.Code == "not_found") {
				return err
			}
			body, err := e.spec(ctx, cmd, c, !exists)
			if err != nil {
				return err
			}
			if exists {
				if _, err := c.call(ctx, http.MethodPut, "/agents/"+id, body); err != nil {
					return err
				}
				if _, err := c.call(ctx, http.MethodPost, "/agents/"+id+"/start", nil); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "Updated agent %s (%s)\n", a[0], id)
			} else {
				body["name"] = a[0]
				var created struct{ ID string }
				if _, err := c.callInto(ctx, http.MethodPost, "/agents", body, &created); err != nil {
					return err
				}
				id = created.ID
				fmt.Fprintf(e.stderr, "Created agent %s (%s)\n", a[0], id)
			}
			data, err := waitFor(ctx, c, id, "running", cmd.Duration("timeout"))
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return e.printJSON(data)
			}
			var agent struct {
				Endpoints []string `json:"endpoints"`
				Replicas  int      `json:"replicas"`
			}
			_ = json.Unmarshal(data, &agent)
			fmt.Fprintf(e.stdout, "Agent %s is running (%d replica(s)) at %s\n", a[0], agent.Replicas, strings.Join(agent.Endpoints, " "))
			return nil
		},
	}
}

func (e *environment) metricsCommand() *cli.Command {
	return e.onAgent("metrics", "show an agent's cpu, memory and network series", nil, []cli.Flag{
		&cli.StringFlag{Name: "period", Usage: "1h, 24h or 7d"},
		&cli.StringFlag{Name: "metric", Usage: "cpu, memory or network"},
	}, func(ctx context.Context, cmd *cli.Command, c *client, id string, _ []string) (json.RawMessage, error) {
		data, err := c.call(ctx, http.MethodGet, "/agents/"+id+"/metrics"+query(cmd, "period", "metric"), nil)
		if err != nil || jsonOutput(cmd) {
			if err == nil {
				err = e.printJSON(data)
			}
			return nil, err
		}
		var m struct {
			Metrics map[string][]struct {
				Timestamp string  `json:"timestamp"`
				Value     float64 `json:"value"`
			} `json:"metrics"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		var rows [][]string
		for _, name := range []string{"cpu", "memory", "network"} {
			for _, p := range m.Metrics[name] {
				rows = append(rows, []string{name, p.Timestamp, strconv.FormatFloat(p.Value, 'f', -1, 64)})
			}
		}
		return nil, e.table([]string{"METRIC", "TIMESTAMP", "VALUE"}, rows)
	})
}

// logLine is one line of an agent's log.
type logLine struct {
	ID        string `json:"id,omitempty"`
	Timestamp string `json:"timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
	Replica   int    `json:"replica"`
}

func (e *environment) printLine(cmd *cli.Command, l logLine) {
	if jsonOutput(cmd) {
		data, _ := json.Marshal(l)
		fmt.Fprintln(e.stdout, string(data))
		return
	}
	fmt.Fprintf(e.stdout, "%s %-5s [%d] %s\n", l.Timestamp, l.Level, l.Replica, l.Message)
}

func (e *environment) logsCommand() *cli.Command {
	return e.onAgent("logs", "print an agent's log; -f follows it, reconnecting without repeating or losing a line", nil, []cli.Flag{
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines"},
		&cli.IntFlag{Name: "tail", Usage: "lines of the past to print (server default 100)"},
		&cli.StringFlag{Name: "since", Usage: "only lines newer than this, such as 30m or 1h"},
		&cli.StringFlag{Name: "level", Usage: "only this level and more severe: debug, info, warn, error"},
	}, func(ctx context.Context, cmd *cli.Command, c *client, id string, _ []string) (json.RawMessage, error) {
		path := "/agents/" + id + "/logs" + query(cmd, "tail", "since", "level")
		if !cmd.Bool("follow") {
			var page struct {
				Logs []logLine `json:"logs"`
			}
			data, err := c.callInto(ctx, http.MethodGet, path, nil, &page)
			if err != nil {
				return nil, err
			}
			if jsonOutput(cmd) {
				return nil, e.printJSON(data)
			}
			for _, l := range page.Logs {
				e.printLine(cmd, l)
			}
			return nil, nil
		}
		return nil, e.follow(ctx, cmd, c, path)
	})
}

// follow prints an agent's log as Server-Sent Events; when the stream ends
// (a server restart, a network cut) it reconnects with Last-Event-ID, and
// skips any id it has printed, so that no line is repeated or lost.
func (e *environment) follow(ctx context.Context, cmd *cli.Command, c *client, path string) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	path += sep + "follow=true"
	var last int64
	backoff := 100 * time.Millisecond
	for {
		header := http.Header{"Accept": {"text/event-stream"}}
		if last > 0 {
			header.Set("Last-Event-ID", strconv.FormatInt(last, 10))
		}
		res, err := c.request(ctx, http.MethodGet, path, nil, header)
		var conn *connError
		var api *apiError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &conn) || errors.As(err, &api) && api.Status >= 500:
			if last == 0 && backoff == 100*time.Millisecond && errors.As(err, &conn) {
				return err // never connected: the server is not there
			}
			fmt.Fprintf(e.stderr, "neuais: %v; reconnecting\n", err)
		case err != nil:
			return err
		default:
			backoff = 100 * time.Millisecond
			streamErr := e.readEvents(cmd, res.Body, &last)
			res.Body.Close()
			if errors.As(streamErr, &api) && api.Code != "service_unavailable" {
				return streamErr
			}
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintln(e.stderr, "neuais: the log stream ended; reconnecting")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// readEvents prints the log lines of one event stream and returns its
// final error event, if any.
func (e *environment) readEvents(cmd *cli.Command, body io.Reader, last *int64) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id, event string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "error" {
				var env struct {
					Error *apiError `json:"error"`
				}
				if json.Unmarshal([]byte(data.String()), &env) == nil && env.Error != nil {
					return env.Error
				}
			} else if data.Len() > 0 {
				n, _ := strconv.ParseInt(id, 10, 64)
				if n > *last {
					var l logLine
					if json.Unmarshal([]byte(data.String()), &l) == nil {
						l.ID = id
						e.printLine(cmd, l)
					}
					*last = n
				}
			}
			id, event = "", ""
			data.Reset()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[6:])
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(line[5:], " "))
		}
	}
	return sc.Err()
}

func (e *environment) usersCommand() *cli.Command {
	userFlags := []cli.Flag{
		&cli.StringFlag{Name: "email", Usage: "e-mail"},
		&cli.StringFlag{Name: "role", Usage: "admin, developer or viewer"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from the first line of stdin"},
	}
	body := func(cmd *cli.Command) (map[string]any, error) {
		b := map[string]any{}
		for _, k := range []string{"email", "role"} {
			if cmd.IsSet(k) {
				b[k] = cmd.String(k)
			}
		}
		if cmd.Bool("password-stdin") {
			pw, err := e.readPassword(cmd)
			if err != nil {
				return nil, err
			}
			b["password"] = pw
		}
		return b, nil
	}
	one := func(name, usage, method string, flags []cli.Flag, withBody bool) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, ArgsUsage: "USER_ID", Flags: flags, Action: func(ctx context.Context, cmd *cli.Command) error {
			a, err := args(cmd, "USER_ID")
			if err != nil {
				return err
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			var b any
			if withBody {
				if b, err = body(cmd); err != nil {
					return err
				}
			}
			data, err := c.call(ctx, method, "/users/"+url.PathEscape(a[0]), b)
			if err != nil {
				return err
			}
			return e.object(cmd, data)
		}}
	}
	return &cli.Command{Name: "users", Usage: "manage the organization's users (admins)", Action: noSubcommand, Commands: []*cli.Command{
		{Name: "list", Usage: "list users", Flags: pageFlags, Action: func(ctx context.Context, cmd *cli.Command) error {
			return e.list(ctx, cmd, "/users"+query(cmd, "limit", "offset", "sort"), "users", []string{"id", "email", "role", "created_at"})
		}},
		one("get", "show a user", http.MethodGet, nil, false),
		{Name: "create", Usage: "add a user (password from stdin)", Flags: userFlags, Action: func(ctx context.Context, cmd *cli.Command) error {
			if !cmd.IsSet("email") || !cmd.IsSet("role") || !cmd.Bool("password-stdin") {
				return usagef("users create needs --email, --role and --password-stdin")
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			b, err := body(cmd)
			if err != nil {
				return err
			}
			data, err := c.call(ctx, http.MethodPost, "/users", b)
			if err != nil {
				return err
			}
			return e.object(cmd, data)
		}},
		one("update", "change a user's e-mail, role or password", http.MethodPut, userFlags, true),
		{Name: "delete", Usage: "delete a user", ArgsUsage: "USER_ID", Action: func(ctx context.Context, cmd *cli.Command) error {
			a, err := args(cmd, "USER_ID")
			if err != nil {
				return err
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			if _, err := c.call(ctx, http.MethodDelete, "/users/"+url.PathEscape(a[0]), nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "User %s deleted\n", a[0])
			return nil
		}},
	}}
}

func (e *environment) binariesCommand() *cli.Command {
	byID := func(name, usage string, do func(ctx context.Context, cmd *cli.Command, c *client, id string) error, flags ...cli.Flag) *cli.Command {
		return &cli.Command{Name: name, Usage: usage, ArgsUsage: "BINARY_ID", Flags: flags, Action: func(ctx context.Context, cmd *cli.Command) error {
			a, err := args(cmd, "BINARY_ID")
			if err != nil {
				return err
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			return do(ctx, cmd, c, a[0])
		}}
	}
	return &cli.Command{Name: "binaries", Usage: "upload and manage agent binaries", Action: noSubcommand, Commands: []*cli.Command{
		{Name: "upload", Usage: "upload an executable; prints its neuais:// URL", ArgsUsage: "FILE", Action: func(ctx context.Context, cmd *cli.Command) error {
			a, err := args(cmd, "FILE")
			if err != nil {
				return err
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			b, err := e.upload(ctx, c, a[0])
			if err != nil {
				return err
			}
			data, _ := json.Marshal(b)
			return e.object(cmd, data)
		}},
		{Name: "list", Usage: "list binaries", Flags: pageFlags, Action: func(ctx context.Context, cmd *cli.Command) error {
			return e.list(ctx, cmd, "/binaries"+query(cmd, "limit", "offset", "sort"), "binaries", []string{"id", "sha256", "size", "url", "created_at"})
		}},
		byID("get", "show a binary", func(ctx context.Context, cmd *cli.Command, c *client, id string) error {
			data, err := c.call(ctx, http.MethodGet, "/binaries/"+url.PathEscape(id), nil)
			if err != nil {
				return err
			}
			return e.object(cmd, data)
		}),
		byID("download", "write a binary's bytes to a file (-O) or stdout", func(ctx context.Context, cmd *cli.Command, c *client, id string) error {
			res, err := c.request(ctx, http.MethodGet, "/binaries/"+url.PathEscape(id)+"/content", nil, nil)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			path := cmd.String("output-file")
			if path == "" {
				_, err = io.Copy(e.stdout, res.Body)
				return err
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755) //nolint:gosec // a downloaded binary is run
			if err != nil {
				return err
			}
			_, err = io.Copy(f, res.Body)
			// A failed close can lose the last bytes written.
			return errors.Join(err, f.Close())
		}, &cli.StringFlag{Name: "output-file", Aliases: []string{"O"}, Usage: "file to write", TakesFile: true}),
		byID("delete", "delete a binary (refused while an agent uses it)", func(ctx context.Context, _ *cli.Command, c *client, id string) error {
			if _, err := c.call(ctx, http.MethodDelete, "/binaries/"+url.PathEscape(id), nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Binary %s deleted\n", id)
			return nil
		}),
	}}
}

func (e *environment) tokensCommand() *cli.Command {
	return &cli.Command{Name: "tokens", Usage: "API tokens for scripts and CI", Action: noSubcommand, Commands: []*cli.Command{
		{Name: "create", Usage: "create a token; its secret is printed once", ArgsUsage: "NAME", Flags: []cli.Flag{
			&cli.StringFlag{Name: "role", Value: "developer", Usage: "admin, developer or viewer; at most your own"},
			&cli.DurationFlag{Name: "expires", Usage: "lifetime, such as 720h; never expires when not given"},
		}, Action: func(ctx context.Context, cmd *cli.Command) error {
			a, err := args(cmd, "NAME")
			if err != nil {
				return err
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			body := map[string]any{"name": a[0], "role": cmd.String("role")}
			if cmd.IsSet("expires") {
				body["expires_at"] = time.Now().Add(cmd.Duration("expires")).UTC().Format(time.RFC3339)
			}
			data, err := c.call(ctx, http.MethodPost, "/tokens", body)
			if err != nil {
				return err
			}
			if err := e.object(cmd, data); err != nil {
				return err
			}
			if !jsonOutput(cmd) {
				fmt.Fprintln(e.stderr, "The token is shown this once; keep it secret (use it as NEUAIS_TOKEN).")
			}
			return nil
		}},
		{Name: "list", Usage: "list tokens (admins: all of the organization's)", Flags: pageFlags, Action: func(ctx context.Context, cmd *cli.Command) error {
			return e.list(ctx, cmd, "/tokens"+query(cmd, "limit", "offset", "sort"), "tokens", []string{"id", "name", "role", "user_id", "created_at", "expires_at", "last_used_at"})
		}},
		{Name: "revoke", Usage: "revoke a token", ArgsUsage: "TOKEN_ID", Action: func(ctx context.Context, cmd *cli.Command) error {
			a, err := args(cmd, "TOKEN_ID")
			if err != nil {
				return err
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			if _, err := c.call(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(a[0]), nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Token %s revoked\n", a[0])
			return nil
		}},
	}}
}
