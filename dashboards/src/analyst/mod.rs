//! What analysts make and share, kept beside the accounts in SQLite:
//! goals ([`goals`]), funnels ([`funnels`]), annotations on the charts
//! ([`annotations`]) and saved segments ([`segments`]). Records that change, owned by users; none of
//! them holds a number: the numbers come from ClickHouse through the
//! release layer like every other view's.

pub mod annotations;
pub mod funnels;
pub mod goals;
pub mod segments;
