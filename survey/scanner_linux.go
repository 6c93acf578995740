package survey

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/surveybox/surveybox/wifi"
	"golang.org/x/sys/unix"
)

// Config configures a Scanner.
type Config struct {
	// Interface is the wireless interface to scan with; "" picks the first
	// station interface, or else the first wireless interface.
	Interface string

	// Dial opens a generic netlink socket; nil means genetlink.Dial(nil).
	// Tests pass sockets made with genltest or nltest. The scanner dials
	// at least two sockets: one for events and one for requests.
	Dial func() (*genetlink.Conn, error)

	// Logger receives recoveries worth knowing about (redials, retries,
	// lost events). nil discards them.
	Logger *slog.Logger

	// RequestTimeout bounds one request or dump on the request socket
	// (default 10s). A request that times out gets its socket redialled.
	RequestTimeout time.Duration

	// ScanTimeout bounds the wait for a triggered scan to finish (default
	// 30s). After it the scan is aborted and the cache dumped anyway.
	ScanTimeout time.Duration
}

// errDesync marks a request socket whose replies no longer match its
// requests, or whose state is unknown after an error: it gets redialled.
var errDesync = errors.New("request socket out of step")

// ErrInconsistentDump is returned when a dump kept being interrupted by
// changes in the kernel's scan cache.
var ErrInconsistentDump = errors.New("dump kept changing under us")

const (
	maxDumpAttempts = 6
	maxBusyWaits    = 3
	eventReadBuffer = 1 << 20
)

// Scanner scans with one wireless interface. Its methods are safe for
// concurrent use; requests are serialised so that at most one dump is in
// flight on the request socket.
type Scanner struct {
	cfg    Config
	log    *slog.Logger
	family genetlink.Family
	group  uint32
	iface  Interface

	reqMu sync.Mutex // held for every request: one dump in flight
	req   *genetlink.Conn

	evMu   sync.Mutex // guards ev for Close
	ev     *genetlink.Conn
	subsMu sync.Mutex
	subs   map[chan Event]struct{}

	closed chan struct{}
	wg     sync.WaitGroup

	scans, dumps, dumpRetries, redials, triggerBusy, eventsLost, foreign atomic.Uint64
}

