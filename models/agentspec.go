package models

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// This file is the agent's spec: what a user controls of an agent, in one
// place. Adding a field means this file (the Agent field with its spec
// tag, the inputs, their application and validation, RunSpec when the
// runtime needs it), the schema (graph/schema/agents.graphqls) and a
// migration; TestAgentSpecAgrees fails while they disagree.

// Agent is a user's binary run as replicas. Desired* and the spec fields
// are written by the API; Status and StatusReason by the runtime, and by the
// API for the transitions (stopping, starting, restarting) it starts.
//
// A field with a spec tag is part of the spec. The tag names its input
// field as the schema spells it ("config.cpu" inside AgentConfigInput),
// then its options: fixed (set at creation and never changed; in both
// inputs, the update's must match), create (in the create input only),
// derived (computed from other fields: no input, never compared), sealed
// (stored encrypted in the column of its Sealed… twin).
type Agent struct {
	bun.BaseModel `bun:"table:agents"`

	ID           string `bun:"id,pk"`
	OrgID        string `bun:"org_id,notnull"`
	Name         string `bun:"name,notnull" spec:"name,fixed"`
	Runtime      string `bun:"runtime,notnull" spec:"runtime"`
	Region       string `bun:"region,notnull" spec:"region,create"`
	BinaryURL    string `bun:"binary_url,notnull" spec:"binaryUrl"`
	BinarySHA256 string `bun:"binary_sha256,notnull" spec:"binarySha256"`
	// BinaryID is the uploaded binary BinaryURL names, empty for a URL
	// the runtime downloads.
	BinaryID string `bun:"binary_id,nullzero" spec:",derived"`
	CPU      string `bun:"cpu,notnull" spec:"config.cpu"`
	Memory   string `bun:"memory,notnull" spec:"config.memory"`
	Replicas int    `bun:"replicas,notnull" spec:"config.replicas"`
	// Environment is the agent's variables in the clear; it is never
	// stored as such: the environment column holds SealedEnvironment.
	Environment       map[string]string `bun:"-" spec:"environment,sealed"`
	SealedEnvironment string            `bun:"environment,notnull" json:"-"`
	// endpoint and orgSlug make the replicas' URLs (Endpoints), as the
	// agents service set them (SetEndpoint).
	endpoint *EndpointTemplate
	orgSlug  string
	// shownWith opens the environment for a caller who may read it (the
	// service's ShowEnvironment); nil hides it.
	shownWith    Sealer
	Desired      DesiredState `bun:"desired,notnull"`
	Status       AgentStatus  `bun:"status,notnull"`
	StatusReason string       `bun:"status_reason,notnull"`
	// Generation increases on every change of the spec or desired state, so
	// the runtime can tell which replicas run an outdated spec.
	Generation int64     `bun:"generation,notnull"`
	Version    int64     `bun:"version,notnull"` // ETag source, bumped on every write
	CreatedAt  time.Time `bun:"created_at,notnull"`
	UpdatedAt  time.Time `bun:"updated_at,notnull"`
}

// AgentConfigInput is a resource request; nil fields keep their value (or
// take the default on creation).
type AgentConfigInput struct {
	CPU      *string
	Memory   *string
	Replicas *int
}

// CreateAgentInput is a new agent's spec.
type CreateAgentInput struct {
	Name         string
	Runtime      string
	Region       *string
	BinaryURL    string
	BinarySHA256 *string
	Config       *AgentConfigInput
	Environment  map[string]any
}

// UpdateAgentInput is a partial change of an agent's spec: only the fields
// given change. An Environment given replaces the whole environment.
type UpdateAgentInput struct {
	// Name, given, must be the current name: names cannot change, but a
	// client may send back the agent it read.
	Name         *string
	Runtime      *string
	BinaryURL    *string
	BinarySHA256 *string
	Config       *AgentConfigInput
	Environment  map[string]any
}

