package survey

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
)

// MarshalMessages encodes raw netlink messages the way the kernel sends
// them: each with its nlmsghdr, padded to four bytes. The result can be
// stored (testdata/ captures) and read back with UnmarshalMessages.
func MarshalMessages(msgs []netlink.Message) ([]byte, error) {
	var out []byte
	for i, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encoding netlink message %d: %w", i, err)
		}
		out = append(out, b...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out, nil
}

// UnmarshalMessages splits a byte stream of netlink messages, as written by
// MarshalMessages or received from the kernel, into messages. It stops
// with an error at the first malformed header, returning the messages
// before it.
func UnmarshalMessages(b []byte) ([]netlink.Message, error) {
	var out []netlink.Message
	for off := 0; off < len(b); {
		if len(b)-off < 16 {
			return out, fmt.Errorf("netlink stream: %d trailing bytes at offset %d", len(b)-off, off)
		}
		l := int(binary.NativeEndian.Uint32(b[off:]))
		if l < 16 || l > len(b)-off {
			return out, fmt.Errorf("netlink stream: message length %d at offset %d with %d bytes left", l, off, len(b)-off)
		}
		var m netlink.Message
		if err := m.UnmarshalBinary(b[off : off+l]); err != nil {
			return out, fmt.Errorf("netlink stream: message at offset %d: %w", off, err)
		}
		m.Data = append([]byte(nil), m.Data...)
		out = append(out, m)
		off += (l + 3) &^ 3
	}
	return out, nil
}
