package profile

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeyLines(t *testing.T) {
	const doc = `# comment
a = 1
"quoted.key" = 2       # a dotted name inside quotes is one key
b.c = 3
s = """
x = not a key
"""
arr = [
  1,
  { y = 2 },
]
t = { u = 1,
  v = 2 }
lit = '''
'''

[tab] # comment
k = 'v # not a comment'
[ tab.sub ]
k = 1

[[arr2]]
k = 1
[[arr2.in]]
k = 2
[[arr2.in]]
k = 3
[arr2.t]
k = 4
[[arr2]]
k = 5
  [[ arr2 . in ]]
  k = 6
`
	ix := keyLines([]byte(doc))
	tests := []struct {
		path keyPath
		want int
	}{
		{keyPath{"a"}, 2},
		{keyPath{"quoted.key"}, 3},
		{keyPath{"b", "c"}, 4},
		{keyPath{"b"}, 4},
		{keyPath{"s"}, 5},
		{keyPath{"x"}, 0},
		{keyPath{"arr"}, 8},
		{keyPath{"y"}, 0},
		{keyPath{"t", "v"}, 12}, // inside an inline table: the holder's line
		{keyPath{"lit"}, 14},
		{keyPath{"tab"}, 17},
		{keyPath{"tab", "k"}, 18},
		{keyPath{"tab", "sub", "k"}, 20},
		{keyPath{"arr2"}, 22},
		{keyPath{"arr2", "[0]", "k"}, 23},
		{keyPath{"arr2", "[0]", "in", "[0]", "k"}, 25},
		{keyPath{"arr2", "[0]", "in", "[1]", "k"}, 27},
		{keyPath{"arr2", "[0]", "t", "k"}, 29},
		{keyPath{"arr2", "[1]", "k"}, 31},
		{keyPath{"arr2", "[1]", "in", "[0]"}, 32},
		{keyPath{"arr2", "[1]", "in", "[0]", "k"}, 33},
		{keyPath{"arr2", "[1]", "missing"}, 30},
	}
	for _, tt := range tests {
		if got := ix.line(tt.path); got != tt.want {
			t.Errorf("line(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
}

func TestDisplay(t *testing.T) {
	for _, tt := range []struct {
		path keyPath
		want string
	}{
		{keyPath{"mount", "[3]", "destination"}, "mount.destination"},
		{keyPath{"limits", "cpu-time"}, "limits.cpu-time"},
		{keyPath{"has space"}, `"has space"`},
	} {
		if diff := cmp.Diff(tt.want, display(tt.path)); diff != "" {
			t.Errorf("display(%q) (-want +got):\n%s", tt.path, diff)
		}
	}
}
