// Package sealed implements authenticated streaming encryption of large files with AES-256-GCM
// in fixed-size chunks (a STREAM construction, Hoang–Reyhanitabar–Rogaway–Vizár 2015).
//
// A sealed file is written in one streaming pass with constant memory ([NewWriter]), read back
// sequentially ([NewReader]) or decrypted whole with chunks processed in parallel
// ([DecryptAll]). Every chunk is authenticated and bound to its position, to the header and to
// whether it is the last chunk, so modification, truncation, reordering, duplication, removal of
// chunks and appended data are all detected. A wrong key is reported as [ErrWrongKey] before any
// chunk is processed, rather than as corruption.
//
// Each file is meant to be encrypted with its own random 32-byte data key (see
// keyring.NewDataKey); the per-file random salt in the header additionally makes reuse of a key
// across files safe.
//
// # Format (version 1)
//
// All integers are big-endian. A sealed file is a 48-byte header followed by one or more chunks.
//
//	Header (HeaderSize = 48 bytes):
//	  offset  size  field
//	       0     8  magic "CRSEAL1\x00"
//	       8     1  format version, 1
//	       9     3  reserved, must be zero
//	      12     4  chunk size C in bytes, uint32, MinChunkSize <= C <= MaxChunkSize
//	      16    16  salt, random per file
//	      32    16  key check
//
// Keys. From the 32-byte key K and the salt, using HKDF-SHA256 (RFC 5869):
//
//	PRK       = HKDF-Extract(salt = salt, IKM = K)
//	chunk key = HKDF-Expand(PRK, info = "cleanroom sealed v1 chunk key", 32 bytes)
//	key check = HKDF-Expand(PRK, info = "cleanroom sealed v1 key check", 16 bytes)
//
// A reader recomputes the key check and compares it (in constant time) with the header: a
// mismatch is reported as [ErrWrongKey]. The key check also commits the file to one key, which
// AES-GCM by itself does not. Because the check depends on the salt, damage to the salt or to the
// key check field is indistinguishable from a wrong key and is reported as such.
//
// Chunks. The plaintext P of length L is split into n = max(1, ceil(L/C)) pieces: pieces 0..n-2
// hold exactly C bytes, the last piece holds the rest, 1..C bytes (0 bytes only when L = 0, in
// which case there is exactly one, empty, chunk). Piece i is sealed with AES-256-GCM under the
// chunk key:
//
//	nonce_i = salt[0:7] || uint32(i) || flag   (12 bytes; flag = 0x01 for the last chunk, else 0x00)
//	chunk_i = AES-256-GCM-Seal(chunk key, nonce_i, plaintext = piece_i, additional data = header)
//
// so each chunk is len(piece_i) ciphertext bytes followed by a 16-byte tag, and the chunks are
// concatenated after the header with no framing. Chunk boundaries follow from C alone: every
// chunk but the last is exactly C+16 bytes and the last is 16..C+16 bytes. The sealed size is
// therefore HeaderSize + L + 16*n (see [SealedSize], [PlaintextSize]); an empty plaintext seals
// to 64 bytes. At most 2^32 chunks fit in a file (4 PiB with the default chunk size). A last
// chunk that is empty while other chunks precede it is not canonical and is rejected.
//
// Why each attack fails: a changed byte anywhere breaks a tag (or the header checks); chunks
// moved, duplicated, dropped or spliced in from another file open under the wrong index, flag or
// header; a file cut at a chunk boundary ends on a chunk whose flag says "more follows"
// ([ErrTruncated]); bytes after a last chunk either break the last chunk's tag or follow a
// chunk whose flag says "last" ([ErrTrailingData]); the header is the additional data of every
// chunk, so it cannot be swapped or edited.
//
// # Errors
//
// Integrity failures match [ErrCorrupt] under errors.Is; the more specific [ErrTruncated] and
// [ErrTrailingData] match both themselves and [ErrCorrupt]. [ErrWrongKey] does not match
// [ErrCorrupt]. Which of the integrity errors a given damage produces is a best effort: a file
// cut in the middle of a chunk, for example, can only be told apart from a modified one when the
// cut falls inside the final tag. Errors from the underlying reader or writer are returned
// wrapped and match none of the sentinels.
//
// The sequential [Reader] returns the plaintext of each chunk as soon as that chunk is
// authenticated. A later error (a truncated or damaged tail) therefore arrives after earlier
// plaintext has been delivered: only a read that ends in io.EOF proves the whole file intact.
// [DecryptAll] returns plaintext only for a file that verifies completely.
package sealed

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Format constants.
const (
	// KeySize is the required key length in bytes.
	KeySize = 32
	// HeaderSize is the length of the file header in bytes.
	HeaderSize = 48
	// TagSize is the number of bytes each chunk adds to its plaintext (the GCM tag).
	TagSize = 16
	// DefaultChunkSize is the plaintext chunk size used when WithChunkSize is not given.
	DefaultChunkSize = 1 << 20
	// MinChunkSize is the smallest allowed plaintext chunk size.
	MinChunkSize = 4 << 10
	// MaxChunkSize is the largest allowed plaintext chunk size.
	MaxChunkSize = 16 << 20
	// Version is the format version written in the header.
	Version = 1
	// MaxChunks is the largest number of chunks a file may have (the chunk index is 32 bits).
	MaxChunks = 1 << 32
)

