package runtime

// Abandon stops the Manager as a crashing server would: the reconciler
// stops and every replica is left running, unsupervised.
func (m *Manager) Abandon() {
	m.stopLoops()
	m.driver.(*LocalDriver).abandon()
}

// ParseQuantity exposes the memory quantity parser to the tests.
var ParseQuantity = parseQuantity

// TunUsable exposes the tap device check to the tests.
var TunUsable = tunUsable

// UIDRanges is a sandbox's uid range bookkeeping, for the tests.
type UIDRanges struct{ sb *sandbox }

// NewUIDRanges returns the bookkeeping of a new sandbox.
func NewUIDRanges() UIDRanges { return UIDRanges{&sandbox{uids: map[string]*uidRange{}}} }

// Acquire takes a replica's hold on agentID's range.
func (u UIDRanges) Acquire(agentID string) (int, error) { return u.sb.acquireUIDs(agentID) }

// Release gives one back.
func (u UIDRanges) Release(agentID string) { u.sb.releaseUIDs(agentID) }

// SandboxUIDRanges is how many ranges there are.
const SandboxUIDRanges = sandboxUIDRanges
