package runtime

// LineLevel exposes the output level parser to the tests.
var LineLevel = lineLevel

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
