// Command hostile is an agent that tries what a tenant's binary must not
// be able to do, and reports each attempt over HTTP on $PORT:
//
//	GET /probes    reads HOSTILE_READ, dials HOSTILE_DIAL, writes HOSTILE_WRITE,
//	               may signal HOSTILE_SIGNAL (comma-separated); JSON name → outcome
//	GET /fds       the descriptors it had when it started, beyond 0, 1 and 2
//	GET /self      its /proc/self/status (ids, capabilities, no_new_privs) and environment
//	GET /outbound  fetches ?url= and answers its body
//	GET /escape    starts a child in a new session that outlives its parent,
//	               with ?marker= as its argument so the host can find it
//	GET /forkbomb  starts children until the kernel refuses; answers how many
//
// With HOSTILE_MODE=alloc it allocates memory at start until it is killed.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startFDs is read before anything else opens a file: every descriptor
// beyond 0, 1 and 2 but the listing's own, with what it points to.
var startFDs = func() []string {
	// Raw system calls: os.Open would start the runtime's poller, whose
	// own descriptors would then show up.
	dirFD, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return []string{err.Error()}
	}
	defer syscall.Close(dirFD)
	buf := make([]byte, 8192)
	var names []string
	for {
		n, err := syscall.ReadDirent(dirFD, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
	var fds []string
	for _, name := range names {
		n, err := strconv.Atoi(name)
		if err != nil || n <= 2 || n == dirFD {
			continue
		}
		target, _ := os.Readlink("/proc/self/fd/" + name)
		fds = append(fds, name+" → "+target)
	}
	return fds
}()

func main() {
	if len(os.Args) > 1 && os.Args[1] == "sleep" {
		time.Sleep(time.Hour)
		return
	}
	if os.Getenv("HOSTILE_MODE") == "alloc" {
		var hoard [][]byte
		for {
			chunk := make([]byte, 1<<20)
			for i := range chunk {
				chunk[i] = 1
			}
			hoard = append(hoard, chunk)
		}
	}
	http.HandleFunc("/probes", probes)
	http.HandleFunc("/fds", func(w http.ResponseWriter, _ *http.Request) { json.NewEncoder(w).Encode(startFDs) })
	http.HandleFunc("/self", func(w http.ResponseWriter, _ *http.Request) {
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"status": string(status), "env": os.Environ()})
	})
	http.HandleFunc("/outbound", func(w http.ResponseWriter, r *http.Request) {
		c := http.Client{Timeout: 5 * time.Second}
		res, err := c.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		io.Copy(w, res.Body)
	})
	http.HandleFunc("/escape", func(w http.ResponseWriter, r *http.Request) {
		cmd := exec.Command("/proc/self/exe", "sleep", r.URL.Query().Get("marker"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "escaped")
	})
	http.HandleFunc("/forkbomb", func(w http.ResponseWriter, _ *http.Request) {
		var children []*exec.Cmd
		for len(children) < 2000 {
			cmd := exec.Command("/proc/self/exe", "sleep")
			if cmd.Start() != nil {
				break
			}
			children = append(children, cmd)
		}
		for _, c := range children {
			c.Process.Kill()
			c.Wait()
		}
		fmt.Fprint(w, len(children))
	})
	fmt.Println("hostile agent listening")
	if err := http.ListenAndServe(":"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func list(name string) []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// probes tries every target and says "ALLOWED" for what succeeded.
func probes(w http.ResponseWriter, _ *http.Request) {
	results := map[string]string{}
	outcome := func(err error, allowed string) string {
		if err != nil {
			return "refused: " + err.Error()
		}
		return "ALLOWED: " + allowed
	}
	for _, path := range list("HOSTILE_READ") {
		detail := ""
		fi, err := os.Stat(path)
		if err == nil && fi.IsDir() {
			var entries []os.DirEntry
			entries, err = os.ReadDir(path)
			detail = fmt.Sprint(len(entries), " entries")
		} else if err == nil {
			var data []byte
			data, err = os.ReadFile(path)
			detail = fmt.Sprint(len(data), " bytes")
		}
		results["read "+path] = outcome(err, detail)
	}
	for _, addr := range list("HOSTILE_DIAL") {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			conn.Close()
		}
		results["dial "+addr] = outcome(err, "connected")
	}
	for _, path := range list("HOSTILE_WRITE") {
		err := os.WriteFile(path, []byte("owned"), 0o644)
		results["write "+path] = outcome(err, "written")
	}
	for _, p := range list("HOSTILE_SIGNAL") {
		pid, _ := strconv.Atoi(p)
		err := syscall.Kill(pid, 0) // permission to signal, without harm
		results["signal "+p] = outcome(err, "may signal it")
	}
	json.NewEncoder(w).Encode(results)
}
