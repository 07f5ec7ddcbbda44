package crypto

import (
	"bytes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// An encrypted value is stored in place of the original, as a JSON string:
//
//	"enc:v1:<owner>:<base64url(nonce || ciphertext || tag)>"
//
// owner is the customer whose data key encrypted it (an id of [A-Za-z0-9_-],
// so no escaping), which makes every value decryptable on its own, whatever
// the event type or the state of the table of personal fields. The
// plaintext is the value's JSON text exactly as the caller wrote it (quotes
// and escapes included), so decryption gives back the original bytes. The
// cipher is AES-256-GCM with a random 96-bit nonce per value; its
// additional data binds the value to its place (owner, event id, path), so
// ciphertext moved to another field, event or customer fails to open
// instead of reading as someone else's data.
const envelopePrefix = `"enc:v1:`

// erasedValue replaces a value whose key is gone: erased data reads as
// absent. JSON null decodes into every field type as its zero value, which
// is how the domain already shows an erased customer (customer.State after
// customer.personal_data_erased), so history, as_of and every read model
// agree.
var erasedValue = []byte("null")

// maxOwnerLen bounds an owner id (the domain's ids are at most 68 bytes).
const maxOwnerLen = 128

// validOwner reports whether id can name a key: 1 to maxOwnerLen
// characters of [A-Za-z0-9_-].
func validOwner(id string) bool {
	if id == "" || len(id) > maxOwnerLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// valueAAD is the additional data of a value's ciphertext. Its parts are
// separated by NUL, which none of them contains.
func valueAAD(owner string, eventID uuid.UUID, path string) []byte {
	b := make([]byte, 0, 16+len(owner)+1+16+1+len(path))
	b = append(b, "subsd pd v1\x00"...)
	b = append(b, owner...)
	b = append(b, 0)
	b = append(b, eventID[:]...)
	b = append(b, 0)
	return append(b, path...)
}

// seal encrypts raw (a JSON value) for owner at path of event eventID and
// returns the envelope, a JSON string.
func seal(aead cipher.AEAD, owner string, eventID uuid.UUID, path string, raw []byte) []byte {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(raw)+aead.Overhead())
	randomBytes(nonce)
	sealed := aead.Seal(nonce, nonce, raw, valueAAD(owner, eventID, path))
	out := make([]byte, 0, len(envelopePrefix)+len(owner)+1+base64.RawURLEncoding.EncodedLen(len(sealed))+1)
	out = append(out, envelopePrefix...)
	out = append(out, owner...)
	out = append(out, ':')
	out = base64.RawURLEncoding.AppendEncode(out, sealed)
	return append(out, '"')
}

// isEnvelope reports whether the JSON value raw is an encrypted value.
func isEnvelope(raw []byte) bool { return bytes.HasPrefix(raw, []byte(envelopePrefix)) }

// errBadEnvelope is a value that looks encrypted but is not a well-formed
// envelope.
var errBadEnvelope = errors.New("malformed encrypted value")

// parseEnvelope splits the JSON value raw (isEnvelope) into its owner and
// sealed bytes.
func parseEnvelope(raw []byte) (owner string, sealed []byte, err error) {
	body := raw[len(envelopePrefix):]
	if len(body) < 2 || body[len(body)-1] != '"' {
		return "", nil, errBadEnvelope
	}
	body = body[:len(body)-1]
	i := bytes.IndexByte(body, ':')
	if i < 0 || !validOwner(string(body[:i])) {
		return "", nil, errBadEnvelope
	}
	sealed, err = base64.RawURLEncoding.DecodeString(string(body[i+1:]))
	if err != nil {
		return "", nil, errBadEnvelope
	}
	return string(body[:i]), sealed, nil
}

// open decrypts a parsed envelope, returning the original JSON value.
func open(aead cipher.AEAD, owner string, eventID uuid.UUID, path string, sealed []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return nil, errBadEnvelope
	}
	raw, err := aead.Open(nil, sealed[:ns], sealed[ns:], valueAAD(owner, eventID, path))
	if err != nil {
		return nil, fmt.Errorf("decrypting %s: the value fails authentication (tampered with, or moved from another field or event): %w", path, err)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("decrypting %s: %w", path, errBadEnvelope)
	}
	return raw, nil
}
