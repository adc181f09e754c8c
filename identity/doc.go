// Package identity defines the identifier types a clean room matches on and the rules that turn
// an uploaded value into its one canonical form.
//
// Matching only works when both sides spell an identifier the same way, so every value passes
// through [Normalize] (or [Registry.Normalize] for operator-defined types) before it is
// fingerprinted. A rejected value comes back as a [*ValueError] whose [Reason] names the mistake
// (a raw email where a hash was expected, an MD5 digest, the all-zero mobile ID, ...) so that
// ingest can count rows per reason and tell the user how to fix them.
//
// The preparation helpers ([NormalizeEmail], [NormalizePhone], [HashEmail], [HashPhone]) run on
// the user's own machine: they turn raw email addresses and phone numbers into the SHA-256
// digests that are uploaded, so raw personal data never leaves that machine.
//
// On the server, a [Fingerprinter] maps each (tag, normalised value) pair to a 128-bit keyed
// [Fingerprint]; only fingerprints are stored. Neither values nor fingerprints may be logged:
// error messages in this package never contain the value they reject.
package identity