const (
	magic       = "CRSEAL1\x00"
	saltSize    = 16
	checkSize   = 16
	prefixSize  = 7
	nonceSize   = 12
	infoKey     = "cleanroom sealed v1 chunk key"
	infoCheck   = "cleanroom sealed v1 key check"
	offVersion  = 8
	offReserved = 9
	offChunk    = 12
	offSalt     = 16
	offCheck    = 32
	flagFinal   = 0x01
	maxIndex    = MaxChunks - 1
)

// sentinel is an error value that may also match a broader parent sentinel under errors.Is.
type sentinel struct {
	msg    string
	parent error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.parent }

var (
	// ErrCorrupt reports a sealed file that fails authentication or is malformed (bad magic,
	// unsupported version, invalid header field, impossible length). ErrTruncated and
	// ErrTrailingData match it too.
	ErrCorrupt error = &sentinel{msg: "sealed: corrupt data"}
	// ErrWrongKey reports that the key does not match the header's key check: the file was sealed
	// under another key (or its salt or key check field is damaged).
	ErrWrongKey error = &sentinel{msg: "sealed: wrong key"}
	// ErrTruncated reports a stream that ended before its final chunk. It matches ErrCorrupt.
	ErrTruncated error = &sentinel{msg: "sealed: truncated", parent: ErrCorrupt}
	// ErrTrailingData reports bytes after the final chunk. It matches ErrCorrupt.
	ErrTrailingData error = &sentinel{msg: "sealed: trailing data after final chunk", parent: ErrCorrupt}
	// ErrKeySize reports a key that is not exactly KeySize bytes.
	ErrKeySize = errors.New("sealed: key must be exactly 32 bytes")
	// ErrTooLarge reports a plaintext that does not fit in the format (more than MaxChunks chunks)
	// or, for DecryptAll, in memory addressable by this platform.
	ErrTooLarge = errors.New("sealed: plaintext too large")
	// ErrClosed reports a Write to a Writer that has been closed.
	ErrClosed = errors.New("sealed: write after Close")
)

// fileKeys is what a header and the key yield: everything needed to seal or open its chunks.
type fileKeys struct {
	header    [HeaderSize]byte
	chunkSize int
	chunkKey  []byte
}

// deriveKeys returns the chunk key and key check for key and salt.
func deriveKeys(key, salt []byte) (chunkKey, check []byte) {
	prk, err := hkdf.Extract(sha256.New, key, salt)
	if err != nil {
		panic(err)
	}
	chunkKey, err = hkdf.Expand(sha256.New, prk, infoKey, KeySize)
	if err != nil {
		panic(err)
	}
	check, err = hkdf.Expand(sha256.New, prk, infoCheck, checkSize)
	if err != nil {
		panic(err)
	}
	return chunkKey, check
}

