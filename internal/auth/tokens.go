// Package auth issues and verifies bearer tokens, hashes passwords and
// exchanges credentials for tokens.
package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/neuais/neuais/models"
)

// TokenLifetime is the contract's expires_in: one hour.
const TokenLifetime = time.Hour

// Issuer is the iss claim of every token.
const Issuer = "neuais"

// Claims are the token's claims: sub is the user, org and role its
// organization and role at issue time, jti a unique id.
type Claims struct {
	jwt.RegisteredClaims
	OrgID string      `json:"org"`
	Role  models.Role `json:"role"`
	// Version is the user's TokenVersion at issue time.
	Version int64 `json:"ver"`
}

// Tokens signs and verifies HS256 tokens with one secret.
type Tokens struct {
	secret []byte
	now    func() time.Time
}

// NewTokens returns a signer over secret. now may be nil (time.Now).
func NewTokens(secret []byte, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: secret, now: now}
}

// Issue returns a signed token for user, valid for TokenLifetime.
func (t *Tokens) Issue(user *models.User) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(TokenLifetime)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   user.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        models.NewID("tok_"),
		},
		OrgID:   user.OrgID,
		Role:    user.Role,
		Version: user.TokenVersion,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign: %w", err)
	}
	return signed, exp, nil
}

// Verify checks the signature (HS256 only), issuer, and expiry of raw and
// returns the identity it claims. Every failure is an unauthorized error.
func (t *Tokens) Verify(raw string) (*models.Identity, error) {
	var claims Claims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(t.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, models.Errorf(models.CodeUnauthorized, "Token expired")
	case err != nil:
		return nil, models.Errorf(models.CodeUnauthorized, "Invalid token")
	case claims.Subject == "" || claims.OrgID == "" || !claims.Role.Valid():
		return nil, models.Errorf(models.CodeUnauthorized, "Invalid token claims")
	}
	return &models.Identity{
		UserID:       claims.Subject,
		OrgID:        claims.OrgID,
		Role:         claims.Role,
		TokenID:      claims.ID,
		TokenVersion: claims.Version,
		ExpiresAt:    claims.ExpiresAt.Time,
	}, nil
}

// BearerToken returns the token of an "Authorization: Bearer …" header value.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// SecretFile is where a generated secret is kept in the data directory.
const SecretFile = "jwt.secret"

// LoadOrCreateSecret returns configured when set; otherwise the secret kept
// in dataDir, generating and saving it (mode 0600) on first use so tokens
// survive restarts.
func LoadOrCreateSecret(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		if len(configured) < 32 {
			return nil, errors.New("auth: NEUAIS_JWT_SECRET must be at least 32 characters")
		}
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, SecretFile)
	if b, err := os.ReadFile(path); err == nil {
		secret := strings.TrimSpace(string(b))
		if len(secret) < 32 {
			return nil, fmt.Errorf("auth: secret in %s is too short", path)
		}
		return []byte(secret), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("auth: read secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: data dir: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("auth: generate secret: %w", err)
	}
	secret := hex.EncodeToString(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateSecret("", dataDir)
		}
		return nil, fmt.Errorf("auth: save secret: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(secret + "\n"); err != nil {
		return nil, fmt.Errorf("auth: save secret: %w", err)
	}
	return []byte(secret), f.Sync()
}
