package auth

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// MinPasswordLength and MaxPasswordLength bound passwords; bcrypt reads at most 72 bytes.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 72
)

// Hasher hashes passwords with bcrypt at a fixed cost.
type Hasher struct {
	cost  int
	dummy []byte
}

// NewHasher returns a hasher of the given bcrypt cost (0: bcrypt.DefaultCost).
func NewHasher(cost int) *Hasher {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("neuais-dummy-password"), cost)
	if err != nil {
		panic("auth: bcrypt cost out of range: " + err.Error())
	}
	return &Hasher{cost: cost, dummy: dummy}
}

// Hash returns the bcrypt hash of password.
func (h *Hasher) Hash(password string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(b), nil
}

// Check reports whether password matches hash. An empty hash is compared
// against a dummy so unknown users cost as much time as known ones.
func (h *Hasher) Check(hash, password string) (bool, error) {
	target := []byte(hash)
	if hash == "" {
		target = h.dummy
	}
	err := bcrypt.CompareHashAndPassword(target, []byte(password))
	switch {
	case err == nil:
		return hash != "", nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, fmt.Errorf("auth: check password: %w", err)
	}
}