// Open finds the nl80211 family and the interface to use, joins the scan
// multicast group on an events-only socket and starts reading events.
func Open(ctx context.Context, cfg Config) (*Scanner, error) {
	if cfg.Dial == nil {
		cfg.Dial = func() (*genetlink.Conn, error) { return genetlink.Dial(nil) }
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.ScanTimeout <= 0 {
		cfg.ScanTimeout = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scanner{cfg: cfg, log: log, subs: make(map[chan Event]struct{}), closed: make(chan struct{})}

	req, err := cfg.Dial()
	if err != nil {
		return nil, fmt.Errorf("dialling generic netlink: %w", err)
	}
	s.req = req
	s.family, err = req.GetFamily(unix.NL80211_GENL_NAME)
	if err != nil {
		req.Close()
		return nil, fmt.Errorf("%w: the kernel has no nl80211 (cfg80211): %v", ErrNoRadio, err)
	}
	for _, g := range s.family.Groups {
		if g.Name == unix.NL80211_MULTICAST_GROUP_SCAN {
			s.group = g.ID
		}
	}
	if s.group == 0 {
		req.Close()
		return nil, errors.New("nl80211 has no \"scan\" multicast group")
	}

	ifaces, err := s.Interfaces(ctx)
	if err != nil {
		req.Close()
		return nil, err
	}
	s.iface, err = pickInterface(ifaces, cfg.Interface)
	if err != nil {
		req.Close()
		return nil, err
	}

	ev, err := s.dialEvents()
	if err != nil {
		req.Close()
		return nil, err
	}
	s.ev = ev
	s.wg.Add(1)
	go s.readEvents(ev)
	return s, nil
}

func pickInterface(ifaces []Interface, name string) (Interface, error) {
	if name != "" {
		for _, i := range ifaces {
			if i.Name == name {
				return i, nil
			}
		}
		return Interface{}, fmt.Errorf("wireless interface %q not found (have %d)", name, len(ifaces))
	}
	for _, i := range ifaces {
		if i.Type == unix.NL80211_IFTYPE_STATION {
			return i, nil
		}
	}
	if len(ifaces) > 0 {
		return ifaces[0], nil
	}
	return Interface{}, fmt.Errorf("%w: no wireless interface", ErrNoRadio)
}

// Interface returns the interface the scanner uses.
func (s *Scanner) Interface() Interface { return s.iface }

// Stats returns the scanner's counters.
func (s *Scanner) Stats() Stats {
	return Stats{
		Scans: s.scans.Load(), Dumps: s.dumps.Load(), DumpRetries: s.dumpRetries.Load(),
		Redials: s.redials.Load(), TriggerBusy: s.triggerBusy.Load(),
		EventsLost: s.eventsLost.Load(), ForeignResults: s.foreign.Load(),
	}
}

// Close stops the event reader and closes both sockets.
func (s *Scanner) Close() error {
	select {
	case <-s.closed:
		return nil
	default:
	}
	close(s.closed)
	s.evMu.Lock()
	if s.ev != nil {
		s.ev.Close()
	}
	s.evMu.Unlock()
	s.wg.Wait()
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	if s.req != nil {
		err := s.req.Close()
		s.req = nil
		return err
	}
	return nil
}

// dialEvents opens an events-only socket joined to the scan group.
func (s *Scanner) dialEvents() (*genetlink.Conn, error) {
	ev, err := s.cfg.Dial()
	if err != nil {
		return nil, fmt.Errorf("dialling the event socket: %w", err)
	}
	if err := ev.JoinGroup(s.group); err != nil && !errors.Is(err, errors.ErrUnsupported) && !isNotSupported(err) {
		ev.Close()
		return nil, fmt.Errorf("joining the nl80211 scan group: %w", err)
	}
	// A large buffer makes ENOBUFS rare; it is still handled as "events
	// lost" when it happens. The kernel caps it at rmem_max.
	_ = ev.SetReadBuffer(eventReadBuffer)
	return ev, nil
}

// isNotSupported reports the netlink package's error for operations a test
// socket does not implement.
func isNotSupported(err error) bool {
	var oe *netlink.OpError
	return errors.As(err, &oe) && oe.Err != nil && oe.Err.Error() == "operation not supported"
}

// readEvents is the only reader of the event socket. It never sends on it.
func (s *Scanner) readEvents(ev *genetlink.Conn) {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	for {
		msgs, _, err := ev.Receive()
		select {
		case <-s.closed:
			return
		default:
		}
		if err != nil {
			s.eventsLost.Add(1)
			s.publish(Event{Kind: EventLost})
			if errors.Is(err, unix.ENOBUFS) {
				s.log.Warn("nl80211 events lost (ENOBUFS); results will be re-dumped")
				continue
			}
			s.log.Warn("nl80211 event socket failed; redialling", "err", err)
			ev.Close()
			for {
				select {
				case <-s.closed:
					return
				case <-time.After(backoff):
				}
				nev, derr := s.dialEvents()
				if derr == nil {
					s.evMu.Lock()
					s.ev = nev
					s.evMu.Unlock()
					select {
					case <-s.closed: // Close raced with the redial
						nev.Close()
						return
					default:
					}
					ev = nev
					break
				}
				s.log.Warn("redialling the nl80211 event socket", "err", derr)
				backoff = min(2*backoff, 5*time.Second)
			}
			continue
		}
		backoff = 100 * time.Millisecond
		for _, m := range msgs {
			var kind EventKind
			switch m.Header.Command {
			case unix.NL80211_CMD_TRIGGER_SCAN:
				kind = EventScanStarted
			case unix.NL80211_CMD_NEW_SCAN_RESULTS:
				kind = EventScanResults
			case unix.NL80211_CMD_SCAN_ABORTED:
				kind = EventScanAborted
			case unix.NL80211_CMD_SCHED_SCAN_RESULTS:
				kind = EventSchedResults
			default:
				continue
			}
			idx := attrIfindex(m.Data)
			if idx != s.iface.Index {
				continue
			}
			s.publish(Event{Kind: kind, Ifindex: idx})
		}
	}
}

// attrIfindex returns NL80211_ATTR_IFINDEX of a message, or 0.
func attrIfindex(b []byte) int {
	idx := 0
	_ = walkAttrs(b, func(typ uint16, d []byte) {
		if typ == unix.NL80211_ATTR_IFINDEX && len(d) == 4 {
			idx = int(u32(d))
		}
	})
	return idx
}

// Subscribe returns a channel that receives the scan events of the
// scanner's interface until cancel is called. A slow subscriber loses
// events rather than blocking the reader; it then gets an EventLost.
func (s *Scanner) Subscribe() (events <-chan Event, cancel func()) {
	ch := make(chan Event, 64)
	s.subsMu.Lock()
	s.subs[ch] = struct{}{}
	s.subsMu.Unlock()
	return ch, func() {
		s.subsMu.Lock()
		delete(s.subs, ch)
		s.subsMu.Unlock()
	}
}

func (s *Scanner) publish(e Event) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- e:
		default:
			// Full: make sure the subscriber learns it missed something.
			select {
			case <-ch:
			default:
			}
			select {
			case ch <- Event{Kind: EventLost}:
			default:
			}
		}
	}
}

