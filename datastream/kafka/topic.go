package kafka

import (
	"fmt"
	"strings"
)

// ValidateTopic reports whether name is a topic name Kafka accepts: 1 to
// 249 characters of ASCII letters, digits, '.', '_' and '-', and neither
// "." nor "..". The error quotes the name and says what is wrong.
func ValidateTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty topic name")
	case name == "." || name == "..":
		return fmt.Errorf("topic %q: Kafka refuses \".\" and \"..\"", name)
	case len(name) > 249:
		return fmt.Errorf("topic %.20q…: %d characters, Kafka allows 249", name, len(name))
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}); i >= 0 {
		return fmt.Errorf("topic %q: character %q is not allowed (letters, digits, '.', '_' and '-' only)", name, name[i])
	}
	return nil
}
