package config

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// maxSuggestDistance is the largest edit distance at which an unknown key
// is taken for a misspelling of a known one.
const maxSuggestDistance = 2

// maxSuggestKeyLen bounds the keys a suggestion is looked for (every known
// key is far shorter), so a huge key costs no quadratic time.
const maxSuggestKeyLen = 64

// nearest returns the name of names that the unknown key is most likely a
// misspelling of, or "" when none is close: a name that differs only in
// case, '_' or '-' (BotID, bot-id for bot_id), else one within
// maxSuggestDistance edits (a letter inserted, deleted or replaced) and
// nearer than the key's own length. Of names equally near, the first in
// alphabetical order.
func nearest(key string, names []string) string {
	if len(key) > maxSuggestKeyLen {
		return ""
	}
	names = slices.Sorted(slices.Values(names))
	nk := normalizeKey(key)
	best, bestDist := "", maxSuggestDistance+1
	for _, name := range names {
		if name == key {
			continue
		}
		d := 0
		if nk != normalizeKey(name) {
			d = min(levenshtein(key, name), levenshtein(nk, normalizeKey(name)))
		}
		if d < bestDist && d < utf8.RuneCountInString(key) {
			best, bestDist = name, d
		}
	}
	return best
}

// normalizeKey lower-cases a key and drops '_', '-' and spaces.
func normalizeKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', ' ':
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// levenshtein returns the number of single-rune insertions, deletions and
// substitutions that turn a into b. Config keys are short: O(len(a)·len(b))
// time, O(len(b)) memory.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
