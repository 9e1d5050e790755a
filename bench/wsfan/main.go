// wsfan: the WebSocket clients of bench/push.py, in Go, so that reading the frames costs the
// 2-core box little and the bench measures Push rather than its own clients (the Python client
// process, one event loop parsing every frame, read at most about 400,000 frames a second).
//
// It opens -clients connections to -url, prints "clients: N subscribed to ..." once all of them
// have had their upgrade answered, then reads until its stdin is closed. For every text frame
// that carries a trade time ("T":<ms>) it takes receipt time minus that time, in ms. Every second
// it prints the messages delivered and their p50/p99 for that second. At the end it writes every
// latency to -out (little-endian float32, numpy.fromfile(..., "<f4")) and prints one line:
// "done: N messages; per client min A max B".
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

type client struct {
	mu    sync.Mutex
	lat   []float32 // since the last progress line
	count int64     // trade frames in all
}

var tradeTime = []byte(`"T":`)

func (c *client) read(conn *websocket.Conn, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 0, 4096)
	for {
		kind, r, err := conn.NextReader()
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				break
			}
		}
		if kind != websocket.TextMessage {
			continue
		}
		i := bytes.Index(buf, tradeTime)
		if i < 0 {
			continue
		}
		rest := buf[i+len(tradeTime):]
		j := bytes.IndexAny(rest, ",}")
		if j < 0 {
			continue
		}
		t, err := strconv.ParseInt(string(rest[:j]), 10, 64)
		if err != nil {
			continue
		}
		now := float64(time.Now().UnixMicro()) / 1000
		c.mu.Lock()
		c.lat = append(c.lat, float32(now-float64(t)))
		c.count++
		c.mu.Unlock()
	}
}

func percentile(sorted []float32, p float64) float32 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if k < 0 {
		k = 0
	}
	return sorted[k]
}

func main() {
	url := flag.String("url", "", "ws://host:port/ws/<stream>")
	count := flag.Int("clients", 1000, "connections")
	out := flag.String("out", "", "file for every latency (float32, ms)")
	procs := flag.Int("procs", 1, "GOMAXPROCS: one core's worth, so the clients leave the node the other "+
		"(on 2 cores, 1,000 clients at 1,300-1,600 trades/s cost 465-555 µs of CPU a trade with 1, 727 with 2)")
	flag.Parse()
	runtime.GOMAXPROCS(*procs)
	if *url == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: wsfan -url ws://... -clients N -out FILE")
		os.Exit(2)
	}
	dialer := websocket.Dialer{ReadBufferSize: 64 * 1024, WriteBufferSize: 1024, HandshakeTimeout: 60 * time.Second}
	clients := make([]*client, *count)
	var wg sync.WaitGroup
	for i := range clients {
		conn, _, err := dialer.Dial(*url, nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "client %d: %v\n", i, err)
			os.Exit(1)
		}
		conn.SetReadLimit(-1)
		clients[i] = &client{}
		wg.Add(1)
		go clients[i].read(conn, &wg)
	}
	fmt.Printf("clients: %d subscribed to %s\n", *count, *url)

	stop := make(chan struct{})
	go func() { // the bench closes our stdin to stop us
		bufio.NewReader(os.Stdin).ReadString('\n')
		close(stop)
	}()
	var all []float32
	t0 := time.Now()
	last := t0
	tick := time.NewTicker(time.Second)
	for running := true; running; {
		select {
		case <-stop:
			running = false
		case <-tick.C:
		}
		var got []float32
		for _, c := range clients {
			c.mu.Lock()
			got = append(got, c.lat...)
			c.lat = c.lat[:0]
			c.mu.Unlock()
		}
		all = append(all, got...)
		now := time.Now()
		sort.Slice(got, func(a, b int) bool { return got[a] < got[b] })
		fmt.Printf("  t=%5.1fs delivered %10.0f msg/s  p50 %7.1f ms  p99 %7.1f ms\n", now.Sub(t0).Seconds(),
			float64(len(got))/now.Sub(last).Seconds(), percentile(got, 50), percentile(got, 99))
		last = now
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriter(f)
	if err := binary.Write(w, binary.LittleEndian, all); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w.Flush()
	f.Close()
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, c := range clients {
		c.mu.Lock()
		lo, hi = min(lo, c.count), max(hi, c.count)
		c.mu.Unlock()
	}
	fmt.Printf("done: %d messages; per client min %d max %d\n", len(all), lo, hi)
}
