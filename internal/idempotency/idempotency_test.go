package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/crypto/bcrypt"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/idempotency"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/models"
)

type result struct {
	ID   string
	Name string
}

func TestDo(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		d := apitest.MustOpenDB(t, url)
		org, _, err := orgs.NewService(d, auth.NewHasher(bcrypt.MinCost)).Create(context.Background(), orgs.CreateParams{Name: "acme", AdminEmail: "a@acme.example", AdminPassword: "password-1"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var mu sync.Mutex
		calls := 0
		// run creates a new resource named name under key, counting the creates.
		run := func(key, name string) (*result, bool, error) {
			req, err := idempotency.New(org.ID, "createThing", key, map[string]string{"name": name})
			if err != nil {
				return nil, false, err
			}
			return idempotency.Do(ctx, d, req, func(ctx context.Context, tx bun.Tx) (*result, string, error) {
				mu.Lock()
				calls++
				mu.Unlock()
				r := &result{ID: models.NewID("thg_"), Name: name}
				return r, r.ID, nil
			})
		}
		records := func(key string) int64 {
			n, err := d.NewSelect().Table("idempotency_keys").Where("idempotency_key = ?", key).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		first, replayed, err := run("k1", "a")
		if err != nil || replayed || calls != 1 || records("k1") != 1 {
			t.Fatalf("first = %+v %v %v, %d calls", first, replayed, err, calls)
		}
		t.Run("ReplayReturnsFirstResponse", func(t *testing.T) {
			again, replayed, err := run("k1", "a")
			if err != nil || !replayed || *again != *first || calls != 1 {
				t.Fatalf("again = %+v %v %v, %d calls; want %+v", again, replayed, err, calls, first)
			}
		})
		t.Run("ErrOtherInput", func(t *testing.T) {
			_, _, err := run("k1", "b")
			var coded *models.Error
			if !errors.As(err, &coded) || coded.Code != models.CodeConflict || coded.Field != idempotency.Field || calls != 1 {
				t.Fatalf("%v, %d calls", err, calls)
			}
		})
		t.Run("NoKeyAlwaysCreates", func(t *testing.T) {
			a, _, errA := run("", "a")
			b, _, errB := run("", "a")
			if errA != nil || errB != nil || a.ID == b.ID || records("") != 0 {
				t.Fatalf("%+v %v, %+v %v", a, errA, b, errB)
			}
		})
		t.Run("ErrBadKey", func(t *testing.T) {
			for _, key := range []string{strings.Repeat("k", idempotency.MaxKeyLength+1), "clé", "a\nb"} {
				var coded *models.Error
				if _, err := idempotency.New(org.ID, "createThing", key, nil); !errors.As(err, &coded) || coded.Code != models.CodeInvalidRequest || coded.Field != idempotency.Field {
					t.Fatalf("key %q: %v", key, err)
				}
			}
		})
		expire := func(key string) {
			if _, err := d.NewUpdate().Table("idempotency_keys").Set("created_at = ?", time.Now().Add(-idempotency.Window-time.Hour)).Where("idempotency_key = ?", key).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("ExpiredKeyIsNew", func(t *testing.T) {
			if _, _, err := run("k2", "a"); err != nil {
				t.Fatal(err)
			}
			expire("k2")
			before := calls
			if _, replayed, err := run("k2", "other"); err != nil || replayed || calls != before+1 {
				t.Fatalf("%v %v", replayed, err)
			}
		})
		t.Run("Sweep", func(t *testing.T) {
			if _, _, err := run("k3", "a"); err != nil {
				t.Fatal(err)
			}
			expire("k3")
			n, err := idempotency.Sweep(ctx, d)
			if err != nil || n != 1 || records("k3") != 0 || records("k1") != 1 {
				t.Fatalf("swept %d, %v", n, err)
			}
		})
		t.Run("ForgetRemovesTheResourcesRecords", func(t *testing.T) {
			r, _, _ := run("k4", "a")
			if err := idempotency.Forget(ctx, d, r.ID); err != nil || records("k4") != 0 || records("k1") != 1 {
				t.Fatalf("%v: k4 %d, k1 %d", err, records("k4"), records("k1"))
			}
		})
		t.Run("ConcurrentRetriesCreateOne", func(t *testing.T) {
			got := make([]*result, 4)
			var wg sync.WaitGroup
			for i := range got {
				wg.Go(func() {
					r, _, err := run("race", "a")
					if err != nil {
						t.Error(err)
					}
					got[i] = r
				})
			}
			wg.Wait()
			for _, r := range got[1:] {
				if r == nil || got[0] == nil || *r != *got[0] {
					t.Fatalf("different answers: %+v", got)
				}
			}
		})
	})
}