// newHeader builds a header for a new file with the given chunk size and salt.
func newHeader(key []byte, chunkSize int, salt []byte) *fileKeys {
	fk := &fileKeys{chunkSize: chunkSize}
	h := fk.header[:]
	copy(h, magic)
	h[offVersion] = Version
	binary.BigEndian.PutUint32(h[offChunk:], uint32(chunkSize))
	copy(h[offSalt:offSalt+saltSize], salt)
	var check []byte
	fk.chunkKey, check = deriveKeys(key, salt)
	copy(h[offCheck:], check)
	return fk
}

// parseHeader validates a complete header against key.
func parseHeader(h []byte, key []byte) (*fileKeys, error) {
	if string(h[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a sealed file (bad magic)", ErrCorrupt)
	}
	if h[offVersion] != Version {
		return nil, fmt.Errorf("%w: unsupported format version %d", ErrCorrupt, h[offVersion])
	}
	if h[offReserved]|h[offReserved+1]|h[offReserved+2] != 0 {
		return nil, fmt.Errorf("%w: reserved header bytes are not zero", ErrCorrupt)
	}
	cs := binary.BigEndian.Uint32(h[offChunk:])
	if cs < MinChunkSize || cs > MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk size %d out of range", ErrCorrupt, cs)
	}
	chunkKey, check := deriveKeys(key, h[offSalt:offSalt+saltSize])
	if subtle.ConstantTimeCompare(check, h[offCheck:offCheck+checkSize]) != 1 {
		return nil, ErrWrongKey
	}
	fk := &fileKeys{chunkSize: int(cs), chunkKey: chunkKey}
	copy(fk.header[:], h)
	return fk, nil
}

// shortHeaderError classifies a stream that ended after the partial header b.
func shortHeaderError(b []byte) error {
	n := min(len(b), len(magic))
	if !bytes.Equal(b[:n], []byte(magic)[:n]) {
		return fmt.Errorf("%w: not a sealed file (bad magic)", ErrCorrupt)
	}
	return fmt.Errorf("%w: stream ends inside the header (%d of %d bytes)", ErrTruncated, len(b), HeaderSize)
}

