package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"
)

// environment is what client commands read and write.
type environment struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (e *environment) clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "server", Usage: "the server's root URL, with or without /v1 [NEUAIS_URL]", DefaultText: "the saved login's, else " + DefaultServer},
		&cli.StringFlag{Name: "token", Usage: "bearer token: an API token nat_… or a JWT [NEUAIS_TOKEN]", DefaultText: "the saved login's"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table (for people) or json (for scripts)",
			Validator: func(v string) error {
				if v != "table" && v != "json" {
					return usagef("--output must be table or json, got %q", v)
				}
				return nil
			}},
	}
}

// connect returns a client from the flags, the variables and the saved login.
func (e *environment) connect(cmd *cli.Command) (*client, error) {
	saved, err := loadSession()
	if err != nil {
		return nil, err
	}
	server := first(cmd.String("server"), e.getenv("NEUAIS_URL"))
	token := first(cmd.String("token"), e.getenv("NEUAIS_TOKEN"))
	if saved != nil {
		if server == "" {
			server = saved.Server
		}
		if token == "" && sameServer(server, saved.Server) {
			token = saved.Token
		}
	}
	root, err := serverRoot(first(server, DefaultServer))
	if err != nil {
		return nil, err
	}
	return &client{server: root, token: token, http: &http.Client{}}, nil
}

