package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// FieldError is a problem with one field of a config file.
type FieldError struct {
	File      string
	Line, Col int    // 1-based; 0 when not known
	Field     string // JSON path, e.g. "uploader.collector"; "" for the whole file
	Msg       string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("config ")
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// decodeStrict decodes data into v (a pointer to a struct holding the
// defaults). Before decoding it walks the JSON against v's type so that an
// unknown field or a value of the wrong type is reported with its JSON path
// and line:column, which encoding/json alone does not do for values that
// implement json.Unmarshaler.
func decodeStrict(file string, data []byte, v any) error {
	w := walker{file: file, data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	w.dec.UseNumber()
	if err := w.value(reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	end := w.skipSpace(w.dec.InputOffset())
	if _, err := w.dec.Token(); err != io.EOF {
		return w.errAt(end, "", "unexpected data after the top-level object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// The walk accepts what Decode accepts; this is a backstop.
		return &FieldError{File: file, Msg: err.Error()}
	}
	return nil
}

type walker struct {
	file string
	data []byte
	dec  *json.Decoder
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// value checks the next JSON value against type t at path.
func (w *walker) value(t reflect.Type, path string) error {
	start := w.skipSpace(w.dec.InputOffset())
	if t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType) {
		return w.object(t, path, start)
	}
	if t.Kind() == reflect.Slice {
		return w.array(t, path, start)
	}
	var raw json.RawMessage
	if err := w.dec.Decode(&raw); err != nil {
		return w.syntax(err, start)
	}
	if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return w.errAt(start, path, fmt.Sprintf("must be %s, got %s", kindName(t), raw))
		}
		return w.errAt(start, path, err.Error())
	}
	return nil
}

func (w *walker) object(t reflect.Type, path string, start int64) error {
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntax(err, start)
	}
	if tok == nil {
		return nil // null keeps the defaults
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return w.errAt(start, path, fmt.Sprintf("must be an object, got %v", tokText(tok)))
	}
	fields := jsonFields(t)
	for w.dec.More() {
		at := w.skipSpace(w.dec.InputOffset())
		tok, err := w.dec.Token()
		if err != nil {
			return w.syntax(err, at)
		}
		name := tok.(string) // object keys are strings
		ft, ok := fields[name]
		if !ok {
			return w.errAt(at, join(path, name), "unknown field")
		}
		if err := w.value(ft, join(path, name)); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return w.syntax(err, w.dec.InputOffset())
	}
	return nil
}

func (w *walker) array(t reflect.Type, path string, start int64) error {
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntax(err, start)
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return w.errAt(start, path, fmt.Sprintf("must be a list, got %v", tokText(tok)))
	}
	for i := 0; w.dec.More(); i++ {
		if err := w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return w.syntax(err, w.dec.InputOffset())
	}
	return nil
}

// jsonFields maps the JSON names of t's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type)
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func kindName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Duration]():
		return `a duration such as "30s" or "5m"`
	case reflect.TypeFor[Size]():
		return `a size in bytes such as 1048576 or "256MiB"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	}
	return t.String()
}

func tokText(tok json.Token) string {
	switch v := tok.(type) {
	case string:
		return strconv.Quote(v)
	case json.Delim:
		return string(v)
	}
	return fmt.Sprint(tok)
}

// skipSpace moves off to the start of the next token: past whitespace and
// the separators the decoder has not consumed yet.
func (w *walker) skipSpace(off int64) int64 {
	for off < int64(len(w.data)) && strings.IndexByte(" \t\r\n,:", w.data[off]) >= 0 {
		off++
	}
	return off
}

func (w *walker) syntax(err error, at int64) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		at = se.Offset
	}
	msg := err.Error()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of file"
		at = int64(len(w.data))
	}
	return w.errAt(at, "", strings.TrimPrefix(msg, "json: "))
}

func (w *walker) errAt(off int64, field, msg string) error {
	line, col := lineCol(w.data, off)
	return &FieldError{File: w.file, Line: line, Col: col, Field: field, Msg: msg}
}

func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// Duration is a time.Duration written in JSON as a Go duration string,
// e.g. "30s", "5m", "1h30m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string; null leaves d alone.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf(`must be a duration string such as "30s", got %s`, b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf(`must be a duration such as "30s" or "5m", got %q`, s)
	}
	*d = Duration(v)
	return nil
}

// Size is a byte count written in JSON as a number of bytes or a string
// with a unit: "512KiB", "256MiB", "1GiB" (powers of 1024) or "10MB"
// (powers of 1000).
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func (s Size) String() string {
	for _, u := range sizeUnits[:3] {
		if s >= Size(u.mult) && int64(s)%u.mult == 0 && int64(s)/u.mult < 1024 {
			return fmt.Sprintf("%d%s", int64(s)/u.mult, u.suffix)
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalJSON writes sizes with a binary unit where exact, else bytes.
func (s Size) MarshalJSON() ([]byte, error) {
	str := s.String()
	if _, err := strconv.ParseInt(str, 10, 64); err == nil {
		return []byte(str), nil
	}
	return json.Marshal(str)
}

// UnmarshalJSON reads a number of bytes or a size string; null leaves s
// alone.
func (s *Size) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	bad := fmt.Errorf(`must be a size in bytes such as 1048576 or "256MiB", got %s`, b)
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || n < 0 {
			return bad
		}
		*s = Size(n)
		return nil
	}
	v, err := ParseSize(str)
	if err != nil {
		return bad
	}
	*s = v
	return nil
}

// ParseSize parses "4096", "512KiB", "256MiB", "1GiB", "10MB" and the like.
func ParseSize(str string) (Size, error) {
	num, mult := strings.TrimSpace(str), int64(1)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", str)
	}
	return Size(n * mult), nil
}
