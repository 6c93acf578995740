package survey

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Channel is one entry of the nl80211 channel survey (GET_SURVEY): how long
// the radio listened on a channel and how busy it found it.
type Channel struct {
	Frequency int // MHz
	InUse     bool
	Noise     int8 // dBm, valid when HasNoise
	HasNoise  bool
	// Times in milliseconds; nil when the driver did not report that
	// counter.
	Active, Busy, ExtBusy, RX, TX, Scan, BSSRX *uint64
	// Problems lists counters that could not be decoded.
	Problems []string
}

// ChannelRecord is the JSON form of a Channel.
type ChannelRecord struct {
	Frequency int      `json:"freq_mhz"`
	Channel   int      `json:"channel"`
	Band      string   `json:"band"`
	NoiseDBm  *int     `json:"noise_dbm"`
	Active    *uint64  `json:"active_ms"`
	Busy      *uint64  `json:"busy_ms"`
	ExtBusy   *uint64  `json:"ext_busy_ms,omitempty"`
	RX        *uint64  `json:"rx_ms"`
	TX        *uint64  `json:"tx_ms"`
	Scan      *uint64  `json:"scan_ms,omitempty"`
	BSSRX     *uint64  `json:"bss_rx_ms,omitempty"`
	InUse     bool     `json:"in_use"`
	Problems  []string `json:"problems,omitempty"`
}

// Record returns the JSON form of c.
func (c *Channel) Record() ChannelRecord {
	r := ChannelRecord{
		Frequency: c.Frequency,
		Channel:   FrequencyChannel(c.Frequency),
		Band:      FrequencyBand(c.Frequency),
		Active:    c.Active, Busy: c.Busy, ExtBusy: c.ExtBusy,
		RX: c.RX, TX: c.TX, Scan: c.Scan, BSSRX: c.BSSRX,
		InUse: c.InUse, Problems: c.Problems,
	}
	if c.HasNoise {
		n := int(c.Noise)
		r.NoiseDBm = &n
	}
	return r
}

// DecodeSurveyInfo decodes the nested NL80211_ATTR_SURVEY_INFO attributes
// of one survey entry. Counters of the wrong size are skipped and reported
// in Channel.Problems.
func DecodeSurveyInfo(attrs []byte) (Channel, error) {
	var c Channel
	var bad []string
	u64p := func(name string, d []byte) *uint64 {
		if len(d) != 8 {
			bad = append(bad, attrProblem(name, d))
			return nil
		}
		v := u64(d)
		return &v
	}
	err := walkAttrs(attrs, func(typ uint16, d []byte) {
		switch typ {
		case unix.NL80211_SURVEY_INFO_FREQUENCY:
			if len(d) != 4 {
				bad = append(bad, attrProblem("SURVEY_INFO_FREQUENCY", d))
				return
			}
			c.Frequency = int(u32(d))
		case unix.NL80211_SURVEY_INFO_NOISE:
			if len(d) != 1 {
				bad = append(bad, attrProblem("SURVEY_INFO_NOISE", d))
				return
			}
			c.Noise, c.HasNoise = int8(d[0]), true
		case unix.NL80211_SURVEY_INFO_IN_USE:
			c.InUse = true
		case unix.NL80211_SURVEY_INFO_TIME:
			c.Active = u64p("SURVEY_INFO_TIME", d)
		case unix.NL80211_SURVEY_INFO_TIME_BUSY:
			c.Busy = u64p("SURVEY_INFO_TIME_BUSY", d)
		case unix.NL80211_SURVEY_INFO_TIME_EXT_BUSY:
			c.ExtBusy = u64p("SURVEY_INFO_TIME_EXT_BUSY", d)
		case unix.NL80211_SURVEY_INFO_TIME_RX:
			c.RX = u64p("SURVEY_INFO_TIME_RX", d)
		case unix.NL80211_SURVEY_INFO_TIME_TX:
			c.TX = u64p("SURVEY_INFO_TIME_TX", d)
		case unix.NL80211_SURVEY_INFO_TIME_SCAN:
			c.Scan = u64p("SURVEY_INFO_TIME_SCAN", d)
		case unix.NL80211_SURVEY_INFO_TIME_BSS_RX:
			c.BSSRX = u64p("SURVEY_INFO_TIME_BSS_RX", d)
		}
	})
	c.Problems = bad
	if err != nil {
		return c, fmt.Errorf("decoding survey info: %w", err)
	}
	if c.Frequency == 0 {
		return c, errors.New("decoding survey info: no frequency")
	}
	return c, nil
}
