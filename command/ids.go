package command

import (
	"crypto/rand"
	"crypto/sha256"
	"strconv"

	"github.com/subsd/subsd/domain"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// idLength is the number of base62 characters after an id's prefix: about
// 119 bits, so random ids never collide in practice.
const idLength = 20

// NewID returns prefix followed by 20 random base62 characters from
// crypto/rand ("cus_4Vh1...").
func NewID(prefix string) string {
	b := make([]byte, 0, len(prefix)+idLength)
	b = append(b, prefix...)
	var buf [32]byte
	for len(b) < len(prefix)+idLength {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails
		for _, c := range buf {
			// 248 = 4 × 62: rejecting the rest keeps the characters uniform.
			if c < 248 && len(b) < len(prefix)+idLength {
				b = append(b, base62[c%62])
			}
		}
	}
	return string(b)
}

// derivedID returns prefix followed by 20 base62 characters derived from
// key: the same key always gives the same id. It is for ids that a retried
// job or a reactor must compute again, such as the invoice of an order.
func derivedID(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	b := make([]byte, 0, len(prefix)+idLength)
	b = append(b, prefix...)
	// 20 characters from the 256-bit digest, 6 bits at a time (64 values
	// folded onto 62 is a negligible bias for an id that is only unique).
	var acc uint64
	bits := 0
	i := 0
	for len(b) < len(prefix)+idLength {
		if bits < 6 {
			acc = acc<<8 | uint64(sum[i])
			i++
			bits += 8
		}
		bits -= 6
		b = append(b, base62[((acc>>bits)&63)%62])
	}
	return string(b)
}

// OrderInvoiceID is the invoice of an order that is charged (a one-off
// order, or a subscription shipment of a product with its own price).
func OrderInvoiceID(order domain.OrderID) domain.InvoiceID {
	return domain.InvoiceID(derivedID(domain.InvoicePrefix, "order-invoice\x00"+string(order)))
}

// ChargeInvoiceID is the invoice of a subscription's plan charge for cycle
// (1 is the first charge, made at sign-up). The charge scheduler of a later
// cycle computes the same id, which makes its RecordChargeDue idempotent.
func ChargeInvoiceID(sub domain.SubscriptionID, cycle int) domain.InvoiceID {
	return domain.InvoiceID(derivedID(domain.InvoicePrefix, "charge-invoice\x00"+string(sub)+"\x00"+strconv.Itoa(cycle)))
}

// ShipmentOrderID is the order of a scheduled shipment of product due on
// due: the shipping scheduler (issue 5) computes it again on a retry, so
// RecordShipmentDue is a no-op the second time.
func ShipmentOrderID(sub domain.SubscriptionID, product domain.ProductID, due domain.Date) domain.OrderID {
	return domain.OrderID(derivedID(domain.OrderPrefix, "shipment-order\x00"+string(sub)+"\x00"+string(product)+"\x00"+due.String()))
}
