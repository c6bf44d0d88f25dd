package agents

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/neuais/neuais/models"
)

var regionRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// validateRegionFilter accepts any region name of the usual shape
// (us-west-2), used or not, and the server's own regions whatever their shape.
func (s *Service) validateRegionFilter(region string) error {
	if !regionRE.MatchString(region) && !slices.Contains(s.cfg.Regions, region) {
		return models.Invalid("region", "must be a region name: lowercase letters, digits and hyphens, such as us-west-2")
	}
	return nil
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
		return models.Invalid("binaryUrl", "names no binary uploaded to this organization")
	}
	if err != nil {
		return fmt.Errorf("agents: look up binary: %w", err)
	}
	if a.BinarySHA256 != "" && a.BinarySHA256 != sum {
		return models.Invalid("binarySha256", "does not match the uploaded binary's sha256 "+sum)
	}
	a.BinaryID = id
	return nil
}
