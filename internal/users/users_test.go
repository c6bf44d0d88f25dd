package users_test

import (
	"context"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/internal/users"
	"github.com/neuais/neuais/models"
)

func as(u *models.User) context.Context {
	return models.WithIdentity(context.Background(), &models.Identity{UserID: u.ID, OrgID: u.OrgID, Role: u.Role})
}

func TestLastAdminUnderConcurrency(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		d := apitest.MustOpenDB(t, url)
		hasher := auth.NewHasher(bcrypt.MinCost)
		_, first, err := orgs.NewService(d, hasher).Create(context.Background(), orgs.CreateParams{Name: "acme", AdminEmail: "a@acme.example", AdminPassword: "password-1"})
		if err != nil {
			t.Fatal(err)
		}
		svc := users.NewService(d, hasher)
		second, err := svc.Create(as(first), models.CreateUserInput{Email: "b@acme.example", Password: "password-2", Role: models.RoleAdmin}, "")
		if err != nil {
			t.Fatal(err)
		}
		// Each admin removes the other at the same time: one must stay.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = svc.Delete(as(first), second.ID) })
		wg.Go(func() {
			viewer := models.RoleViewer
			_, errs[1] = svc.Update(as(second), first.ID, models.UpdateUserInput{Role: &viewer})
		})
		wg.Wait()
		failed := 0
		for _, err := range errs {
			switch {
			case err == nil:
			case models.ErrorCode(err) == models.CodeConflict:
				failed++
			default:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		page, err := svc.List(as(first), models.ListParams{Limit: 10})
		if err != nil {
			// first was demoted: list as second, who must still be an admin.
			page, err = svc.List(as(second), models.ListParams{Limit: 10})
		}
		if err != nil {
			t.Fatal(err)
		}
		admins := 0
		for _, u := range page.Items {
			if u.Role == models.RoleAdmin {
				admins++
			}
		}
		if admins != 1 || failed != 1 {
			t.Fatalf("admins left %d, failed changes %d (%v)", admins, failed, errs)
		}
	})
}
