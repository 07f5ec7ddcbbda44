package pdf

import (
	"errors"
	"fmt"

	"github.com/signintech/gopdf"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
)

// ErrNoInvoice is returned for an invoice state that was never created.
var ErrNoInvoice = errors.New("pdf: the invoice does not exist")

// The invoice table's columns: x offsets from the left margin and widths.
var invoiceColumns = []struct {
	title string
	width float64
	align int
}{
	{"Description", 150, gopdf.Left},
	{"Qty", 30, gopdf.Right},
	{"Unit price", 65, gopdf.Right},
	{"Discount", 60, gopdf.Right},
	{"VAT rate", 45, gopdf.Right},
	{"VAT", 65, gopdf.Right},
	{"Amount", contentWidth - 415, gopdf.Right},
}

const (
	lineHeight = 11.0
	rowPadding = 4.0
)

// Invoice renders an invoice as a PDF: the seller (the Renderer's
// business) and the customer with their addresses, the number and dates,
// one row per line with its quantity, unit price, discount share, VAT rate
// and VAT amount, and the totals, all VAT included as the business sells.
// Every figure is the invoice's own (decided when it was created), never
// recomputed, so the PDF always agrees with the invoice page. A paid,
// refunded or void invoice says so under the totals.
func (r *Renderer) Invoice(inv invoice.State) ([]byte, error) {
	if !inv.Exists() {
		return nil, ErrNoInvoice
	}
	d := r.newDoc("Invoice " + string(inv.Number))
	r.invoiceHeader(d, inv)
	r.invoiceLines(d, inv)
	r.invoiceTotals(d, inv)
	r.invoiceFooter(d)
	return d.bytes()
}

func (r *Renderer) invoiceHeader(d *doc, inv invoice.State) {
	b := r.business
	d.font(bold, 18)
	d.text(margin, d.y, 300, b.Name, gopdf.Left)
	d.font(bold, 20)
	d.text(pageWidth-margin-200, d.y, 200, "INVOICE", gopdf.Right)

	// The seller, under its name.
	d.font(plain, 9)
	y := d.y + 26
	seller := addressLines(b.Address)
	if b.VATNumber != "" {
		seller = append(seller, "VAT number: "+b.VATNumber)
	}
	if b.Email != "" {
		seller = append(seller, string(b.Email))
	}
	for _, l := range seller {
		d.text(margin, y, 260, l, gopdf.Left)
		y += lineHeight
	}

	// The invoice's references, right.
	facts := [][2]string{
		{"Invoice number", string(inv.Number)},
		{"Invoice date", r.day(inv.CreatedAt)},
		{"Due date", dayOf(inv.DueOn)},
	}
	if inv.SubscriptionID != "" {
		ref := string(inv.SubscriptionID)
		if inv.Cycle > 0 {
			ref = fmt.Sprintf("%s, cycle %d", ref, inv.Cycle)
		}
		facts = append(facts, [2]string{"Subscription", ref})
	}
	if inv.OrderID != "" {
		facts = append(facts, [2]string{"Order", string(inv.OrderID)})
	}
	fy := d.y + 30
	for _, f := range facts {
		d.font(bold, 9)
		d.text(pageWidth-margin-250, fy, 90, f[0], gopdf.Left)
		d.font(plain, 9)
		d.text(pageWidth-margin-160, fy, 160, f[1], gopdf.Right)
		fy += lineHeight + 1
	}
	d.y = max(y, fy) + 22

	// The customer: billing address, and the shipping address when the
	// goods went elsewhere.
	top := d.y
	d.font(bold, 10)
	d.text(margin, top, 240, "Bill to", gopdf.Left)
	d.font(plain, 10)
	y = top + 14
	for _, l := range append([]string{inv.CustomerName}, addressLines(inv.BillingAddress)...) {
		d.text(margin, y, 240, l, gopdf.Left)
		y += lineHeight + 1
	}
	if inv.ShippingAddress != nil && *inv.ShippingAddress != inv.BillingAddress {
		d.font(bold, 10)
		d.text(margin+260, top, 235, "Ship to", gopdf.Left)
		d.font(plain, 10)
		sy := top + 14
		for _, l := range append([]string{inv.CustomerName}, addressLines(*inv.ShippingAddress)...) {
			d.text(margin+260, sy, 235, l, gopdf.Left)
			sy += lineHeight + 1
		}
		y = max(y, sy)
	}
	d.y = y + 24
}

