package report

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kore-exporter/kore_exporter/kore"
)

func TestClassify(t *testing.T) {
	api := &kore.APIError{StatusCode: 500}
	tests := []struct {
		err  error
		want string
	}{
		{nil, ResultSuccess},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), ResultTimeout},
		{&kore.AuthError{Reason: kore.AuthScope, APIError: api}, ResultUnauthorized},
		{&kore.RateLimitError{APIError: api}, ResultRateLimited},
		{&kore.JobError{JobID: "ds-1"}, ResultJobFailed},
		{&kore.JobError{JobID: "ds-1", Expired: true}, ResultJobExpired},
		{&kore.DecodeError{Field: "_id", Err: errors.New("missing")}, ResultInvalidResponse},
		{fmt.Errorf("submit: %w", api), ResultAPIError},
		{fmt.Errorf("run: %w", &kore.RequestError{Dial: true, Err: errors.New("dial tcp: connection refused")}), ResultNetwork},
		{errors.New("report run panicked: boom"), ResultError},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
