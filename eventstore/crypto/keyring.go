package crypto

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore/crypto/internal/dbsqlc"
)

// MasterKeySize is the size of DATA_KEY, the master key: 32 bytes (AES-256).
const MasterKeySize = 32

// ErrWrongMasterKey is returned (wrapped) when a data key was wrapped by
// another master key than the Store's: DATA_KEY is not the key the data was
// written with. Nothing is shown as erased on its account.
var ErrWrongMasterKey = errors.New("eventstore/crypto: the data keys were wrapped with another DATA_KEY")

// randomBytes fills b from crypto/rand, which never fails (Go 1.24+: it
// crashes the program rather than return predictable bytes).
func randomBytes(b []byte) { _, _ = rand.Read(b) }

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// masterKeyID names a master key without revealing it.
func masterKeyID(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("subsd data key id v1"))
	return m.Sum(nil)[:8]
}

// wrapAAD binds a wrapped data key to its customer: a key copied into
// another customer's row does not unwrap.
func wrapAAD(customerID string) []byte { return []byte("subsd data key v1\x00" + customerID) }

// dataKey is a customer's data key as the keyring caches it.
type dataKey struct {
	aead cipher.AEAD // nil when erased
	// fetched is when the database said the key exists; an erased key is
	// final and never expires from the cache.
	fetched time.Time
}

func (k *dataKey) erased() bool { return k.aead == nil }

// keyring holds the customers' data keys: wrapped in customer_data_keys,
// unwrapped in a cache.
//
// The cache and erasure: a key cached for encryption may be used however
// old it is, since encrypting with a key that was erased meanwhile only
// makes more unreadable data. For decryption a live key is trusted for ttl
// after it was read; within that time another process's erasure is not
// seen here unless this process reads the customer.personal_data_erased
// event first (Store evicts the key when it does) or erases the key itself.
// Erased keys are cached for good.
type keyring struct {
	q        *dbsqlc.Queries
	pool     *pgxpool.Pool
	master   cipher.AEAD
	masterID []byte
	ttl      time.Duration
	now      func() time.Time
	max      int

	mu   sync.Mutex
	keys map[string]*dataKey
	// streams maps streams to the customer recorded for them in
	// customer_data_streams (immutable facts, cached for good).
	streams map[string]string
}

func newKeyring(pool *pgxpool.Pool, master []byte, o options) (*keyring, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("eventstore/crypto: the master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	aead, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	return &keyring{
		q: dbsqlc.New(pool), pool: pool, master: aead, masterID: masterKeyID(master),
		ttl: o.keyTTL, now: o.now, max: o.cacheSize,
		keys: map[string]*dataKey{}, streams: map[string]string{},
	}, nil
}

// pair is a (customer, stream) fact to record.
type pair struct{ customer, stream string }

