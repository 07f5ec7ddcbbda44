package settings

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Event is the closed set of settings events.
type Event interface {
	domain.Event
	isEvent()
}

// EmailSettingsChanged carries the complete new email settings.
type EmailSettingsChanged struct {
	Email     Email     `json:"email"`
	ChangedAt time.Time `json:"changed_at"`
}

// DunningChanged carries the complete new dunning configuration.
type DunningChanged struct {
	Dunning   Dunning   `json:"dunning"`
	ChangedAt time.Time `json:"changed_at"`
}

// EventType returns the stored name "settings.email_changed".
func (EmailSettingsChanged) EventType() string { return "settings.email_changed" }

// EventType returns the stored name "settings.dunning_changed".
func (DunningChanged) EventType() string { return "settings.dunning_changed" }

func (EmailSettingsChanged) isEvent() {}
func (DunningChanged) isEvent()       {}

// Codec stores and loads settings events.
var Codec = domain.NewCodec[Event]()

func init() {
	domain.Register[EmailSettingsChanged](Codec)
	domain.Register[DunningChanged](Codec)
}
