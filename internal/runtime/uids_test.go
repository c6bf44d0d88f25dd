package runtime_test

import (
	"strconv"
	"testing"

	"github.com/neuais/neuais/internal/runtime"
)

// Two agents never share host uids: a range is reused only once none of
// its agent's replicas runs, and a new agent is refused when all are held.
func TestUIDRanges(t *testing.T) {
	u := runtime.NewUIDRanges()
	acquire := func(agent string) int {
		t.Helper()
		base, err := u.Acquire(agent)
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	a := acquire("agt_a")
	if again := acquire("agt_a"); again != a {
		t.Fatalf("a second replica of agt_a got %d, the first %d", again, a)
	}
	b := acquire("agt_b")
	if b == a {
		t.Fatalf("agt_b shares agt_a's range %d", a)
	}
	u.Release("agt_a")
	c := acquire("agt_c")
	if c == a || c == b {
		t.Fatalf("agt_c got %d while agt_a (%d) and agt_b (%d) still run", c, a, b)
	}
	u.Release("agt_a")
	if d := acquire("agt_d"); d != a {
		t.Fatalf("agt_d got %d, want agt_a's released range %d", d, a)
	}

	seen := map[int]bool{a: true, b: true, c: true} // agt_d holds a
	for i := len(seen); i < runtime.SandboxUIDRanges; i++ {
		base := acquire("agt_" + strconv.Itoa(i))
		if seen[base] {
			t.Fatalf("range %d given twice", base)
		}
		seen[base] = true
	}
	if base, err := u.Acquire("agt_one_too_many"); err == nil {
		t.Fatalf("agent beyond the last range got %d", base)
	}
	u.Release("agt_b")
	if e := acquire("agt_one_too_many"); e != b {
		t.Fatalf("got %d, want agt_b's released range %d", e, b)
	}
}
