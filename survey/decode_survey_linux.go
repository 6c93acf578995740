package survey

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/surveybox/surveybox/wifi"
)

// DecodeSurveyInfo decodes the nested NL80211_ATTR_SURVEY_INFO attributes
// of one survey entry. Counters of the wrong size are skipped and reported
// in Channel.Problems.
func DecodeSurveyInfo(attrs []byte) (wifi.Channel, error) {
	var c wifi.Channel
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
