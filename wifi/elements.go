package wifi

// Element IDs (IEEE 802.11-2020 table 9-92) that the decoder understands.
const (
	ieSSID            = 0
	ieSupportedRates  = 1
	ieDSParams        = 3
	ieTIM             = 5
	ieCountry         = 7
	ieBSSLoad         = 11
	ieERP             = 42
	ieHTCapabilities  = 45
	ieRSN             = 48
	ieExtendedRates   = 50
	ieMobilityDomain  = 54
	ieHTOperation     = 61
	ieRMEnabledCaps   = 70
	ieExtendedCaps    = 127
	ieVHTCapabilities = 191
	ieVHTOperation    = 192
	ieRSNX            = 244
	ieVendor          = 221
	ieExtension       = 255

	// Element ID extensions (element 255, first body byte).
	extHECapabilities  = 35
	extHEOperation     = 36
	extEHTOperation    = 106
	extMultiLink       = 107
	extEHTCapabilities = 108
)

// Elements is what the decoder understood of a BSS's information elements.
// Fields are zero or nil when the element was absent or unusable; Problems
// says which elements were malformed and why. The raw bytes are always kept
// in BSS.IEs, so nothing the decoder did not understand is lost.
type Elements struct {
	// SSID is the raw SSID element (0–32 arbitrary octets); HasSSID is
	// false when no SSID element was present at all.
	SSID    []byte
	HasSSID bool

	// Rates are the supported and extended supported rates in units of
	// 500 kb/s, without the basic-rate bit; BasicRates are the ones marked
	// basic. BSS membership selectors (HT/VHT/HE PHY) are left out.
	Rates      []uint8
	BasicRates []uint8

	DSChannel int // DS Parameter Set current channel, 0 if absent

	DTIMPeriod int // from the TIM element, 0 if absent

	// Country is the two-letter code of the Country element and
	// Environment its third byte (' ' any, 'I' indoor, 'O' outdoor).
	Country     string
	Environment byte

	BSSLoad *BSSLoad

	ERP bool // ERP Information present (802.11g protection signalling)

	HTCapabilities  bool
	HTOperation     *HTOperation
	VHTCapabilities bool
	VHTOperation    *VHTOperation
	HECapabilities  bool
	HEOperation     *HEOperation
	EHTCapabilities bool
	EHTOperation    *EHTOperation
	MultiLink       bool // Basic Multi-Link element (Wi-Fi 7 MLD)

	RSN  *RSN // from the RSN element (48)
	WPA  *RSN // from the Microsoft WPA vendor element (00:50:f2 type 1)
	RSNX []byte

	// OWETransition is the WFA OWE Transition Mode element: the paired
	// BSS of an open/OWE transition deployment.
	OWETransition *OWETransition

	// 802.11k/v/r hints.
	RadioMeasurement bool   // RM Enabled Capabilities present (802.11k)
	NeighborReport   bool   // RM Enabled Capabilities: neighbor report bit
	BSSTransition    bool   // Extended Capabilities bit 19 (802.11v)
	FastTransition   bool   // Mobility Domain present (802.11r)
	MobilityDomain   uint16 // MDID of the Mobility Domain element
	UTF8SSID         bool   // Extended Capabilities bit 48
	ExtendedCaps     []byte

	WMM bool
	WPS *WPS

	// VendorOUIs lists each distinct vendor element OUI in order of first
	// appearance, as "aa:bb:cc".
	VendorOUIs []string

	// Problems lists elements that were present but could not be decoded,
	// and a truncated trailing element. Good elements around them are kept.
	Problems []ElementProblem
}

// ElementProblem describes one element the decoder had to reject.
type ElementProblem struct {
	ID     uint8
	Ext    uint8 // element ID extension, for ID 255
	Offset int   // byte offset of the element header in the IE blob
	Reason string
}

// BSSLoad is the 802.11 BSS Load element (exactly 5 bytes, as iw requires).
type BSSLoad struct {
	Stations          uint16
	Utilization       uint8 // channel busy fraction in 1/255
	AdmissionCapacity uint16
}

// HTOperation is the part of the HT Operation element that sets the width.
type HTOperation struct {
	PrimaryChannel  uint8
	SecondaryOffset uint8 // 0 none, 1 above, 3 below (2 reserved)
	STAChannelWidth bool  // true: any width allowed (40 MHz if offset set)
}

// VHTOperation is the channel part of the VHT Operation element.
type VHTOperation struct {
	ChannelWidth uint8 // 0: 20/40 (use HT), 1: 80+, 2: 160 (deprecated), 3: 80+80 (deprecated)
	CCFS0        uint8
	CCFS1        uint8
}

// HEOperation holds the HE Operation fields that affect the channel.
type HEOperation struct {
	BSSColor uint8
	// SixGHz is set when the element carries 6 GHz Operation Information.
	SixGHz *SixGHzOperation
}

// SixGHzOperation is the 6 GHz Operation Information of the HE Operation
// element.
type SixGHzOperation struct {
	PrimaryChannel uint8
	ChannelWidth   uint8 // 0: 20, 1: 40, 2: 80, 3: 80+80 or 160
	CCFS0          uint8
	CCFS1          uint8
}

// EHTOperation holds the EHT Operation Information, when present.
type EHTOperation struct {
	HasInfo      bool
	ChannelWidth uint8 // 0: 20, 1: 40, 2: 80, 3: 160, 4: 320
	CCFS0        uint8
	CCFS1        uint8
}

// RSN is a decoded RSN element or WPA vendor element. Suites are kept as
// 32-bit selectors (OUI<<8 | type) so unknown ones survive.
type RSN struct {
	Version         uint16
	GroupCipher     Suite
	PairwiseCipher  []Suite
	AKM             []Suite
	Capabilities    uint16
	HasCapabilities bool
	GroupMgmtCipher Suite // 0 when absent
	PMKIDCount      int
}

// MFPRequired reports the RSN capabilities' MFPR bit.
func (r *RSN) MFPRequired() bool { return r.HasCapabilities && r.Capabilities&(1<<6) != 0 }

// MFPCapable reports the RSN capabilities' MFPC bit.
func (r *RSN) MFPCapable() bool { return r.HasCapabilities && r.Capabilities&(1<<7) != 0 }

// Suite is a cipher or AKM suite selector: the OUI in the top 24 bits and
// the suite type in the low 8 bits.
type Suite uint32

// OUI returns the suite's organisation identifier.
func (s Suite) OUI() uint32 { return uint32(s) >> 8 }

// Type returns the suite type within its OUI.
func (s Suite) Type() uint8 { return uint8(s) }

// OWETransition is the WFA OWE Transition Mode element.
type OWETransition struct {
	BSSID [6]byte
	SSID  []byte
}

// WPS holds the Wi-Fi Protected Setup attributes worth showing.
type WPS struct {
	DeviceName   string
	Manufacturer string
	ModelName    string
	ModelNumber  string
	Configured   bool // Wi-Fi Protected Setup State == 2
}