// request sends one message on the request socket and reads its complete
// reply, checking that every reply belongs to the request. Any error that
// leaves the socket's state in doubt closes it; the next request redials.
// The caller must hold reqMu.
func (s *Scanner) request(ctx context.Context, cmd uint8, attrs []byte, flags netlink.HeaderFlags) ([]genetlink.Message, []netlink.Message, error) {
	if s.req == nil {
		c, err := s.cfg.Dial()
		if err != nil {
			return nil, nil, fmt.Errorf("redialling the request socket: %w", err)
		}
		s.req = c
		s.redials.Add(1)
	}
	deadline := time.Now().Add(s.cfg.RequestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.req.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = s.req.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	msg := genetlink.Message{Header: genetlink.Header{Command: cmd, Version: s.family.Version}, Data: attrs}
	sent, err := s.req.Send(msg, s.family.ID, netlink.Request|flags)
	if err != nil {
		s.dropRequestSocket()
		return nil, nil, fmt.Errorf("sending nl80211 command %d: %w (%w)", cmd, err, errDesync)
	}
	gmsgs, nmsgs, err := s.req.Receive()
	if err != nil {
		var oe *netlink.OpError
		kernelErr := errors.As(err, &oe) && oe.Sequence != 0
		switch {
		case kernelErr && oe.Sequence != sent.Header.Sequence:
			s.dropRequestSocket()
			return nil, nil, fmt.Errorf("nl80211 command %d: reply for sequence %d, sent %d: %w", cmd, oe.Sequence, sent.Header.Sequence, errDesync)
		case kernelErr && flags&netlink.Dump == 0:
			// The kernel's answer to our own request (e.g. EBUSY from
			// TRIGGER_SCAN): the socket is in step.
			return nil, nil, fmt.Errorf("nl80211 command %d: %w", cmd, err)
		case kernelErr && errors.Is(err, unix.EBUSY):
			// A netlink-level EBUSY on a dump: a dump is still running
			// on this socket. Never try to resync.
			s.dropRequestSocket()
			return nil, nil, fmt.Errorf("nl80211 dump %d: socket busy with an earlier dump: %w", cmd, errDesync)
		case kernelErr:
			// The dump ended with an errno in NLMSG_DONE (e.g. a driver's
			// EBUSY from dump_survey). The socket is in step.
			return nil, nil, fmt.Errorf("nl80211 dump %d: %w", cmd, err)
		default:
			s.dropRequestSocket()
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("nl80211 command %d: %w", cmd, ctx.Err())
			}
			return nil, nil, fmt.Errorf("nl80211 command %d: %w (%w)", cmd, err, errDesync)
		}
	}
	for _, m := range nmsgs {
		if m.Header.Sequence != sent.Header.Sequence {
			s.dropRequestSocket()
			return nil, nil, fmt.Errorf("nl80211 command %d: reply for sequence %d, sent %d: %w", cmd, m.Header.Sequence, sent.Header.Sequence, errDesync)
		}
	}
	return gmsgs, nmsgs, nil
}

func (s *Scanner) dropRequestSocket() {
	if s.req != nil {
		s.req.Close()
		s.req = nil
	}
}

// requestRetry is request with one retry on a fresh socket when the first
// attempt found the socket out of step.
func (s *Scanner) requestRetry(ctx context.Context, cmd uint8, attrs []byte, flags netlink.HeaderFlags) ([]genetlink.Message, []netlink.Message, error) {
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	g, n, err := s.request(ctx, cmd, attrs, flags)
	if errors.Is(err, errDesync) && ctx.Err() == nil {
		s.log.Warn("nl80211 request socket out of step; redialled", "err", err)
		g, n, err = s.request(ctx, cmd, attrs, flags)
	}
	return g, n, err
}