func sameServer(a, b string) bool {
	ra, err1 := serverRoot(a)
	rb, err2 := serverRoot(b)
	return err1 == nil && err2 == nil && ra == rb
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func jsonOutput(cmd *cli.Command) bool { return cmd.String("output") == "json" }

// printJSON writes an API answer as it came, indented.
func (e *environment) printJSON(data json.RawMessage) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under headers, aligned; statuses are coloured only
// when stdout is a terminal.
func (e *environment) table(headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (e *environment) terminal() bool {
	f, ok := e.stdout.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

var statusColours = map[string]string{"running": "32", "healthy": "32", "error": "31", "unhealthy": "31", "deploying": "33", "degraded": "33",
	"starting": "33", "stopping": "33", "restarting": "33"}

func (e *environment) status(s string) string {
	if c, ok := statusColours[s]; ok && e.terminal() {
		return "\x1b[" + c + "m" + s + "\x1b[0m"
	}
	return s
}

// list runs a GET of a list and prints it: json as the API answered, or a
// table of cols taken from the items under key.
func (e *environment) list(ctx context.Context, cmd *cli.Command, path, key string, cols []string) error {
	c, err := e.connect(cmd)
	if err != nil {
		return err
	}
	data, err := c.call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if jsonOutput(cmd) {
		return e.printJSON(data)
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(data, &page); err != nil {
		return err
	}
	var items []map[string]any
	if err := json.Unmarshal(page[key], &items); err != nil {
		return err
	}
	return e.table(upper(cols), rowsOf(e, items, cols))
}

func upper(cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = strings.ToUpper(strings.ReplaceAll(c, "_", " "))
	}
	return out
}

func rowsOf(e *environment, items []map[string]any, cols []string) [][]string {
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = cell(it[c])
			if c == "status" {
				row[i] = e.status(row[i])
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case map[string]any, []any:
		data, _ := json.Marshal(v)
		return string(data)
	}
	return fmt.Sprint(v)
}

// object prints one resource: json, or "key: value" lines.
func (e *environment) object(cmd *cli.Command, data json.RawMessage) error {
	if jsonOutput(cmd) {
		return e.printJSON(data)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, k := range orderKeys(keys) {
		v := cell(m[k])
		if k == "status" {
			v = e.status(v)
		}
		fmt.Fprintf(tw, "%s:\t%s\n", k, v)
	}
	return tw.Flush()
}

// orderKeys puts id and name first, the rest alphabetically.
func orderKeys(keys []string) []string {
	rank := func(k string) string {
		switch k {
		case "id":
			return "0"
		case "name", "email":
			return "1"
		}
		return "2" + k
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && rank(keys[j]) < rank(keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// args checks a command's positional arguments.
func args(cmd *cli.Command, names ...string) ([]string, error) {
	if cmd.Args().Len() != len(names) {
		return nil, usagef("%s takes %s", cmd.FullName(), strings.Join(names, " "))
	}
	return cmd.Args().Slice(), nil
}

// agentID resolves an agent given by id (agt_…) or by name.
func agentID(ctx context.Context, c *client, ref string) (string, error) {
	if strings.HasPrefix(ref, "agt_") {
		return ref, nil
	}
	var page struct {
		Agents []struct{ ID, Name string } `json:"agents"`
	}
	if _, err := c.callInto(ctx, http.MethodGet, "/agents?fields=id,name&limit=1000&name_prefix="+url.QueryEscape(ref), nil, &page); err != nil {
		return "", err
	}
	for _, a := range page.Agents {
		if a.Name == ref {
			return a.ID, nil
		}
	}
	return "", &apiError{Status: 404, Code: "not_found", Message: fmt.Sprintf("no agent named %q", ref)}
}

// environmentFlag parses --env K=V flags.
func environmentFlag(cmd *cli.Command) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range cmd.StringSlice("env") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--env wants KEY=VALUE, got %q", kv)
		}
		env[k] = v
	}
	return env, nil
}

var specFlags = []cli.Flag{
	&cli.StringFlag{Name: "binary", Usage: "a local executable to upload (its neuais:// URL becomes the binary URL)", TakesFile: true},
	&cli.StringFlag{Name: "binary-url", Usage: "http(s) URL of the binary, or neuais://binaries/bin_…"},
	&cli.StringFlag{Name: "runtime", Usage: "go, rust or native", Value: "native"},
	&cli.IntFlag{Name: "replicas", Usage: "replica count"},
	&cli.StringSliceFlag{Name: "env", Usage: "environment variable KEY=VALUE (repeat for more)"},
	&cli.StringFlag{Name: "region", Usage: "region (at creation only)"},
	&cli.StringFlag{Name: "cpu", Usage: "cores, such as 0.5"},
	&cli.StringFlag{Name: "memory", Usage: "memory, such as 512Mi"},
}

// spec builds an agent's create or update body from the flags given,
// uploading --binary first.
func (e *environment) spec(ctx context.Context, cmd *cli.Command, c *client, create bool) (map[string]any, error) {
	body := map[string]any{}
	binaryURL := cmd.String("binary-url")
	if cmd.String("binary") != "" {
		if binaryURL != "" {
			return nil, usagef("give --binary or --binary-url, not both")
		}
		b, err := e.upload(ctx, c, cmd.String("binary"))
		if err != nil {
			return nil, err
		}
		binaryURL = b.URL
	}
	if binaryURL != "" {
		body["binary_url"] = binaryURL
	} else if create {
		return nil, usagef("a new agent needs --binary FILE or --binary-url URL")
	}
	if create || cmd.IsSet("runtime") {
		body["runtime"] = cmd.String("runtime")
	}
	config := map[string]any{}
	if cmd.IsSet("replicas") {
		config["replicas"] = cmd.Int("replicas")
	}
	for _, k := range []string{"cpu", "memory"} {
		if cmd.IsSet(k) {
			config[k] = cmd.String(k)
		}
	}
	if len(config) > 0 {
		body["config"] = config
	}
	if cmd.IsSet("env") {
		env, err := environmentFlag(cmd)
		if err != nil {
			return nil, err
		}
		body["environment"] = env
	}
	if cmd.IsSet("region") {
		if !create {
			return nil, usagef("--region is set at creation only")
		}
		body["region"] = cmd.String("region")
	}
	return body, nil
}

type uploaded struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

// upload sends a local file to POST /v1/binaries with a progress bar on a
// terminal.
func (e *environment) upload(ctx context.Context, c *client, path string) (*uploaded, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var body io.Reader = f
	if ef, ok := e.stderr.(*os.File); ok && isatty.IsTerminal(ef.Fd()) {
		body = &progress{w: e.stderr, r: f, total: fi.Size()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.server+"/v1/binaries", body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = fi.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, &connError{server: c.server, err: err}
	}
	defer res.Body.Close()
	if res.StatusCode >= 400 {
		return nil, decodeError(res)
	}
	b := new(uploaded)
	if err := json.NewDecoder(res.Body).Decode(b); err != nil {
		return nil, err
	}
	return b, nil
}

// readPassword reads a password without echo from a terminal, or the
// first line of stdin with --password-stdin.
func (e *environment) readPassword(cmd *cli.Command) (string, error) {
	if cmd.Bool("password-stdin") {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usagef("no terminal to read the password from: use --password-stdin")
	}
	fmt.Fprint(e.stderr, "Password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	return string(pw), err
}

// jwtRole reads the role claim of our own JWT, to give the login's API
// token the user's role.
func jwtRole(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Role string `json:"role"`
	}
	_ = json.Unmarshal(data, &claims)
	return claims.Role
}

func (e *environment) loginCommand() *cli.Command {
	return &cli.Command{
		Name:  "login",
		Usage: "log in and save an API token (mode 0600) in the user's config directory",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "email", Usage: "your e-mail; asked for when not given"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from the first line of stdin"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if _, err := args(cmd); err != nil {
				return err
			}
			c, err := e.connect(cmd)
			if err != nil {
				return err
			}
			c.token = ""
			email := cmd.String("email")
			if email == "" {
				if cmd.Bool("password-stdin") {
					return usagef("--password-stdin needs --email")
				}
				fmt.Fprint(e.stderr, "E-mail: ")
				line, _ := bufio.NewReader(e.stdin).ReadString('\n')
				email = strings.TrimSpace(line)
			}
			password, err := e.readPassword(cmd)
			if err != nil {
				return err
			}
			var jwt struct {
				AccessToken string `json:"access_token"`
			}
			if _, err := c.callInto(ctx, http.MethodPost, "/auth/token", map[string]string{"email": email, "password": password}, &jwt); err != nil {
				return err
			}
			c.token = jwt.AccessToken
			host, _ := os.Hostname()
			var tok struct {
				ID    string `json:"id"`
				Token string `json:"token"`
				Role  string `json:"role"`
			}
			name := fmt.Sprintf("neuais login on %s, %s", first(host, "unknown host"), time.Now().UTC().Format(time.RFC3339))
			if _, err := c.callInto(ctx, http.MethodPost, "/tokens", map[string]string{"name": name, "role": jwtRole(jwt.AccessToken)}, &tok); err != nil {
				return err
			}
			path, err := saveSession(&session{Server: c.server, Email: email, Token: tok.Token, TokenID: tok.ID})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Logged in to %s as %s (%s); API token %s saved in %s\n", c.server, email, tok.Role, tok.ID, path)
			return nil
		},
	}
}

func (e *environment) logoutCommand() *cli.Command {
	return &cli.Command{
		Name:  "logout",
		Usage: "revoke the saved login's API token and forget it",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			saved, err := loadSession()
			if err != nil {
				return err
			}
			if saved == nil {
				fmt.Fprintln(e.stdout, "Not logged in")
				return nil
			}
			c := &client{server: saved.Server, token: saved.Token, http: &http.Client{}}
			_, err = c.call(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(saved.TokenID), nil)
			var api *apiError
			if err != nil && !(errors.As(err, &api) && (api.Status == 401 || api.Status == 404)) {
				return err // an unrevoked token stays saved, so that logout can be retried
			}
			path, _ := sessionPath()
			if err := os.Remove(path); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Logged out of %s; token %s revoked\n", saved.Server, saved.TokenID)
			return nil
		},
	}
}
