-- Email-change tokens live beside email verifications; the purpose keeps a plain
-- verification link from ever changing an address (and a change link from merely verifying).
ALTER TABLE email_verifications
    ADD COLUMN purpose TEXT NOT NULL DEFAULT 'verify' CHECK (purpose IN ('verify', 'change'));
