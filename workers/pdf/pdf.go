// Package pdf renders the documents the service hands to people: the
// invoice PDF (GET /v1/invoices/{id}/pdf, and attached to the payment
// receipt) and the return label (attached to the return_label email).
//
// It adapts github.com/signintech/gopdf, a pure-Go PDF writer that is
// maintained (releases through 2025) and has one small dependency. The
// usual alternatives were weighed and set aside: github.com/go-pdf/fpdf was
// archived (read-only) in March 2025, and github.com/johnfercher/maroto is
// maintained but is a layout layer over phpdave11/gofpdf, a fork last
// released in 2020, and brings pdfcpu and a YAML parser with it. gopdf
// writes text in embedded TrueType fonts, so every name renders as typed
// (ł, ø, €), not only the Windows-1252 subset of the PDF core fonts. The
// fonts are the Go fonts (golang.org/x/image/font/gofont, BSD licence),
// compiled into the binary: rendering reads no files.
//
// Barcodes (github.com/boombuler/barcode) are drawn as vector bars, not as
// bitmaps, so they stay sharp at any print resolution.
//
// Documents are rendered on demand from the event-sourced state and never
// stored: the same state renders the same document, so there is nothing to
// keep in sync.
package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signintech/gopdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"

	"github.com/subsd/subsd/domain"
)

// Business is who issues the invoices and receives the returns: the seller
// block of every invoice and the addressee of every return label.
type Business struct {
	// Name is the legal name printed on invoices (required).
	Name string
	// Address is the seller's address on invoices; the zero Address prints
	// none (BUSINESS_ADDRESS unset: serve warns at start).
	Address domain.Address
	// ReturnAddress is where return labels send parcels; the zero Address
	// means Address.
	ReturnAddress domain.Address
	// VATNumber is the seller's VAT identification number, printed on every
	// invoice when set (EU invoices must carry it).
	VATNumber string
	// Email is a contact address printed on invoices when set.
	Email domain.Email
}

// Validate reports a Business without a name or with an invalid address.
func (b Business) Validate() error {
	if strings.TrimSpace(b.Name) == "" {
		return errors.New("business name is required")
	}
	if b.Address != (domain.Address{}) {
		if err := b.Address.Validate(); err != nil {
			return fmt.Errorf("business address: %w", err)
		}
	}
	if b.ReturnAddress != (domain.Address{}) {
		if err := b.ReturnAddress.Validate(); err != nil {
			return fmt.Errorf("business return address: %w", err)
		}
	}
	return nil
}

// ParseAddress reads an address written on one line as
// "street; zipcode; city; country" (country an ISO 3166 alpha-2 code), the
// form configuration gives one in: "Keizersgracht 1; 1015 AA; Amsterdam; NL".
func ParseAddress(s string) (domain.Address, error) {
	parts := strings.Split(s, ";")
	if len(parts) != 4 {
		return domain.Address{}, fmt.Errorf(`want "street; zipcode; city; country", got %d parts`, len(parts))
	}
	return domain.NewAddress(parts[0], parts[1], parts[2], parts[3])
}

func (b Business) returnAddress() domain.Address {
	if b.ReturnAddress == (domain.Address{}) {
		return b.Address
	}
	return b.ReturnAddress
}

// Renderer renders documents for one business. It is safe for concurrent
// use: every document is built on a writer of its own.
type Renderer struct {
	business Business
	location *time.Location
	compress bool
}

// Option tunes a Renderer.
type Option func(*Renderer)

// WithoutCompression writes content streams uncompressed: larger files
// whose drawing commands can be read as text (tests, debugging).
func WithoutCompression() Option { return func(r *Renderer) { r.compress = false } }

// New returns a Renderer for business, which must be valid (Validate).
// Dates are printed as calendar days in loc, the business time zone; nil
// means UTC.
func New(business Business, loc *time.Location, opts ...Option) (*Renderer, error) {
	if err := business.Validate(); err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	r := &Renderer{business: business, location: loc, compress: true}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Page geometry, in points (A4).
const (
	pageWidth    = 595.28
	pageHeight   = 841.89
	margin       = 50.0
	contentWidth = pageWidth - 2*margin
	bottomLimit  = pageHeight - 70
)

// The font family and its styles.
const (
	family = "go"
	bold   = "B"
	plain  = ""
)

// doc is one document being drawn, with the first error kept so that
// drawing code reads as a sequence of calls (as bufio.Writer does).
type doc struct {
	pdf *gopdf.GoPdf
	err error
	y   float64
}

func (r *Renderer) newDoc(title string) *doc {
	d := &doc{pdf: &gopdf.GoPdf{}}
	d.pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4, Unit: gopdf.UnitPT})
	if !r.compress {
		d.pdf.SetNoCompression()
	}
	d.pdf.SetInfo(gopdf.PdfInfo{Title: title, Creator: "subsd", Producer: "subsd"})
	d.keep(d.pdf.AddTTFFontDataWithOption(family, goregular.TTF, gopdf.TtfOption{Style: gopdf.Regular}))
	d.keep(d.pdf.AddTTFFontDataWithOption(family, gobold.TTF, gopdf.TtfOption{Style: gopdf.Bold}))
	d.pdf.AddPage()
	d.y = margin
	return d
}

