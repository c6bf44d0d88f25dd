package neuais

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookTolerance is how far a delivery's webhook-timestamp may be from
// now, either way, for VerifyWebhook.
const WebhookTolerance = 5 * time.Minute

// Errors of VerifyWebhook.
var (
	ErrWebhookTimestamp = errors.New("neuais: webhook-timestamp missing or not within 5 minutes")
	ErrWebhookSignature = errors.New("neuais: no webhook-signature matches")
)

// VerifyWebhook checks a delivery per Standard Webhooks: one of the
// space-separated v1 signatures of header webhook-signature (two during a
// rotation) is the HMAC-SHA256 of "webhook-id.webhook-timestamp.body",
// keyed by secret (whsec_ and base64 of the key, or a secret chosen
// without the prefix, its UTF-8 bytes), and the timestamp is within
// WebhookTolerance. body is the request's body as received.
func VerifyWebhook(secret string, header http.Header, body []byte) error {
	key := []byte(secret)
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(rest); err != nil {
			return errors.New("neuais: webhook secret: whsec_ is not followed by base64")
		}
	}
	id, ts := header.Get("webhook-id"), header.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > WebhookTolerance {
		return ErrWebhookTimestamp
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(header.Get("webhook-signature")) {
		got, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "v1,"))
		// hmac.Equal compares in constant time.
		if strings.HasPrefix(sig, "v1,") && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrWebhookSignature
}
