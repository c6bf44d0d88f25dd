package orgs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/models"
)

func TestSlug(t *testing.T) {
	for name, want := range map[string]string{
		"default": "default", "Acme Inc.": "acme-inc", "  R&D / Lab 2 ": "r-d-lab-2", "Ünïcode": "n-code", "--": "org",
		"a-very-long-organization-name-that-goes-on-and-on": "a-very-long-organization-name-that-goes",
	} {
		if got := orgs.Slug(name); got != want {
			t.Errorf("Slug(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestCreateSlugs(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		svc := orgs.NewService(apitest.MustOpenDB(t, url), auth.NewHasher(4))
		create := func(name, slug, email string) (*models.Organization, error) {
			org, _, err := svc.Create(context.Background(), orgs.CreateParams{Name: name, Slug: slug, AdminEmail: email, AdminPassword: apitest.UserPassword})
			return org, err
		}
		for i, want := range []string{"acme", "acme-2", "acme-3"} {
			org, err := create([]string{"Acme", "ACME!", "acme."}[i], "", []string{"a@x.example", "b@x.example", "c@x.example"}[i])
			if err != nil || org.Slug != want {
				t.Fatalf("slug %v, %v; want %s", org, err, want)
			}
		}
		var coded *models.Error
		if _, err := create("Other", "acme", "d@x.example"); !errors.As(err, &coded) || coded.Code != models.CodeConflict {
			t.Errorf("taken slug: %v", err)
		}
		if _, err := create("Other", "Not-A-Label", "d@x.example"); !errors.As(err, &coded) || coded.Code != models.CodeInvalidRequest {
			t.Errorf("invalid slug: %v", err)
		}
		if org, err := create("Other", "other-co", "d@x.example"); err != nil || org.Slug != "other-co" {
			t.Errorf("chosen slug: %v, %v", org, err)
		}
	})
}