func (d *doc) keep(err error) {
	if d.err == nil && err != nil {
		d.err = err
	}
}

func (d *doc) font(style string, size float64) {
	d.keep(d.pdf.SetFont(family, style, size))
}

// text writes s with its top-left corner at (x, y) in a box w wide,
// aligned by align (gopdf.Left, gopdf.Right or gopdf.Center), and returns
// the line height used.
func (d *doc) text(x, y, w float64, s string, align int) {
	if s == "" {
		return
	}
	d.pdf.SetXY(x, y)
	d.keep(d.pdf.CellWithOption(&gopdf.Rect{W: w, H: 12}, s, gopdf.CellOption{Align: align | gopdf.Top}))
}

// wrap splits s into lines that fit width in the current font.
func (d *doc) wrap(s string, width float64) []string {
	if s == "" {
		return nil
	}
	lines, err := d.pdf.SplitTextWithWordWrap(s, width)
	if err != nil {
		// A word wider than the column: cut it by characters instead.
		if lines, err = d.pdf.SplitText(s, width); err != nil {
			d.keep(err)
			return []string{s}
		}
	}
	return lines
}

func (d *doc) rule(y float64) {
	d.pdf.SetLineWidth(0.5)
	d.pdf.SetStrokeColor(160, 160, 160)
	d.pdf.Line(margin, y, pageWidth-margin, y)
	d.pdf.SetStrokeColor(0, 0, 0)
}

func (d *doc) bytes() ([]byte, error) {
	if d.err != nil {
		return nil, fmt.Errorf("drawing the PDF: %w", d.err)
	}
	var buf bytes.Buffer
	if _, err := d.pdf.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("writing the PDF: %w", err)
	}
	return buf.Bytes(), nil
}

// addressLines returns an address as printed: street, zipcode and city,
// country.
func addressLines(a domain.Address) []string {
	if a == (domain.Address{}) {
		return nil
	}
	return []string{a.Street, strings.TrimSpace(a.Zipcode + "  " + a.City), countryName(a.Country)}
}

// countryName spells out the countries the business ships to most; others
// print as their ISO code, which postal services accept too.
func countryName(c domain.Country) string {
	if n, ok := countryNames[c]; ok {
		return n
	}
	return string(c)
}

var countryNames = map[domain.Country]string{
	"AT": "Austria", "BE": "Belgium", "CH": "Switzerland", "DE": "Germany", "DK": "Denmark",
	"ES": "Spain", "FR": "France", "GB": "United Kingdom", "IE": "Ireland", "IT": "Italy",
	"LU": "Luxembourg", "NL": "Netherlands", "PL": "Poland", "PT": "Portugal", "SE": "Sweden",
	"US": "United States",
}

// money prints an amount as "€ 1,234.56" (or "-€ 5.00") for euros and
// "1,234.56 USD" otherwise; minor units are two decimals for every currency sold in.
func money(m domain.Money) string {
	a := m.Amount()
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	units := fmt.Sprintf("%d", a/100)
	var b strings.Builder
	for i, c := range units {
		if i > 0 && (len(units)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	n := fmt.Sprintf("%s.%02d", b.String(), a%100)
	if m.Currency() == domain.EUR {
		return sign + "€ " + n
	}
	return sign + n + " " + string(m.Currency())
}

// percent prints basis points as a percentage: 2100 → "21%", 550 → "5.5%".
func percent(bp domain.VATRate) string {
	whole, frac := bp/100, bp%100
	switch {
	case frac == 0:
		return fmt.Sprintf("%d%%", whole)
	case frac%10 == 0:
		return fmt.Sprintf("%d.%d%%", whole, frac/10)
	}
	return fmt.Sprintf("%d.%02d%%", whole, frac)
}

func (r *Renderer) day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(r.location).Format("2 January 2006")
}

func dayOf(d domain.Date) string {
	if d.IsZero() {
		return ""
	}
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Format("2 January 2006")
}
