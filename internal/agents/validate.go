package agents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/neuais/neuais/models"
)

// Runtimes are the accepted values of an agent's runtime: every one is a
// native executable for the server's platform, built from that language.
var Runtimes = []string{"go", "rust", "native"}

// Limits of an agent's specification.
const (
	MinCPU             = 0.01 // cores
	MaxCPU             = 64
	MinMemory          = 4 << 20   // bytes
	MaxMemory          = 256 << 30 // bytes
	MaxBinaryURLLength = 2048
	MaxEnvVars         = 100
	MaxEnvKeyLength    = 128
	MaxEnvValueBytes   = 32 << 10
	MaxEnvBytes        = 64 << 10
)

// Defaults of an agent's resource request.
const (
	DefaultCPU      = "0.5"
	DefaultMemory   = "512Mi"
	DefaultReplicas = 1
)

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	cpuRE    = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,3})?$`)
	memoryRE = regexp.MustCompile(`^([0-9]+)(Ki|Mi|Gi|Ti|K|M|G|T)?$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	regionRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// Field names of errors, in the GraphQL input spelling; rest/ turns them
// into the REST spelling (binaryUrl → binary_url).
const (
	fieldName        = "name"
	fieldRuntime     = "runtime"
	fieldRegion      = "region"
	fieldBinaryURL   = "binaryUrl"
	fieldSHA256      = "binarySha256"
	fieldCPU         = "config.cpu"
	fieldMemory      = "config.memory"
	fieldReplicas    = "config.replicas"
	fieldEnvironment = "environment"
)

func validateName(name string) error {
	if len(name) < 1 || len(name) > 63 || !nameRE.MatchString(name) {
		return models.Invalid(fieldName, "must be a DNS label: 1 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit")
	}
	return nil
}

func validateRuntime(runtime string) error {
	if !slices.Contains(Runtimes, runtime) {
		return models.Invalid(fieldRuntime, "must be one of "+strings.Join(Runtimes, ", "))
	}
	return nil
}

func (s *Service) validateRegion(region string) error {
	if !slices.Contains(s.cfg.Regions, region) {
		return models.Invalid(fieldRegion, "must be one of "+strings.Join(s.cfg.Regions, ", "))
	}
	return nil
}

// validateRegionFilter accepts any region name of the usual shape
// (us-west-2), used or not, and the server's own regions whatever their shape.
func (s *Service) validateRegionFilter(region string) error {
	if !regionRE.MatchString(region) && !slices.Contains(s.cfg.Regions, region) {
		return models.Invalid(fieldRegion, "must be a region name: lowercase letters, digits and hyphens, such as us-west-2")
	}
	return nil
}

