package wifi

// Channel is one entry of a radio's channel survey (nl80211 GET_SURVEY): how long
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
