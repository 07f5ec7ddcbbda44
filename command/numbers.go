package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/command/internal/dbsqlc"
	"github.com/subsd/subsd/domain"
)

// Numbers allocates the human numbers of orders and invoices: ORD-000123 in
// one series for all time, INV-2026-000042 in one series per year of the
// business time zone. Numbers are sequential without gaps as long as every
// reserved number is used, which is why the use cases validate a document
// completely (Decide with a placeholder number) before they reserve its
// number, and why a reservation is keyed by the aggregate id: a retried
// command for the same order or invoice gets the number it got before.
//
// Numbers is safe for concurrent use; allocations of one series are
// serialised by the series' row lock for the duration of one statement.
type Numbers struct {
	q        *dbsqlc.Queries
	location *time.Location
}

// NewNumbers returns an allocator over pool (see Migrate for its tables);
// loc is the business time zone, in which an invoice's year is counted.
func NewNumbers(pool *pgxpool.Pool, loc *time.Location) *Numbers {
	if loc == nil {
		loc = time.UTC
	}
	return &Numbers{q: dbsqlc.New(pool), location: loc}
}

// OrderSeries is the series of every order number.
const OrderSeries = "ORD"

// InvoiceSeries returns the series of the invoices created at instant at:
// "INV-<year>", the year taken in the business time zone.
func (n *Numbers) InvoiceSeries(at time.Time) string {
	return fmt.Sprintf("INV-%04d", at.In(n.location).Year())
}

// Order returns the number of order id, reserving the next one on first use.
func (n *Numbers) Order(ctx context.Context, id domain.OrderID) (domain.OrderNumber, error) {
	v, err := n.reserve(ctx, string(id), OrderSeries)
	if err != nil {
		return "", err
	}
	return domain.ParseOrderNumber(fmt.Sprintf("ORD-%06d", v))
}

// Invoice returns the number of invoice id, reserving the next one of the
// year of at on first use. An invoice that already has a number keeps it,
// whatever at says (a retry across New Year).
func (n *Numbers) Invoice(ctx context.Context, id domain.InvoiceID, at time.Time) (domain.InvoiceNumber, error) {
	series := n.InvoiceSeries(at)
	v, err := n.reserveSeries(ctx, string(id), series)
	if err != nil {
		return "", err
	}
	return domain.ParseInvoiceNumber(fmt.Sprintf("%s-%06d", v.series, v.value))
}

// Last returns the last number given out in series (0 before the first).
func (n *Numbers) Last(ctx context.Context, series string) (int64, error) {
	return n.q.NumberLast(ctx, series)
}

func (n *Numbers) reserve(ctx context.Context, id, series string) (int64, error) {
	v, err := n.reserveSeries(ctx, id, series)
	return v.value, err
}

type reservation struct {
	series string
	value  int64
}

// reserveSeries runs the reservation statement, retrying when a concurrent
// reservation of the same id won the race (its statement rolled back whole,
// so nothing was burnt).
func (n *Numbers) reserveSeries(ctx context.Context, id, series string) (reservation, error) {
	for attempt := 0; ; attempt++ {
		row, err := n.q.NumberReserve(ctx, dbsqlc.NumberReserveParams{AggregateID: id, Series: series})
		if err == nil {
			return reservation{series: row.Series, value: row.Value}, nil
		}
		var pgErr *pgconn.PgError
		if attempt < 3 && errors.As(err, &pgErr) && pgErr.Code == "23505" {
			continue
		}
		return reservation{}, fmt.Errorf("reserving a %s number for %s: %w", series, id, err)
	}
}
