package models

import (
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// PrefixBinary is the id prefix of uploaded binaries.
const PrefixBinary = "bin_"

// BinaryURLScheme is how an agent's binaryUrl names an uploaded binary:
// neuais://binaries/bin_….
const BinaryURLScheme = "neuais://binaries/"

// Binary is an uploaded agent binary, stored once per organization under
// its sha256.
type Binary struct {
	bun.BaseModel `bun:"table:binaries"`

	ID        string    `bun:"id,pk"`
	OrgID     string    `bun:"org_id,notnull"`
	SHA256    string    `bun:"sha256,notnull"`
	Size      int64     `bun:"size,notnull"`
	CreatedBy string    `bun:"created_by,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// URL returns the binaryUrl that names b.
func (b *Binary) URL() string { return BinaryURLScheme + b.ID }

// BinaryPage is one page of an organization's binaries.
type BinaryPage struct {
	Items   []*Binary
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}

// UploadedBinaryID returns the id of the uploaded binary that rawURL names:
// neuais://binaries/{id}, or the binary's own REST URL on any host
// (…/v1/binaries/{id} or …/v1/binaries/{id}/content), so that a URL copied
// from an upload's answer works too. ok is false for other URLs.
func UploadedBinaryID(rawURL string) (id string, ok bool) {
	if rest, found := strings.CutPrefix(rawURL, BinaryURLScheme); found {
		return rest, strings.HasPrefix(rest, PrefixBinary) && !strings.ContainsAny(rest, "/?#")
	}
	if !strings.HasPrefix(rawURL, "http://") && !strings.HasPrefix(rawURL, "https://") {
		return "", false
	}
	_, path, found := strings.Cut(rawURL, "/v1/binaries/")
	if !found || strings.ContainsAny(path, "?#") {
		return "", false
	}
	path = strings.TrimSuffix(path, "/content")
	return path, strings.HasPrefix(path, PrefixBinary) && !strings.Contains(path, "/")
}
