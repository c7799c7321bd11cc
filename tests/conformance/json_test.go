package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// v2 answers are compared with their objects' key order: Go's encoder
// writes struct fields in declaration order, and v2 clients and tests
// compare bodies as text, so the order is part of the wire.

// object is a JSON object with its members in the order they came.
type object struct {
	keys []string
	vals []any
}

func (o *object) get(key string) (any, bool) {
	for i, k := range o.keys {
		if k == key {
			return o.vals[i], true
		}
	}
	return nil, false
}

func (o *object) str(key string) string {
	v, _ := o.get(key)
	if s, ok := v.(jstring); ok {
		return s.s
	}
	return ""
}

func (o *object) num(key string) uint64 {
	v, _ := o.get(key)
	if n, ok := v.(json.Number); ok {
		var u uint64
		fmt.Sscan(n.String(), &u)
		return u
	}
	return 0
}

func (o *object) obj(key string) *object {
	v, _ := o.get(key)
	ob, _ := v.(*object)
	return ob
}

// jstring is a JSON string with the text it was sent as, so that escaping
// (Go writes <, > and & as \u003c, \u003e and \u0026) is compared too.
type jstring struct {
	s   string
	raw string
}

// parseOrdered decodes one JSON value, keeping member order and raw
// strings; objects are *object, arrays []any, numbers json.Number.
func parseOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &orderedParser{dec: dec, data: data}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

type orderedParser struct {
	dec  *json.Decoder
	data []byte
}

func (p *orderedParser) token() (json.Token, string, error) {
	start := p.dec.InputOffset()
	t, err := p.dec.Token()
	if err != nil {
		return nil, "", err
	}
	raw := strings.TrimLeft(string(p.data[start:p.dec.InputOffset()]), " \t\r\n,:")
	return t, raw, nil
}

func (p *orderedParser) value() (any, error) {
	t, raw, err := p.token()
	if err != nil {
		return nil, err
	}
	return p.fromToken(t, raw)
}

func (p *orderedParser) fromToken(t json.Token, raw string) (any, error) {
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for p.dec.More() {
				kt, _, err := p.token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, key)
				o.vals = append(o.vals, v)
			}
			if _, _, err := p.token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for p.dec.More() {
				v, err := p.value()
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, _, err := p.token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return jstring{s: t, raw: raw}, nil
	default:
		return t, nil
	}
}
