package pubsync

import "strings"

// Countries returns the assigned ISO 3166-1 alpha-2 codes, in alphabetical order: the ones a
// profile file and a cohort's country lock may name.
func Countries() []string { return strings.Fields(isoCountries) }
