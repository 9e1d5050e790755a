// httpload: the load clients of bench/node.py, in Go, so that they cost the 2-core box little and
// the bench measures the servers rather than its own clients (its Python clients, aiohttp with
// HMAC signing, used about 283 µs of CPU per order, more than any stage but Acquiring).
//
// -clients goroutines each loop request -> answer on their own keep-alive connection (or their
// own WebSocket) for -seconds, after -warmup seconds on the same connections that are not counted.
// With -rate R > 0 the clients together start R requests a second (open loop: each client keeps
// its own schedule, and one that falls behind sends at once until it has caught up); 0 is closed
// loop. Modes:
//
//	hello     GET <url>/hello (the bare aiohttp server's ceiling)
//	order     signed POST <url>/api/v3/order, LIMIT GTC 0.001 BTCUSDT at 50000, RESULT; buy and
//	          sell alternate so that about half of the orders trade
//	test-order  the same order to POST <url>/api/v3/order/test: signed, validated, never placed
//	          (the HTTP front door alone: what an order costs before the pipeline)
//	ws-order  the same order as the WebSocket API's order.place on <url>/ws-api/v3
//	sweep     bench/push.py's load: rounds of -sweep resting sells (LIMIT GTC 0.001 at 50000, ACK)
//	          from the first account, sent together, then one MARKET buy of all of them (ACK) from
//	          the second, paced to offer -rate trades a second; answers other than 200 are
//	          counted and the first is printed, and the rounds go on (the bench compares the trades
//	          offered with those the node made). It prints "offered: T trades; failed F" before
//	          its "done:" line.
//
// An order shed by the node's admission control (503 / -1003) is sent again at once, as a client
// retries; its latency runs from the first send. Any other answer than 200 ends the run with
// exit status 1. -accounts is a JSON list of {"apiKey", "secretKey"}, one per client in turn.
//
// Every second it prints the requests answered and their p50/p99 for that second. At the end it
// writes every measured latency to -out (little-endian float32 in ms, numpy.fromfile(..., "<f4"))
// and prints one line: "done: N requests in S s; shed K; cpu C s" (C: this process's user+system
// CPU time over the measured seconds).
package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

type account struct {
	APIKey    string `json:"apiKey"`
	SecretKey string `json:"secretKey"`
}

type shared struct {
	mu   sync.Mutex
	lat  []float32 // since the last progress line
	shed atomic.Int64
}

func (s *shared) record(ms float32) {
	s.mu.Lock()
	s.lat = append(s.lat, ms)
	s.mu.Unlock()
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "httpload: "+format+"\n", args...)
	os.Exit(1)
}

func sign(secret, payload string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(payload))
	return hex.EncodeToString(mac.Sum(nil))
}

func side(i, n int) string {
	if (i+n)%2 == 1 {
		return "BUY"
	}
	return "SELL"
}

// one client's requests: send(n) makes request n and waits for its answer
type sender func(n int)

