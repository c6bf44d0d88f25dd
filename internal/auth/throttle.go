package auth

import (
	"context"
	"log/slog"
	"time"

	"github.com/neuais/neuais/models"
)

// LoginLimits say when failed logins slow further attempts down. Each
// count is of failures within Window; a count of 0 turns its rule off.
type LoginLimits struct {
	// PairMax failures of one e-mail from one address block that pair
	// until the oldest failure leaves the window.
	PairMax int
	// AddrMax failures from one address, whatever the e-mails, block the
	// address: it is guessing accounts.
	AddrMax int
	// EmailSlowAfter failures of one e-mail from any addresses make each
	// further attempt wait a delay that doubles with every failure, from
	// one second up to MaxDelay, except from addresses this e-mail logged
	// in from before: someone guessing from everywhere slows down, but no
	// outsider can lock the owner out.
	EmailSlowAfter int
	Window         time.Duration
	MaxDelay       time.Duration
}

// LoginStore keeps what a Throttle counts: failure times by key and the
// addresses each e-mail logged in from. MemoryLogins keeps them in this
// process, RedisLogins shares them between instances.
type LoginStore interface {
	// Failures returns key's failures after since, oldest first.
	Failures(ctx context.Context, key string, since time.Time) ([]time.Time, error)
	// AddFailure records a failure of key at at, keeping the latest keep
	// and none from before since.
	AddFailure(ctx context.Context, key string, at, since time.Time, keep int) error
	// Forget drops key's failures.
	Forget(ctx context.Context, key string) error
	// LastLogin returns when email last logged in from addr, zero when it
	// never did within knownFor.
	LastLogin(ctx context.Context, email, addr string) (time.Time, error)
	// Remember records a login of email from addr at at, keeping the
	// latest knownPerEmail addresses of email for knownFor.
	Remember(ctx context.Context, email, addr string, at time.Time) error
}

// Throttle applies LoginLimits to failed logins counted in its store.
type Throttle struct {
	limits LoginLimits
	store  LoginStore
	logger *slog.Logger
	now    func() time.Time
}

// knownFor is how long an address stays known after a good login, and
// knownPerEmail how many addresses an e-mail keeps.
const (
	knownFor      = 30 * 24 * time.Hour
	knownPerEmail = 16
)

// NewThrottle applies limits to the failures in store, logging its
// errors to logger; now may be nil (time.Now).
func NewThrottle(limits LoginLimits, store LoginStore, logger *slog.Logger, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{limits: limits, store: store, logger: logger, now: now}
}

// down logs err of the store and returns the error of the login it
// refuses: the cause is for the operator, not the caller.
func (t *Throttle) down(ctx context.Context, err error) error {
	t.logger.ErrorContext(ctx, "login throttle", "err", err)
	return models.Errorf(models.CodeServiceUnavailable, "Logins are unavailable for now; try again shortly")
}

// Blocked returns how long until email may try to log in from addr
// again: 0 when it may now.
func (t *Throttle) Blocked(ctx context.Context, email, addr string) (time.Duration, error) {
	if t == nil {
		return 0, nil
	}
	now := t.now()
	l := t.limits
	wait, err := t.untilBelow(ctx, "pair:"+email+"\x00"+addr, l.PairMax, now)
	if err != nil {
		return 0, err
	}
	if addr != "" {
		w, err := t.untilBelow(ctx, "addr:"+addr, l.AddrMax, now)
		if err != nil {
			return 0, err
		}
		wait = max(wait, w)
	}
	if l.EmailSlowAfter > 0 {
		known, err := t.store.LastLogin(ctx, email, addr)
		if err != nil {
			return 0, err
		}
		if known.IsZero() || now.Sub(known) >= knownFor {
			recent, err := t.store.Failures(ctx, "email:"+email, now.Add(-l.Window))
			if err != nil {
				return 0, err
			}
			if len(recent) >= l.EmailSlowAfter {
				delay := l.MaxDelay
				if shift := len(recent) - l.EmailSlowAfter; shift < 32 {
					delay = min(time.Second<<shift, l.MaxDelay)
				}
				wait = max(wait, recent[len(recent)-1].Add(delay).Sub(now))
			}
		}
	}
	return max(wait, 0), nil
}

// untilBelow returns how long until key has fewer than limit failures.
func (t *Throttle) untilBelow(ctx context.Context, key string, limit int, now time.Time) (time.Duration, error) {
	if limit <= 0 {
		return 0, nil
	}
	recent, err := t.store.Failures(ctx, key, now.Add(-t.limits.Window))
	if err != nil || len(recent) < limit {
		return 0, err
	}
	return recent[len(recent)-limit].Add(t.limits.Window).Sub(now), nil
}

// Fail records a failed login of email from addr.
func (t *Throttle) Fail(ctx context.Context, email, addr string) error {
	if t == nil {
		return nil
	}
	now := t.now()
	l := t.limits
	since := now.Add(-l.Window)
	if err := t.add(ctx, "pair:"+email+"\x00"+addr, l.PairMax, now, since); err != nil {
		return err
	}
	if addr != "" {
		if err := t.add(ctx, "addr:"+addr, l.AddrMax, now, since); err != nil {
			return err
		}
	}
	// Past the threshold only the doubling matters, which stops at MaxDelay.
	return t.add(ctx, "email:"+email, l.EmailSlowAfter+32, now, since)
}

func (t *Throttle) add(ctx context.Context, key string, keep int, now, since time.Time) error {
	if keep <= 0 {
		return nil
	}
	return t.store.AddFailure(ctx, key, now, since, keep)
}

// Succeeded forgets the failures of email from addr and remembers addr
// as one the e-mail's owner uses. The address's own failures stay: one
// good account must not excuse an address that guesses others.
func (t *Throttle) Succeeded(ctx context.Context, email, addr string) error {
	if t == nil {
		return nil
	}
	if err := t.store.Forget(ctx, "pair:"+email+"\x00"+addr); err != nil || addr == "" {
		return err
	}
	return t.store.Remember(ctx, email, addr, t.now())
}
