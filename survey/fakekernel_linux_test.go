package survey

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// fakeKernel plays nl80211 for the corner cases a real kernel will not
// produce on demand: EBUSY, NLM_F_DUMP_INTR, errors in the middle of a
// dump, replies with a foreign sequence number, sockets that fail. It backs
// every socket the scanner dials with nltest. The real kernel is exercised
// by the VM tests in internal/testbed.
type fakeKernel struct {
	t      *testing.T
	events chan netlink.Message // multicast queue, read by the event socket

	mu          sync.Mutex
	bss         [][]byte // NL80211_ATTR_BSS payloads
	generation  uint32
	dials       int
	triggers    int
	dumps       int
	dumpDelay   time.Duration
	triggerBusy int // answer this many triggers with EBUSY
	dumpIntr    int // mark this many dumps NLM_F_DUMP_INTR
	genChange   int // change the generation in the middle of this many dumps
	dumpErr     int // end this many dumps with an errno after the first entry
	desync      int // answer this many requests with a foreign sequence
	sockErr     int // fail this many requests as if the socket broke
	eventErr    int // fail this many event reads
	noEndEvent  bool
}

const (
	fakeFamilyID = 0x1c
	fakeGroupID  = 5
	fakeIfindex  = 3
)

func newFakeKernel(t *testing.T, nBSS int) *fakeKernel {
	k := &fakeKernel{t: t, events: make(chan netlink.Message, 1024), generation: 7}
	for i := 0; i < nBSS; i++ {
		k.bss = append(k.bss, fakeBSSAttrs(t, i))
	}
	return k
}

// fakeBSSAttrs builds the attributes of an open 2.4 GHz BSS number i.
func fakeBSSAttrs(t testing.TB, i int) []byte {
	ssid := []byte("net-" + string(rune('a'+i%26)))
	ies := append([]byte{0, byte(len(ssid))}, ssid...)
	ies = append(ies, 1, 4, 0x82, 0x84, 0x8b, 0x96, 3, 1, 1)
	b, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NL80211_BSS_BSSID, Data: net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}},
		{Type: unix.NL80211_BSS_FREQUENCY, Data: le32(2412)},
		{Type: unix.NL80211_BSS_INFORMATION_ELEMENTS, Data: ies},
		{Type: unix.NL80211_BSS_SIGNAL_MBM, Data: le32(uint32(0xffffffff - 3000 + 1))},
		{Type: unix.NL80211_BSS_SEEN_MS_AGO, Data: le32(10)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func le32(v uint32) []byte { b := make([]byte, 4); binary.NativeEndian.PutUint32(b, v); return b }
func le16(v uint16) []byte { b := make([]byte, 2); binary.NativeEndian.PutUint16(b, v); return b }

func (k *fakeKernel) dial() (*genetlink.Conn, error) {
	k.mu.Lock()
	k.dials++
	k.mu.Unlock()
	return genetlink.NewConn(nltest.Dial(k.handle)), nil
}

func (k *fakeKernel) config() Config {
	return Config{Dial: k.dial, ScanTimeout: 2 * time.Second, RequestTimeout: 2 * time.Second}
}

// event queues a multicast nl80211 event for the fake interface.
func (k *fakeKernel) event(cmd uint8) {
	attrs, _ := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NL80211_ATTR_WIPHY, Data: le32(0)},
		{Type: unix.NL80211_ATTR_IFINDEX, Data: le32(fakeIfindex)},
	})
	k.events <- netlink.Message{
		Header: netlink.Header{Type: fakeFamilyID},
		Data:   append([]byte{cmd, 1, 0, 0}, attrs...),
	}
}

