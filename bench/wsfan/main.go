// wsfan: the WebSocket clients of bench/push.py, in Go, so that reading the frames costs the
// 2-core box little and the bench measures Push rather than its own clients (the Python client
// process, one event loop parsing every frame, read at most about 400,000 frames a second).
//
// It opens -clients connections to -url, prints "clients: N subscribed to ..." once all of them
// have had their upgrade answered, then reads until its stdin is closed. For every text frame
// that carries a trade time ("T":<ms>) it takes receipt time minus that time, in ms. The receipt
// time is that of the socket read that brought the frame's last bytes (one clock reading per read,
// not per frame: a burst of trades arrives in one read, and parsing the frames before one is the
// client's time, not the server's). Every second it prints the messages delivered and their p50/p99
// for that second (from a histogram of 0.1 ms bins, so that the progress line does not sort two
// million numbers a second on the clients' one core). At the end it writes every latency to -out
// (little-endian float32, numpy.fromfile(..., "<f4")) and prints one line:
// "done: N messages; per client min A max B".
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

type client struct {
	mu    sync.Mutex
	lat   []float32 // since the last progress line
	count int64     // trade frames in all
}

// timedConn is a connection that notes the time of its last read that brought bytes.
type timedConn struct {
	net.Conn
	at float64 // ms since the epoch
}

func (c *timedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.at = float64(time.Now().UnixMicro()) / 1000
	}
	return n, err
}

var tradeTime = []byte(`"T":`)

// tradeMs is the integer after "T": in a frame, or -1.
func tradeMs(frame []byte) int64 {
	i := bytes.Index(frame, tradeTime)
	if i < 0 {
		return -1
	}
	var t int64
	digits := 0
	for _, b := range frame[i+len(tradeTime):] {
		if b < '0' || b > '9' {
			break
		}
		t = t*10 + int64(b-'0')
		digits++
	}
	if digits == 0 {
		return -1
	}
	return t
}

func (c *client) read(conn *websocket.Conn, tc *timedConn, wg *sync.WaitGroup) {
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
		t := tradeMs(buf)
		if t < 0 {
			continue
		}
		c.mu.Lock()
		c.lat = append(c.lat, float32(tc.at-float64(t)))
		c.count++
		c.mu.Unlock()
	}
}

// histogram of latencies in 0.1 ms bins up to a minute, and one bin for what is beyond.
const binMs = 0.1

type histogram struct {
	bins []int64
	n    int64
}

func newHistogram() *histogram { return &histogram{bins: make([]int64, int(60_000/binMs)+1)} }

func (h *histogram) add(values []float32) {
	last := len(h.bins) - 1
	for _, v := range values {
		k := int(float64(v) / binMs)
		if k < 0 {
			k = 0
		} else if k > last {
			k = last
		}
		h.bins[k]++
	}
	h.n += int64(len(values))
}

// percentile is the upper edge of the bin that holds the p-th percentile, in ms.
func (h *histogram) percentile(p float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(p/100*float64(h.n))), 1)
	var seen int64
	for k, c := range h.bins {
		seen += c
		if seen >= rank {
			return float64(k+1) * binMs
		}
	}
	return float64(len(h.bins)) * binMs
}

func (h *histogram) reset() {
	clear(h.bins)
	h.n = 0
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
	var tc *timedConn // the connection the dialer made last (one dial at a time)
	dialer := websocket.Dialer{ReadBufferSize: 64 * 1024, WriteBufferSize: 1024, HandshakeTimeout: 60 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			tc = &timedConn{Conn: conn}
			return tc, nil
		}}
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
		go clients[i].read(conn, tc, &wg)
	}
	fmt.Printf("clients: %d subscribed to %s\n", *count, *url)

	stop := make(chan struct{})
	go func() { // the bench closes our stdin to stop us
		bufio.NewReader(os.Stdin).ReadString('\n')
		close(stop)
	}()
	var all []float32
	hist := newHistogram()
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
		hist.reset()
		hist.add(got)
		fmt.Printf("  t=%5.1fs delivered %10.0f msg/s  p50 %7.1f ms  p99 %7.1f ms  total %d\n", now.Sub(t0).Seconds(),
			float64(len(got))/now.Sub(last).Seconds(), hist.percentile(50), hist.percentile(99), len(all))
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
