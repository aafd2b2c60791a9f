// Package shortlist names the first few items of a list that may be long, and
// says how many more there are: the one form status messages, Events and the
// CR's workload lists share.
package shortlist

import (
	"fmt"
	"strings"
)

// Max is how many names a short list shows.
const Max = 5

// List counts items and keeps the names of the first Max of them. The zero
// value is an empty list.
type List struct {
	Count int
	first []string
}

// Add counts one more item; its name is kept while fewer than Max are.
func (l *List) Add(name string) {
	l.Count++
	if len(l.first) < Max {
		l.first = append(l.first, name)
	}
}

// Names is the kept names followed by "and N more" when more were added;
// nil for an empty list.
func (l List) Names() []string {
	if l.Count == 0 {
		return nil
	}
	out := append([]string(nil), l.first...)
	if more := l.Count - len(l.first); more > 0 {
		out = append(out, fmt.Sprintf("and %d more", more))
	}
	return out
}

// Of is the short list of names, in the order given.
func Of(names []string) List {
	var l List
	for _, n := range names {
		l.Add(n)
	}
	return l
}

// Join renders up to Max names and how many more there are:
// "a, b, c, d, e and 2 more".
func Join(names []string) string {
	if len(names) <= Max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:Max], ", "), len(names)-Max)
}
