package testnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// DecodeStrict decodes one JSON value from b into v, rejecting unknown
// members and anything after the value.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// DecodeCanonical decodes r's JSON body into v strictly, and accepts it only
// if re-encoding v gives the very same bytes: that checks the member order,
// the omissions, the escaping and the absence of unknown members at once.
func DecodeCanonical(r *Response, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	if bytes.HasSuffix(r.Body, []byte("\n")) {
		return errors.New("body ends with a newline; the original sent none")
	}
	if err := DecodeStrict(r.Body, v); err != nil {
		return fmt.Errorf("decode: %v", err)
	}
	want, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(want, r.Body) {
		return fmt.Errorf("body is not in wire form (member order, omitted empty members, escaping):\n got  %s\n want %s", r.Body, want)
	}
	return nil
}
