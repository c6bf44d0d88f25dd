package models

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// ID prefixes of the public contract.
const (
	PrefixAgent        = "agt_"
	PrefixUser         = "usr_"
	PrefixOrganization = "org_"
	PrefixWebhook      = "whk_"
	PrefixDelivery     = "dlv_"
	PrefixInvoice      = "inv_"
)

// NewID returns prefix followed by 16 random hex characters.
func NewID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}

// Now returns the current time in UTC truncated to microseconds, the
// precision both SQLite and PostgreSQL keep, so stored values round-trip.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
