package store

import (
	"math/rand"
	"strconv"
	"testing"
)

// childSet against a map, through many adds and removes of few names, so
// that the table fills, grows and is searched past its holes.
func TestChildSetMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var set childSet
	model := map[string]*node{}
	for step := range 200_000 {
		name := strconv.Itoa(rng.Intn(300))
		switch n := model[name]; {
		case rng.Intn(3) == 0:
			set.remove(name)
			delete(model, name)
		case n == nil:
			n = newFile("/d/"+name, "", 1)
			set.add(n)
			model[name] = n
		}
		if step%97 == 0 {
			for i := range 300 {
				name := strconv.Itoa(i)
				if got, want := set.get(name), model[name]; got != want {
					t.Fatalf("step %d: get(%s) = %v, want %v", step, name, got, want)
				}
			}
			seen := 0
			set.each(func(n *node) {
				if model[n.name()] != n {
					t.Fatalf("step %d: each gave %s, which is not a child", step, n.key)
				}
				seen++
			})
			if seen != len(model) || set.len() != len(model) {
				t.Fatalf("step %d: each gave %d children, len %d, want %d", step, seen, set.len(), len(model))
			}
		}
	}
}
