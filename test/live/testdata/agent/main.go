// Command liveagent is the live tests' agent: it prints "line N" every
// $TICK_MS milliseconds (at level warn every fifth line), burns a core when
// $BURN is set, listens on $PORT so it is up at once, and exits on SIGTERM.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT")); err == nil {
		defer ln.Close()
	}
	if os.Getenv("BURN") != "" {
		go func() {
			for n := 0; ; n++ {
				_ = n * n
			}
		}()
	}
	tick, err := strconv.Atoi(os.Getenv("TICK_MS"))
	if err != nil || tick <= 0 {
		tick = 50
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	ticker := time.NewTicker(time.Duration(tick) * time.Millisecond)
	for n := 1; ; n++ {
		select {
		case <-stop:
			fmt.Println("bye")
			return
		case <-ticker.C:
			if n%5 == 0 {
				fmt.Printf("WARN line %d\n", n)
			} else {
				fmt.Printf("INFO line %d\n", n)
			}
		}
	}
}
