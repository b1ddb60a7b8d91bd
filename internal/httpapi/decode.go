package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/metachat/metachat/internal/apperr"
)

// decodeJSON reads a JSON body strictly: one object, no unknown fields, no
// trailing data, right types, valid UTF-8, within the body limit. Errors
// name the offending field.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &apperr.Error{Kind: apperr.Invalid, Message: "the body must be JSON (Content-Type: application/json)", Fields: []apperr.FieldError{{Field: "body", Message: "must be JSON"}}}
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyReadError(err, "body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return apperr.Field("body", "is empty: send a JSON object")
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD; refuse it.
	if !utf8.Valid(body) {
		return apperr.Field("body", "is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return apperr.Field("body", "has data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apperr.Field("body", fmt.Sprintf("is not valid JSON (at byte %d)", syn.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return apperr.Field(field, "must be "+jsonTypeName(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Field("body", "is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil {
			name = "body"
		}
		return apperr.Field(name, "is not a known field")
	}
	return apperr.Field("body", "is not valid JSON")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	}
	return "of another type"
}

// pathID reads a path id, refusing the wrong shape with a field error.
func pathID(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if !validID(id) {
		return "", apperr.Field(name, "is not a valid id")
	}
	return id, nil
}

// bodyReadError explains why a request body could not be read: over the
// route's size limit (413 naming field) or cut off.
func bodyReadError(err error, field string) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apperr.Error{Kind: apperr.TooLarge, Message: fmt.Sprintf("the body is larger than %d bytes", mbe.Limit), Fields: []apperr.FieldError{{Field: field, Message: "is too large"}}}
	}
	return apperr.Field("body", "could not be read")
}
