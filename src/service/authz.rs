//! Authorization in one place. A use case that needs a right takes a proof value that only
//! this module can construct, so a handler cannot skip the check.

use crate::domain::User;
use crate::error::{Error, Result};

/// Who is calling: a signed-in user (API keys join in a later step).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The signed-in user.
    pub user: User,
}

/// Proof that the caller is an instance administrator.
#[derive(Debug)]
pub struct InstanceAdmin<'a> {
    principal: &'a Principal,
}

impl<'a> InstanceAdmin<'a> {
    /// The administrator.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }
}

/// Checks the instance-admin flag.
pub fn instance_admin(p: &Principal) -> Result<InstanceAdmin<'_>> {
    if p.user.is_instance_admin {
        Ok(InstanceAdmin { principal: p })
    } else {
        Err(Error::Forbidden("this needs an instance administrator".into()))
    }
}

/// Proof of the CLI operator (local shell access to the data dir).
#[derive(Debug)]
pub struct Operator(());

/// The CLI runs as the operator of the instance.
pub fn operator() -> Operator {
    Operator(())
}
