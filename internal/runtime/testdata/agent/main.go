// Command agent is the runtime tests' agent: it logs at every level in the
// forms the runtime parses, serves HTTP on $HOST:$PORT (HOST defaults to
// 127.0.0.1) (/ answers with its
// replica number, /env?name=N the variable N, /header?name=N the request
// header N, /echo the request body, /say?line=L prints L, /crash exits 1, /burn?ms=N burns CPU), exits 1 after
// $CRASH_AFTER_MS when set (only its first $CRASH_TIMES runs when that is
// set too), and exits cleanly on SIGTERM unless $IGNORE_SIGTERM is set.
// With $SPAWN_CHILD set it starts a child that ignores SIGTERM and logs
// "child pid N"; with $FLOOD_LINES set it writes one 1 MiB line, then that
// many 64 KiB lines, then "flood done".
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("AGENT_CHILD") != "" {
		signal.Ignore(syscall.SIGTERM)
		select {} // a grandchild that only SIGKILL of the group ends
	}
	if os.Getenv("SPAWN_CHILD") != "" {
		spawnChild()
	}
	replica := os.Getenv("NEUAIS_REPLICA")
	fmt.Printf(`{"level":"debug","msg":"json debug from replica %s"}`+"\n", replica)
	fmt.Printf(`{"level":"WARN","msg":"json warn"}` + "\n")
	fmt.Println("INFO plain info")
	fmt.Println("[warning] bracketed warn")
	fmt.Println("no level on stdout")
	fmt.Fprintln(os.Stderr, "ERROR: plain error")
	fmt.Fprintln(os.Stderr, "debug: plain debug on stderr")
	fmt.Fprintln(os.Stderr, "no level on stderr")
	fmt.Println("env GREETING=" + os.Getenv("GREETING"))
	if n, err := strconv.Atoi(os.Getenv("FLOOD_LINES")); err == nil {
		flood(n)
	}

	if ms, err := strconv.Atoi(os.Getenv("CRASH_AFTER_MS")); err == nil && shouldCrash() {
		time.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
			fmt.Fprintln(os.Stderr, "crashing as asked")
			os.Exit(1)
		})
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "replica %s", replica)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(r.URL.Query().Get("name")))
	})
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get(r.URL.Query().Get("name")))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		os.Exit(1)
	})
	mux.HandleFunc("/say", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("line"))
	})
	mux.HandleFunc("/burn", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		n := 0
		for time.Now().Before(end) {
			n++
		}
		fmt.Fprintf(w, "burned %d", n)
	})
	host := os.Getenv("HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	srv := &http.Server{Addr: net.JoinHostPort(host, os.Getenv("PORT")), Handler: mux}
	if os.Getenv("IGNORE_SIGTERM") != "" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			fmt.Println("INFO shutting down")
			srv.Shutdown(context.Background())
		}()
	}
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "ERROR", err)
		os.Exit(2)
	}
}

// shouldCrash counts runs in $HOME, the replica's working directory, which
// outlives restarts.
func shouldCrash() bool {
	limit, err := strconv.Atoi(os.Getenv("CRASH_TIMES"))
	if err != nil {
		return true
	}
	counter := filepath.Join(os.Getenv("HOME"), "crashes")
	data, _ := os.ReadFile(counter)
	n, _ := strconv.Atoi(string(data))
	if n >= limit {
		return false
	}
	os.WriteFile(counter, []byte(strconv.Itoa(n+1)), 0o600)
	return true
}

func spawnChild() {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERROR", err)
		os.Exit(2)
	}
	child := exec.Command(self)
	child.Env = append(os.Environ(), "AGENT_CHILD=1")
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "ERROR", err)
		os.Exit(2)
	}
	fmt.Printf("child pid %d\n", child.Process.Pid)
}

func flood(n int) {
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	w.WriteString("huge " + strings.Repeat("x", 1<<20) + "\n")
	line := strings.Repeat("f", 64<<10) + "\n"
	for range n {
		w.WriteString(line)
	}
	w.WriteString("flood done\n")
	w.Flush()
}
