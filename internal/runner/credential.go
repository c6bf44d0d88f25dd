// Package runner is what an agent's Kubernetes pod runs: it fetches the
// agent's binary from the server with a runner credential, checks its
// sha256 and execs it (Run), and answers the pod's readiness probe (Ready).
package runner

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// credentialPrefix tells runner credentials from user tokens at a glance.
const credentialPrefix = "nrc_"

// Key derives the key of runner credentials from the server's JWT secret,
// so that they need no secret of their own yet cannot pass for a JWT.
func Key(jwtSecret []byte) []byte {
	return mac(jwtSecret, "neuais runner credential")
}

// Credential is the bearer credential with which agentID's pods fetch its
// binary; it holds as long as the key does (deleting the agent makes the
// server refuse it).
func Credential(key []byte, agentID string) string {
	return credentialPrefix + agentID + "." + base64.RawURLEncoding.EncodeToString(mac(key, agentID))
}

// AgentOf returns the agent a credential was made for, if key made it.
func AgentOf(key []byte, credential string) (agentID string, ok bool) {
	rest, ok := strings.CutPrefix(credential, credentialPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return "", false
	}
	// The whole text is compared, not the decoded MAC: base64's last
	// character has unused bits, so several spellings decode alike.
	if !hmac.Equal([]byte(credential), []byte(Credential(key, rest[:i]))) {
		return "", false
	}
	return rest[:i], true
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