// Interfaces lists the wireless interfaces and their phys.
func (s *Scanner) Interfaces(ctx context.Context) ([]Interface, error) {
	msgs, _, err := s.requestRetry(ctx, unix.NL80211_CMD_GET_INTERFACE, nil, netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("listing wireless interfaces: %w", err)
	}
	var out []Interface
	for _, m := range msgs {
		var i Interface
		_ = walkAttrs(m.Data, func(typ uint16, d []byte) {
			switch {
			case typ == unix.NL80211_ATTR_IFINDEX && len(d) == 4:
				i.Index = int(u32(d))
			case typ == unix.NL80211_ATTR_IFNAME:
				i.Name = cString(d)
			case typ == unix.NL80211_ATTR_IFTYPE && len(d) == 4:
				i.Type = u32(d)
			case typ == unix.NL80211_ATTR_WIPHY && len(d) == 4:
				i.PHY = int(u32(d))
			case typ == unix.NL80211_ATTR_MAC && len(d) == 6:
				i.MAC = append([]byte(nil), d...)
			}
		})
		if i.Index != 0 {
			out = append(out, i)
		}
	}
	phys, err := s.phyNames(ctx)
	if err != nil {
		s.log.Warn("listing wireless phys", "err", err)
	}
	for k := range out {
		out[k].PHYName = phys[out[k].PHY]
		if out[k].PHYName == "" {
			out[k].PHYName = fmt.Sprintf("phy%d", out[k].PHY)
		}
	}
	return out, nil
}

func (s *Scanner) phyNames(ctx context.Context) (map[int]string, error) {
	attrs, _ := netlink.MarshalAttributes([]netlink.Attribute{{Type: unix.NL80211_ATTR_SPLIT_WIPHY_DUMP}})
	msgs, _, err := s.requestRetry(ctx, unix.NL80211_CMD_GET_WIPHY, attrs, netlink.Dump)
	if err != nil {
		return nil, err
	}
	names := make(map[int]string)
	for _, m := range msgs {
		idx, name := -1, ""
		_ = walkAttrs(m.Data, func(typ uint16, d []byte) {
			switch {
			case typ == unix.NL80211_ATTR_WIPHY && len(d) == 4:
				idx = int(u32(d))
			case typ == unix.NL80211_ATTR_WIPHY_NAME:
				name = cString(d)
			}
		})
		if idx >= 0 && name != "" {
			names[idx] = name
		}
	}
	return names, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func (s *Scanner) ifindexAttr() []netlink.Attribute {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, uint32(s.iface.Index))
	return []netlink.Attribute{{Type: unix.NL80211_ATTR_IFINDEX, Data: b}}
}

// Trigger asks the kernel to start a scan. It returns an error wrapping
// unix.EBUSY when another scan is running.
func (s *Scanner) Trigger(ctx context.Context, r ScanRequest) error {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.NL80211_ATTR_IFINDEX, uint32(s.iface.Index))
	if !r.Passive {
		ae.Nested(unix.NL80211_ATTR_SCAN_SSIDS, func(nae *netlink.AttributeEncoder) error {
			nae.Bytes(1, []byte{}) // the wildcard SSID: zero length
			for i, ssid := range r.SSIDs {
				nae.Bytes(uint16(i+2), ssid)
			}
			return nil
		})
	}
	if len(r.Frequencies) > 0 {
		ae.Nested(unix.NL80211_ATTR_SCAN_FREQUENCIES, func(nae *netlink.AttributeEncoder) error {
			for i, f := range r.Frequencies {
				nae.Uint32(uint16(i+1), uint32(f))
			}
			return nil
		})
	}
	if r.Flush {
		ae.Uint32(unix.NL80211_ATTR_SCAN_FLAGS, unix.NL80211_SCAN_FLAG_FLUSH)
	}
	for _, ssid := range r.SSIDs {
		if len(ssid) > 32 {
			return fmt.Errorf("triggering a scan: SSID %q is longer than 32 bytes", ssid)
		}
	}
	attrs, err := ae.Encode()
	if err != nil {
		return fmt.Errorf("encoding the scan request: %w", err)
	}
	if _, _, err := s.requestRetry(ctx, unix.NL80211_CMD_TRIGGER_SCAN, attrs, netlink.Acknowledge); err != nil {
		return fmt.Errorf("triggering a scan on %s: %w", s.iface.Name, err)
	}
	return nil
}

