package apperr_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metachat/metachat/internal/apperr"
)

func TestFieldsErrIsNilWithoutFieldErrors(t *testing.T) {
	t.Parallel()
	var nilFields apperr.Fields
	for name, f := range map[string]apperr.Fields{"nil": nilFields, "empty": {}} {
		// Comparing the interface to nil catches a typed nil *Error.
		if err := f.Err(); err != nil {
			t.Errorf("%s Fields.Err() = %#v, want untyped nil", name, err)
		}
	}
}

func TestFieldsErrCarriesEveryAddedFieldAsInvalid(t *testing.T) {
	t.Parallel()
	var f apperr.Fields
	f.Add("email", "is required")
	f.Add("password", "must be at least 10 characters")
	err := f.Err()
	var ae *apperr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("Fields.Err() = %T, want *apperr.Error", err)
	}
	if ae.Kind != apperr.Invalid {
		t.Errorf("Kind = %v, want Invalid", ae.Kind)
	}
	want := []apperr.FieldError{
		{Field: "email", Message: "is required"},
		{Field: "password", Message: "must be at least 10 characters"},
	}
	if diff := cmp.Diff(want, ae.Fields); diff != "" {
		t.Errorf("Fields mismatch (-want +got):\n%s", diff)
	}
}

func TestFieldReturnsAnInvalidErrorNamingOneField(t *testing.T) {
	t.Parallel()
	err := apperr.Field("name", "is too long")
	want := &apperr.Error{Kind: apperr.Invalid, Message: "validation failed", Fields: []apperr.FieldError{{Field: "name", Message: "is too long"}}}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("Field mismatch (-want +got):\n%s", diff)
	}
}

func TestKindOfAndIsSeeThroughWrapping(t *testing.T) {
	t.Parallel()
	base := apperr.New(apperr.NotFound, "tenant %s not found", "t1")
	tests := []struct {
		name string
		err  error
		want apperr.Kind
	}{
		{"bare", base, apperr.NotFound},
		{"wrapped once", fmt.Errorf("load tenant: %w", base), apperr.NotFound},
		{"wrapped twice", fmt.Errorf("handler: %w", fmt.Errorf("load tenant: %w", base)), apperr.NotFound},
		{"joined", errors.Join(io.EOF, apperr.New(apperr.Conflict, "taken")), apperr.Conflict},
		{"rate limited wrapped", fmt.Errorf("x: %w", &apperr.Error{Kind: apperr.RateLimited, RetryAfter: 3}), apperr.RateLimited},
		{"wrap is internal", apperr.Wrap(io.ErrUnexpectedEOF, "read failed"), apperr.Internal},
		{"foreign error", io.EOF, apperr.Internal},
		{"formatted with %v loses the kind", fmt.Errorf("load tenant: %v", base), apperr.Internal},
		{"nil", nil, apperr.Internal},
	}
	kinds := []apperr.Kind{apperr.Internal, apperr.Invalid, apperr.NotFound, apperr.Conflict, apperr.Unauthenticated, apperr.Forbidden, apperr.RateLimited, apperr.TooLarge, apperr.Unavailable}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := apperr.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf = %v, want %v", got, tt.want)
			}
			appErr := errors.As(tt.err, new(*apperr.Error))
			for _, k := range kinds {
				want := appErr && k == tt.want
				if got := apperr.Is(tt.err, k); got != want {
					t.Errorf("Is(err, %v) = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestErrorMessageKeepsCauseForTheLogAndUnwraps(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection refused")
	err := apperr.Wrap(cause, "database unavailable")
	if got, want := err.Error(), "database unavailable: connection refused"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(fmt.Errorf("ctx: %w", err), cause) {
		t.Error("errors.Is does not reach the cause through *apperr.Error")
	}
	if got, want := apperr.New(apperr.Forbidden, "role %q cannot do this", "viewer").Error(), `role "viewer" cannot do this`; got != want {
		t.Errorf("Error() without cause = %q, want %q", got, want)
	}
	if (&apperr.Error{Kind: apperr.Invalid}).Unwrap() != nil {
		t.Error("Unwrap without cause is not nil")
	}
}
