package oci

import (
	"errors"
	"testing"
)

func TestCheckID(t *testing.T) {
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{"abc", true},
		{"A-b_c+1.2", true},
		{"x.y", true},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"a b", false},
		{"é", false},
		{"a\n", false},
	} {
		t.Run(tt.id, func(t *testing.T) {
			err := CheckID(tt.id)
			if tt.ok && err != nil {
				t.Errorf("CheckID(%q) = %v, want nil", tt.id, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Errorf("CheckID(%q) = %v, want ErrInvalid", tt.id, err)
			}
		})
	}
}