// abort asks the kernel to abort the running scan; errors are ignored.
func (s *Scanner) abort(ctx context.Context) {
	attrs, _ := netlink.MarshalAttributes(s.ifindexAttr())
	if _, _, err := s.requestRetry(ctx, unix.NL80211_CMD_ABORT_SCAN, attrs, netlink.Acknowledge); err != nil {
		s.log.Debug("aborting the scan", "err", err)
	}
}

// Scan triggers a scan, waits for it to finish and dumps the results. If
// somebody else's scan is running (EBUSY), it waits for that scan to end
// and tries again; after maxBusyWaits it settles for the other scan's
// results. A scan that does not finish within ScanTimeout is aborted and
// the cache dumped anyway.
func (s *Scanner) Scan(ctx context.Context, r ScanRequest) (ScanResult, error) {
	res := ScanResult{Started: time.Now()}
	events, cancel := s.Subscribe()
	defer cancel()

	for {
		err := s.Trigger(ctx, r)
		if err == nil {
			res.Triggered = true
			break
		}
		if !errors.Is(err, unix.EBUSY) {
			return res, err
		}
		s.triggerBusy.Add(1)
		res.Busy++
		// Somebody else is scanning: wait for their scan to finish.
		kind, err := s.waitScanEnd(ctx, events, false)
		if err != nil {
			return res, err
		}
		res.EventsLost = res.EventsLost || kind == EventLost
		if res.Busy >= maxBusyWaits {
			break
		}
	}
	if res.Triggered {
		kind, err := s.waitScanEnd(ctx, events, true)
		switch {
		case errors.Is(err, errScanTimeout):
			s.log.Warn("scan did not finish in time; aborting it", "iface", s.iface.Name, "timeout", s.cfg.ScanTimeout)
			s.abort(ctx)
			res.Aborted = true
		case err != nil:
			return res, err
		}
		res.Aborted = res.Aborted || kind == EventScanAborted
		res.EventsLost = res.EventsLost || kind == EventLost
	}
	bsses, decErrs, err := s.Dump(ctx)
	if err != nil {
		return res, err
	}
	res.BSSes, res.DecodeErrors, res.Finished = bsses, decErrs, time.Now()
	s.scans.Add(1)
	return res, nil
}

var errScanTimeout = errors.New("scan did not finish in time")

// waitScanEnd waits for the end of a scan on the scanner's interface. When
// own is true the scan is the one just triggered: the kernel queues its
// TRIGGER_SCAN event on the event socket before acknowledging the
// trigger, so any end-of-scan event seen before that start event belongs to
// an earlier scan and is skipped.
func (s *Scanner) waitScanEnd(ctx context.Context, events <-chan Event, own bool) (EventKind, error) {
	timer := time.NewTimer(s.cfg.ScanTimeout)
	defer timer.Stop()
	started := !own
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.closed:
			return 0, errors.New("scanner closed")
		case <-timer.C:
			return 0, errScanTimeout
		case e := <-events:
			switch e.Kind {
			case EventLost:
				return EventLost, nil
			case EventScanStarted:
				started = true
			case EventScanResults, EventScanAborted:
				if started {
					return e.Kind, nil
				}
				s.foreign.Add(1)
			}
		}
	}
}

// Dump reads the kernel's scan result cache for the interface and decodes
// it. Entries that fail to decode are returned as errors next to the good
// ones. Interrupted or inconsistent dumps are retried from scratch.
func (s *Scanner) Dump(ctx context.Context) ([]wifi.BSS, []error, error) {
	msgs, err := s.DumpRaw(ctx, unix.NL80211_CMD_GET_SCAN)
	if err != nil {
		return nil, nil, err
	}
	bsses, decErrs := DecodeScan(msgs)
	return bsses, decErrs, nil
}

// SurveyDump reads the channel survey of the interface.
func (s *Scanner) SurveyDump(ctx context.Context) ([]wifi.Channel, []error, error) {
	msgs, err := s.DumpRaw(ctx, unix.NL80211_CMD_GET_SURVEY)
	if err != nil {
		return nil, nil, err
	}
	chans, decErrs := DecodeSurvey(msgs)
	return chans, decErrs, nil
}

