package profile

import (
	"strconv"
	"strings"
)

// BurntSushi/toml keeps the position of each key, but keyed by the dotted
// name without array indexes, so every [[mount]] table would point at the
// last one; and it exposes positions only through its own errors. keyLines
// therefore finds, for each key path, the line that defines it by scanning
// the text. It runs only on text the TOML decoder accepted, so it can rely
// on the grammar, but it must not panic on anything (the fuzz test feeds it
// everything).

// keyPath is a key's position in the document: table and key names, with
// an index element ("[0]", "[1]", ...) after each array of tables.
type keyPath []string

func (p keyPath) id() string { return strings.Join(p, "\x00") }

func (p keyPath) with(elems ...string) keyPath {
	return append(p[:len(p):len(p)], elems...)
}

func indexElem(i int) string { return "[" + strconv.Itoa(i) + "]" }

func isIndexElem(s string) bool { return strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") }

// lineIndex maps key paths to the line (1-based) that first defines them.
type lineIndex map[string]int

// line returns where p is defined or, failing that (keys inside inline
// tables are not indexed), where its nearest indexed ancestor is; 0 when
// nothing is.
func (ix lineIndex) line(p keyPath) int {
	for n := len(p); n > 0; n-- {
		if l, ok := ix[p[:n].id()]; ok {
			return l
		}
	}
	return 0
}

func (ix lineIndex) add(p keyPath, line int) {
	for n := 1; n <= len(p); n++ {
		if _, ok := ix[p[:n].id()]; !ok {
			ix[p[:n].id()] = line
		}
	}
}

// scanState is what carries from one line to the next: an open multi-line
// string and the nesting of arrays and inline tables (TOML 1.1 lets both
// span lines). Only a line starting outside both can define a key or open
// a table.
type scanState struct {
	ml    string // `"""` or `'''` while inside a multi-line string
	depth int
}

func keyLines(data []byte) lineIndex {
	ix := lineIndex{}
	arrays := map[string]int{} // array-of-tables path id -> index of its current table
	var table keyPath          // the current [table] or [[array]] element
	var st scanState
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		line = strings.TrimSuffix(line, "\r")
		if st.ml != "" || st.depth > 0 {
			st.scan(line, 0)
			continue
		}
		i := skipSpace(line, 0)
		if i >= len(line) || line[i] == '#' {
			continue
		}
		if line[i] == '[' {
			array := strings.HasPrefix(line[i:], "[[")
			start := i + 1
			if array {
				start++
			}
			key, _, ok := parseKey(line, start)
			if !ok {
				continue
			}
			// Elements of an enclosing array of tables are the current ones.
			var p keyPath
			for k, name := range key {
				p = p.with(name)
				if idx, ok := arrays[p.id()]; ok && (k < len(key)-1 || !array) {
					p = p.with(indexElem(idx))
				}
			}
			if array {
				idx := 0
				if last, ok := arrays[p.id()]; ok {
					idx = last + 1
				}
				arrays[p.id()] = idx
				ix.add(p, lineNo)
				p = p.with(indexElem(idx))
			}
			ix.add(p, lineNo)
			table = p
			continue
		}
		key, j, ok := parseKey(line, i)
		if !ok {
			st.scan(line, i)
			continue
		}
		j = skipSpace(line, j)
		if j >= len(line) || line[j] != '=' {
			st.scan(line, i)
			continue
		}
		ix.add(table.with(key...), lineNo)
		st.scan(line, j+1)
	}
	return ix
}

// scan follows line from i, outside any string unless st.ml says so, and
// updates st.
func (st *scanState) scan(line string, i int) {
	for i < len(line) {
		c := line[i]
		if st.ml != "" {
			switch {
			case c == '\\' && st.ml == `"""`:
				i += 2
			case strings.HasPrefix(line[i:], st.ml):
				// Up to two quotes may precede the closing three: the run of
				// quotes ends the string.
				for i < len(line) && line[i] == st.ml[0] {
					i++
				}
				st.ml = ""
			default:
				i++
			}
			continue
		}
		switch {
		case c == '#':
			return
		case strings.HasPrefix(line[i:], `"""`), strings.HasPrefix(line[i:], `'''`):
			st.ml = line[i : i+3]
			i += 3
		case c == '"' || c == '\'':
			i = endOfString(line, i)
		case c == '[' || c == '{':
			st.depth++
			i++
		case c == ']' || c == '}':
			if st.depth > 0 {
				st.depth--
			}
			i++
		default:
			i++
		}
	}
}

// endOfString returns the index just past the one-line string starting at
// line[i] (a quote), or len(line) if it is not closed.
func endOfString(line string, i int) int {
	q := line[i]
	for i++; i < len(line); i++ {
		switch {
		case q == '"' && line[i] == '\\':
			i++
		case line[i] == q:
			return i + 1
		}
	}
	return len(line)
}

func skipSpace(line string, i int) int {
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return i
}

// parseKey reads a dotted key (bare, "basic" or 'literal' parts) at
// line[i:], returning its parts and the index after it.
func parseKey(line string, i int) ([]string, int, bool) {
	var parts []string
	for {
		i = skipSpace(line, i)
		if i >= len(line) {
			return nil, i, false
		}
		var part string
		switch line[i] {
		case '"':
			end := endOfString(line, i)
			raw := line[i:end]
			if u, err := strconv.Unquote(raw); err == nil {
				part = u
			} else {
				part = strings.Trim(raw, `"`)
			}
			i = end
		case '\'':
			end := endOfString(line, i)
			part = strings.Trim(line[i:end], "'")
			i = end
		default:
			j := i
			for j < len(line) && !strings.ContainsRune(" \t.=[]#\"'{},", rune(line[j])) {
				j++
			}
			if j == i {
				return nil, i, false
			}
			part, i = line[i:j], j
		}
		parts = append(parts, part)
		i = skipSpace(line, i)
		if i < len(line) && line[i] == '.' {
			i++
			continue
		}
		return parts, i, true
	}
}
