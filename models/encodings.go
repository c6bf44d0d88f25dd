package models

import "sync"

// Encodings keeps the encodings of one value that many readers encode the
// same way, such as a log line published to every follower of its agent,
// so that it is encoded once per selection instead of once per reader.
// Keys are compared with ==; at most maxEncodings are kept.
type Encodings struct {
	mu      sync.Mutex
	entries []encoding
}

type encoding struct {
	key  any
	data []byte
}

const maxEncodings = 4

// Get returns the encoding stored under key.
func (e *Encodings) Get(key any) ([]byte, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range e.entries {
		if en.key == key {
			return en.data, true
		}
	}
	return nil, false
}

// Put stores data under key, unless maxEncodings are kept already; data
// must not change afterwards.
func (e *Encodings) Put(key any, data []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.entries) < maxEncodings {
		e.entries = append(e.entries, encoding{key: key, data: data})
	}
}
