package extract

import (
	"strings"
	"unicode/utf8"
)

// extractText reads plain text: paragraphs are separated by blank lines, and
// lines that look like list items ("- ", "* ", "1. ") become list items. A
// line that follows a list item without a marker continues it, because
// plain-text lists wrap long items onto the next line.
func extractText(data []byte) Document {
	var doc Document
	var kind BlockKind
	var lines []string // of the block being read; joined once to stay linear
	flush := func() {
		if len(lines) > 0 {
			doc.Blocks = append(doc.Blocks, Block{Kind: kind, Text: strings.Join(lines, " ")})
			lines = lines[:0]
		}
	}
	for _, line := range splitLines(string(data)) {
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if item, ok := listItemText(line); ok {
			flush()
			kind, lines = ListItem, append(lines, item)
			continue
		}
		if len(lines) == 0 {
			kind = Paragraph
		}
		lines = append(lines, line)
	}
	flush()
	return doc
}

// splitLines splits text into lines on \n, \r\n or \r, dropping a UTF-8 BOM.
func splitLines(s string) []string {
	s = strings.TrimPrefix(s, "\ufeff")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}

// listItemText reports whether line starts with a list marker and returns
// the item text. Bullets are dropped; an ordered item keeps its number
// ("2. Restart the router") because "step 2" is something people ask about.
func listItemText(line string) (string, bool) {
	s := strings.TrimLeft(line, " \t")
	if s == "" {
		return "", false
	}
	r, size := utf8.DecodeRuneInString(s)
	switch r {
	case '-', '*', '+', '•', '◦', '▪', '‣', '–', '·':
		rest := s[size:]
		if rest == "" || rest[0] != ' ' && rest[0] != '\t' {
			return "", false
		}
		if text := strings.TrimSpace(rest); text != "" {
			return text, true
		}
		return "", false
	}
	if n := orderedMarkerLen(s); n > 0 {
		return strings.TrimSpace(s), true
	}
	return "", false
}

// orderedMarkerLen returns the length of an ordered-list marker ("1.",
// "12)") at the start of s when it is followed by a space and some text,
// else 0.
func orderedMarkerLen(s string) int {
	i := 0
	for i < len(s) && i < 9 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i+1 >= len(s) || s[i] != '.' && s[i] != ')' {
		return 0
	}
	if s[i+1] != ' ' && s[i+1] != '\t' || strings.TrimSpace(s[i+1:]) == "" {
		return 0
	}
	return i + 1
}
