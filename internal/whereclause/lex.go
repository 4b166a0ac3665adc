package whereclause

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tQuoted // "name" or [name]
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	k   tokKind
	s   string
	pos int
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(c):
			i += size
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		case c == '\'':
			start := i
			i++
			var b strings.Builder
			for {
				if i >= len(s) {
					return nil, &Error{Pos: start, Msg: "unterminated string literal"}
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, token{tString, b.String(), start})
		case c == '"' || c == '[':
			end := byte('"')
			if c == '[' {
				end = ']'
			}
			j := strings.IndexByte(s[i+1:], end)
			if j < 0 {
				return nil, &Error{Pos: i, Msg: "unterminated quoted name"}
			}
			out = append(out, token{tQuoted, s[i+1 : i+1+j], i})
			i += j + 2
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			start := i
			for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
				(s[i] == '-' || s[i] == '+') && i > start && (s[i-1] == 'e' || s[i-1] == 'E')) {
				i++
			}
			if f, err := strconv.ParseFloat(s[start:i], 64); err != nil || f != f {
				return nil, &Error{Pos: start, Msg: fmt.Sprintf("bad number %q", s[start:i])}
			}
			out = append(out, token{tNumber, s[start:i], start})
		case c == '_' || unicode.IsLetter(c):
			start := i
			for i < len(s) {
				r, n := utf8.DecodeRuneInString(s[i:])
				if !(r == '_' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
					break
				}
				i += n
			}
			out = append(out, token{tIdent, s[start:i], start})
		case strings.ContainsRune("=<>!+-*/", c):
			if i+1 < len(s) {
				switch two := s[i : i+2]; two {
				case "<>", "<=", ">=":
					out = append(out, token{tOp, two, i})
					i += 2
					continue
				case "!=":
					out = append(out, token{tOp, "<>", i})
					i += 2
					continue
				}
			}
			if c == '!' {
				return nil, &Error{Pos: i, Msg: "unexpected '!'"}
			}
			out = append(out, token{tOp, string(c), i})
			i++
		default:
			return nil, &Error{Pos: i, Msg: fmt.Sprintf("unexpected character %q", c)}
		}
	}
	return append(out, token{tEOF, "", len(s)}), nil
}
