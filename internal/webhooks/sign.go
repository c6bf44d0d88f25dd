package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// SecretPrefix starts the secrets the platform generates (Standard
// Webhooks' format): the signing key is the base64 that follows it.
const SecretPrefix = "whsec_"

// secretBytes is the size of a generated key: Standard Webhooks asks for
// 24 to 64 bytes.
const secretBytes = 32

// NewSecret returns a whsec_ secret over a random key.
func NewSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("webhooks: random: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// SigningKey is the HMAC key of secret: the decoded payload of a whsec_
// secret, else the secret's UTF-8 bytes (a secret the user chose, such as
// the contract's "your-webhook-secret"; receivers pass it in raw format).
func SigningKey(secret string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(secret, SecretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("webhooks: secret is not base64 after %s", SecretPrefix)
		}
		return key, nil
	}
	return []byte(secret), nil
}

// Signature is the webhook-signature header of a message signed with
// keys: "v1,<base64 HMAC-SHA256 of id.timestamp.body>" for each key,
// space-separated (two during a rotation).
func Signature(keys [][]byte, msgID string, timestamp int64, body []byte) string {
	signed := make([]byte, 0, len(msgID)+len(body)+24)
	signed = append(signed, msgID...)
	signed = append(signed, '.')
	signed = strconv.AppendInt(signed, timestamp, 10)
	signed = append(signed, '.')
	signed = append(signed, body...)
	parts := make([]string, len(keys))
	for i, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write(signed)
		parts[i] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return strings.Join(parts, " ")
}