// Apply sets a's spec from in over the defaults and validates it.
// a.BinaryID is left to the caller, which knows the uploaded binaries.
// Errors: invalid_request with the field at fault.
func (in CreateAgentInput) Apply(a *Agent, r AgentRules) error {
	a.Name, a.Runtime, a.BinaryURL = in.Name, in.Runtime, in.BinaryURL
	a.Region = r.Regions[0]
	a.CPU, a.Memory, a.Replicas = DefaultAgentCPU, DefaultAgentMemory, DefaultAgentReplicas
	if err := validateAgentName(a.Name); err != nil {
		return err
	}
	if in.Region != nil {
		if err := r.validateRegion(*in.Region); err != nil {
			return err
		}
		a.Region = *in.Region
	}
	if in.BinarySHA256 != nil {
		a.BinarySHA256 = *in.BinarySHA256
	}
	in.Config.apply(a)
	env, err := agentEnvironment(in.Environment)
	if err != nil {
		return err
	}
	a.Environment = env
	return a.ValidateSpec(r)
}

// Apply changes the fields in gives and validates the result.
// Errors: invalid_request with the field at fault (also a name other than
// a's).
func (in UpdateAgentInput) Apply(a *Agent, r AgentRules) error {
	if in.Name != nil && *in.Name != a.Name {
		return Invalid(agentFieldName, "cannot be changed")
	}
	if in.Runtime != nil {
		a.Runtime = *in.Runtime
	}
	if in.BinaryURL != nil {
		a.BinaryURL = *in.BinaryURL
	}
	if in.BinarySHA256 != nil {
		a.BinarySHA256 = *in.BinarySHA256
	}
	in.Config.apply(a)
	if in.Environment != nil {
		env, err := agentEnvironment(in.Environment)
		if err != nil {
			return err
		}
		a.Environment = env
	}
	return a.ValidateSpec(r)
}

func (c *AgentConfigInput) apply(a *Agent) {
	if c == nil {
		return
	}
	if c.CPU != nil {
		a.CPU = *c.CPU
	}
	if c.Memory != nil {
		a.Memory = *c.Memory
	}
	if c.Replicas != nil {
		a.Replicas = *c.Replicas
	}
}

// SpecField is one field of a spec, as its spec tag declares it.
type SpecField struct {
	Field  string // the Go field
	Column string // in the resource's table
	// Input is the field's path in the schema's inputs ("config.cpu"),
	// empty for a derived field.
	Input string
	// Fixed is given at creation and never changes; CreateOnly is in the
	// create input only.
	Fixed, CreateOnly bool
	index             []int
}

// SpecFields returns the spec fields of a struct type (a pointer to one
// will do) from its spec and bun tags, embedded structs included; a
// malformed tag is an error.
func SpecFields(t reflect.Type) ([]SpecField, error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []SpecField
	for _, f := range reflect.VisibleFields(t) {
		tag, ok := f.Tag.Lookup("spec")
		if !ok {
			continue
		}
		input, opts, _ := strings.Cut(tag, ",")
		sf := SpecField{Field: f.Name, Column: bunColumn(f), Input: input, index: f.Index}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "":
			case "fixed":
				sf.Fixed = true
			case "create":
				sf.CreateOnly = true
			case "derived":
				if input != "" {
					return nil, fmt.Errorf("models: %s.%s: a derived field has no input", t.Name(), f.Name)
				}
			case "sealed":
				twin, ok := t.FieldByName("Sealed" + f.Name)
				if !ok {
					return nil, fmt.Errorf("models: %s.%s: sealed without a Sealed%s field", t.Name(), f.Name, f.Name)
				}
				sf.Column = bunColumn(twin)
			default:
				return nil, fmt.Errorf("models: %s.%s: unknown spec option %q", t.Name(), f.Name, o)
			}
		}
		if sf.Column == "" || sf.Column == "-" {
			return nil, fmt.Errorf("models: %s.%s: a spec field needs a column", t.Name(), f.Name)
		}
		out = append(out, sf)
	}
	return out, nil
}

