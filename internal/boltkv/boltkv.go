// Package boltkv holds the small bbolt helpers the spool and the collector
// share: big-endian sequence keys and uint64 counters in a bucket.
package boltkv

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// SeqKey is the key of a sequence number; big-endian, so keys sort in
// sequence order.
func SeqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// GetU64 reads a counter; a missing or malformed value reads as 0.
func GetU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// PutU64 stores a counter.
func PutU64(b *bolt.Bucket, k []byte, v uint64) error {
	return b.Put(k, binary.BigEndian.AppendUint64(nil, v))
}

// AddU64 adds d to a counter.
func AddU64(b *bolt.Bucket, k []byte, d uint64) error { return PutU64(b, k, GetU64(b, k)+d) }