func (r *Renderer) invoiceTableHead(d *doc) {
	d.font(bold, 9)
	x := margin
	for _, c := range invoiceColumns {
		d.text(x, d.y, c.width, c.title, c.align)
		x += c.width
	}
	d.y += lineHeight + 3
	d.rule(d.y)
	d.y += rowPadding
}

func (r *Renderer) invoiceLines(d *doc, inv invoice.State) {
	r.invoiceTableHead(d)
	for _, l := range inv.Lines {
		d.font(plain, 9)
		name := d.wrap(l.Name, invoiceColumns[0].width-6)
		height := float64(max(len(name), 1))*lineHeight + rowPadding
		if d.y+height > bottomLimit {
			d.pdf.AddPage()
			d.y = margin
			r.invoiceTableHead(d)
			d.font(plain, 9)
		}
		unit := money(l.UnitPrice)
		if l.IncludedInPlan {
			unit = "included"
		}
		discount := ""
		if !l.Discount.IsZero() {
			discount = money(l.Discount.Neg())
		}
		cells := []string{"", fmt.Sprint(l.Quantity), unit, discount, percent(inv.VAT.RateBP), money(l.VAT), money(l.Net)}
		for i, s := range name {
			d.text(margin, d.y+float64(i)*lineHeight, invoiceColumns[0].width-6, s, gopdf.Left)
		}
		x := margin + invoiceColumns[0].width
		for i := 1; i < len(cells); i++ {
			d.text(x, d.y, invoiceColumns[i].width, cells[i], invoiceColumns[i].align)
			x += invoiceColumns[i].width
		}
		d.y += height
	}
	d.rule(d.y)
	d.y += 8
}

func (r *Renderer) invoiceTotals(d *doc, inv invoice.State) {
	cur := inv.Amount.Currency()
	net, err := inv.Amount.Sub(inv.VAT.Amount)
	d.keep(err)
	rows := [][2]string{{"Subtotal", money(inv.Subtotal)}}
	if !inv.Discount.IsZero() {
		rows = append(rows, [2]string{"Discount", money(inv.Discount.Neg())})
	}
	rows = append(rows,
		[2]string{"Total excluding VAT", money(net)},
		[2]string{"VAT " + percent(inv.VAT.RateBP), money(inv.VAT.Amount)},
	)
	// Keep the totals block whole.
	if d.y+float64(len(rows)+4)*(lineHeight+3) > bottomLimit {
		d.pdf.AddPage()
		d.y = margin
	}
	labelX, labelW := pageWidth-margin-260.0, 150.0
	valueX, valueW := pageWidth-margin-110.0, 110.0
	d.font(plain, 10)
	for _, row := range rows {
		d.text(labelX, d.y, labelW, row[0], gopdf.Left)
		d.text(valueX, d.y, valueW, row[1], gopdf.Right)
		d.y += lineHeight + 3
	}
	d.font(bold, 11)
	d.text(labelX, d.y+2, labelW, "Total", gopdf.Left)
	d.text(valueX, d.y+2, valueW, money(inv.Amount), gopdf.Right)
	d.y += 30

	d.font(plain, 10)
	var status []string
	switch {
	case inv.Status == invoice.StatusVoid:
		status = append(status, "This invoice is void.")
	case inv.PaidAt != nil:
		status = append(status, "Paid on "+r.day(*inv.PaidAt)+". Thank you.")
	}
	if inv.RefundedAmount.IsPositive() && inv.RefundedAmount.Currency() == cur {
		status = append(status, "Refunded: "+money(inv.RefundedAmount)+".")
	}
	for _, s := range status {
		d.text(margin, d.y, contentWidth, s, gopdf.Left)
		d.y += lineHeight + 3
	}
}

func (r *Renderer) invoiceFooter(d *doc) {
	note := "All prices include VAT. " + r.business.Name
	if r.business.VATNumber != "" {
		note += ", VAT number " + r.business.VATNumber
	}
	d.font(plain, 8)
	pages := d.pdf.GetNumberOfPages()
	for p := 1; p <= pages; p++ {
		d.keep(d.pdf.SetPage(p))
		d.rule(pageHeight - 55)
		d.text(margin, pageHeight-48, contentWidth-80, note, gopdf.Left)
		d.text(pageWidth-margin-80, pageHeight-48, 80, fmt.Sprintf("Page %d of %d", p, pages), gopdf.Right)
	}
}

// InvoiceFileName is the attachment or download name of an invoice's PDF:
// its number, "INV-2026-000042.pdf".
func InvoiceFileName(number domain.InvoiceNumber) string {
	if number == "" {
		return "invoice.pdf"
	}
	return string(number) + ".pdf"
}
