package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/models"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func user() *models.User {
	return &models.User{ID: "usr_1", OrgID: "org_1", Role: models.RoleDeveloper}
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tokens := auth.NewTokens(secret, func() time.Time { return now })
	raw, exp, err := tokens.Issue(user())
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("expiry %v, want one hour after %v", exp, now)
	}

	t.Run("OK", func(t *testing.T) {
		id, err := tokens.Verify(raw)
		if err != nil {
			t.Fatal(err)
		}
		if id.UserID != "usr_1" || id.OrgID != "org_1" || id.Role != models.RoleDeveloper || id.TokenID == "" {
			t.Fatalf("identity %+v", id)
		}
	})

	refused := func(t *testing.T, v *auth.Tokens, raw, wantMessage string) {
		t.Helper()
		_, err := v.Verify(raw)
		if models.ErrorCode(err) != models.CodeUnauthorized {
			t.Fatalf("Verify = %v, want unauthorized", err)
		}
		if wantMessage != "" && !strings.Contains(err.Error(), wantMessage) {
			t.Fatalf("Verify = %v, want %q", err, wantMessage)
		}
	}
	t.Run("ErrExpired", func(t *testing.T) {
		later := auth.NewTokens(secret, func() time.Time { return now.Add(time.Hour + time.Second) })
		refused(t, later, raw, "expired")
	})
	t.Run("ErrTampered", func(t *testing.T) {
		parts := strings.Split(raw, ".")
		claims, _ := jwt.NewParser().DecodeSegment(parts[1])
		forged := strings.Replace(string(claims), `"role":"developer"`, `"role":"admin"`, 1)
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
		refused(t, tokens, strings.Join(parts, "."), "Invalid token")
	})
	t.Run("ErrOtherSecret", func(t *testing.T) {
		other := auth.NewTokens([]byte("another-secret-another-secret-xx"), func() time.Time { return now })
		refused(t, other, raw, "")
	})
	claims := jwt.MapClaims{"iss": auth.Issuer, "sub": "usr_1", "org": "org_1", "role": "admin", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	t.Run("ErrAlgNone", func(t *testing.T) {
		none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, tokens, none, "")
	})
	t.Run("ErrRS256", func(t *testing.T) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, tokens, rs, "")
	})
	t.Run("ErrWrongIssuer", func(t *testing.T) {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		c["iss"] = "someone-else"
		signed, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		refused(t, tokens, signed, "")
	})
	t.Run("ErrNoExpiry", func(t *testing.T) {
		c := jwt.MapClaims{"iss": auth.Issuer, "sub": "usr_1", "org": "org_1", "role": "admin"}
		signed, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
		refused(t, tokens, signed, "")
	})
}

func TestLoadOrCreateSecret(t *testing.T) {
	dir := t.TempDir()
	first, err := auth.LoadOrCreateSecret("", dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := auth.LoadOrCreateSecret("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(again) {
		t.Fatal("secret changed between loads")
	}
	if _, err := auth.LoadOrCreateSecret("short", dir); err == nil {
		t.Fatal("short configured secret accepted")
	}
}
