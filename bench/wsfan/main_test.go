package main

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

func TestTradeMs(t *testing.T) {
	cases := map[string]int64{
		`{"e":"trade","E":1700000000123,"s":"BTCUSDT","t":7,"p":"1.0","q":"2.0","T":1700000000120,"m":true,"M":true}`: 1700000000120,
		`{"stream":"btcusdt@trade","data":{"e":"trade","T":42}}`:                                                      42,
		`{"e":"depthUpdate","E":1}`: -1, // no trade time
		`{"e":"trade","T":"x"}`:     -1, // not a number
		`"T":`:                      -1,
	}
	for frame, want := range cases {
		if got := tradeMs([]byte(frame)); got != want {
			t.Errorf("tradeMs(%s) = %d, want %d", frame, got, want)
		}
	}
}

// The histogram's percentiles are within a bin of the exact ones (sorted values, the bench's
// definition: the ceil(p/100*n)-th smallest).
func TestHistogramPercentiles(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	h := newHistogram()
	for round := 0; round < 20; round++ {
		n := 1 + r.Intn(5000)
		values := make([]float32, n)
		for i := range values {
			values[i] = float32(r.ExpFloat64() * 50)
		}
		h.reset()
		h.add(values[:n/2])
		h.add(values[n/2:])
		sorted := slices.Clone(values)
		slices.Sort(sorted)
		for _, p := range []float64{0, 1, 50, 99, 100} {
			k := max(int(math.Ceil(p/100*float64(n)))-1, 0)
			exact, got := float64(sorted[k]), h.percentile(p)
			if !(got >= exact && got-exact <= binMs+1e-9) {
				t.Fatalf("round %d: p%v of %d values is %v, the histogram says %v", round, p, n, exact, got)
			}
		}
	}
	h.reset()
	h.add([]float32{-3, 120_000}) // below the first bin and beyond the last: counted in them
	if h.percentile(50) != binMs || h.percentile(100) != float64(len(h.bins))*binMs {
		t.Fatalf("the edges: p50 %v, p100 %v", h.percentile(50), h.percentile(100))
	}
	if newHistogram().percentile(99) != 0 {
		t.Fatal("an empty histogram's percentile is 0")
	}
}
