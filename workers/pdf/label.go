package pdf

import (
	"errors"
	"fmt"
	"image"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	"github.com/boombuler/barcode/qr"
	"github.com/signintech/gopdf"

	"github.com/subsd/subsd/domain"
)

// ReturnLabel is what a return label shows.
type ReturnLabel struct {
	// Code identifies the return (the label id of
	// customer.return_label_requested): printed, as a Code 128 barcode for
	// the carrier's scanner and as a QR code for a phone, so the parcel is
	// matched to the customer when it arrives. Required; printable ASCII.
	Code string
	// CustomerName and From are the sender: the customer and the address the
	// parcel leaves from.
	CustomerName string
	From         domain.Address
	// RequestedAt is when the label was asked for.
	RequestedAt time.Time
}

// ErrBadReturnCode is returned for a code a barcode cannot carry.
var ErrBadReturnCode = errors.New("pdf: a return code is 1 to 64 printable ASCII characters")

// The label's box: A6 portrait, at the top left of an A4 page, with a cut
// line around it.
const (
	labelWidth  = 297.64
	labelHeight = 419.53
)

// ReturnLabel renders a return label as a one-page PDF: an A6 label (the
// business's return address as addressee, the customer as sender, the
// return code as barcode, QR code and text) to cut out, and the
// instructions beside it.
func (r *Renderer) ReturnLabel(l ReturnLabel) ([]byte, error) {
	if l.Code == "" || len(l.Code) > 64 || strings.ContainsFunc(l.Code, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return nil, ErrBadReturnCode
	}
	bar, err := code128.Encode(l.Code)
	if err != nil {
		return nil, fmt.Errorf("encoding the return code as Code 128: %w", err)
	}
	qrCode, err := qr.Encode(l.Code, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("encoding the return code as a QR code: %w", err)
	}

	d := r.newDoc("Return label " + l.Code)
	x0, y0 := margin-20, margin-20
	d.pdf.SetLineWidth(0.8)
	d.pdf.SetCustomLineType([]float64{4, 3}, 0)
	d.pdf.RectFromUpperLeftWithStyle(x0, y0, labelWidth, labelHeight, "D")
	d.pdf.SetLineType("solid")

	x, w := x0+16, labelWidth-32
	y := y0 + 16
	d.font(bold, 16)
	d.text(x, y, w, "RETURN", gopdf.Left)
	d.font(plain, 8)
	d.text(x, y+4, w, r.day(l.RequestedAt), gopdf.Right)
	y += 30

	d.font(bold, 8)
	d.text(x, y, w, "FROM", gopdf.Left)
	y += 11
	d.font(plain, 9)
	for _, s := range append([]string{l.CustomerName}, addressLines(l.From)...) {
		d.text(x, y, w, s, gopdf.Left)
		y += 11
	}
	y += 14

	d.font(bold, 8)
	d.text(x, y, w, "TO", gopdf.Left)
	y += 12
	d.font(bold, 13)
	d.text(x, y, w, r.business.Name, gopdf.Left)
	y += 17
	d.font(plain, 12)
	for _, s := range addressLines(r.business.returnAddress()) {
		d.text(x, y, w, s, gopdf.Left)
		y += 15
	}
	y += 16

	// Code 128 across the label, with its text under it.
	barHeight := 60.0
	d.bars(bar, x, y, w, barHeight)
	y += barHeight + 4
	d.font(plain, 10)
	d.text(x, y, w, l.Code, gopdf.Center)
	y += 22

	// The QR code, bottom right; the reference, bottom left.
	side := 72.0
	d.bars(qrCode, x+w-side, y, side, side)
	d.font(bold, 8)
	d.text(x, y+side-24, w-side-10, "Return reference", gopdf.Left)
	d.font(plain, 8)
	d.text(x, y+side-12, w-side-10, l.Code, gopdf.Left)

	// Instructions, right of the label.
	ix, iw := x0+labelWidth+24, pageWidth-(x0+labelWidth+24)-margin+20
	iy := y0 + 16
	d.font(bold, 12)
	d.text(ix, iy, iw, "How to return", gopdf.Left)
	iy += 22
	d.font(plain, 9)
	for _, p := range []string{
		"1. Print this page and cut out the label along the dashed line.",
		"2. Pack the device securely, with its accessories.",
		"3. Stick the label on the parcel so that the barcode is flat and fully visible.",
		"4. Hand the parcel in at a post office or parcel point.",
		"Keep the return reference until the return is confirmed.",
	} {
		for _, s := range d.wrap(p, iw) {
			d.text(ix, iy, iw, s, gopdf.Left)
			iy += 12
		}
		iy += 6
	}
	return d.bytes()
}

// bars draws a barcode's dark modules as filled rectangles scaled into the
// box (x, y, w, h): vector bars, sharp at any resolution. A 1-D code is
// one pixel high and is stretched to h; adjacent dark modules merge into
// one rectangle.
func (d *doc) bars(code barcode.Barcode, x, y, w, h float64) {
	b := code.Bounds()
	cols, rows := b.Dx(), b.Dy()
	if cols == 0 || rows == 0 {
		d.keep(errors.New("empty barcode"))
		return
	}
	mw, mh := w/float64(cols), h/float64(rows)
	d.pdf.SetFillColor(0, 0, 0)
	for row := 0; row < rows; row++ {
		for col := 0; col < cols; {
			if !dark(code, b.Min.X+col, b.Min.Y+row) {
				col++
				continue
			}
			start := col
			for col < cols && dark(code, b.Min.X+col, b.Min.Y+row) {
				col++
			}
			d.pdf.RectFromUpperLeftWithStyle(x+float64(start)*mw, y+float64(row)*mh, float64(col-start)*mw, mh, "F")
		}
	}
}

func dark(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r+g+b < 3*0x8000
}

// ReturnLabelFileName is the attachment name of a return label's PDF.
func ReturnLabelFileName(code string) string {
	return "return-label-" + code + ".pdf"
}
