package cleanroom

import (
	"context"
	"time"
)

// Token is an API token. Its secret is shown once at creation; only its SHA-256 is stored.
type Token struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	// OrgID is the org the token acts in; empty for an operator token that only reaches the
	// /v1/admin routes.
	OrgID string `json:"org_id,omitempty"`
	Name  string `json:"name"`
	// Prefix is the start of the token, shown so users can tell tokens apart.
	Prefix     string    `json:"prefix"`
	Hash       []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

// Active reports whether the token can be used at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Session is a dashboard login. The cookie holds a random secret; only its SHA-256 is stored.
type Session struct {
	Hash   []byte
	UserID string
	// OrgID is the org the session currently acts in; empty for an operator with no org.
	OrgID string
	// CSRFToken must accompany every cookie-authenticated write.
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// AuthStore stores API tokens and sessions.
type AuthStore interface {
	// CreateToken inserts t. Returns ECONFLICT if its hash exists.
	CreateToken(ctx context.Context, t *Token) error
	// FindTokenByHash returns the token with this hash, revoked or not.
	// Returns ENOTFOUND if there is none.
	FindTokenByHash(ctx context.Context, hash []byte) (*Token, error)
	// FindToken returns a token by ID. Returns ENOTFOUND if there is none.
	FindToken(ctx context.Context, id string) (*Token, error)
	// ListTokens returns an org's tokens (userID "" for every user's) ordered by ID.
	ListTokens(ctx context.Context, orgID, userID string, page Page) ([]*Token, string, error)
	// RevokeToken marks a token revoked at now. Returns ENOTFOUND if there is none.
	RevokeToken(ctx context.Context, id string, now time.Time) error
	// TouchToken records that a token was used at now.
	TouchToken(ctx context.Context, id string, now time.Time) error

	// CreateSession inserts s.
	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns the unexpired session with this hash. Returns ENOTFOUND if there is none.
	FindSession(ctx context.Context, hash []byte, now time.Time) (*Session, error)
	// UpdateSession stores the session's org, last-seen and expiry times.
	UpdateSession(ctx context.Context, s *Session) error
	// DeleteSession removes a session (logout).
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteUserSessions removes every session of a user except the one whose hash is keep (nil
	// keeps none), and returns how many it removed.
	DeleteUserSessions(ctx context.Context, userID string, keep []byte) (int, error)
	// DeleteExpiredSessions removes sessions that expired before now and returns how many.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
}