func bunColumn(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("bun"), ",")
	return name
}

// agentSpec is Agent's spec, read once: a bad tag fails every test.
var agentSpec = func() []SpecField {
	fields, err := SpecFields(reflect.TypeFor[Agent]())
	if err != nil {
		panic(err)
	}
	return fields
}()

// AgentSpec returns the fields of an agent's spec, in declaration order.
func AgentSpec() []SpecField { return slices.Clone(agentSpec) }

// AgentWriteColumns returns the columns a change of an agent's spec or
// desired state writes: the spec's that can change, the derived ones, the
// desired state and what moves with every change. The status columns are
// the runtime's and written only with a transition, so they are not here.
func AgentWriteColumns() []string {
	var out []string
	for _, f := range agentSpec {
		if !f.Fixed && !f.CreateOnly {
			out = append(out, f.Column)
		}
	}
	return append(out, "desired", "generation", "version", "updated_at")
}

// SpecChanges names the spec fields whose value differs between a and
// before, as clients write them (binary_url, config.cpu), in declaration
// order; derived fields follow theirs, so they are not compared. No name
// means the spec is unchanged: no new generation, no rollout.
func (a *Agent) SpecChanges(before *Agent) []string {
	x, y := reflect.ValueOf(a).Elem(), reflect.ValueOf(before).Elem()
	var out []string
	for _, f := range agentSpec {
		if f.Input != "" && !sameValue(x.FieldByIndex(f.index), y.FieldByIndex(f.index)) {
			out = append(out, snakeCase(f.Input))
		}
	}
	return out
}

// sameValue compares two values of one spec field; a nil map is an empty one.
func sameValue(x, y reflect.Value) bool {
	if x.Kind() == reflect.Map {
		return x.Len() == y.Len() && (x.Len() == 0 || reflect.DeepEqual(x.Interface(), y.Interface()))
	}
	return x.Equal(y)
}

