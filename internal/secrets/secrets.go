// Package secrets encrypts what the platform stores on its users' behalf
// (agents' environments, the responses idempotency records keep), so that
// a copy of the database or a backup reveals none of it.
//
// A sealed value is "nsk1:" + key id + ":" + base64(nonce ‖ AES-256-GCM
// ciphertext), with the value's context (what it is, of which row) as the
// additional data: a sealed value moved to another row does not open.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is where a generated key is kept in the data directory.
const KeyFile = "secret.key"

const prefix = "nsk1:"

// Keyring seals with its first key and opens with any of them, so that
// keys can be rotated: put the new key first, keep the old ones until
// every value has been sealed again (the server reseals on start).
type Keyring struct {
	keys []key
}

type key struct {
	id   string
	aead cipher.AEAD
}

// NewKeyring returns the keyring of raw keys, each of 32 bytes.
func NewKeyring(raw ...[]byte) (*Keyring, error) {
	if len(raw) == 0 {
		return nil, errors.New("secrets: no key")
	}
	k := &Keyring{}
	for i, r := range raw {
		if len(r) != 32 {
			return nil, fmt.Errorf("secrets: key %d has %d bytes, want 32", i+1, len(r))
		}
		block, err := aes.NewCipher(r)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w", err)
		}
		sum := sha256.Sum256(r)
		k.keys = append(k.keys, key{id: hex.EncodeToString(sum[:4]), aead: aead})
	}
	return k, nil
}

// LoadOrCreate returns the keyring of configured (comma-separated base64
// keys, the first sealing: NEUAIS_SECRET_KEY) or, when it is empty, of the
// key in dataDir's KeyFile, generated (mode 0600) when there is none.
func LoadOrCreate(configured, dataDir string) (*Keyring, error) {
	if configured != "" {
		var raw [][]byte
		for i, s := range strings.Split(configured, ",") {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("secrets: NEUAIS_SECRET_KEY: key %d is not base64", i+1)
			}
			raw = append(raw, b)
		}
		return NewKeyring(raw...)
	}
	path := filepath.Join(dataDir, KeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 32)
		rand.Read(b) //nolint:errcheck // crypto/rand.Read does not fail
		data = []byte(base64.StdEncoding.EncodeToString(b) + "\n")
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("secrets: data dir: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreate("", dataDir)
		}
		if err != nil {
			return nil, fmt.Errorf("secrets: save key: %w", err)
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("secrets: save key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("secrets: read key: %w", err)
	}
	return LoadOrCreate(strings.TrimSpace(string(data)), "")
}

// Seal encrypts plain for the place context names (for example
// "agent environment agt_…").
func (k *Keyring) Seal(plain []byte, context string) string {
	sealer := k.keys[0]
	nonce := make([]byte, sealer.aead.NonceSize())
	rand.Read(nonce) //nolint:errcheck // crypto/rand.Read does not fail
	out := sealer.aead.Seal(nonce, nonce, plain, []byte(context))
	return prefix + sealer.id + ":" + base64.RawStdEncoding.EncodeToString(out)
}

// Open decrypts a value Seal made for context, with whichever key sealed it.
func (k *Keyring) Open(sealed, context string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	id, payload, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return nil, errors.New("secrets: not a sealed value")
	}
	data, err := base64.RawStdEncoding.DecodeString(payload)
	if err != nil {
		return nil, errors.New("secrets: sealed value is not base64")
	}
	for _, key := range k.keys {
		if key.id != id {
			continue
		}
		n := key.aead.NonceSize()
		if len(data) < n {
			return nil, errors.New("secrets: sealed value too short")
		}
		plain, err := key.aead.Open(nil, data[:n], data[n:], []byte(context))
		if err != nil {
			return nil, errors.New("secrets: sealed value does not open (altered, or sealed for another place)")
		}
		return plain, nil
	}
	return nil, fmt.Errorf("secrets: no key %s in the keyring (NEUAIS_SECRET_KEY must keep old keys until values are resealed)", id)
}

// IsSealed reports whether v is a sealed value rather than plain text.
func IsSealed(v string) bool { return strings.HasPrefix(v, prefix) }

// Current reports whether v was sealed with the key that seals now.
func (k *Keyring) Current(v string) bool {
	return strings.HasPrefix(v, prefix+k.keys[0].id+":")
}
