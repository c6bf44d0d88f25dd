// Command subscribers opens idle GraphQL subscriptions over WebSockets
// (graphql-transport-ws), -per on each connection, for the idle-subscription
// benchmark: it runs in its own process so that the server's memory is
// measured alone. It prints "open" once every subscribe is sent and
// holds the connections until its standard input closes.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"

	"github.com/gorilla/websocket"
)

func main() {
	url := flag.String("url", "", "ws:// URL of /graphql")
	token := flag.String("token", "", "bearer token")
	count := flag.Int("n", 10_000, "subscriptions")
	per := flag.Int("per", 1, "subscriptions on one connection")
	flag.Parse()
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		fail(err)
	}
	limit.Cur = limit.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		fail(err)
	}
	dialer := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, ReadBufferSize: 256, WriteBufferSize: 256}
	conns := make([]*websocket.Conn, (*count+*per-1) / *per)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := open(&dialer, *url, *token, min(*per, *count-i**per))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		fail(fmt.Errorf("%d of %d subscriptions failed, first: %w", len(errs), *count, errs[0]))
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // until the benchmark closes it
	for _, c := range conns {
		c.Close()
	}
}

func open(d *websocket.Dialer, url, token string, subscriptions int) (*websocket.Conn, error) {
	c, res, err := d.Dial(url, http.Header{})
	if err != nil {
		return nil, fmt.Errorf("dial: %w (%v)", err, res)
	}
	if err := c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}); err != nil {
		return nil, err
	}
	var ack struct{ Type string }
	if err := c.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		return nil, fmt.Errorf("connection_ack: %q %w", ack.Type, err)
	}
	query := "subscription { agentEvents { id } }"
	for i := range subscriptions {
		if err := c.WriteJSON(map[string]any{"id": fmt.Sprint(i), "type": "subscribe", "payload": map[string]any{"query": query}}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "subscribers:", err)
	os.Exit(1)
}
