//! Who may see what (DESIGN.md, "Views the dashboards offer").
//!
//! `analyst` reads Tier 2 aggregates; `marketing` also reads Tier 3;
//! `privacy_officer` reads the ledgers, the access audit and the invariant
//! report (and Tier 3 only through its own views); `admin` manages users.
//! A user may hold several roles. Every route names the role it needs, and
//! the check happens on the server, in one place.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Analyst,
    Marketing,
    PrivacyOfficer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Analyst, Role::Marketing, Role::PrivacyOfficer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Marketing => "marketing",
            Role::PrivacyOfficer => "privacy_officer",
            Role::Admin => "admin",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (roles: analyst, marketing, privacy_officer, admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// A set of roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |b, r| b | r.bit()))
    }

    pub fn has(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.has(*r))
    }

    /// Whether these roles may read what `needed` guards. Marketing reads
    /// everything an analyst reads.
    pub fn allow(self, needed: Role) -> bool {
        self.has(needed) || (needed == Role::Analyst && self.has(Role::Marketing))
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Role::as_str).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Roles {
    type Err = UnknownRole;
    /// A comma-separated list; empty is no role.
    fn from_str(s: &str) -> Result<Roles, UnknownRole> {
        let roles = s.split(',').filter(|r| !r.trim().is_empty()).map(Role::from_str).collect::<Result<Vec<_>, _>>()?;
        Ok(Roles::of(&roles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_roles() {
        let r: Roles = "analyst, admin".parse().unwrap();
        assert_eq!(r.to_string(), "analyst,admin");
        assert_eq!(r.to_string().parse::<Roles>().unwrap(), r);
        assert!("root".parse::<Roles>().is_err());
        assert!("".parse::<Roles>().unwrap().is_empty());
    }

    #[test]
    fn marketing_reads_tier2_but_nothing_implies_admin_or_privacy() {
        let m = Roles::of(&[Role::Marketing]);
        assert!(m.allow(Role::Analyst) && m.allow(Role::Marketing));
        assert!(!m.allow(Role::Admin) && !m.allow(Role::PrivacyOfficer));
        let a = Roles::of(&[Role::Admin]);
        assert!(!a.allow(Role::Analyst), "admins manage users; reading data is a separate role");
        assert!(!Roles::of(&[Role::PrivacyOfficer]).allow(Role::Marketing));
    }
}
