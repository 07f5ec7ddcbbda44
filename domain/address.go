package domain

import (
	"strings"
	"unicode/utf8"
)

// Country is an ISO 3166-1 alpha-2 code in upper case.
type Country string

// iso3166 lists every officially assigned alpha-2 code.
const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"

// ParseCountry accepts an ISO 3166-1 alpha-2 code, in any case.
func ParseCountry(s string) (Country, error) {
	c := strings.ToUpper(strings.TrimSpace(s))
	if len(c) != 2 || !strings.Contains(" "+iso3166+" ", " "+c+" ") {
		return "", Invalid("country", "country must be an ISO 3166-1 alpha-2 code such as NL, got %q", s)
	}
	return Country(c), nil
}

// Address is a postal address. Every field is required; build one with
// NewAddress.
type Address struct {
	Street  string  `json:"street"`
	Zipcode string  `json:"zipcode"`
	City    string  `json:"city"`
	Country Country `json:"country"`
}

// NewAddress trims and validates each part. Errors name the field relative to
// the address ("street", "country", ...); callers prefix the path.
func NewAddress(street, zipcode, city, country string) (Address, error) {
	a := Address{Street: strings.TrimSpace(street), Zipcode: strings.TrimSpace(zipcode), City: strings.TrimSpace(city)}
	for _, f := range []struct{ name, v string }{{"street", a.Street}, {"zipcode", a.Zipcode}, {"city", a.City}} {
		if err := checkText(f.name, f.v, 200); err != nil {
			return Address{}, err
		}
	}
	c, err := ParseCountry(country)
	if err != nil {
		return Address{}, err
	}
	a.Country = c
	return a, nil
}

// Validate checks an Address that arrived by other means than NewAddress
// (decoded JSON).
func (a Address) Validate() error {
	_, err := NewAddress(a.Street, a.Zipcode, a.City, string(a.Country))
	return err
}

// checkText requires a non-empty, valid UTF-8 string of at most max runes
// without control characters.
func checkText(field, v string, max int) error {
	if v == "" {
		return Invalid(field, "%s is required", field)
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > max {
		return Invalid(field, "%s must be valid text of at most %d characters", field, max)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return Invalid(field, "%s must not contain control characters", field)
		}
	}
	return nil
}

// PrefixField returns err with its field path prefixed by prefix ("address"
// + "city" = "address.city"); other errors pass through.
func PrefixField(prefix string, err error) error {
	e, ok := err.(*Error)
	if !ok || e == nil {
		return err
	}
	if e.Field == "" {
		return e.WithField(prefix)
	}
	return e.WithField(prefix + "." + e.Field)
}