// forEncrypt returns the data keys of customers, creating those that do not
// exist, and records the pairs not recorded yet, in one round trip for
// whatever the cache does not know.
func (k *keyring) forEncrypt(ctx context.Context, customers []string, pairs []pair) (map[string]*dataKey, error) {
	out := make(map[string]*dataKey, len(customers))
	var missing []string
	var unrecorded []pair
	k.mu.Lock()
	for _, c := range customers {
		if dk, ok := k.keys[c]; ok {
			out[c] = dk
		} else if !slices.Contains(missing, c) {
			missing = append(missing, c)
		}
	}
	for _, p := range pairs {
		if k.streams[p.stream] != p.customer && !slices.Contains(unrecorded, p) {
			unrecorded = append(unrecorded, p)
		}
	}
	k.mu.Unlock()
	if len(missing) == 0 && len(unrecorded) == 0 {
		return out, nil
	}

	params := dbsqlc.RecordKeysAndStreamsParams{
		StreamCustomerIds: make([]string, len(unrecorded)),
		StreamIds:         make([]string, len(unrecorded)),
		KeyCustomerIds:    missing,
		WrappedKeys:       make([][]byte, len(missing)),
		MasterKeyID:       k.masterID,
	}
	for i, p := range unrecorded {
		params.StreamCustomerIds[i], params.StreamIds[i] = p.customer, p.stream
	}
	for i, c := range missing {
		params.WrappedKeys[i] = k.wrap(c)
	}
	rows, err := k.q.RecordKeysAndStreams(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("creating data keys: %w", err)
	}
	fetched := k.now()
	found := make(map[string]*dataKey, len(rows))
	for _, r := range rows {
		dk, err := k.unwrap(r.CustomerID, r.WrappedKey, r.MasterKeyID, r.ErasedAt, fetched)
		if err != nil {
			return nil, err
		}
		found[r.CustomerID] = dk
	}
	// A key committed by another process while the statement ran is not in
	// its snapshot: read it.
	var late []string
	for _, c := range missing {
		if _, ok := found[c]; !ok {
			late = append(late, c)
		}
	}
	if len(late) > 0 {
		more, err := k.fetch(ctx, late)
		if err != nil {
			return nil, err
		}
		for _, c := range late {
			dk, ok := more[c]
			if !ok {
				return nil, fmt.Errorf("creating the data key of customer %s: neither created nor found", c)
			}
			found[c] = dk
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.makeRoom(len(found))
	for c, dk := range found {
		k.keys[c] = dk
		out[c] = dk
	}
	if len(k.streams) >= k.max*4 {
		clear(k.streams)
	}
	for _, p := range unrecorded {
		k.streams[p.stream] = p.customer
	}
	return out, nil
}

// forDecrypt returns the data keys of owners: from the cache when fresh,
// otherwise read in one query. A customer without a key row reads as
// erased (the key is gone, whatever removed it).
func (k *keyring) forDecrypt(ctx context.Context, owners []string) (map[string]*dataKey, error) {
	out := make(map[string]*dataKey, len(owners))
	var stale []string
	now := k.now()
	k.mu.Lock()
	for _, c := range owners {
		if _, done := out[c]; done {
			continue
		}
		if dk, ok := k.keys[c]; ok && (dk.erased() || now.Sub(dk.fetched) < k.ttl) {
			out[c] = dk
		} else if !slices.Contains(stale, c) {
			stale = append(stale, c)
		}
	}
	k.mu.Unlock()
	if len(stale) == 0 {
		return out, nil
	}
	found, err := k.fetch(ctx, stale)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.makeRoom(len(stale))
	for _, c := range stale {
		dk, ok := found[c]
		if !ok {
			dk = &dataKey{}
		}
		k.keys[c] = dk
		out[c] = dk
	}
	return out, nil
}

// fetch reads the keys of customers from the database.
func (k *keyring) fetch(ctx context.Context, customers []string) (map[string]*dataKey, error) {
	rows, err := k.q.GetKeys(ctx, customers)
	if err != nil {
		return nil, fmt.Errorf("reading data keys: %w", err)
	}
	fetched := k.now()
	out := make(map[string]*dataKey, len(rows))
	for _, r := range rows {
		dk, err := k.unwrap(r.CustomerID, r.WrappedKey, r.MasterKeyID, r.ErasedAt, fetched)
		if err != nil {
			return nil, err
		}
		out[r.CustomerID] = dk
	}
	return out, nil
}

// wrap makes a new data key for customer and returns it wrapped.
func (k *keyring) wrap(customer string) []byte {
	key := make([]byte, 32)
	randomBytes(key)
	nonce := make([]byte, k.master.NonceSize(), k.master.NonceSize()+len(key)+k.master.Overhead())
	randomBytes(nonce)
	return k.master.Seal(nonce, nonce, key, wrapAAD(customer))
}

// unwrap turns a key row into a cached key.
func (k *keyring) unwrap(customer string, wrapped, masterID []byte, erasedAt *time.Time, fetched time.Time) (*dataKey, error) {
	if erasedAt != nil || wrapped == nil {
		return &dataKey{}, nil
	}
	if !bytes.Equal(masterID, k.masterID) {
		return nil, fmt.Errorf("unwrapping the data key of customer %s (master key %s, DATA_KEY is %s): %w",
			customer, hex.EncodeToString(masterID), hex.EncodeToString(k.masterID), ErrWrongMasterKey)
	}
	ns := k.master.NonceSize()
	if len(wrapped) < ns+k.master.Overhead() {
		return nil, fmt.Errorf("unwrapping the data key of customer %s: %d bytes is too short", customer, len(wrapped))
	}
	key, err := k.master.Open(nil, wrapped[:ns], wrapped[ns:], wrapAAD(customer))
	if err != nil {
		return nil, fmt.Errorf("unwrapping the data key of customer %s: it fails authentication (corrupted, or copied from another customer): %w", customer, err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("unwrapping the data key of customer %s: %w", customer, err)
	}
	return &dataKey{aead: aead, fetched: fetched}, nil
}

// erase destroys customer's data key and remembers it is gone.
func (k *keyring) erase(ctx context.Context, customer string) (time.Time, error) {
	at, err := k.q.EraseKey(ctx, customer)
	if err != nil {
		return time.Time{}, fmt.Errorf("erasing the data key of customer %s: %w", customer, err)
	}
	k.mu.Lock()
	k.makeRoom(1)
	k.keys[customer] = &dataKey{}
	k.mu.Unlock()
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}

// evict forgets what the cache knows of customer's key, so that the next
// use reads it from the database.
func (k *keyring) evict(customer string) {
	k.mu.Lock()
	if dk, ok := k.keys[customer]; ok && !dk.erased() {
		delete(k.keys, customer)
	}
	k.mu.Unlock()
}

// makeRoom keeps the cache under its bound: when n more would not fit, it
// drops half of it (map order is random, so that is a random half). Call
// with mu held.
func (k *keyring) makeRoom(n int) {
	if len(k.keys)+n <= k.max {
		return
	}
	drop := len(k.keys) / 2
	for c := range k.keys {
		if drop == 0 {
			break
		}
		delete(k.keys, c)
		drop--
	}
}

// streamCustomer returns the customer recorded for stream, "" when none.
func (k *keyring) streamCustomer(ctx context.Context, stream string) (string, error) {
	k.mu.Lock()
	c, ok := k.streams[stream]
	k.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := k.q.StreamCustomer(ctx, stream)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("finding the customer of stream %s: %w", stream, err)
	}
	k.mu.Lock()
	k.streams[stream] = c
	k.mu.Unlock()
	return c, nil
}

// checkMaster returns ErrWrongMasterKey when live data keys in the
// database were wrapped by another master key.
func (k *keyring) checkMaster(ctx context.Context) error {
	row, err := k.q.ForeignMasterKey(ctx, k.masterID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking DATA_KEY against the data keys: %w", err)
	}
	return fmt.Errorf("%d customers' data keys were wrapped by master key %s, and DATA_KEY is %s: set DATA_KEY to the key the data was written with: %w",
		row.Keys, hex.EncodeToString(row.MasterKeyID), hex.EncodeToString(k.masterID), ErrWrongMasterKey)
}
