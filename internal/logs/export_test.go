package logs

// Crash stops the store's loops without writing what is queued, as a
// SIGKILL of the server would.
func (s *Store) Crash() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	<-s.retention
}
