package workers

import (
	"log/slog"

	"riverqueue.com/riverui"
)

// NewJobsUI returns River's own web UI (riverqueue.com/riverui) over
// client's jobs and queues, serving its pages and API under prefix (the
// HTTP layer mounts it at /admin/jobs, for admins). It lists, retries,
// cancels and deletes jobs; the service's job arguments carry ids only,
// never personal data, so showing them is safe. The returned handler's
// Start must be called (it runs the UI's background services until its
// context ends) before it serves.
func NewJobsUI(client *Client, prefix string, logger *slog.Logger) (*riverui.Handler, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    logger,
		Prefix:    prefix,
	})
}
