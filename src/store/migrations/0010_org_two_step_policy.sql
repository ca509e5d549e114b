-- The organization's two-step sign-in policy: when `require_two_step` is on, its members who
-- sign in with a password must have two-step sign-in; until `enabled_at + grace_days` days
-- they are warned, afterwards the organization's pages and API refuse them until they turn it
-- on. `enabled_at` is the moment the policy was last turned on (NULL while it is off), so the
-- deadline stays put when only the grace period is changed. People who sign in with single
-- sign-on are exempt (their identity provider decides). One row per organization that ever
-- set the policy; no row means off.
CREATE TABLE org_two_step_policies (
    org_id          TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    require_two_step INTEGER NOT NULL DEFAULT 0,
    grace_days      INTEGER NOT NULL DEFAULT 0 CHECK (grace_days BETWEEN 0 AND 90),
    enabled_at      INTEGER,
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
