// Package apperr holds the one error type the application speaks in. Services
// return it; the HTTP layer maps each Kind to a status in one table, so no
// handler decides a status code by itself and no internal detail reaches a
// client.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it.
type Kind int

// The kinds, each mapped to one HTTP status by the HTTP layer.
const (
	Internal        Kind = iota // a fault of ours; details go to the log only
	Invalid                     // the request is malformed or fails validation
	NotFound                    // missing, or belongs to another tenant
	Conflict                    // the request clashes with current state
	Unauthenticated             // no valid credentials
	Forbidden                   // authenticated, but not allowed
	RateLimited                 // too many requests
	TooLarge                    // the body is over its limit
	Unavailable                 // a dependency is down; try again
)

// FieldError names one invalid input field and why.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the application error: a kind, a message safe to show to the
// client, optional field errors and an optional wrapped cause (never shown).
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	// RetryAfter, in seconds, accompanies RateLimited and Unavailable.
	RetryAfter int
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a client-safe message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Internal error that keeps err for the log.
func Wrap(err error, message string) *Error {
	return &Error{Kind: Internal, Message: message, Err: err}
}

// Field returns an Invalid error naming one field.
func Field(field, message string) *Error {
	return &Error{Kind: Invalid, Message: "validation failed", Fields: []FieldError{{Field: field, Message: message}}}
}

// Fields collects field errors; Err returns nil when none were added.
type Fields []FieldError

// Add records that field is invalid.
func (f *Fields) Add(field, message string) {
	*f = append(*f, FieldError{Field: field, Message: message})
}

// Err is nil without field errors, else an Invalid error carrying them.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Message: "validation failed", Fields: f}
}

// KindOf returns the kind of err, Internal for foreign errors.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err is an application error of kind k.
func Is(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}