func (k *fakeKernel) handle(reqs []netlink.Message) ([]netlink.Message, error) {
	if len(reqs) == 0 {
		// A Receive with no request: the event socket reading multicast.
		k.mu.Lock()
		fail := k.eventErr > 0
		if fail {
			k.eventErr--
		}
		k.mu.Unlock()
		if fail {
			return nil, errors.New("fake event socket broke")
		}
		select {
		case m := <-k.events:
			return []netlink.Message{m}, nil
		case <-time.After(10 * time.Millisecond):
			return nil, io.EOF
		}
	}
	req := reqs[0]
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sockErr > 0 {
		k.sockErr--
		return nil, unix.EBADF // surfaces as a recvmsg system call error
	}
	reply := func(msgs []netlink.Message) ([]netlink.Message, error) {
		for i := range msgs {
			msgs[i].Header.Sequence = req.Header.Sequence
			msgs[i].Header.PID = nltest.PID
			if k.desync > 0 {
				msgs[i].Header.Sequence += 1000
			}
		}
		if k.desync > 0 {
			k.desync--
		}
		return msgs, nil
	}
	if req.Header.Type == unix.GENL_ID_CTRL {
		return reply([]netlink.Message{familyReply(k.t)})
	}
	if req.Header.Type != fakeFamilyID || len(req.Data) < 4 {
		k.t.Errorf("fake kernel: unexpected request %+v", req.Header)
		return nltest.Error(int(unix.EINVAL), reqs)
	}
	switch cmd := req.Data[0]; cmd {
	case unix.NL80211_CMD_GET_INTERFACE:
		return reply(k.multi(req, unix.NL80211_CMD_NEW_INTERFACE, [][]netlink.Attribute{{
			{Type: unix.NL80211_ATTR_IFINDEX, Data: le32(fakeIfindex)},
			{Type: unix.NL80211_ATTR_IFNAME, Data: []byte("wlan0\x00")},
			{Type: unix.NL80211_ATTR_WIPHY, Data: le32(0)},
			{Type: unix.NL80211_ATTR_IFTYPE, Data: le32(unix.NL80211_IFTYPE_STATION)},
		}}, false, 0))
	case unix.NL80211_CMD_GET_WIPHY:
		return reply(k.multi(req, unix.NL80211_CMD_NEW_WIPHY, [][]netlink.Attribute{{
			{Type: unix.NL80211_ATTR_WIPHY, Data: le32(0)},
			{Type: unix.NL80211_ATTR_WIPHY_NAME, Data: []byte("phy0\x00")},
		}}, false, 0))
	case unix.NL80211_CMD_TRIGGER_SCAN:
		k.triggers++
		if k.triggerBusy > 0 {
			k.triggerBusy--
			// Somebody else's scan is running; it ends a little later.
			go func() { time.Sleep(5 * time.Millisecond); k.event(unix.NL80211_CMD_NEW_SCAN_RESULTS) }()
			return reply(errorMsg(req, unix.EBUSY))
		}
		k.event(unix.NL80211_CMD_TRIGGER_SCAN) // queued before the ACK, as the kernel does
		if !k.noEndEvent {
			go func() { time.Sleep(5 * time.Millisecond); k.event(unix.NL80211_CMD_NEW_SCAN_RESULTS) }()
		}
		return reply(errorMsg(req, 0))
	case unix.NL80211_CMD_ABORT_SCAN:
		return reply(errorMsg(req, 0))
	case unix.NL80211_CMD_GET_SCAN:
		k.dumps++
		if k.dumpDelay > 0 {
			k.mu.Unlock()
			time.Sleep(k.dumpDelay)
			k.mu.Lock()
		}
		var entries [][]netlink.Attribute
		for i, b := range k.bss {
			gen := k.generation
			if k.genChange > 0 && i > 0 {
				gen++
			}
			entries = append(entries, []netlink.Attribute{
				{Type: unix.NL80211_ATTR_GENERATION, Data: le32(gen)},
				{Type: unix.NL80211_ATTR_IFINDEX, Data: le32(fakeIfindex)},
				{Type: unix.NL80211_ATTR_BSS, Data: b},
			})
		}
		if k.genChange > 0 {
			k.genChange--
		}
		intr := k.dumpIntr > 0
		if intr {
			k.dumpIntr--
		}
		errno := unix.Errno(0)
		if k.dumpErr > 0 {
			k.dumpErr--
			errno = unix.EIO
			entries = entries[:1]
		}
		return reply(k.multi(req, unix.NL80211_CMD_NEW_SCAN_RESULTS, entries, intr, errno))
	case unix.NL80211_CMD_GET_SURVEY:
		return reply(k.multi(req, unix.NL80211_CMD_NEW_SURVEY_RESULTS, [][]netlink.Attribute{{
			{Type: unix.NL80211_ATTR_IFINDEX, Data: le32(fakeIfindex)},
			{Type: unix.NL80211_ATTR_SURVEY_INFO, Data: nltest.MustMarshalAttributes([]netlink.Attribute{
				{Type: unix.NL80211_SURVEY_INFO_FREQUENCY, Data: le32(2412)},
				{Type: unix.NL80211_SURVEY_INFO_NOISE, Data: []byte{0xa4}},
				{Type: unix.NL80211_SURVEY_INFO_TIME, Data: le64(100)},
				{Type: unix.NL80211_SURVEY_INFO_TIME_BUSY, Data: le64(12)},
			})},
		}}, false, 0))
	default:
		k.t.Errorf("fake kernel: unexpected nl80211 command %d", cmd)
		return reply(errorMsg(req, unix.EOPNOTSUPP))
	}
}

