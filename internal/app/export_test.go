package app

// BeginShutdown starts the shutdown that Serve starts on its context's end.
func (a *App) BeginShutdown() { a.stop() }
