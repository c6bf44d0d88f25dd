package apitest

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing the test with what when
// timeout passes first; state, when given, adds what it reports then.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool, state ...func() string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			for _, f := range state {
				what += ": " + f()
			}
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