func le64(v uint64) []byte { b := make([]byte, 8); binary.NativeEndian.PutUint64(b, v); return b }

// multi builds a dump reply: NLM_F_MULTI entries and a DONE carrying errno.
func (k *fakeKernel) multi(req netlink.Message, cmd uint8, entries [][]netlink.Attribute, intr bool, errno unix.Errno) []netlink.Message {
	var out []netlink.Message
	for i, attrs := range entries {
		b, err := netlink.MarshalAttributes(attrs)
		if err != nil {
			k.t.Fatal(err)
		}
		flags := netlink.Multi
		if intr && i == 0 {
			flags |= netlink.DumpInterrupted
		}
		out = append(out, netlink.Message{
			Header: netlink.Header{Type: fakeFamilyID, Flags: flags},
			Data:   append([]byte{cmd, 1, 0, 0}, b...),
		})
	}
	done := netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi}, Data: le32(uint32(-int32(errno)))}
	return append(out, done)
}

// errorMsg is an NLMSG_ERROR answer (errno 0 is an ACK).
func errorMsg(req netlink.Message, errno unix.Errno) []netlink.Message {
	hdr := make([]byte, 16)
	binary.NativeEndian.PutUint32(hdr[0:], req.Header.Length)
	return []netlink.Message{{
		Header: netlink.Header{Type: netlink.Error},
		Data:   append(le32(uint32(-int32(errno))), hdr...),
	}}
}

func familyReply(t testing.TB) netlink.Message {
	grp := nltest.MustMarshalAttributes([]netlink.Attribute{
		{Type: unix.CTRL_ATTR_MCAST_GRP_NAME, Data: []byte("scan\x00")},
		{Type: unix.CTRL_ATTR_MCAST_GRP_ID, Data: le32(fakeGroupID)},
	})
	grps := nltest.MustMarshalAttributes([]netlink.Attribute{{Type: 1 | unix.NLA_F_NESTED, Data: grp}})
	attrs := nltest.MustMarshalAttributes([]netlink.Attribute{
		{Type: unix.CTRL_ATTR_FAMILY_ID, Data: le16(fakeFamilyID)},
		{Type: unix.CTRL_ATTR_FAMILY_NAME, Data: []byte("nl80211\x00")},
		{Type: unix.CTRL_ATTR_VERSION, Data: le32(1)},
		{Type: unix.CTRL_ATTR_MCAST_GROUPS | unix.NLA_F_NESTED, Data: grps},
	})
	return netlink.Message{
		Header: netlink.Header{Type: unix.GENL_ID_CTRL},
		Data:   append([]byte{unix.CTRL_CMD_NEWFAMILY, 2, 0, 0}, attrs...),
	}
}