func restSender(mode, base string, httpc *http.Client, acct account, i int, s *shared) sender {
	return func(n int) {
		var req *http.Request
		var err error
		if mode == "hello" {
			req, err = http.NewRequest("GET", base+"/hello", nil)
		} else {
			query := "symbol=BTCUSDT&side=" + side(i, n) + "&type=LIMIT&timeInForce=GTC&quantity=0.001&price=50000" +
				"&newOrderRespType=RESULT&timestamp=" + strconv.FormatInt(time.Now().UnixMilli(), 10)
			path := "/api/v3/order?"
			if mode == "test-order" {
				path = "/api/v3/order/test?"
			}
			req, err = http.NewRequest("POST", base+path+query+"&signature="+sign(acct.SecretKey, query), nil)
			req.Header.Set("X-MBX-APIKEY", acct.APIKey)
		}
		if err != nil {
			fail("%v", err)
		}
		for {
			resp, err := httpc.Do(req)
			if err != nil {
				fail("%v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				fail("%v", err)
			}
			if resp.StatusCode == 503 && strings.Contains(string(body), "-1003") {
				s.shed.Add(1)
				continue
			}
			if resp.StatusCode != 200 {
				fail("refused: %d %s", resp.StatusCode, body)
			}
			return
		}
	}
}

func wsSender(conn *websocket.Conn, acct account, i int, s *shared) sender {
	return func(n int) {
		// the parameters sorted by name, signed as web-socket-api.md says
		payload := "apiKey=" + acct.APIKey + "&newOrderRespType=RESULT&price=50000&quantity=0.001&side=" + side(i, n) +
			"&symbol=BTCUSDT&timeInForce=GTC&timestamp=" + strconv.FormatInt(time.Now().UnixMilli(), 10) + "&type=LIMIT"
		params := map[string]string{"signature": sign(acct.SecretKey, payload)}
		for _, kv := range strings.Split(payload, "&") {
			k, v, _ := strings.Cut(kv, "=")
			params[k] = v
		}
		frame, _ := json.Marshal(map[string]any{"id": n, "method": "order.place", "params": params})
		for {
			if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				fail("%v", err)
			}
			_, data, err := conn.ReadMessage()
			if err != nil {
				fail("%v", err)
			}
			var answer struct {
				Status int `json:"status"`
				Error  struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(data, &answer); err != nil {
				fail("answer %q: %v", data, err)
			}
			if answer.Status == 503 && answer.Error.Code == -1003 {
				s.shed.Add(1)
				continue
			}
			if answer.Status != 200 {
				fail("refused: %s", data)
			}
			return
		}
	}
}

// sweep runs bench/push.py's load (see the package comment) until the deadline; each round's time
// (its sells answered, then its buy) goes to s.
func sweep(base string, httpc *http.Client, maker, taker account, size int, rate float64, deadline time.Time,
	s *shared) {
	var failed atomic.Int64
	var first sync.Once
	post := func(acct account, query string) {
		query += "&timestamp=" + strconv.FormatInt(time.Now().UnixMilli(), 10)
		req, err := http.NewRequest("POST", base+"/api/v3/order?"+query+"&signature="+sign(acct.SecretKey, query), nil)
		if err != nil {
			fail("%v", err)
		}
		req.Header.Set("X-MBX-APIKEY", acct.APIKey)
		resp, err := httpc.Do(req)
		if err != nil {
			fail("%v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			failed.Add(1)
			first.Do(func() { fmt.Printf("load: an order failed: %d %s\n", resp.StatusCode, body) })
		}
	}
	sell := "symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.001&price=50000&newOrderRespType=ACK"
	buy := fmt.Sprintf("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=%.3f&newOrderRespType=ACK", float64(size)/1000)
	t0 := time.Now()
	trades := 0
	for time.Now().Before(deadline) {
		time.Sleep(time.Until(t0.Add(time.Duration(float64(trades) / rate * float64(time.Second)))))
		start := time.Now()
		var wg sync.WaitGroup
		for range size {
			wg.Add(1)
			go func() { defer wg.Done(); post(maker, sell) }()
		}
		wg.Wait()
		post(taker, buy)
		trades += size
		s.record(float32(time.Since(start).Seconds() * 1000))
	}
	fmt.Printf("offered: %d trades; failed %d\n", trades, failed.Load())
}

func percentile(sorted []float32, p float64) float32 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(k, 0)]
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func main() {
	mode := flag.String("mode", "hello", "hello, order, test-order, ws-order or sweep")
	base := flag.String("url", "", "http://host:port")
	clients := flag.Int("clients", 16, "concurrent clients, one connection each")
	seconds := flag.Float64("seconds", 5, "measured seconds")
	warmup := flag.Float64("warmup", 0, "seconds of load before the measured ones, not counted")
	rate := flag.Float64("rate", 0, "requests/s of all clients together (0: closed loop)")
	accountsFile := flag.String("accounts", "", "JSON list of {apiKey, secretKey} (order modes)")
	out := flag.String("out", "", "file for every measured latency (float32, ms)")
	procs := flag.Int("procs", 1, "GOMAXPROCS: one core's worth at most, as bench/wsfan")
	size := flag.Int("sweep", 50, "-mode sweep: trades per round (-rate is then trades/s)")
	flag.Parse()
	runtime.GOMAXPROCS(*procs)
	if *base == "" || *out == "" || (*mode != "hello" && *mode != "order" && *mode != "test-order" && *mode != "ws-order" && *mode != "sweep") {
		fmt.Fprintln(os.Stderr, "usage: httpload -mode hello|order|ws-order|sweep -url http://... -out FILE [-accounts FILE]")
		os.Exit(2)
	}
	var accounts []account
	if *mode != "hello" {
		data, err := os.ReadFile(*accountsFile)
		if err != nil {
			fail("%v", err)
		}
		if err := json.Unmarshal(data, &accounts); err != nil || len(accounts) == 0 {
			fail("-accounts %s: a JSON list of {apiKey, secretKey} (%v)", *accountsFile, err)
		}
	}
	s := &shared{}
	if *mode == "sweep" {
		if len(accounts) < 2 || *rate <= 0 {
			fail("-mode sweep needs two accounts (maker, taker) and a -rate")
		}
		*clients = 0 // (one loop, below: a round's sells go together)
	}
	conns := max(*clients, *size+1)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		DisableCompression: true}}
	senders := make([]sender, *clients)
	for i := range senders {
		var acct account
		if accounts != nil {
			acct = accounts[i%len(accounts)]
		}
		if *mode == "ws-order" {
			conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(*base, "http")+"/ws-api/v3", nil)
			if err != nil {
				fail("client %d: %v", i, err)
			}
			defer conn.Close()
			senders[i] = wsSender(conn, acct, i, s)
		} else {
			senders[i] = restSender(*mode, *base, httpc, acct, i, s)
		}
	}

	interval := time.Duration(0)
	if *rate > 0 {
		interval = time.Duration(float64(*clients) / *rate * float64(time.Second))
	}
	t0 := time.Now()
	begin := t0.Add(time.Duration(*warmup * float64(time.Second)))
	deadline := begin.Add(time.Duration(*seconds * float64(time.Second)))
	var wg sync.WaitGroup
	for i, send := range senders {
		wg.Add(1)
		go func(i int, send sender) {
			defer wg.Done()
			next := time.Now().Add(interval * time.Duration(i) / time.Duration(*clients))
			for n := 0; ; n++ {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(interval)
				}
				start := time.Now()
				if start.After(deadline) {
					return
				}
				send(n)
				if !start.Before(begin) { // (not the warm-up's)
					s.record(float32(time.Since(start).Seconds() * 1000))
				}
			}
		}(i, send)
	}
	if *mode == "sweep" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(begin))
			sweep(*base, httpc, accounts[0], accounts[1], *size, *rate, deadline, s)
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()

	time.Sleep(time.Until(begin))
	cpu0 := cpuSeconds()
	var all []float32
	last := time.Now()
	tick := time.NewTicker(time.Second)
	for running := true; running; {
		select {
		case <-finished:
			running = false
		case <-tick.C:
		}
		s.mu.Lock()
		got := s.lat
		s.lat = nil
		s.mu.Unlock()
		all = append(all, got...)
		now := time.Now()
		if !running && (len(got) == 0 || now.Sub(last) < 500*time.Millisecond) {
			break // (the answers to the last requests, after the deadline: in the figures, not a line)
		}
		sorted := append([]float32(nil), got...)
		sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
		fmt.Printf("  t=%4.1fs %8.0f req/s  p50 %7.2f ms  p99 %7.2f ms\n", now.Sub(begin).Seconds(),
			float64(len(got))/now.Sub(last).Seconds(), percentile(sorted, 50), percentile(sorted, 99))
		last = now
	}
	elapsed := time.Since(begin).Seconds()
	cpu := cpuSeconds() - cpu0

	f, err := os.Create(*out)
	if err != nil {
		fail("%v", err)
	}
	w := bufio.NewWriter(f)
	if err := binary.Write(w, binary.LittleEndian, all); err != nil {
		fail("%v", err)
	}
	w.Flush()
	f.Close()
	fmt.Printf("done: %d requests in %.3f s; shed %d; cpu %.3f s\n", len(all), elapsed, s.shed.Load(), cpu)
}