// aead returns a fresh AES-256-GCM instance for the chunk key.
func (fk *fileKeys) aead() cipher.AEAD {
	block, err := aes.NewCipher(fk.chunkKey)
	if err != nil {
		panic(err) // the chunk key is always 32 bytes
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}

// nonce writes the nonce of chunk index into n.
func (fk *fileKeys) nonce(n *[nonceSize]byte, index uint64, final bool) {
	copy(n[:prefixSize], fk.header[offSalt:offSalt+prefixSize])
	binary.BigEndian.PutUint32(n[prefixSize:], uint32(index))
	n[nonceSize-1] = 0
	if final {
		n[nonceSize-1] = flagFinal
	}
}

// open authenticates and decrypts chunk index, expected to be final or not, appending the
// plaintext to dst. On failure it classifies the damage by trying the opposite final flag: a
// chunk that opens as non-final where a final one was expected means the stream was cut after
// it; one that opens as final where more data follows means data was appended after it. dst's
// contents up to its capacity may be overwritten even on failure, but ct is left intact.
func (fk *fileKeys) open(g cipher.AEAD, dst, ct []byte, index uint64, final bool) ([]byte, error) {
	var n [nonceSize]byte
	fk.nonce(&n, index, final)
	pt, err := g.Open(dst, n[:], ct, fk.header[:])
	if err == nil {
		if final && index > 0 && len(pt) == 0 {
			return nil, fmt.Errorf("%w: empty final chunk %d after other chunks", ErrCorrupt, index)
		}
		return pt, nil
	}
	fk.nonce(&n, index, !final)
	if _, err := g.Open(dst, n[:], ct, fk.header[:]); err == nil {
		if final {
			return nil, fmt.Errorf("%w: stream ends after chunk %d, which is not the final chunk", ErrTruncated, index)
		}
		return nil, fmt.Errorf("%w: chunk %d is the final chunk but more data follows", ErrTrailingData, index)
	}
	return nil, fmt.Errorf("%w: chunk %d fails authentication", ErrCorrupt, index)
}

func checkKey(key []byte) error {
	if len(key) != KeySize {
		return ErrKeySize
	}
	return nil
}

func validChunkSize(cs int) bool { return cs >= MinChunkSize && cs <= MaxChunkSize }

// SealedSize returns the size of the sealed file for a plaintext of plaintextSize bytes sealed
// with the given chunk size (0 means DefaultChunkSize). It panics if chunkSize is out of range or
// plaintextSize is negative or larger than MaxChunks chunks can hold.
func SealedSize(plaintextSize int64, chunkSize int) int64 {
	return plaintextSize + Overhead(plaintextSize, chunkSize)
}

// Overhead returns the number of bytes sealing adds to a plaintext of plaintextSize bytes with
// the given chunk size (0 means DefaultChunkSize): the header plus one tag per chunk. It panics
// under the same conditions as SealedSize.
func Overhead(plaintextSize int64, chunkSize int) int64 {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if !validChunkSize(chunkSize) {
		panic(fmt.Sprintf("sealed: chunk size %d out of range", chunkSize))
	}
	cs := int64(chunkSize)
	if plaintextSize < 0 || plaintextSize > MaxChunks*cs {
		panic(fmt.Sprintf("sealed: plaintext size %d out of range", plaintextSize))
	}
	n := max(1, (plaintextSize+cs-1)/cs)
	return HeaderSize + TagSize*n
}

// PlaintextSize returns the plaintext size of a sealed file of sealedSize bytes written with the
// given chunk size (0 means DefaultChunkSize). It fails with an error matching ErrCorrupt (or
// ErrTruncated, for a size below that of an empty file) when no canonical sealed file has that
// size; it does not prove that a file of that size is intact.
func PlaintextSize(sealedSize int64, chunkSize int) (int64, error) {
	if chunkSize == 0 {
		chunkSize = DefaultChunkSize
	}
	if !validChunkSize(chunkSize) {
		return 0, fmt.Errorf("sealed: chunk size %d out of range", chunkSize)
	}
	l, err := layoutFor(sealedSize, chunkSize)
	if err != nil {
		return 0, err
	}
	if l.lastLen < TagSize || (l.lastLen == TagSize && l.chunks > 1) {
		return 0, fmt.Errorf("%w: %d is not a valid sealed size for chunk size %d", ErrCorrupt, sealedSize, chunkSize)
	}
	return l.plaintext, nil
}

// layout describes how a sealed file of a given size splits into chunks.
type layout struct {
	chunks    int64 // number of chunks, >= 1
	lastLen   int64 // length of the last chunk including its tag, 1..C+16 (may be < TagSize when damaged)
	plaintext int64 // plaintext bytes, counting a last chunk shorter than a tag as empty
}

// layoutFor computes the layout of a sealed file of size bytes with chunk size cs, without
// requiring the last chunk to be well formed.
func layoutFor(size int64, cs int) (layout, error) {
	if size < HeaderSize {
		return layout{}, fmt.Errorf("%w: %d bytes is shorter than the header", ErrTruncated, size)
	}
	body := size - HeaderSize
	if body == 0 {
		return layout{}, fmt.Errorf("%w: no chunks after the header", ErrTruncated)
	}
	full := int64(cs) + TagSize
	n := (body + full - 1) / full
	if n > MaxChunks {
		return layout{}, fmt.Errorf("%w: more than %d chunks", ErrCorrupt, int64(MaxChunks))
	}
	last := body - (n-1)*full
	return layout{chunks: n, lastLen: last, plaintext: (n-1)*int64(cs) + max(last-TagSize, 0)}, nil
}
