package site

import (
	"fmt"
	"strings"
)

// maxDiffCells bounds the longest-common-subsequence table of
// unifiedDiff; a larger change is shown as all old lines removed and all
// new lines added.
const maxDiffCells = 4 << 20

// unifiedDiff is a unified diff (three lines of context) from old to
// new, with path as both names; "" when they are equal.
func unifiedDiff(path string, old, new []byte) string {
	if string(old) == string(new) {
		return ""
	}
	a, b := splitLines(old), splitLines(new)
	ops := diffLines(a, b)
	var sb strings.Builder
	from := "--- " + path
	if old == nil {
		from = "--- /dev/null"
	}
	fmt.Fprintf(&sb, "%s\n+++ %s\n", from, path)
	const context = 3
	// Hunks: runs of changes with up to 2*context equal lines between.
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-context, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			j := end
			for j < len(ops) && ops[j].kind == ' ' {
				j++
			}
			if j == len(ops) || j-end > 2*context {
				end = min(end+context, len(ops))
				break
			}
			end = j
		}
		aStart, bStart, aLen, bLen := ops[start].a, ops[start].b, 0, 0
		for _, op := range ops[start:end] {
			if op.kind != '+' {
				aLen++
			}
			if op.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&sb, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, op := range ops[start:end] {
			sb.WriteByte(op.kind)
			sb.WriteString(op.line)
			sb.WriteByte('\n')
		}
		i = end
	}
	return sb.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" && len(b) <= 1 {
		if len(b) == 0 {
			return nil
		}
		return []string{""}
	}
	return strings.Split(s, "\n")
}

// diffOp is one line of a diff: ' ' kept, '-' removed, '+' added; a and
// b are the line's index in old and new (or where it would be).
type diffOp struct {
	kind byte
	line string
	a, b int
}

// diffLines is a shortest edit of a into b by longest common
// subsequence, after the common head and tail.
func diffLines(a, b []string) []diffOp {
	var ops []diffOp
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		ops = append(ops, diffOp{' ', a[head], head, head})
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	ma, mb := a[head:len(a)-tail], b[head:len(b)-tail]
	n, m := len(ma), len(mb)
	if n*m > maxDiffCells {
		for i, l := range ma {
			ops = append(ops, diffOp{'-', l, head + i, head})
		}
		for j, l := range mb {
			ops = append(ops, diffOp{'+', l, head + n, head + j})
		}
	} else {
		// lcs[i][j]: the LCS length of ma[i:] and mb[j:].
		lcs := make([][]int32, n+1)
		for i := range lcs {
			lcs[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				ops = append(ops, diffOp{' ', ma[i], head + i, head + j})
				i, j = i+1, j+1
			case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
				ops = append(ops, diffOp{'-', ma[i], head + i, head + j})
				i++
			default:
				ops = append(ops, diffOp{'+', mb[j], head + i, head + j})
				j++
			}
		}
	}
	for k := tail; k > 0; k-- {
		ai, bi := len(a)-k, len(b)-k
		ops = append(ops, diffOp{' ', a[ai], ai, bi})
	}
	return ops
}