func (s *Service) validateBinaryURL(raw string) error {
	if raw == "" {
		return models.Invalid(fieldBinaryURL, "is required")
	}
	if len(raw) > MaxBinaryURLLength {
		return models.Invalid(fieldBinaryURL, fmt.Sprintf("must be at most %d characters", MaxBinaryURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return models.Invalid(fieldBinaryURL, "must be a valid URL")
	}
	if _, ok := models.UploadedBinaryID(raw); ok && u.Scheme == "neuais" {
		return nil // resolveBinary checks that the organization has it
	}
	switch u.Scheme {
	case "neuais":
		return models.Invalid(fieldBinaryURL, "must name an uploaded binary as neuais://binaries/bin_…")
	case "http", "https":
		if u.Host == "" {
			return models.Invalid(fieldBinaryURL, "must name a host")
		}
		return nil
	case "file":
		if !s.cfg.AllowFileURLs {
			return models.Invalid(fieldBinaryURL, "must be an http or https URL (file URLs are disabled on this server)")
		}
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") || (u.Host != "" && u.Host != "localhost") {
			return models.Invalid(fieldBinaryURL, "must be a file URL with an absolute path")
		}
		return nil
	}
	reason := "must be an http or https URL"
	if s.cfg.AllowFileURLs {
		reason = "must be an http, https or file URL"
	}
	return models.Invalid(fieldBinaryURL, reason)
}

// resolveBinary sets a.BinaryID when a.BinaryURL names an uploaded binary
// (neuais://binaries/bin_…, or the binary's REST URL), which must be one of
// a's organization; a given binarySha256 must be the binary's.
func (s *Service) resolveBinary(ctx context.Context, a *models.Agent) error {
	id, ok := models.UploadedBinaryID(a.BinaryURL)
	if !ok {
		a.BinaryID = ""
		return nil
	}
	var sum string
	err := s.db.NewSelect().Table("binaries").Column("sha256").Where("id = ?", id).Where("org_id = ?", a.OrgID).Scan(ctx, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return models.Invalid(fieldBinaryURL, "names no binary uploaded to this organization")
	}
	if err != nil {
		return fmt.Errorf("agents: look up binary: %w", err)
	}
	if a.BinarySHA256 != "" && a.BinarySHA256 != sum {
		return models.Invalid(fieldSHA256, "does not match the uploaded binary's sha256 "+sum)
	}
	a.BinaryID = id
	return nil
}

func validateSHA256(sum string) error {
	if sum != "" && !sha256RE.MatchString(sum) {
		return models.Invalid(fieldSHA256, "must be 64 lowercase hexadecimal characters")
	}
	return nil
}

func validateCPU(cpu string) error {
	reason := fmt.Sprintf("must be a decimal number of cores between %g and %d, such as \"0.25\" or \"1.0\"", MinCPU, MaxCPU)
	if !cpuRE.MatchString(cpu) {
		return models.Invalid(fieldCPU, reason)
	}
	cores, err := strconv.ParseFloat(cpu, 64)
	if err != nil || cores < MinCPU || cores > MaxCPU {
		return models.Invalid(fieldCPU, reason)
	}
	return nil
}

func validateMemory(memory string) error {
	reason := "must be a quantity between 4Mi and 256Gi, such as \"256Mi\" or \"1Gi\""
	m := memoryRE.FindStringSubmatch(memory)
	if m == nil || len(m[1]) > 15 {
		return models.Invalid(fieldMemory, reason)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	unit := map[string]int64{"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}[m[2]]
	if n > MaxMemory/unit || n*unit < MinMemory {
		return models.Invalid(fieldMemory, reason)
	}
	return nil
}

// validateReplicas names field as the caller wrote it: "config.replicas"
// in a specification, "replicas" in a scale request.
func (s *Service) validateReplicas(field string, n int) error {
	switch {
	case n < 1:
		return models.Invalid(field, "must be greater than 0")
	case n > s.cfg.MaxReplicas:
		return models.Invalid(field, fmt.Sprintf("must be at most %d", s.cfg.MaxReplicas))
	}
	return nil
}

// environment checks a GraphQL Map of variables and returns it as strings.
func environment(m map[string]any) (map[string]string, error) {
	if len(m) > MaxEnvVars {
		return nil, models.Invalid(fieldEnvironment, fmt.Sprintf("must hold at most %d variables", MaxEnvVars))
	}
	env := make(map[string]string, len(m))
	total := 0
	for _, k := range slices.Sorted(maps.Keys(m)) {
		field := fieldEnvironment + "." + k
		if len(k) > MaxEnvKeyLength || !envKeyRE.MatchString(k) {
			return nil, models.Invalid(field, fmt.Sprintf("must be a variable name: letters, digits and underscores, not starting with a digit, at most %d characters", MaxEnvKeyLength))
		}
		v, ok := m[k].(string)
		if !ok {
			return nil, models.Invalid(field, "must be a string")
		}
		if len(v) > MaxEnvValueBytes {
			return nil, models.Invalid(field, fmt.Sprintf("must be at most %d bytes", MaxEnvValueBytes))
		}
		total += len(k) + len(v)
		env[k] = v
	}
	if total > MaxEnvBytes {
		return nil, models.Invalid(fieldEnvironment, fmt.Sprintf("must be at most %d bytes in all", MaxEnvBytes))
	}
	return env, nil
}

// validateSpec checks every field of an agent's specification.
func (s *Service) validateSpec(a *models.Agent) error {
	for _, err := range []error{
		validateRuntime(a.Runtime),
		s.validateBinaryURL(a.BinaryURL),
		validateSHA256(a.BinarySHA256),
		validateCPU(a.CPU),
		validateMemory(a.Memory),
		s.validateReplicas(fieldReplicas, a.Replicas),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
