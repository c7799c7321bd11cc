package store

import (
	"fmt"
	"testing"
	"time"
)

// benchKeys are the keys the benchmarks write, made once so that their
// formatting is not measured.
var benchKeys = func() []string {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("/bench/dir%d/key%d", i%16, i)
	}
	return keys
}()

// BenchmarkSet measures the write path that raft's apply loop runs, with
// the default history size.
func BenchmarkSet(b *testing.B) {
	for _, bm := range []struct {
		name       string
		expiration time.Time
	}{
		{"permanent", time.Time{}},
		{"ttl", t0},
	} {
		b.Run(bm.name, func(b *testing.B) {
			s := New(1024)
			index := uint64(0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				index++
				exp := bm.expiration
				if !exp.IsZero() {
					exp = exp.Add(time.Duration(i%100) * time.Second)
				}
				if _, err := s.Set(benchKeys[i%len(benchKeys)], "value", exp, index); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	s := New(1024)
	for i, key := range benchKeys {
		s.Set(key, "value", time.Time{}, uint64(i+1))
	}
	for _, bm := range []struct{ name, key string }{
		{"file", benchKeys[7]},
		{"dir64", "/bench/dir3"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, err := s.Get(bm.key); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkWatchNotify measures a watch that a write fires, with 1000 idle
// watchers elsewhere in the tree.
func BenchmarkWatchNotify(b *testing.B) {
	s := New(1024)
	for i := range 1000 {
		if _, err := s.Watch(fmt.Sprintf("/idle/%d", i), 0); err != nil {
			b.Fatal(err)
		}
	}
	index := uint64(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w, err := s.Watch("/bench", 0)
		if err != nil {
			b.Fatal(err)
		}
		index++
		s.Set(benchKeys[i%len(benchKeys)], "value", time.Time{}, index)
		<-w.EventChan()
	}
}

// BenchmarkSaveLargeStore saves a store of 100,000 files in one directory
// while another goroutine keeps writing, and reports the longest write:
// writes wait for the part of Save that holds the store's lock.
func BenchmarkSaveLargeStore(b *testing.B) {
	const files = 100_000
	s := New(1024)
	value := string(make([]byte, 100))
	for i := range files {
		if _, err := s.Set(fmt.Sprintf("/large/%d", i), value, time.Time{}, uint64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
	index := uint64(files)
	var longest time.Duration
	for b.Loop() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := s.Save(); err != nil {
				b.Error(err)
			}
		}()
		for waiting := true; waiting; {
			select {
			case <-done:
				waiting = false
			default:
			}
			index++
			start := time.Now()
			if _, err := s.Set("/writer", "v", time.Time{}, index); err != nil {
				b.Fatal(err)
			}
			longest = max(longest, time.Since(start))
		}
	}
	b.ReportMetric(float64(longest.Microseconds())/1000, "ms-longest-write")
}
