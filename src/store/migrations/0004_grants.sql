-- No grant beyond the grantor: an invitation made by an API key remembers the key, so its
-- authority can be checked again when the invitation is accepted.
ALTER TABLE invitations ADD COLUMN inviter_key_id TEXT;