// DumpRaw runs a GET_SCAN or GET_SURVEY dump for the interface and returns
// the raw reply messages, once they form a consistent snapshot: no message
// carries NLM_F_DUMP_INTR and all carry the same generation.
func (s *Scanner) DumpRaw(ctx context.Context, cmd uint8) ([]netlink.Message, error) {
	attrs, err := netlink.MarshalAttributes(s.ifindexAttr())
	if err != nil {
		return nil, err
	}
	s.reqMu.Lock()
	defer s.reqMu.Unlock()
	backoff := 20 * time.Millisecond
	var lastErr error
	for attempt := 0; attempt < maxDumpAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		_, nmsgs, err := s.request(ctx, cmd, attrs, netlink.Dump)
		if errors.Is(err, errDesync) {
			lastErr = err
			s.log.Warn("nl80211 request socket out of step; redialled", "err", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		if consistent(nmsgs) {
			s.dumps.Add(1)
			return nmsgs, nil
		}
		s.dumpRetries.Add(1)
		lastErr = ErrInconsistentDump
	}
	return nil, fmt.Errorf("nl80211 dump %d after %d attempts: %w", cmd, maxDumpAttempts, lastErr)
}

// consistent reports whether a dump is a consistent snapshot.
func consistent(msgs []netlink.Message) bool {
	var gen uint32
	haveGen := false
	for _, m := range msgs {
		if m.Header.Flags&netlink.DumpInterrupted != 0 {
			return false
		}
		if len(m.Data) < 4 {
			continue
		}
		g, ok := uint32(0), false
		_ = walkAttrs(m.Data[4:], func(typ uint16, d []byte) {
			if typ == unix.NL80211_ATTR_GENERATION && len(d) == 4 {
				g, ok = u32(d), true
			}
		})
		if !ok {
			continue
		}
		if haveGen && g != gen {
			return false
		}
		gen, haveGen = g, true
	}
	return true
}

// DecodeScan decodes the raw messages of a GET_SCAN dump. Each message
// holds one BSS; a BSS that fails to decode becomes an error and does not
// affect the others.
func DecodeScan(msgs []netlink.Message) ([]wifi.BSS, []error) {
	out := make([]wifi.BSS, 0, len(msgs))
	var errs []error
	for i, m := range msgs {
		if len(m.Data) < 4 {
			errs = append(errs, fmt.Errorf("scan message %d: %d bytes, too short for a genetlink header", i, len(m.Data)))
			continue
		}
		var bssAttrs []byte
		var gen uint32
		err := walkAttrs(m.Data[4:], func(typ uint16, d []byte) {
			switch typ {
			case unix.NL80211_ATTR_BSS:
				bssAttrs = d
			case unix.NL80211_ATTR_GENERATION:
				if len(d) == 4 {
					gen = u32(d)
				}
			}
		})
		if bssAttrs == nil {
			if err == nil {
				err = errors.New("no NL80211_ATTR_BSS")
			}
			errs = append(errs, fmt.Errorf("scan message %d: %w", i, err))
			continue
		}
		b, err := DecodeBSS(bssAttrs)
		if err != nil {
			errs = append(errs, fmt.Errorf("scan message %d: %w", i, err))
			if b.BSSID == nil || b.Frequency == 0 {
				continue
			}
		}
		b.Generation = gen
		out = append(out, b)
	}
	return out, errs
}

// DecodeSurvey decodes the raw messages of a GET_SURVEY dump.
func DecodeSurvey(msgs []netlink.Message) ([]wifi.Channel, []error) {
	var out []wifi.Channel
	var errs []error
	for i, m := range msgs {
		if len(m.Data) < 4 {
			errs = append(errs, fmt.Errorf("survey message %d: %d bytes, too short for a genetlink header", i, len(m.Data)))
			continue
		}
		var info []byte
		err := walkAttrs(m.Data[4:], func(typ uint16, d []byte) {
			if typ == unix.NL80211_ATTR_SURVEY_INFO {
				info = d
			}
		})
		if info == nil {
			if err == nil {
				err = errors.New("no NL80211_ATTR_SURVEY_INFO")
			}
			errs = append(errs, fmt.Errorf("survey message %d: %w", i, err))
			continue
		}
		c, err := DecodeSurveyInfo(info)
		if err != nil {
			errs = append(errs, fmt.Errorf("survey message %d: %w", i, err))
			if c.Frequency == 0 {
				continue
			}
		}
		out = append(out, c)
	}
	return out, errs
}

// BringUp sets the interface administratively up, which the kernel
// requires before it will scan (ENETDOWN otherwise).
func BringUp(name string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading %s flags: %w", name, os.NewSyscallError("ioctl", err))
	}
	flags := ifr.Uint16()
	if flags&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(flags | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, os.NewSyscallError("ioctl", err))
	}
	return nil
}
