package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNextExpiration(t *testing.T) {
	s := New(0)
	if _, ok := s.NextExpiration(); ok {
		t.Fatal("empty store has a next expiration")
	}
	s.Set("/permanent", "v", time.Time{}, 1)
	if _, ok := s.NextExpiration(); ok {
		t.Fatal("permanent file has an expiration")
	}
	s.Set("/late", "v", t0.Add(time.Minute), 2)
	s.Set("/soon", "v", t0, 3)
	check := func(want time.Time) {
		t.Helper()
		got, ok := s.NextExpiration()
		if !ok || !got.Equal(want) {
			t.Fatalf("NextExpiration() = %v, %v; want %v", got, ok, want)
		}
		if _, offset := got.Zone(); offset != -7*3600 {
			t.Fatalf("NextExpiration() lost its zone: %v", got)
		}
	}
	check(t0)
	s.Set("/soon", "v", t0.Add(2*time.Minute), 4) // pushed back
	check(t0.Add(time.Minute))
	s.Delete("/late", 5)
	check(t0.Add(2 * time.Minute))
	s.Set("/permanent", "v", t0.Add(-time.Hour), 6) // given a TTL
	check(t0.Add(-time.Hour))
	s.Expire("/permanent", t0.Add(-time.Hour), 7)
	check(t0.Add(2 * time.Minute))
	s.Set("/soon", "v", time.Time{}, 8) // made permanent
	if got, ok := s.NextExpiration(); ok {
		t.Fatalf("NextExpiration() = %v with no TTLs left", got)
	}
}

func TestExpired(t *testing.T) {
	s := New(0)
	for i, key := range []string{"/d", "/b", "/c", "/a", "/e"} {
		s.Set(key, "v", t0.Add(time.Duration(i%3)*time.Second), uint64(i+1))
	}
	// Expirations: /d and /a at t0, /b and /e at t0+1s, /c at t0+2s.
	tests := []struct {
		now   time.Time
		limit int
		want  string
	}{
		{t0.Add(-time.Nanosecond), 10, ""},
		{t0, 10, "/a /d"},
		{t0.Add(time.Second), 10, "/a /d /b /e"},
		{t0.Add(time.Hour), 10, "/a /d /b /e /c"},
		{t0.Add(time.Hour), 3, "/a /d /b"},
		{t0.Add(time.Hour), 0, ""},
		{t0.Add(time.Hour), -1, ""},
	}
	for _, tt := range tests {
		var keys []string
		for _, x := range s.Expired(tt.now, tt.limit) {
			keys = append(keys, x.Key)
		}
		if got := strings.Join(keys, " "); got != tt.want {
			t.Errorf("Expired(%v, %d) = %q, want %q", tt.now, tt.limit, got, tt.want)
		}
	}
	if got := s.Expired(t0, 10); len(got) != 2 || !got[0].Expiration.Equal(t0) || got[0].Expiration.Location() != pacific {
		t.Errorf("Expired(t0) = %v, want expirations at t0 in their own zone", got)
	}
	if n := len(s.Expired(t0.Add(time.Hour), 10)); n != 5 {
		t.Errorf("Expired removed files: %d left", n)
	}
}

// TestExpiryHeapModel checks the heap against a sorted list under random
// sets, deletes and expiries.
func TestExpiryHeapModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := New(0)
	model := map[string]time.Time{}
	for index := uint64(1); index <= 3000; index++ {
		key := fmt.Sprintf("/k%d", rng.IntN(40))
		exp := t0.Add(time.Duration(rng.IntN(20)) * time.Second)
		switch rng.IntN(4) {
		case 0:
			s.Set(key, "v", time.Time{}, index)
			delete(model, key)
		case 1:
			s.Set(key, "v", exp, index)
			model[key] = exp
		case 2:
			s.Delete(key, index)
			delete(model, key)
		case 3:
			if e, _ := s.Expire(key, exp, index); e != nil {
				delete(model, key)
			}
		}
		if index%50 != 0 {
			continue
		}
		var want []Expiry
		for key, exp := range model {
			want = append(want, Expiry{key, exp})
		}
		slices.SortFunc(want, func(a, b Expiry) int {
			if c := a.Expiration.Compare(b.Expiration); c != 0 {
				return c
			}
			return strings.Compare(a.Key, b.Key)
		})
		now := t0.Add(time.Duration(rng.IntN(22)) * time.Second)
		limit := rng.IntN(45)
		var wantDue []Expiry
		for _, x := range want {
			if !x.Expiration.After(now) && len(wantDue) < limit {
				wantDue = append(wantDue, x)
			}
		}
		if got := s.Expired(now, limit); !slices.Equal(got, wantDue) {
			t.Fatalf("at index %d: Expired(%v, %d) =\n%v\nwant\n%v", index, now, limit, got, wantDue)
		}
		next, ok := s.NextExpiration()
		if ok != (len(want) > 0) || ok && !next.Equal(want[0].Expiration) {
			t.Fatalf("at index %d: NextExpiration() = %v, %v; want %v", index, next, ok, want)
		}
	}
}

// TestExpiryChanged: whoever expires files sleeps until the earliest
// expiration, so a file that may expire before it must wake them.
func TestExpiryChanged(t *testing.T) {
	s := New(0)
	woken := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	c := s.ExpiryChanged()
	s.Set("/permanent", "v", time.Time{}, 1)
	if woken(c) {
		t.Fatal("a permanent file woke the expiry")
	}
	s.Set("/late", "v", t0.Add(time.Hour), 2)
	if !woken(c) {
		t.Fatal("the first file with an expiration did not wake the expiry")
	}
	c = s.ExpiryChanged()
	s.Set("/later", "v", t0.Add(2*time.Hour), 3)
	s.Delete("/late", 4)
	if woken(c) {
		t.Fatal("a later expiration or a delete woke the expiry")
	}
	s.TestAndSet("/permanent", "v", "w", t0, 5)
	if !woken(c) {
		t.Fatal("a test-and-set giving the earliest expiration did not wake the expiry")
	}
	c = s.ExpiryChanged()
	state, err := New(0).Save()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Recover(state); err != nil {
		t.Fatal(err)
	}
	if !woken(c) {
		t.Fatal("a recovery did not wake the expiry")
	}
}
