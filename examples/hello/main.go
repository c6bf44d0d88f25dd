// Command hello is the smallest neuais agent: it serves HTTP on $PORT and
// logs one line at each level, which the platform reads from its output.
//
//	go build -o hello ./examples/hello
//	neuais deploy hello --binary ./hello
//	neuais logs hello -f
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	// JSON lines with a "level" field: the platform files each under its level.
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}))
	name, replica := os.Getenv("NEUAIS_AGENT_NAME"), os.Getenv("NEUAIS_REPLICA")
	log.Debug("starting", "agent", name, "id", os.Getenv("NEUAIS_AGENT_ID"), "replica", replica)
	log.Info("hello from replica " + replica)
	if os.Getenv("GREETING") == "" {
		log.Warn("GREETING is not set; try neuais deploy hello --env GREETING=hi")
	}
	port := os.Getenv("PORT")
	if port == "" {
		log.Error("PORT is not set: run me with neuais")
		os.Exit(1)
	}

	srv := &http.Server{Addr: ":" + port, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Info("request", "method", r.Method, "path", r.URL.Path)
		fmt.Fprintf(w, "hello from %s, replica %s %s\n", name, replica, os.Getenv("GREETING"))
	})}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		log.Info("stopping")
		if err := srv.Shutdown(context.Background()); err != nil {
			log.Error("stopping", "err", err)
		}
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
