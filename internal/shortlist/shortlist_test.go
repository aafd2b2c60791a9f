package shortlist

import (
	"reflect"
	"testing"
)

func TestShortList(t *testing.T) {
	for _, tc := range []struct {
		in        []string
		wantNames []string
		wantJoin  string
	}{
		{in: nil, wantNames: nil, wantJoin: ""},
		{in: []string{"a"}, wantNames: []string{"a"}, wantJoin: "a"},
		{in: []string{"a", "b", "c", "d", "e"}, wantNames: []string{"a", "b", "c", "d", "e"}, wantJoin: "a, b, c, d, e"},
		{in: []string{"a", "b", "c", "d", "e", "f", "g"}, wantNames: []string{"a", "b", "c", "d", "e", "and 2 more"}, wantJoin: "a, b, c, d, e and 2 more"},
	} {
		l := Of(tc.in)
		if l.Count != len(tc.in) {
			t.Errorf("Of(%v).Count = %d", tc.in, l.Count)
		}
		if got := l.Names(); !reflect.DeepEqual(got, tc.wantNames) {
			t.Errorf("Of(%v).Names() = %q, want %q", tc.in, got, tc.wantNames)
		}
		if got := Join(tc.in); got != tc.wantJoin {
			t.Errorf("Join(%v) = %q, want %q", tc.in, got, tc.wantJoin)
		}
	}
}