// snakeCase turns binarySha256 into binary_sha256.
func snakeCase(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// RunSpec is what a runtime driver runs for one agent (runtime.Spec).
type RunSpec struct {
	AgentID string
	OrgID   string
	Name    string
	// Generation is the agents row's generation the spec was built from;
	// replicas report the generation they were started with.
	Generation int64
	// BinaryPath is the fetched and verified executable; a cluster driver,
	// whose replicas fetch it themselves, uses BinaryURL (an uploaded
	// binary's BinaryID when set), checked against BinarySHA256.
	BinaryPath   string
	BinaryURL    string
	BinaryID     string
	BinarySHA256 string
	Environment  map[string]string
	Replicas     int
	// CPU (cores, "0.5") and Memory ("256Mi") are the limits to apply
	// where the host allows it.
	CPU    string
	Memory string
}

// RunSpec returns what the runtime runs for a, whose binary was fetched
// to binaryPath.
func (a *Agent) RunSpec(binaryPath string) RunSpec {
	return RunSpec{
		AgentID: a.ID, OrgID: a.OrgID, Name: a.Name, Generation: a.Generation,
		BinaryPath: binaryPath, BinaryURL: a.BinaryURL, BinaryID: a.BinaryID, BinarySHA256: a.BinarySHA256,
		Environment: a.Environment, Replicas: a.Replicas,
		CPU: a.CPU, Memory: a.Memory,
	}
}

// SameTemplate reports whether x and y start identical processes; when
// not, moving from one to the other is a rollout that replaces every
// replica. The ids, the generation and the replica count are not part of
// the template.
func (x RunSpec) SameTemplate(y RunSpec) bool {
	return x.BinaryPath == y.BinaryPath && x.BinaryURL == y.BinaryURL && x.BinaryID == y.BinaryID &&
		x.BinarySHA256 == y.BinarySHA256 && x.Name == y.Name && x.CPU == y.CPU &&
		x.Memory == y.Memory && maps.Equal(x.Environment, y.Environment)
}

// AgentRules are what this server accepts in an agent's spec beyond the
// fixed limits.
type AgentRules struct {
	// Regions agents may be placed in; the first is the default.
	Regions []string
	// AllowFileURLs accepts file:// binary URLs (local use only).
	AllowFileURLs bool
	// MaxReplicas bounds an agent's replica count.
	MaxReplicas int
}

// AgentRuntimes are the accepted values of an agent's runtime: every one
// is a native executable for the server's platform, built from that
// language.
var AgentRuntimes = []string{"go", "rust", "native"}

// Limits of an agent's spec.
const (
	MinAgentCPU             = 0.01 // cores
	MaxAgentCPU             = 64
	MinAgentMemory          = 4 << 20   // bytes
	MaxAgentMemory          = 256 << 30 // bytes
	MaxAgentBinaryURLLength = 2048
	MaxAgentEnvVars         = 100
	MaxAgentEnvKeyLength    = 128
	MaxAgentEnvValueBytes   = 32 << 10
	MaxAgentEnvBytes        = 64 << 10
)

// Defaults of an agent's resource request.
const (
	DefaultAgentCPU      = "0.5"
	DefaultAgentMemory   = "512Mi"
	DefaultAgentReplicas = 1
)

var (
	agentNameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	agentCPURE    = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,3})?$`)
	agentMemoryRE = regexp.MustCompile(`^([0-9]+)(Ki|Mi|Gi|Ti|K|M|G|T)?$`)
	agentEnvKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	agentSHA256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Field names of errors, in the schema's input spelling; rest/ turns them
// into the REST spelling (binaryUrl → binary_url).
const (
	agentFieldName        = "name"
	agentFieldRuntime     = "runtime"
	agentFieldRegion      = "region"
	agentFieldBinaryURL   = "binaryUrl"
	agentFieldSHA256      = "binarySha256"
	agentFieldCPU         = "config.cpu"
	agentFieldMemory      = "config.memory"
	agentFieldReplicas    = "config.replicas"
	agentFieldEnvironment = "environment"
)

// ValidateSpec checks every field of a's spec that can change.
// Errors: invalid_request with the field at fault.
func (a *Agent) ValidateSpec(r AgentRules) error {
	for _, err := range []error{
		validateAgentRuntime(a.Runtime),
		r.validateBinaryURL(a.BinaryURL),
		validateAgentSHA256(a.BinarySHA256),
		validateAgentCPU(a.CPU),
		validateAgentMemory(a.Memory),
		r.ValidateReplicas(agentFieldReplicas, a.Replicas),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func validateAgentName(name string) error {
	if len(name) < 1 || len(name) > 63 || !agentNameRE.MatchString(name) {
		return Invalid(agentFieldName, "must be a DNS label: 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit")
	}
	return nil
}

func validateAgentRuntime(runtime string) error {
	if !slices.Contains(AgentRuntimes, runtime) {
		return Invalid(agentFieldRuntime, "must be one of "+strings.Join(AgentRuntimes, ", "))
	}
	return nil
}

func (r AgentRules) validateRegion(region string) error {
	if !slices.Contains(r.Regions, region) {
		return Invalid(agentFieldRegion, "must be one of "+strings.Join(r.Regions, ", "))
	}
	return nil
}

func (r AgentRules) validateBinaryURL(raw string) error {
	if raw == "" {
		return Invalid(agentFieldBinaryURL, "is required")
	}
	if len(raw) > MaxAgentBinaryURLLength {
		return Invalid(agentFieldBinaryURL, fmt.Sprintf("must be at most %d characters", MaxAgentBinaryURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Invalid(agentFieldBinaryURL, "must be a valid URL")
	}
	if _, ok := UploadedBinaryID(raw); ok && u.Scheme == "neuais" {
		return nil // the agents service checks that the organization has it
	}
	switch u.Scheme {
	case "neuais":
		return Invalid(agentFieldBinaryURL, "must name an uploaded binary as neuais://binaries/bin_…")
	case "http", "https":
		if u.Host == "" {
			return Invalid(agentFieldBinaryURL, "must name a host")
		}
		return nil
	case "file":
		if !r.AllowFileURLs {
			return Invalid(agentFieldBinaryURL, "must be an http or https URL (file URLs are disabled on this server)")
		}
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") || (u.Host != "" && u.Host != "localhost") {
			return Invalid(agentFieldBinaryURL, "must be a file URL with an absolute path")
		}
		return nil
	}
	reason := "must be an http or https URL"
	if r.AllowFileURLs {
		reason = "must be an http, https or file URL"
	}
	return Invalid(agentFieldBinaryURL, reason)
}

func validateAgentSHA256(sum string) error {
	if sum != "" && !agentSHA256RE.MatchString(sum) {
		return Invalid(agentFieldSHA256, "must be 64 lowercase hexadecimal characters")
	}
	return nil
}

func validateAgentCPU(cpu string) error {
	reason := fmt.Sprintf("must be a decimal number of cores between %g and %d, such as \"0.25\" or \"1.0\"", MinAgentCPU, MaxAgentCPU)
	if !agentCPURE.MatchString(cpu) {
		return Invalid(agentFieldCPU, reason)
	}
	cores, err := strconv.ParseFloat(cpu, 64)
	if err != nil || cores < MinAgentCPU || cores > MaxAgentCPU {
		return Invalid(agentFieldCPU, reason)
	}
	return nil
}

func validateAgentMemory(memory string) error {
	reason := "must be a quantity between 4Mi and 256Gi, such as \"256Mi\" or \"1Gi\""
	m := agentMemoryRE.FindStringSubmatch(memory)
	if m == nil || len(m[1]) > 15 {
		return Invalid(agentFieldMemory, reason)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	unit := map[string]int64{"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}[m[2]]
	if n > MaxAgentMemory/unit || n*unit < MinAgentMemory {
		return Invalid(agentFieldMemory, reason)
	}
	return nil
}

// ValidateReplicas checks a replica count, naming field as the caller
// wrote it: "config.replicas" in a spec, "replicas" in a scale request.
// Errors: invalid_request.
func (r AgentRules) ValidateReplicas(field string, n int) error {
	switch {
	case n < 1:
		return Invalid(field, "must be greater than 0")
	case n > r.MaxReplicas:
		return Invalid(field, fmt.Sprintf("must be at most %d", r.MaxReplicas))
	}
	return nil
}

// agentEnvironment checks a GraphQL Map of variables and returns it as strings.
func agentEnvironment(m map[string]any) (map[string]string, error) {
	if len(m) > MaxAgentEnvVars {
		return nil, Invalid(agentFieldEnvironment, fmt.Sprintf("must hold at most %d variables", MaxAgentEnvVars))
	}
	env := make(map[string]string, len(m))
	total := 0
	for _, k := range slices.Sorted(maps.Keys(m)) {
		field := agentFieldEnvironment + "." + k
		if len(k) > MaxAgentEnvKeyLength || !agentEnvKeyRE.MatchString(k) {
			return nil, Invalid(field, fmt.Sprintf("must be a variable name: letters, digits and underscores, not starting with a digit, at most %d characters", MaxAgentEnvKeyLength))
		}
		v, ok := m[k].(string)
		if !ok {
			return nil, Invalid(field, "must be a string")
		}
		if len(v) > MaxAgentEnvValueBytes {
			return nil, Invalid(field, fmt.Sprintf("must be at most %d bytes", MaxAgentEnvValueBytes))
		}
		total += len(k) + len(v)
		env[k] = v
	}
	if total > MaxAgentEnvBytes {
		return nil, Invalid(agentFieldEnvironment, fmt.Sprintf("must be at most %d bytes in all", MaxAgentEnvBytes))
	}
	return env, nil
}
