// Package redistest gives tests the Redis server at NEUAIS_TEST_REDIS_URL
// (default the local one), each test under its own key prefix.
package redistest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/neuais/neuais/models"
)

// URL returns the test server's URL, skipping outside CI when none
// answers.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("NEUAIS_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("NEUAIS_TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	err = rdb.Ping(context.Background()).Err()
	_ = rdb.Close()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("CI needs a Redis server at %s: %v", url, err)
		}
		tb.Skipf("no Redis server at %s", url)
	}
	return url
}

// Client returns a client of the test server, closed when the test ends.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Prefix returns a key prefix of the test's own, whose keys are deleted
// when it ends, so that tests sharing the server never see each other's.
func Prefix(tb testing.TB) string {
	tb.Helper()
	prefix := "test:" + models.NewID("") + ":"
	rdb := Client(tb)
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
				tb.Errorf("delete %s: %v", iter.Val(), err)
			}
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("scan %s*: %v", prefix, err)
		}
	})
	return prefix
}

// Proxy forwards connections to the test server until cut is called,
// which closes them all and refuses new ones: Redis gone for whoever
// connects through the returned URL.
func Proxy(tb testing.TB) (url string, cut func()) {
	tb.Helper()
	opts, err := redis.ParseURL(URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", opts.Addr)
			if err != nil {
				in.Close()
				continue
			}
			track(in)
			track(out)
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	cut = func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	tb.Cleanup(cut)
	return fmt.Sprintf("redis://%s/%d", ln.Addr(), opts.DB), cut
}
